using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using NetOnnx.Runtime;

namespace NetOnnx.Benchmarks;

/// <summary>
/// Peak memory of one engine on one model, measured in a fresh child process so neither engine's heap, arena
/// or freed-but-kept pages count against the other. Method (Linux): after the inputs are prepared, the engine's
/// code is loaded and the process has been garbage-collected, reset the kernel's resident-set high-water mark
/// (write 5 to /proc/self/clear_refs) and record VmRSS as the baseline; then create the session and run it
/// warm; peak = VmHWM - baseline. That counts everything the engine holds for the model (weights, packed
/// copies, arena, managed heap growth, load-time garbage not yet collected) and nothing it shares with an
/// empty process. For our engine the child also reports the managed bytes a warm run allocates (all threads)
/// and the buffer pool's planned and actual peak.
/// </summary>
public static class MemoryProbe
{
    public sealed record Result(string Engine, long PeakBytes, long SteadyBytes, long ManagedBytesPerRun, long ArenaPlannedBytes, long ArenaPeakBytes);

    /// <summary>Child side: `memory-probe ours|ort MODEL THREADS RUNS LEVEL`; prints one JSON line.</summary>
    public static int RunChild(string[] args)
    {
        if (args.Length != 5) { Console.Error.WriteLine("usage: memory-probe ours|ort MODEL THREADS RUNS LEVEL"); return 2; }
        try { return Probe(args); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or FormatException or ArgumentException or OnnxException
            or InvalidOperationException or Microsoft.ML.OnnxRuntime.OnnxRuntimeException)
        {
            Console.Error.WriteLine($"memory-probe: {e.Message}");
            return 1;
        }
    }

    private static int Probe(string[] args)
    {
        string engine = args[0], path = ZooModels.ModelPath(args[1]);
        int threads = int.Parse(args[2], CultureInfo.InvariantCulture), runs = int.Parse(args[3], CultureInfo.InvariantCulture);
        var level = Enum.Parse<OptimizationLevel>(args[4], ignoreCase: true);

        Dictionary<string, Tensor> inputs;
        {
            // The inputs need the graph's input list; parse with a throw-away session so our loader's code is
            // warm for both engines and its garbage is collected before the baseline.
            using var probe = new InferenceSession(path, new Runtime.SessionOptions { OptimizationLevel = OptimizationLevel.None });
            inputs = ZooModels.Inputs(path, probe.Model.Graph);
        }
        if (engine == "ort") OrtRunner.LoadNativeLibrary();
        long baseline = ResetPeak();

        Result r;
        if (engine == "ours")
        {
            using var s = new InferenceSession(path, new Runtime.SessionOptions { IntraOpThreads = threads, OptimizationLevel = level });
            // Allocations are counted on the bound-output path (outputs written into the caller's tensors, the
            // first run's results reused as the container), the one meant for steady state.
            var outs = s.Run(inputs);
            for (int i = 0; i < runs; i++) s.Run(inputs, outs);
            long a0 = GC.GetTotalAllocatedBytes(precise: true);
            for (int i = 0; i < runs; i++) s.Run(inputs, outs);
            long perRun = (GC.GetTotalAllocatedBytes(precise: true) - a0) / Math.Max(1, runs);
            r = new Result(engine, Status("VmHWM") - baseline, Status("VmRSS") - baseline, perRun, s.Core.Plan.PlannedPeakBytes, s.Core.LastRunPeakBytes);
        }
        else if (engine == "ort")
        {
            using var o = new OrtRunner(path, inputs, threads);
            for (int i = 0; i < 2 * runs; i++) o.Run();
            r = new Result(engine, Status("VmHWM") - baseline, Status("VmRSS") - baseline, 0, 0, 0);
        }
        else { Console.Error.WriteLine($"unknown engine '{engine}' (ours or ort)"); return 2; }
        Console.WriteLine(JsonSerializer.Serialize(r));
        return 0;
    }

    /// <summary>Parent side: runs the child for one engine and parses its line.</summary>
    public static Result Measure(string engine, string model, int threads, int runs, OptimizationLevel level)
    {
        string exe = Environment.ProcessPath ?? throw new InvalidOperationException("cannot find this program's path");
        var psi = new ProcessStartInfo(exe) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        // Started as `dotnet NetOnnx.Benchmarks.dll`: the child needs the assembly too.
        if (Path.GetFileNameWithoutExtension(exe) == "dotnet") psi.ArgumentList.Add(typeof(MemoryProbe).Assembly.Location);
        foreach (var a in new[] { "memory-probe", engine, model, threads.ToString(CultureInfo.InvariantCulture), runs.ToString(CultureInfo.InvariantCulture), level.ToString() })
            psi.ArgumentList.Add(a);
        using var p = Process.Start(psi) ?? throw new InvalidOperationException($"could not start {exe}");
        var errTask = p.StandardError.ReadToEndAsync();
        string stdout = p.StandardOutput.ReadToEnd();
        if (!p.WaitForExit(600_000)) { p.Kill(entireProcessTree: true); throw new TimeoutException($"memory probe of {engine} on {model} did not finish in 10 minutes"); }
        string line = stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries).LastOrDefault() ?? "";
        if (p.ExitCode != 0 || !line.StartsWith('{'))
            throw new InvalidOperationException($"memory probe of {engine} on {model} failed (exit {p.ExitCode}): {errTask.Result.Trim()}");
        return JsonSerializer.Deserialize<Result>(line) ?? throw new InvalidOperationException($"memory probe printed '{line}'");
    }

    /// <summary>Collects garbage, resets VmHWM to the current resident size and returns that size in bytes.</summary>
    private static long ResetPeak()
    {
        GC.Collect();
        GC.WaitForPendingFinalizers();
        GC.Collect();
        File.WriteAllText("/proc/self/clear_refs", "5");
        return Status("VmRSS");
    }

    /// <summary>A "kB" line of /proc/self/status in bytes.</summary>
    private static long Status(string key)
    {
        foreach (var l in File.ReadLines("/proc/self/status"))
            if (l.StartsWith(key + ":", StringComparison.Ordinal))
                return long.Parse(l[(key.Length + 1)..].Trim().Split(' ')[0], CultureInfo.InvariantCulture) * 1024;
        throw new InvalidOperationException($"/proc/self/status has no {key} line (memory probing needs Linux)");
    }
}
