using System.Diagnostics;
using System.Globalization;
using System.Reflection;
using NetOnnx.Kernels.ConvPool;
using NetOnnx.Kernels.Elementwise;
using NetOnnx.Runtime;

namespace NetOnnx.Benchmarks;

/// <summary>
/// `winograd-split [--threads N] [--rounds R]`: Winograd layers of the zoo CNNs (1 image, ReLU fused) at N threads
/// with whole blocks per thread (Winograd.WholeBlockRows as shipped) against every block split inside across the
/// threads (the split turned off through its private tolerance), alternating run by run in one process; medians,
/// minimums and inner/whole ratios (>1: whole blocks are faster). Rows 0: the layer keeps the inner split.
/// `winograd-split MODEL... [--threads N] [--rounds R]`: the same for whole zoo models (one run per round each way).
/// </summary>
public static class WinogradSplitLoop
{
    private static readonly (string Name, int C, int H, int M)[] Layers =
    [
        ("resnet18 layer1 64->64 56", 64, 56, 64),
        ("resnet18 layer2 128->128 28", 128, 28, 128),
        ("squeezenet fire2 16->64 55", 16, 55, 64),
        ("squeezenet fire4 32->128 27", 32, 27, 128),
        ("ppocr neck 96->24 77", 96, 77, 24),
    ];

    public static int Run(string[] args)
    {
        int threads = 2, rounds = 40;
        var models = new List<string>();
        for (int i = 0; i < args.Length; i++)
        {
            switch (args[i])
            {
                case "--threads": threads = int.Parse(args[++i], CultureInfo.InvariantCulture); break;
                case "--rounds": rounds = int.Parse(args[++i], CultureInfo.InvariantCulture); break;
                default:
                    if (args[i].StartsWith("--", StringComparison.Ordinal)) { Console.Error.WriteLine($"unknown option '{args[i]}'"); return 1; }
                    models.Add(args[i]);
                    break;
            }
        }
        var tolerance = typeof(Winograd).GetField("WholeBlockTolerance", BindingFlags.NonPublic | BindingFlags.Static)
            ?? throw new InvalidOperationException("Winograd.WholeBlockTolerance not found");
        double shipped = (double)tolerance.GetValue(null)!;
        if (models.Count > 0) return RunModels(models, threads, rounds, tolerance, shipped);
        var relu = new FusedActivation(ActivationKind.Relu);
        Console.WriteLine($"threads {threads}, {rounds} alternating rounds of 5 runs");
        Console.WriteLine("| layer | layout | rows | inner ms | whole ms | inner/whole | inner min | whole min | of min |");
        Console.WriteLine("|---|---|---|---|---|---|---|---|---|");
        try
        {
            foreach (var (name, c, h, m) in Layers)
            {
                var g = ConvGeometry.Create([h, h], [3, 3], null, null, [1, 1, 1, 1], "NOTSET", false);
                if (!Winograd.Fits(g)) { Console.WriteLine($"| {name} | (no AVX-512) |"); continue; }
                var rng = new Random(1);
                var x = new float[c * h * h]; var w = new float[m * c * 9]; var b = new float[m]; var y = new float[m * h * h];
                for (int i = 0; i < x.Length; i++) x[i] = (float)rng.NextDouble() - 0.5f;
                for (int i = 0; i < w.Length; i++) w[i] = (float)rng.NextDouble() - 0.5f;
                var layout = Winograd.Choose(c, m, g);
                var f = Winograd.TransformFilter(w, m, c, layout);
                tolerance.SetValue(null, shipped);
                int rows = Winograd.WholeBlockRows(g, c, m, layout, 1, threads);
                double Time(double tol)
                {
                    tolerance.SetValue(null, tol);
                    var sw = Stopwatch.StartNew();
                    for (int k = 0; k < 5; k++) Winograd.Run(x, f, b, y, 1, g, null, relu, threads);
                    return sw.Elapsed.TotalMilliseconds / 5;
                }
                var (inner, whole) = Alternate(Time, shipped, warmups: 20, rounds);
                double mi = Comparison.Median(inner), mw = Comparison.Median(whole);
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"| {name} | {layout} | {rows} | {mi:F3} | {mw:F3} | {mi / mw:F2}x | {inner.Min():F3} | {whole.Min():F3} | {inner.Min() / whole.Min():F2}x |"));
            }
        }
        finally { tolerance.SetValue(null, shipped); }
        return 0;
    }

    private static int RunModels(List<string> models, int threads, int rounds, FieldInfo tolerance, double shipped)
    {
        Console.WriteLine($"threads {threads}, {rounds} alternating rounds");
        Console.WriteLine("| model | inner ms | whole ms | inner/whole | inner min | whole min | of min |");
        Console.WriteLine("|---|---|---|---|---|---|---|");
        try
        {
            foreach (var name in models)
            {
                string path = ZooModels.ModelPath(name);
                using var session = new InferenceSession(path, new SessionOptions { IntraOpThreads = threads });
                var inputs = ZooModels.Inputs(path, session.Model.Graph);
                double Time(double tol)
                {
                    tolerance.SetValue(null, tol);
                    return Comparison.Time(() => session.Run(inputs));
                }
                var (inner, whole) = Alternate(Time, shipped, warmups: 10, rounds);
                double mi = Comparison.Median(inner), mw = Comparison.Median(whole);
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"| {name} | {mi:F3} | {mw:F3} | {mi / mw:F2}x | {inner.Min():F3} | {whole.Min():F3} | {inner.Min() / whole.Min():F2}x |"));
            }
        }
        finally { tolerance.SetValue(null, shipped); }
        return 0;
    }

    /// <summary>Times the old split (tolerance 0) and the shipped one in alternating order, after warm-up pairs.</summary>
    private static (double[] Inner, double[] Whole) Alternate(Func<double, double> time, double shipped, int warmups, int rounds)
    {
        for (int i = 0; i < warmups; i++) { time(0); time(shipped); }
        var inner = new double[rounds]; var whole = new double[rounds];
        for (int i = 0; i < rounds; i++)
        {
            if (i % 2 == 0) { inner[i] = time(0); whole[i] = time(shipped); }
            else { whole[i] = time(shipped); inner[i] = time(0); }
        }
        return (inner, whole);
    }
}
