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
    public sealed record Row(string Model, int Threads, double OursMs, double OrtMs, double OursMinMs, double OrtMinMs,
        double MaxAbsDiff, bool OutputsMatch)
    {
        /// <summary>Above 1 means we are faster.</summary>
        public double Speedup => OrtMs / OursMs;
        public MemoryProbe.Result? OursMemory { get; init; }
        public MemoryProbe.Result? OrtMemory { get; init; }
    }

    /// <summary>The zoo rule (tests and `conformance ../shared/zoo --atol 1e-4`): |ours - ORT| &lt;= atol + rtol*|ORT|.</summary>
    private const double Rtol = 1e-3, Atol = 1e-4;

    public static int Run(string[] args)
    {
        try { return RunParsed(args); }
        catch (Exception e) when (e is FormatException or ArgumentException or OverflowException)
        {
            Console.Error.WriteLine($"compare: {e.Message}");
            return 2;
        }
    }

    private static int RunParsed(string[] args)
    {
        var models = new List<string>();
        var threads = new List<int>();
        int rounds = 30, warmup = 5, warmupMs = 2000;
        string format = "table";
        string? markdown = null;
        bool memory = true, ortSpinning = true;
        int block = 5, settleMs = 0;
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
                case "--markdown": markdown = Next(); break;
                case "--no-memory": memory = false; break;
                case "--ort-spinning": ortSpinning = Next() switch { "on" => true, "off" => false, var v => throw new ArgumentException($"--ort-spinning takes on or off, not '{v}'") }; break;
                case "--settle-ms": settleMs = Math.Max(0, int.Parse(Next(), CultureInfo.InvariantCulture)); break;
                case "--block": block = Math.Max(1, int.Parse(Next(), CultureInfo.InvariantCulture)); break;
                default: models.Add(args[i]); break;
            }
        }
        if (models.Count == 0) models.AddRange(ZooModels.Names());
        if (models.Count == 0) { Console.Error.WriteLine($"no models given and none found in {ZooModels.Root}"); return 2; }
        if (threads.Count == 0) threads.AddRange([1, 2]);
        if (memory && !OperatingSystem.IsLinux()) { Console.Error.WriteLine("memory columns need Linux's /proc; measuring latency only"); memory = false; }

        var rows = new List<Row>();
        if (format == "table")
            Console.WriteLine($"{"model",-22} {"threads",7} {"ours ms",9} {"ORT ms",9} {"speedup",8} {"max|diff|",10} {"ours MiB",9} {"ORT MiB",9} {"alloc/run*",10}");
        int failures = 0;
        // The first measurement in a process ran 3-4x slower for both engines (JIT tiering still under way on a
        // loaded host), whichever model came first; one throw-away pass keeps that out of the table.
        try { Measure(models[0], threads[0], 5, warmup, warmupMs, level, ortSpinning, block, settleMs); }
        catch (Exception e) when (e is OnnxException or NotSupportedException or InvalidOperationException or IOException
            or Microsoft.ML.OnnxRuntime.OnnxRuntimeException) { /* reported by the real pass below */ }
        foreach (var m in models)
            foreach (int t in threads)
            {
                Row r;
                try
                {
                    r = Measure(m, t, rounds, warmup, warmupMs, level, ortSpinning, block, settleMs);
                }
                catch (Exception e) when (e is OnnxException or NotSupportedException or InvalidOperationException or TimeoutException
                    or IOException or Microsoft.ML.OnnxRuntime.OnnxRuntimeException)
                {
                    Console.Error.WriteLine($"{m} ({t} threads): {e.Message}");
                    failures++;
                    continue;
                }
                if (memory)
                {
                    // A failed probe (no /proc/self/clear_refs, a child that crashed) costs the memory columns, not the row.
                    try { r = r with { OursMemory = MemoryProbe.Measure("ours", m, t, 5, level), OrtMemory = MemoryProbe.Measure("ort", m, t, 5, level) }; }
                    catch (Exception e) when (e is InvalidOperationException or TimeoutException or System.ComponentModel.Win32Exception)
                    {
                        Console.Error.WriteLine($"{m} ({t} threads): memory not measured: {e.Message}");
                    }
                }
                if (!r.OutputsMatch) { Console.Error.WriteLine($"{r.Model} ({t} threads): outputs differ from ONNX Runtime's (max |diff| {r.MaxAbsDiff:G3})"); failures++; }
                rows.Add(r);
                if (format == "table")
                    Console.WriteLine($"{r.Model,-22} {r.Threads,7} {r.OursMs,9:F3} {r.OrtMs,9:F3} {r.Speedup,7:F2}x {r.MaxAbsDiff,10:G3} {MiB(r.OursMemory?.PeakBytes),9} {MiB(r.OrtMemory?.PeakBytes),9} {Bytes(r.OursMemory?.ManagedBytesPerRun),10}");
            }
        if (format == "table" && memory) Console.WriteLine("* managed bytes per warm run of ours through Run(inputs, outputs), outputs written into caller tensors");
        if (format == "json") Console.WriteLine(JsonSerializer.Serialize(rows, new JsonSerializerOptions { WriteIndented = true }));
        else if (rows.Count > 0) Console.WriteLine($"geometric mean speedup over ONNX Runtime: {GeoMean(rows):F2}x ({rows.Count} model/thread pairs; >1 means faster)");
        if (markdown is not null && rows.Count > 0)
        {
            Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(markdown))!);
            File.WriteAllText(markdown, Markdown(rows, args, rounds, ortSpinning, block, memory, settleMs));
            Console.WriteLine($"wrote {markdown}");
        }
        return failures == 0 ? 0 : 1;
    }

    private static double GeoMean(List<Row> rows) => Math.Exp(rows.Average(r => Math.Log(r.Speedup)));

    private static string MiB(long? b) => b is { } v ? (v / 1048576.0).ToString("F1", CultureInfo.InvariantCulture) : "-";

    private static string Bytes(long? b) => b switch
    {
        null => "-",
        < 10 * 1024 => $"{b} B",
        _ => $"{b / 1024.0:F1} KiB",
    };

    private static string Markdown(List<Row> rows, string[] args, int rounds, bool ortSpinning, int block, bool memory, int settleMs)
    {
        CultureInfo.CurrentCulture = CultureInfo.InvariantCulture; // numbers in the file read the same everywhere
        var sb = new System.Text.StringBuilder();
        sb.AppendLine("# NetOnnx vs ONNX Runtime, side by side");
        sb.AppendLine();
        sb.AppendLine("```sh");
        sb.AppendLine($"dotnet run --project benchmarks/Benchmarks -c Release -- compare {string.Join(' ', args)}".TrimEnd());
        sb.AppendLine("```");
        sb.AppendLine();
        sb.AppendLine($"Measured {DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC on {Environment.ProcessorCount} logical cores, .NET {Environment.Version}, " +
            $"ONNX Runtime {typeof(Microsoft.ML.OnnxRuntime.InferenceSession).Assembly.GetName().Version} (intra-op spinning {(ortSpinning ? "on" : "off")}). " +
            (block > 1
                ? $"The two engines alternate in one process in blocks of {block} measured runs, each block led by {(settleMs > 0 ? $"a {settleMs} ms pause and " : "")}one unmeasured run, so neither engine's idle workers (ORT's spin after its runs) fall on the other's measured runs; {rounds} measured runs each after a warm-up of at least 2 s; medians in ms; "
                : $"Runs of the two engines alternate one by one in one process ({rounds} rounds after a warm-up of at least 2 s); medians in ms; ") +
            "ratio = ORT median / ours (above 1: we are faster). Outputs are checked against ORT's after warm-up " +
            $"(|ours - ORT| <= {Atol} + {Rtol}*|ORT|).");
        if (File.Exists("/proc/loadavg"))
        {
            // Other processes' load skews latency (not the ratio's intent); say how busy the host was.
            sb.AppendLine();
            sb.AppendLine($"Host load average when the table was written (1/5/15 min): {string.Join(' ', File.ReadAllText("/proc/loadavg").Split(' ').Take(3))}.");
        }
        if (memory)
        {
            sb.AppendLine();
            sb.AppendLine("Peak memory: each engine alone in a fresh child process; resident-set high-water mark (VmHWM, reset through " +
                "/proc/self/clear_refs) minus the resident size just before the session is created, over load and 10 warm runs. " +
                "Counts weights, packed copies, arenas, heap growth and code touched; the engine's library is loaded before the baseline. " +
                "Arena: our intermediate buffers live at once (planned from inferred shapes / actual in the last run; subgraph buffers only in actual). " +
                "Alloc/run: managed bytes a warm run of ours allocates, all threads (GC.GetTotalAllocatedBytes), through the bound-output " +
                "path `Run(inputs, outputs)` (outputs written into caller tensors, the first run's results reused as the container).");
        }
        sb.AppendLine();
        sb.AppendLine("| model | threads | ours ms | ORT ms | ratio | ours peak MiB | ORT peak MiB | arena planned / actual MiB | alloc/run (bound outputs) | max abs diff |");
        sb.AppendLine("|---|---|---|---|---|---|---|---|---|---|");
        foreach (var r in rows)
        {
            string arena = r.OursMemory is { } om ? $"{MiB(om.ArenaPlannedBytes)} / {MiB(om.ArenaPeakBytes)}" : "-";
            sb.AppendLine($"| {r.Model} | {r.Threads} | {r.OursMs:F3} | {r.OrtMs:F3} | {r.Speedup:F2}x | {MiB(r.OursMemory?.PeakBytes)} | " +
                $"{MiB(r.OrtMemory?.PeakBytes)} | {arena} | {Bytes(r.OursMemory?.ManagedBytesPerRun)} | {r.MaxAbsDiff:G3}{(r.OutputsMatch ? "" : " MISMATCH")} |");
        }
        sb.AppendLine();
        sb.AppendLine($"Geometric mean ratio: {GeoMean(rows):F2}x over {rows.Count} model/thread pairs.");
        return sb.ToString();
    }

    /// <param name="block">
    /// Runs per engine between switches. 1: strict alternation. Above 1, each block starts with one unmeasured run:
    /// ORT's workers spin for a while after each of its runs (its default), and on a two-core machine that spin
    /// would land on our next run; the lead-in run absorbs it (and ours, spinning ~100 us, likewise for ORT).
    /// </param>
    public static Row Measure(string nameOrPath, int threads, int rounds, int warmup, int warmupMs,
        Runtime.OptimizationLevel level = Runtime.OptimizationLevel.All, bool ortSpinning = true, int block = 5, int settleMs = 0)
    {
        string path = ZooModels.ModelPath(nameOrPath);
        using var ours = new InferenceSession(path, new Runtime.SessionOptions { IntraOpThreads = threads, OptimizationLevel = level });
        var inputs = ZooModels.Inputs(path, ours.Model.Graph);
        using var ort = new OrtRunner(path, inputs, threads, ortSpinning);
        // Tiered JIT runs the first ~100 ms of kernel calls unoptimised: warm for a count and a time floor.
        var warm = Stopwatch.StartNew();
        for (int i = 0; i < warmup || warm.ElapsedMilliseconds < warmupMs; i++) { ours.Run(inputs); ort.Run(); }
        var (maxDiff, match) = CheckOutputs(ours.Run(inputs), ort.RunOutputs());
        var a = new double[rounds];
        var b = new double[rounds];
        void Block(Action run, double[] into, int from)
        {
            // Optional (--settle-ms): the other engine's idle workers spin for a while after its last run (ORT's
            // allow_spinning) and on two cores hold the core this block's workers need; a sleep lets them block first.
            if (settleMs > 0) Thread.Sleep(settleMs);
            if (block > 1) run();
            for (int k = from; k < Math.Min(rounds, from + block); k++) into[k] = Time(run);
        }
        void Ours() => ours.Run(inputs);
        for (int i = 0, n = 0; i < rounds; i += block, n++)
        {
            // Alternate which engine goes first so neither always runs on a cache the other warmed.
            if (n % 2 == 0) { Block(Ours, a, i); Block(ort.Run, b, i); }
            else { Block(ort.Run, b, i); Block(Ours, a, i); }
        }
        string name = Path.GetFileName(Path.GetDirectoryName(path)) is { Length: > 0 } dn && Path.GetFileName(path) == "model.onnx" ? dn : Path.GetFileNameWithoutExtension(path);
        return new Row(name, threads, Median(a), Median(b), a.Min(), b.Min(), maxDiff, match);
    }

    /// <summary>Largest |ours - ORT| over the float outputs both produce, and whether all are within the zoo rule.</summary>
    private static (double MaxAbsDiff, bool Match) CheckOutputs(Dictionary<string, Tensor> ours, Dictionary<string, float[]> ort)
    {
        double max = 0;
        bool match = ort.Count > 0;
        foreach (var (name, expected) in ort)
        {
            if (!ours.TryGetValue(name, out var t) || t.ElementType != DataType.Float || t.Length != expected.Length) return (double.PositiveInfinity, false);
            var got = t.ReadOnlySpan<float>();
            for (int i = 0; i < expected.Length; i++)
            {
                double d = Math.Abs((double)got[i] - expected[i]);
                if (!(d <= Atol + Rtol * Math.Abs(expected[i]))) match = false;
                if (d > max || double.IsNaN(d)) max = double.IsNaN(d) ? double.PositiveInfinity : d;
            }
        }
        return (max, match);
    }

    internal static double Time(Action f)
    {
        long t0 = Stopwatch.GetTimestamp();
        f();
        return Stopwatch.GetElapsedTime(t0).TotalMilliseconds;
    }

    internal static double Median(double[] v)
    {
        var s = v.Order().ToArray();
        return s.Length % 2 == 1 ? s[s.Length / 2] : (s[s.Length / 2 - 1] + s[s.Length / 2]) / 2;
    }
}
