using NetOnnx.Runtime;
using NetOnnx.Tools.Conformance;

namespace NetOnnx.Tools;

/// <summary>conformance: runs backend test folders and prints a per-op table and '&lt;suite&gt;: N/M passed'.</summary>
public static class ConformanceCommand
{
    public static int Run(string[] args, TextWriter o)
    {
        var a = new CliArgs(args, "verbose", "failures");
        a.RejectUnknown("filter", "threads", "verbose", "failures", "results", "rtol", "atol", "level", "device");
        if (a.Positional.Count != 1) throw new CliUsageException("conformance needs exactly one DIR");
        var root = a.Positional[0];
        if (!Directory.Exists(root)) throw new OnnxException($"test folder '{root}' does not exist");
        // --filter takes comma-separated substrings; a test runs when its folder name contains any of them.
        var filters = a.Get("filter")?.Split(',', StringSplitOptions.RemoveEmptyEntries);
        var options = new SessionOptions { IntraOpThreads = a.GetInt("threads", 1), Device = a.Get("device") ?? "cpu" };
        if (a.Get("level") is { } level)
            options.OptimizationLevel = Enum.TryParse<OptimizationLevel>(level, ignoreCase: true, out var l) ? l
                : throw new CliUsageException($"--level must be none, basic, extended or all, got '{level}'");
        // The ONNX backend rule by default; the zoo is judged at rtol 1e-3, atol 1e-4 (--atol 1e-4).
        double rtol = a.GetDouble("rtol", ConformanceRunner.Rtol), atol = a.GetDouble("atol", ConformanceRunner.Atol);
        var tests = ConformanceRunner.Discover(root).Where(t => filters is null || filters.Any(f => Path.GetFileName(t.Dir).Contains(f, StringComparison.Ordinal))).ToList();
        var outcomes = new List<TestOutcome>();
        foreach (var (suite, dir) in tests)
        {
            var r = RunIsolated(suite, dir, options, rtol: rtol, atol: atol);
            outcomes.Add(r);
            if (a.Has("verbose") || (a.Has("failures") && !r.Passed))
                o.WriteLine($"{(r.Passed ? "PASS" : "FAIL")} {r.Suite}/{r.Name} {r.Detail}");
        }

        if (a.Get("results") is { } resultsFile)
            File.WriteAllLines(resultsFile, outcomes.Select(r => $"{r.Suite}\t{r.Name}\t{(r.Passed ? "pass" : "fail")}\t{r.Detail}"));

        o.WriteLine();
        o.WriteLine($"{"op",-32} {"passed",7} {"tests",6}");
        var byOp = outcomes.SelectMany(r => r.Ops.Select(op => (op, r.Passed))).GroupBy(x => x.op).OrderBy(g => g.Key, StringComparer.Ordinal);
        foreach (var g in byOp) o.WriteLine($"{g.Key,-32} {g.Count(x => x.Passed),7} {g.Count(),6}");
        o.WriteLine();
        foreach (var g in outcomes.GroupBy(r => r.Suite))
            o.WriteLine($"{g.Key}: {g.Count(r => r.Passed)}/{g.Count()} passed");
        if (outcomes.Select(r => r.Suite).Distinct().Count() > 1)
            o.WriteLine($"all: {outcomes.Count(r => r.Passed)}/{outcomes.Count} passed");
        return 0;
    }

    /// <summary>Runs one test with a time limit so a runaway kernel cannot hang the whole suite.</summary>
    public static TestOutcome RunIsolated(string suite, string dir, SessionOptions options, int timeoutSeconds = 60,
        double rtol = ConformanceRunner.Rtol, double atol = ConformanceRunner.Atol)
    {
        var task = Task.Run(() => ConformanceRunner.RunTest(suite, dir, options, rtol, atol));
        if (task.Wait(TimeSpan.FromSeconds(timeoutSeconds))) return task.Result;
        return new TestOutcome(suite, Path.GetFileName(dir), false, $"timeout: did not finish in {timeoutSeconds} s", [], timeoutSeconds * 1000.0);
    }
}
