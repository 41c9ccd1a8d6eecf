using System.Globalization;
using NetOnnx.Runtime;
using NetOnnx.Runtime.Diagnostics;

namespace NetOnnx.Tools;

/// <summary>
/// bench: per model and setting, load time (parse/optimize/plan), first-run latency, warm-up, then latency
/// statistics over a fixed count or time budget; over one model, a folder of models or a zoo (MANIFEST.tsv).
/// Exit code 0 when every row ran (and checked), 1 when any failed, 3 when --baseline flags a slowdown.
/// </summary>
public static class BenchCommand
{
    public const int ExitFailed = 1, ExitSlower = 3;

    private static readonly string[] Known =
    [
        "threads", "batch", "level", "concurrent", "iterations", "duration", "warmup", "warmup-ms", "seed", "input-dir", "input",
        "random", "check", "rtol", "atol", "format", "out", "profile", "top", "report", "baseline", "threshold", "test-slowdown", "device",
    ];

    public static int Run(string[] args, TextWriter o) => Run(args, o, ReferenceEquals(o, Console.Out) && !Console.IsOutputRedirected && !Console.IsErrorRedirected ? Console.Error : null);

    /// <param name="terminal">Where to draw the live progress bar (a terminal), or null for none.</param>
    public static int Run(string[] args, TextWriter o, TextWriter? terminal)
    {
        var a = new CliArgs(ProfileValue(args), "profile", "random", "check");
        a.RejectUnknown(Known);
        string format = a.Get("format") ?? "table";
        if (format is not ("table" or "json" or "csv" or "markdown"))
            throw new CliUsageException($"--format must be table, json, csv or markdown, got '{format}'");
        var batches = a.Has("batch") ? IntList(a, "batch", min: 1).Select(b => (int?)b).ToList() : [null];
        var settings = new BenchSettings
        {
            Threads = a.Has("threads") ? IntList(a, "threads", min: 0) : [1],
            Batches = batches,
            Levels = (a.Get("level") ?? "all").Split(',').Select(CliArgs.ParseLevel).ToList(),
            Concurrent = Math.Max(1, a.GetInt("concurrent", 1)),
            Iterations = a.GetInt("iterations", 50),
            DurationSeconds = a.Has("duration") ? a.GetDouble("duration", 0) : null,
            Warmup = a.GetInt("warmup", 5),
            // .NET compiles hot kernels in tiers: the first ~100 ms of calls run unoptimised code, so warm-up also
            // lasts at least this long (0 turns the time floor off).
            WarmupMs = a.GetInt("warmup-ms", 1000),
            Seed = a.GetInt("seed", 42),
            InputDir = a.Get("input-dir"),
            InputFiles = a.GetAll("input").Select(ParseInput).ToList(),
            RandomInputs = a.Has("random"),
            Check = a.Has("check"),
            Rtol = a.GetDouble("rtol", 1e-3),
            Atol = a.GetDouble("atol", 1e-4),
            Profile = a.Has("profile"),
            TopOps = a.GetInt("top", 5),
            SlowdownFactor = a.GetDouble("test-slowdown", 1),
            Device = a.Get("device") ?? "cpu",
        };
        if (settings.Iterations < 1) throw new CliUsageException("--iterations must be at least 1");
        if (settings.DurationSeconds is <= 0) throw new CliUsageException("--duration must be more than 0 seconds");
        if (settings.Concurrent > 1 && settings.Profile && a.Get("profile") != "true")
            throw new CliUsageException("--profile with a trace file needs --concurrent 1 (runs would overlap in one timeline)");
        double threshold = a.GetDouble("threshold", 1.2);
        if (threshold < 1) throw new CliUsageException($"--threshold is a slowdown ratio and must be at least 1, got {threshold.ToString(CultureInfo.InvariantCulture)}");
        var baseline = a.Get("baseline") is { } bp ? Baseline.Load(bp) : null;

        var targets = BenchTargets.Resolve(a.Positional);
        var progress = terminal is null ? null : new ProgressLine(terminal, targets.Count * settings.SettingsPerModel);
        var runner = new BenchRunner(settings, progress is null ? null : progress.Report);
        var results = new List<BenchResult>();
        foreach (var t in targets)
        {
            int before = results.Count;
            results.AddRange(runner.Run(t));
            // Error and skipped rows never reported progress of their own.
            if (progress is not null) for (int i = results.Count - before; i > 0; i--) if (results[^i].Stats is null && results[^i].Status != BenchStatus.Skipped) progress.Report(t.Name, 1);
        }
        progress?.Clear();

        int slower = baseline is null ? 0 : Baseline.Compare(results, baseline, threshold);
        bool sweep = targets.Count > 1 || results.Count > 1;
        string formatted = format switch
        {
            "json" => ResultWriters.Json(results, sweep),
            "csv" => ResultWriters.Csv(results),
            "markdown" => ResultWriters.Markdown(results),
            _ => TableText(results, settings),
        };
        if (a.Get("out") is { } outFile)
        {
            File.WriteAllText(outFile, formatted + (formatted.EndsWith('\n') ? "" : "\n"));
            if (format != "table") o.Write(TableText(results, settings));
            o.WriteLine($"wrote {outFile}");
        }
        else o.Write(formatted + (formatted.EndsWith('\n') ? "" : "\n"));
        if (baseline is not null && format == "table") o.Write(Baseline.Table(results, a.Get("baseline")!, threshold));

        if (a.Get("profile") is { } trace && trace != "true")
        {
            var sections = results.Where(r => r.Profile.Count > 0).Select(r => new TraceSection($"{r.Model} {r.Setting}", r.Profile)).ToList();
            ChromeTraceWriter.Write(trace, sections);
            if (format == "table") o.WriteLine($"wrote trace {trace} ({sections.Sum(s => s.Runs.Sum(r => r.Nodes.Count))} node events over {sections.Sum(s => s.Runs.Count)} runs)");
        }
        if (a.Get("report") is { } reportDir)
        {
            Report.Write(reportDir, results, "bench " + string.Join(' ', args));
            if (format == "table") o.WriteLine($"wrote report {Path.Combine(reportDir, "summary.md")} and latency.svg");
        }

        int failed = results.Count(r => r.Failed);
        if (sweep && format == "table")
            o.WriteLine($"{results.Count} rows, {results.Count(r => r.Status == BenchStatus.Ok)} ok, {failed} failed" +
                (results.Any(r => r.Status == BenchStatus.Skipped) ? $", {results.Count(r => r.Status == BenchStatus.Skipped)} skipped" : "") +
                (baseline is null ? "" : $", {slower} slower than baseline"));
        return failed > 0 ? ExitFailed : slower > 0 ? ExitSlower : 0;
    }

    private static string TableText(IReadOnlyList<BenchResult> results, BenchSettings settings)
    {
        if (results.Count == 1)
        {
            var r = results[0];
            var text = ResultWriters.Summary(r);
            return text + (settings.Profile && r.Profile.Count > 0 ? OpProfile(r.Profile) : ResultWriters.TopOps(results));
        }
        return ResultWriters.Table(results) + ResultWriters.TopOps(results);
    }

    /// <summary>`--profile trace.json` takes an optional file name: only a following argument ending in .json is taken as it.</summary>
    private static string[] ProfileValue(string[] args)
    {
        var list = new List<string>();
        for (int i = 0; i < args.Length; i++)
        {
            if (args[i] == "--profile" && i + 1 < args.Length && args[i + 1].EndsWith(".json", StringComparison.OrdinalIgnoreCase))
            {
                list.Add("--profile=" + args[++i]);
                continue;
            }
            list.Add(args[i]);
        }
        return [.. list];
    }

    private static List<int> IntList(CliArgs a, string key, int min)
    {
        var raw = a.Get(key)!;
        var list = new List<int>();
        foreach (var part in raw.Split(',', StringSplitOptions.TrimEntries))
        {
            if (!int.TryParse(part, NumberStyles.Integer, CultureInfo.InvariantCulture, out int v) || v < min)
                throw new CliUsageException($"--{key} expects a comma-separated list of integers >= {min}, got '{raw}'");
            if (!list.Contains(v)) list.Add(v);
        }
        return list;
    }

    private static (string, string) ParseInput(string spec)
    {
        int eq = spec.IndexOf('=');
        if (eq <= 0 || eq == spec.Length - 1) throw new CliUsageException($"--input expects name=file.pb, got '{spec}'");
        return (spec[..eq], spec[(eq + 1)..]);
    }

    /// <summary>Mean time per run by op type (with the kernel chosen), heaviest first, then the heaviest nodes with their shapes.</summary>
    private static string OpProfile(IReadOnlyList<RunProfile> runs)
    {
        var c = CultureInfo.InvariantCulture;
        var s = new ProfileSummary(runs);
        var o = new StringWriter();
        o.WriteLine();
        o.WriteLine($"{"op",-28} {"kernel",-28} {"nodes",5} {"ms/run",9} {"share",6}");
        foreach (var r in s.Ops)
            o.WriteLine(string.Format(c, "{0,-28} {1,-28} {2,5} {3,9:F3} {4,5:F1}%", r.OpType, r.Kernel, r.Nodes, r.MillisecondsPerRun, 100 * r.Share));
        o.WriteLine(string.Format(c, "{0,-28} {1,-28} {2,5} {3,9:F3} {4,5:F1}%", "(between nodes)", "", "", s.BetweenNodesMilliseconds,
            100 * s.BetweenNodesMilliseconds / s.MeanRunMilliseconds));
        if (s.HasNestedNodes)
            o.WriteLine("(If/Loop/Scan rows count their own time; the nodes of their bodies have rows of their own)");
        o.WriteLine();
        o.WriteLine($"{"heaviest nodes",-40} {"op",-20} {"inputs",-36} {"output",-20} {"ms/run",9}");
        foreach (var r in s.Nodes.Take(10))
            o.WriteLine(string.Format(c, "{0,-40} {1,-20} {2,-36} {3,-20} {4,9:F3}", r.NodeName, r.OpType, r.InputShapes, r.OutputShape, r.MillisecondsPerRun));
        o.WriteLine(string.Format(c, "{0} profiled runs; peak {1:F1} KiB of intermediate buffers; {2:F0} managed bytes allocated per run (calling thread)",
            s.Runs, s.MaxPeakBytes / 1024.0, s.MeanManagedAllocatedBytes));
        return o.ToString();
    }
}
