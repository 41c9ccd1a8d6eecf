using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using NetOnnx.Runtime;

namespace NetOnnx.Benchmarks;

/// <summary>
/// Side-by-side latency against ONNX Runtime. Runs of the two engines alternate within one process, so
/// drift on a shared host (20-30% between runs here) hits both alike; the claim is the ratio of medians.
/// </summary>
public static class Comparison
{
    public sealed record Row(string Model, int Threads, double OursMs, double OrtMs, double OursMinMs, double OrtMinMs)
    {
        /// <summary>Above 1 means we are faster.</summary>
        public double Speedup => OrtMs / OursMs;
    }

    public static int Run(string[] args)
    {
        var models = new List<string>();
        var threads = new List<int>();
        int rounds = 30, warmup = 5, warmupMs = 2000;
        string format = "table";
        var level = Runtime.OptimizationLevel.All;
        for (int i = 0; i < args.Length; i++)
        {
            string Next() => i + 1 < args.Length ? args[++i] : throw new ArgumentException($"{args[i]} needs a value");
            switch (args[i])
            {
                case "--threads": threads.AddRange(Next().Split(',').Select(int.Parse)); break;
                case "--rounds": rounds = int.Parse(Next(), CultureInfo.InvariantCulture); break;
                case "--warmup": warmup = int.Parse(Next(), CultureInfo.InvariantCulture); break;
                case "--warmup-ms": warmupMs = int.Parse(Next(), CultureInfo.InvariantCulture); break;
                case "--format": format = Next(); break;
                case "--level": level = Enum.Parse<Runtime.OptimizationLevel>(Next(), ignoreCase: true); break;
                default: models.Add(args[i]); break;
            }
        }
        if (models.Count == 0) models.AddRange(ZooModels.Names());
        if (models.Count == 0) { Console.Error.WriteLine($"no models given and none found in {ZooModels.Root}"); return 2; }
        if (threads.Count == 0) threads.AddRange([1, 2]);

        var rows = new List<Row>();
        if (format == "table") Console.WriteLine($"{"model",-22} {"threads",7} {"ours ms",9} {"ORT ms",9} {"speedup",8}");
        foreach (var m in models)
            foreach (int t in threads)
            {
                Row r;
                try { r = Measure(m, t, rounds, warmup, warmupMs, level); }
                catch (Exception e) when (e is OnnxException or NotSupportedException or Microsoft.ML.OnnxRuntime.OnnxRuntimeException)
                {
                    Console.Error.WriteLine($"{m} ({t} threads): {e.Message}");
                    continue;
                }
                rows.Add(r);
                if (format == "table")
                    Console.WriteLine($"{r.Model,-22} {r.Threads,7} {r.OursMs,9:F3} {r.OrtMs,9:F3} {r.Speedup,7:F2}x");
            }
        if (format == "json") Console.WriteLine(JsonSerializer.Serialize(rows, new JsonSerializerOptions { WriteIndented = true }));
        else if (rows.Count > 0)
        {
            double geo = Math.Exp(rows.Average(r => Math.Log(r.Speedup)));
            Console.WriteLine($"geometric mean speedup over ONNX Runtime: {geo:F2}x ({rows.Count} model/thread pairs; >1 means faster)");
        }
        return 0;
    }

    public static Row Measure(string nameOrPath, int threads, int rounds, int warmup, int warmupMs,
        Runtime.OptimizationLevel level = Runtime.OptimizationLevel.All)
    {
        string path = ZooModels.ModelPath(nameOrPath);
        using var ours = new InferenceSession(path, new Runtime.SessionOptions { IntraOpThreads = threads, OptimizationLevel = level });
        var inputs = ZooModels.Inputs(path, ours.Model.Graph);
        using var ort = new OrtRunner(path, inputs, threads);
        // Tiered JIT runs the first ~100 ms of kernel calls unoptimised: warm for a count and a time floor.
        var warm = Stopwatch.StartNew();
        for (int i = 0; i < warmup || warm.ElapsedMilliseconds < warmupMs; i++) { ours.Run(inputs); ort.Run(); }
        var a = new double[rounds];
        var b = new double[rounds];
        for (int i = 0; i < rounds; i++)
        {
            // Alternate which engine goes first so neither always runs on a cache the other warmed.
            if (i % 2 == 0) { a[i] = Time(() => ours.Run(inputs)); b[i] = Time(ort.Run); }
            else { b[i] = Time(ort.Run); a[i] = Time(() => ours.Run(inputs)); }
        }
        string name = Path.GetFileName(Path.GetDirectoryName(path)) is { Length: > 0 } dn && Path.GetFileName(path) == "model.onnx" ? dn : Path.GetFileNameWithoutExtension(path);
        return new Row(name, threads, Median(a), Median(b), a.Min(), b.Min());
    }

    private static double Time(Action f)
    {
        long t0 = Stopwatch.GetTimestamp();
        f();
        return Stopwatch.GetElapsedTime(t0).TotalMilliseconds;
    }

    private static double Median(double[] v)
    {
        var s = v.Order().ToArray();
        return s.Length % 2 == 1 ? s[s.Length / 2] : (s[s.Length / 2 - 1] + s[s.Length / 2]) / 2;
    }
}
