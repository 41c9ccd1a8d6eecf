using System.Diagnostics;
using System.Globalization;
using System.Text.RegularExpressions;
using NetOnnx.OnnxImport;
using NetOnnx.Optimizer;
using NetOnnx.Runtime;

namespace NetOnnx.Benchmarks;

/// <summary>
/// `levels [MODEL...] [--threads N] [--rounds N] [--warmup-ms MS] [--disable PASS,...]`: what the optimizer does to each model and
/// what it buys. Prints a markdown table: nodes before and after level all (main graph; with If/Loop bodies in
/// brackets where they differ), the fusions that fired (from the passes' reports), and our median latency at
/// level none and level all, the two sessions alternating in one process so host drift hits both alike.
/// --disable leaves passes out of the "all" side, to see what one fusion is worth.
/// </summary>
public static partial class LevelComparison
{
    public static int Run(string[] args)
    {
        var models = new List<string>();
        int threads = 1, rounds = 30, warmupMs = 1500;
        var disabled = new List<string>();
        for (int i = 0; i < args.Length; i++)
        {
            string Next() => i + 1 < args.Length ? args[++i] : throw new ArgumentException($"{args[i]} needs a value");
            switch (args[i])
            {
                case "--threads": threads = int.Parse(Next(), CultureInfo.InvariantCulture); break;
                case "--rounds": rounds = int.Parse(Next(), CultureInfo.InvariantCulture); break;
                case "--warmup-ms": warmupMs = int.Parse(Next(), CultureInfo.InvariantCulture); break;
                case "--disable": disabled.AddRange(Next().Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)); break;
                default: models.Add(args[i]); break;
            }
        }
        if (models.Count == 0) models.AddRange(ZooModels.Names());
        if (models.Count == 0) { Console.Error.WriteLine($"no models given and none found in {ZooModels.Root}"); return 2; }

        Console.WriteLine($"| model | nodes before | nodes after | fusions fired | none ms | all ms | none/all |");
        Console.WriteLine("|---|---|---|---|---|---|---|");
        foreach (var m in models)
        {
            string path = ZooModels.ModelPath(m);
            var model = OnnxModelLoader.Load(path);
            int before = model.Graph.Nodes.Count, allBefore = CountAll(model.Graph);
            var pm = PassManager.CreateDefault();
            foreach (var d in disabled)
                if (!pm.Passes.Any(p => p.Name == d)) throw new ArgumentException($"unknown pass '{d}' (passes: {string.Join(", ", pm.Passes.Select(p => p.Name))})");
            var reports = pm.Run(model, OptimizationLevel.All, disabled.ToHashSet(StringComparer.Ordinal));
            int after = model.Graph.Nodes.Count, allAfter = CountAll(model.Graph);
            string fired = Fusions(reports);

            using var none = new InferenceSession(path, new Runtime.SessionOptions { IntraOpThreads = threads, OptimizationLevel = OptimizationLevel.None });
            var allOptions = new Runtime.SessionOptions { IntraOpThreads = threads, OptimizationLevel = OptimizationLevel.All };
            allOptions.DisabledPasses.UnionWith(disabled);
            using var all = new InferenceSession(path, allOptions);
            var inputs = ZooModels.Inputs(path, none.Model.Graph);
            var warm = Stopwatch.StartNew();
            while (warm.ElapsedMilliseconds < warmupMs) { none.Run(inputs); all.Run(inputs); }
            var a = new double[rounds];
            var b = new double[rounds];
            for (int i = 0; i < rounds; i++)
            {
                if (i % 2 == 0) { a[i] = Comparison.Time(() => none.Run(inputs)); b[i] = Comparison.Time(() => all.Run(inputs)); }
                else { b[i] = Comparison.Time(() => all.Run(inputs)); a[i] = Comparison.Time(() => none.Run(inputs)); }
            }
            double mn = Comparison.Median(a), ma = Comparison.Median(b);
            string name = Path.GetFileName(Path.GetDirectoryName(path)) ?? m;
            string nodes(int main, int total) => main == total ? $"{main}" : $"{main} ({total})";
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"| {name} | {nodes(before, allBefore)} | {nodes(after, allAfter)} | {fired} | {mn:F3} | {ma:F3} | {mn / ma:F2}x |"));
        }
        Console.WriteLine($"({threads} thread(s), {rounds} alternating rounds, medians; nodes in brackets include If/Loop/Scan bodies"
            + (disabled.Count > 0 ? $"; level all without {string.Join(", ", disabled)})" : ")"));
        return 0;
    }

    /// <summary>"4 Gelu, 8 SkipLayerNormalization, ...": the fusion passes' details, counts summed over rounds and subgraphs.</summary>
    private static string Fusions(List<PassReport> reports)
    {
        var counts = new Dictionary<string, int>(StringComparer.Ordinal);
        var order = new List<string>();
        foreach (var r in reports)
        {
            if (r.Result.Detail is null || !IsFusion(r.Pass)) continue;
            foreach (Match mt in CountedThing().Matches(r.Result.Detail))
            {
                var what = mt.Groups[2].Value.Trim();
                if (!counts.ContainsKey(what)) order.Add(what);
                counts[what] = counts.GetValueOrDefault(what) + int.Parse(mt.Groups[1].Value, CultureInfo.InvariantCulture);
            }
        }
        return order.Count == 0 ? "-" : string.Join(", ", order.Select(w => $"{counts[w]} {w}"));
    }

    private static bool IsFusion(string pass) =>
        pass is not ("ShapeFolding" or "ConstantFolding")
        && (pass.EndsWith("Fusion", StringComparison.Ordinal) || pass.EndsWith("Folding", StringComparison.Ordinal) || pass == "MatMulAddToGemm");

    [GeneratedRegex(@"(\d+) ([^;,\d][^;,]*)")]
    private static partial Regex CountedThing();

    private static int CountAll(Graph g) => g.Nodes.Sum(n => 1 + g.Subgraphs(n).Sum(CountAll));
}
