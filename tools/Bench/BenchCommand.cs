using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using NetOnnx.Runtime;

namespace NetOnnx.Tools;

/// <summary>bench: load time, first-run latency, then latency statistics over repeated runs.</summary>
public static class BenchCommand
{
    public static int Run(string[] args, TextWriter o)
    {
        var a = new CliArgs(args, "profile");
        a.RejectUnknown("threads", "iterations", "warmup", "warmup-ms", "format", "level", "profile", "input-dir", "device");
        int threads = a.GetInt("threads", 1);
        int iterations = a.GetInt("iterations", 50);
        int warmup = a.GetInt("warmup", 5);
        // .NET compiles hot kernels in tiers: the first ~100 ms of calls run unoptimised code, so warm-up also
        // lasts at least this long (0 turns the time floor off).
        int warmupMs = a.GetInt("warmup-ms", 1000);
        string format = a.Get("format") ?? "table";
        if (format is not ("table" or "json")) throw new CliUsageException($"--format must be table or json, got '{format}'");
        if (iterations < 1) throw new CliUsageException("--iterations must be at least 1");
        var options = new SessionOptions
        {
            IntraOpThreads = threads,
            OptimizationLevel = CliArgs.ParseLevel(a.Get("level")),
            EnableProfiling = a.Has("profile"),
            Device = a.Get("device") ?? "cpu",
        };

        string modelName;
        var sw = Stopwatch.StartNew();
        InferenceSession session;
        if (a.Positional.Count == 0)
        {
            modelName = "builtin:" + DefaultModel.Name;
            session = new InferenceSession(DefaultModel.Build(), options);
        }
        else
        {
            modelName = a.Positional[0];
            session = new InferenceSession(modelName, options);
        }
        double loadMs = sw.Elapsed.TotalMilliseconds;

        // Recorded inputs (a test_data_set folder) where given: models with symbolic dims or data-dependent
        // branches may not run on made-up shapes.
        var inputs = a.Get("input-dir") is { } inputDir
            ? (Directory.Exists(inputDir) ? Conformance.ConformanceRunner.ReadInputs(inputDir, session.Model.Graph)
                : throw new OnnxException($"input folder '{inputDir}' does not exist"))
            : RandomInputs.For(session.Model.Graph, seed: 42);
        sw.Restart();
        session.Run(inputs);
        double firstMs = sw.Elapsed.TotalMilliseconds;
        var warm = Stopwatch.StartNew();
        for (int i = 0; i < warmup || warm.ElapsedMilliseconds < warmupMs; i++) session.Run(inputs);
        var samples = new double[iterations];
        for (int i = 0; i < iterations; i++)
        {
            long t0 = Stopwatch.GetTimestamp();
            session.Run(inputs);
            samples[i] = Stopwatch.GetElapsedTime(t0).TotalMilliseconds;
        }
        var stats = LatencyStats.From(samples);
        var result = new BenchResult(modelName, threads, iterations, loadMs, firstMs, stats, session.Core.Plan.PlannedPeakBytes);
        if (format == "json") o.WriteLine(JsonSerializer.Serialize(result.ToJson(), new JsonSerializerOptions { WriteIndented = true }));
        else result.WriteTable(o);
        if (a.Has("profile") && format == "table") WriteOpProfile(o, session.Core.Profile.TakeLast(iterations).ToList());
        return 0;
    }

    /// <summary>Mean time per run by op type (with the kernel chosen), heaviest first, over the measured runs.</summary>
    private static void WriteOpProfile(TextWriter o, IReadOnlyList<RunProfile> runs)
    {
        if (runs.Count == 0) return;
        double total = runs.Average(r => r.TotalMilliseconds);
        var rows = runs.SelectMany(r => r.Nodes)
            .GroupBy(n => (n.OpType, n.Kernel))
            .Select(g => (g.Key.OpType, g.Key.Kernel, Ms: g.Sum(n => n.Milliseconds) / runs.Count, Nodes: g.Count() / runs.Count))
            .OrderByDescending(r => r.Ms).ToList();
        o.WriteLine();
        o.WriteLine($"{"op",-28} {"kernel",-28} {"nodes",5} {"ms/run",9} {"share",6}");
        foreach (var r in rows)
            o.WriteLine(string.Create(System.Globalization.CultureInfo.InvariantCulture,
                $"{r.OpType,-28} {r.Kernel,-28} {r.Nodes,5} {r.Ms,9:F3} {100 * r.Ms / total,5:F1}%"));
        double nodes = rows.Sum(r => r.Ms);
        var heaviest = runs.SelectMany(r => r.Nodes).GroupBy(n => n.NodeName)
            .Select(g => (Name: g.Key, g.First().OpType, g.First().OutputShape, Ms: g.Sum(n => n.Milliseconds) / runs.Count))
            .OrderByDescending(r => r.Ms).Take(10).ToList();
        if (nodes <= total)
            o.WriteLine(string.Create(System.Globalization.CultureInfo.InvariantCulture,
                $"{"(between nodes)",-28} {"",-28} {"",5} {total - nodes,9:F3} {100 * (total - nodes) / total,5:F1}%"));
        else
            o.WriteLine("(nodes inside If/Loop/Scan bodies are counted both on their own and in the enclosing node)");
        o.WriteLine();
        o.WriteLine($"{"heaviest nodes",-40} {"op",-20} {"output",-20} {"ms/run",9}");
        foreach (var r in heaviest)
            o.WriteLine(string.Create(System.Globalization.CultureInfo.InvariantCulture, $"{r.Name,-40} {r.OpType,-20} {r.OutputShape,-20} {r.Ms,9:F3}"));
    }
}

/// <summary>Latency statistics over samples in milliseconds; percentiles by linear interpolation.</summary>
public sealed record LatencyStats(double Mean, double Min, double Max, double P50, double P90, double P95, double P99)
{
    public static LatencyStats From(IReadOnlyList<double> samples)
    {
        if (samples.Count == 0) throw new ArgumentException("no samples");
        var s = samples.OrderBy(x => x).ToArray();
        return new LatencyStats(s.Average(), s[0], s[^1], Percentile(s, 50), Percentile(s, 90), Percentile(s, 95), Percentile(s, 99));
    }

    /// <summary>Percentile p (0-100) of sorted samples, interpolating between closest ranks.</summary>
    public static double Percentile(double[] sorted, double p)
    {
        if (sorted.Length == 1) return sorted[0];
        double rank = p / 100.0 * (sorted.Length - 1);
        int lo = (int)Math.Floor(rank), hi = (int)Math.Ceiling(rank);
        return sorted[lo] + (sorted[hi] - sorted[lo]) * (rank - lo);
    }
}

public sealed record BenchResult(string Model, int Threads, int Iterations, double LoadMs, double FirstMs, LatencyStats Stats, long PlannedPeakBytes)
{
    public Dictionary<string, object> ToJson() => new()
    {
        ["model"] = Model,
        ["threads"] = Threads,
        ["iterations"] = Iterations,
        ["load_ms"] = Round(LoadMs),
        ["first_ms"] = Round(FirstMs),
        ["mean_ms"] = Round(Stats.Mean),
        ["p50_ms"] = Round(Stats.P50),
        ["p90_ms"] = Round(Stats.P90),
        ["p95_ms"] = Round(Stats.P95),
        ["p99_ms"] = Round(Stats.P99),
        ["min_ms"] = Round(Stats.Min),
        ["max_ms"] = Round(Stats.Max),
        ["planned_peak_bytes"] = PlannedPeakBytes,
    };

    private static double Round(double v) => Math.Round(v, 4);

    public void WriteTable(TextWriter o)
    {
        var c = CultureInfo.InvariantCulture;
        o.WriteLine($"model       {Model}");
        o.WriteLine($"threads     {Threads}");
        o.WriteLine($"iterations  {Iterations}");
        o.WriteLine(string.Format(c, "load        {0,10:F3} ms", LoadMs));
        o.WriteLine(string.Format(c, "first run   {0,10:F3} ms", FirstMs));
        o.WriteLine(string.Format(c, "mean        {0,10:F3} ms", Stats.Mean));
        o.WriteLine(string.Format(c, "min         {0,10:F3} ms", Stats.Min));
        o.WriteLine(string.Format(c, "p50         {0,10:F3} ms", Stats.P50));
        o.WriteLine(string.Format(c, "p90         {0,10:F3} ms", Stats.P90));
        o.WriteLine(string.Format(c, "p95         {0,10:F3} ms", Stats.P95));
        o.WriteLine(string.Format(c, "p99         {0,10:F3} ms", Stats.P99));
        o.WriteLine(string.Format(c, "max         {0,10:F3} ms", Stats.Max));
        o.WriteLine(string.Format(c, "planned     {0,10:F1} KiB of intermediate buffers", PlannedPeakBytes / 1024.0));
    }
}

/// <summary>Seeded random inputs for a graph's inputs; symbolic dimensions become 1.</summary>
public static class RandomInputs
{
    public static Dictionary<string, object> For(Graph g, int seed)
    {
        var rng = new Random(seed);
        var d = new Dictionary<string, object>(StringComparer.Ordinal);
        foreach (var input in g.RequiredInputs)
        {
            if (input.Type is not TensorType tt)
                throw new OnnxException($"input '{input.Name}' is {input.Type?.ToString() ?? "untyped"}; random inputs can only be made for tensors");
            var shape = (tt.Shape ?? []).Select(x => x.IsKnown ? (int)x.Value : 1).ToArray();
            var t = Tensor.Zeros(tt.ElementType, shape);
            switch (tt.ElementType)
            {
                case DataType.Float: { var s = t.Span<float>(); for (int i = 0; i < s.Length; i++) s[i] = (float)(rng.NextDouble() * 2 - 1); break; }
                case DataType.Double: { var s = t.Span<double>(); for (int i = 0; i < s.Length; i++) s[i] = rng.NextDouble() * 2 - 1; break; }
                case DataType.Int64: { var s = t.Span<long>(); for (int i = 0; i < s.Length; i++) s[i] = rng.Next(0, 100); break; }
                case DataType.Int32: { var s = t.Span<int>(); for (int i = 0; i < s.Length; i++) s[i] = rng.Next(0, 100); break; }
                case DataType.Bool: { var s = t.Span<bool>(); for (int i = 0; i < s.Length; i++) s[i] = rng.Next(2) == 1; break; }
                default: break; // zeros
            }
            d[input.Name] = t;
        }
        return d;
    }
}
