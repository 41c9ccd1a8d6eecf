using System.Diagnostics;
using System.Globalization;
using NetOnnx.Runtime;

namespace NetOnnx.Benchmarks;

/// <summary>
/// `winograd [MODEL...] [--threads 1,2] [--rounds N] [--warmup-ms MS]`: our latency with Winograd 3x3 convolutions
/// off and on (SessionOptions.UseWinogradConvolution), the two sessions alternating run by run in one process so
/// host load hits both alike; medians and off/on ratio (>1: Winograd is faster), and the same for the fastest run (steadier on a loaded host). Defaults: the three CNNs of issue 4.
/// `--profile`: afterwards, per-node times of the 3x3 Conv/FusedConv nodes in both (10 alternating profiled runs).
/// </summary>
public static class WinogradComparison
{
    public static int Run(string[] args)
    {
        var models = new List<string>();
        int[] threadList = [1];
        int rounds = 30, warmupMs = 1500;
        bool profile = false;
        for (int i = 0; i < args.Length; i++)
        {
            string Next() => i + 1 < args.Length ? args[++i] : throw new ArgumentException($"{args[i]} needs a value");
            switch (args[i])
            {
                case "--threads": threadList = Next().Split(',').Select(s => int.Parse(s, CultureInfo.InvariantCulture)).ToArray(); break;
                case "--rounds": rounds = int.Parse(Next(), CultureInfo.InvariantCulture); break;
                case "--warmup-ms": warmupMs = int.Parse(Next(), CultureInfo.InvariantCulture); break;
                case "--profile": profile = true; break;
                default: models.Add(args[i]); break;
            }
        }
        if (models.Count == 0) models.AddRange(["resnet18", "squeezenet1_1", "ppocr_v4_det"]);
        Console.WriteLine("| model | threads | winograd off ms | winograd on ms | off/on | off min ms | on min ms | off/on of min | off KiB/run | on KiB/run |");
        Console.WriteLine("|---|---|---|---|---|---|---|---|---|---|");
        foreach (var m in models)
            foreach (int threads in threadList)
            {
                string path = ZooModels.ModelPath(m);
                using var off = new InferenceSession(path, new SessionOptions { IntraOpThreads = threads, UseWinogradConvolution = false });
                using var on = new InferenceSession(path, new SessionOptions { IntraOpThreads = threads, UseWinogradConvolution = true });
                var inputs = ZooModels.Inputs(path, on.Model.Graph);
                var warm = Stopwatch.StartNew();
                while (warm.ElapsedMilliseconds < warmupMs) { off.Run(inputs); on.Run(inputs); }
                var a = new double[rounds];
                var b = new double[rounds];
                for (int i = 0; i < rounds; i++)
                {
                    if (i % 2 == 0) { a[i] = Comparison.Time(() => off.Run(inputs)); b[i] = Comparison.Time(() => on.Run(inputs)); }
                    else { b[i] = Comparison.Time(() => on.Run(inputs)); a[i] = Comparison.Time(() => off.Run(inputs)); }
                }
                double ma = Comparison.Median(a), mb = Comparison.Median(b);
                long allocOff = Allocated(() => off.Run(inputs)), allocOn = Allocated(() => on.Run(inputs));
                string name = Path.GetFileName(Path.GetDirectoryName(path)) ?? m;
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"| {name} | {threads} | {ma:F3} | {mb:F3} | {ma / mb:F2}x | {a.Min():F3} | {b.Min():F3} | {a.Min() / b.Min():F2}x | {allocOff / 1024.0:F1} | {allocOn / 1024.0:F1} |"));
                if (profile) ProfileConvs(path, threads, inputs);
            }
        Console.WriteLine($"({rounds} alternating rounds, medians)");
        return 0;
    }

    /// <summary>Managed bytes a warm run allocates, all threads (the outputs handed back included).</summary>
    private static long Allocated(Action run)
    {
        run();
        long before = GC.GetTotalAllocatedBytes(precise: true);
        run();
        return GC.GetTotalAllocatedBytes(precise: true) - before;
    }

    private static void ProfileConvs(string path, int threads, Dictionary<string, Tensor> inputs)
    {
        var sessions = new[] { false, true }.Select(w => new InferenceSession(path,
            new SessionOptions { IntraOpThreads = threads, UseWinogradConvolution = w, EnableProfiling = true })).ToArray();
        try
        {
            for (int i = 0; i < 10; i++) foreach (var s in sessions) s.Run(inputs);
            var byNode = sessions.Select(s => new NetOnnx.Runtime.Diagnostics.ProfileSummary(s.Core.Profile).Nodes
                .ToDictionary(n => n.NodeName, n => n)).ToArray();
            foreach (var n in byNode[0].Values.Where(n => n.OpType.EndsWith("Conv", StringComparison.Ordinal) && n.InputShapes.Contains(",3,3]"))
                         .OrderByDescending(n => n.MillisecondsPerRun))
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"    {n.NodeName} {n.InputShapes}: off {n.MillisecondsPerRun:F3} ms, on {byNode[1][n.NodeName].MillisecondsPerRun:F3} ms"));
        }
        finally { foreach (var s in sessions) s.Dispose(); }
    }
}
