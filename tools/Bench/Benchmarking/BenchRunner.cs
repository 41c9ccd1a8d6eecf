using System.Diagnostics;
using NetOnnx.OnnxImport;
using NetOnnx.Runtime;
using NetOnnx.Runtime.Diagnostics;
using NetOnnx.Tools.Conformance;

namespace NetOnnx.Tools;

/// <summary>What to measure and how; one instance serves every model of a run.</summary>
public sealed class BenchSettings
{
    public IReadOnlyList<int> Threads { get; init; } = [1];
    /// <summary>Batch sizes to try; a null entry means "as the inputs come".</summary>
    public IReadOnlyList<int?> Batches { get; init; } = [null];
    public IReadOnlyList<OptimizationLevel> Levels { get; init; } = [OptimizationLevel.All];
    public int Concurrent { get; init; } = 1;
    public int Iterations { get; init; } = 50;
    /// <summary>Time budget for the measured runs; when set it replaces the fixed count.</summary>
    public double? DurationSeconds { get; init; }
    public int Warmup { get; init; } = 5;
    public int WarmupMs { get; init; } = 1000;
    public int Seed { get; init; } = 42;
    public string? InputDir { get; init; }
    public IReadOnlyList<(string Name, string File)> InputFiles { get; init; } = [];
    /// <summary>Use random inputs even where the model's folder has a test_data_set.</summary>
    public bool RandomInputs { get; init; }
    public bool Check { get; init; }
    public double Rtol { get; init; } = 1e-3;
    public double Atol { get; init; } = 1e-4;
    /// <summary>Profile every run (trace, full op table) instead of a few extra runs for the top-ops table.</summary>
    public bool Profile { get; init; }
    public int TopOps { get; init; } = 5;
    /// <summary>Test hook: busy-waits after each measured run so its latency becomes this many times longer.</summary>
    public double SlowdownFactor { get; init; } = 1;
    public int ProfiledRunsForTopOps { get; init; } = 10;
    /// <summary>Where the session runs (SessionOptions.Device: cpu, cuda, opencl, ilgpu-cpu, auto).</summary>
    public string Device { get; init; } = "cpu";

    public int SettingsPerModel => Threads.Count * Batches.Count * Levels.Count;
}

/// <summary>Runs the measurements; each failure becomes a row, never an exception.</summary>
public sealed class BenchRunner(BenchSettings settings, Action<string, double>? progress = null)
{
    /// <summary>Every setting of one model: loads once per (level, threads), then measures each batch.</summary>
    public IEnumerable<BenchResult> Run(BenchTarget target)
    {
        foreach (var level in settings.Levels)
            foreach (int threads in settings.Threads)
            {
                string levelName = level.ToString().ToLowerInvariant();
                BenchResult Row(int? batch) => new() { Model = target.Name, Threads = threads, Batch = batch, Level = levelName, Concurrent = settings.Concurrent };
                InferenceSession? session = null;
                Exception? loadError = null;
                var sw = Stopwatch.StartNew();
                try
                {
                    var options = new SessionOptions { IntraOpThreads = threads, OptimizationLevel = level, EnableProfiling = settings.Profile, Device = settings.Device };
                    session = target.Path is null ? new InferenceSession(DefaultModel.Build(), options) : new InferenceSession(target.Path, options);
                }
                catch (Exception e) when (e is not OutOfMemoryException)
                {
                    loadError = e;
                }
                if (session is null)
                {
                    foreach (var b in settings.Batches) yield return Fail(Row(b), "load", loadError!);
                    continue;
                }
                double loadMs = sw.Elapsed.TotalMilliseconds;
                using (session)
                {
                    var batching = BatchInfo.Of(session.Model.Graph);
                    foreach (var batch in settings.Batches)
                    {
                        if (batch is { } want && !batching.Symbolic && batching.Static != want)
                        {
                            var skip = Row(batch);
                            skip.Status = BenchStatus.Skipped;
                            skip.Message = batching.Static is { } fixedBatch ? $"static batch {fixedBatch}" : "no common symbolic batch dimension";
                            progress?.Invoke(skip.Setting, 1);
                            yield return skip;
                            continue;
                        }
                        var row = Row(batch ?? batching.Static ?? (batching.Symbolic ? 1 : null));
                        row.Load = session.LoadTimings;
                        row.LoadMs = loadMs;
                        row.PlannedPeakBytes = session.Core.Plan.PlannedPeakBytes;
                        try
                        {
                            Measure(session, target, batching.Symbolic ? batch : null, row);
                        }
                        catch (Exception e) when (e is not OutOfMemoryException)
                        {
                            Fail(row, "run", e);
                        }
                        yield return row;
                    }
                }
            }
    }

    /// <summary>Any failure of one model becomes its row (an unexpected exception type is named), so the rest of a zoo still runs.</summary>
    private static BenchResult Fail(BenchResult row, string stage, Exception e)
    {
        row.Status = BenchStatus.Error;
        string msg = e.Message.Replace('\n', ' ').Replace('\r', ' ');
        bool expected = e is OnnxException or IOException or UnauthorizedAccessException or CliUsageException;
        row.Message = expected ? $"{stage}: {msg}" : $"{stage}: {e.GetType().Name}: {msg}";
        return row;
    }

    private void Measure(InferenceSession session, BenchTarget target, int? batch, BenchResult row)
    {
        var graph = session.Model.Graph;
        var (inputs, source, setDir) = Inputs(graph, target, batch);
        row.Inputs = source;
        if (BatchInfo.Of(graph).Symbolic && inputs.Values.OfType<Tensor>().FirstOrDefault(t => t.Rank > 0) is { } first) row.Batch = first.Shape[0];

        var sw = Stopwatch.StartNew();
        var firstOut = session.Run(inputs);
        row.FirstMs = sw.Elapsed.TotalMilliseconds;
        if (settings.Check) CheckOutputs(graph, firstOut, setDir, row);

        string label = $"{ShortName(row.Model)} {row.Setting}";
        progress?.Invoke(label, 0.05);
        var warm = Stopwatch.StartNew();
        for (int i = 0; i < settings.Warmup || warm.ElapsedMilliseconds < settings.WarmupMs; i++) session.Run(inputs);
        progress?.Invoke(label, 0.3);

        int profiledBefore = session.Core.Profile.Count;
        var wall = Stopwatch.StartNew();
        long processAllocated = GC.GetTotalAllocatedBytes(precise: true);
        int[] gcBefore = [GC.CollectionCount(0), GC.CollectionCount(1), GC.CollectionCount(2)];
        List<double> samples = settings.Concurrent > 1 ? MeasureConcurrent(session, inputs) : MeasureSerial(session, inputs, label, row);
        double wallS = wall.Elapsed.TotalSeconds;
        row.Collections = [GC.CollectionCount(0) - gcBefore[0], GC.CollectionCount(1) - gcBefore[1], GC.CollectionCount(2) - gcBefore[2]];
        // Concurrent requests run on worker threads: count the whole process's allocations over the window instead.
        if (settings.Concurrent > 1) row.AllocatedBytesPerRun = (double)(GC.GetTotalAllocatedBytes(precise: true) - processAllocated) / samples.Count;
        row.Iterations = samples.Count;
        row.Stats = LatencyStats.From(samples);
        row.ThroughputPerSecond = samples.Count / Math.Max(wallS, 1e-9);
        if (settings.Concurrent > 1) row.PeakBytes = session.Core.LastRunPeakBytes;

        IReadOnlyList<RunProfile> profiled;
        if (settings.Profile) profiled = session.Core.Profile.Skip(profiledBefore).ToList();
        else if (settings.TopOps > 0)
        {
            // A few extra profiled runs after the measured ones, so timing nodes never slows the numbers reported.
            session.Options.EnableProfiling = true;
            session.Run(inputs); // the profiling path's own first call (JIT) is not one of them
            profiledBefore = session.Core.Profile.Count;
            for (int i = 0; i < settings.ProfiledRunsForTopOps; i++) session.Run(inputs);
            session.Options.EnableProfiling = false;
            profiled = session.Core.Profile.Skip(profiledBefore).ToList();
        }
        else profiled = [];
        if (settings.Profile) row.Profile = profiled;
        if (profiled.Count > 0) row.TopOps = new ProfileSummary(profiled).Ops.Take(Math.Max(settings.TopOps, 0)).ToList();
        progress?.Invoke(label, 1);
    }

    // "../zoo/resnet18/model.onnx" -> "resnet18": the progress line has little room.
    private static string ShortName(string model)
    {
        var file = Path.GetFileName(model);
        return file == "model.onnx" && Path.GetFileName(Path.GetDirectoryName(model)) is { Length: > 0 } dir ? dir : file.Length > 0 ? file : model;
    }

    private List<double> MeasureSerial(InferenceSession session, Dictionary<string, object> inputs, string label, BenchResult row)
    {
        var samples = new List<double>(settings.Iterations);
        var budget = settings.DurationSeconds is { } d ? TimeSpan.FromSeconds(d) : (TimeSpan?)null;
        var clock = Stopwatch.StartNew();
        long lastReport = 0, allocated = 0;
        for (int i = 0; budget is { } b ? (i == 0 || clock.Elapsed < b) : i < settings.Iterations; i++)
        {
            long a0 = GC.GetAllocatedBytesForCurrentThread();
            long t0 = Stopwatch.GetTimestamp();
            session.Run(inputs);
            if (settings.SlowdownFactor > 1) SpinFor(Stopwatch.GetElapsedTime(t0) * (settings.SlowdownFactor - 1));
            samples.Add(Stopwatch.GetElapsedTime(t0).TotalMilliseconds);
            allocated += GC.GetAllocatedBytesForCurrentThread() - a0;
            row.PeakBytes = Math.Max(row.PeakBytes, session.Core.LastRunPeakBytes);
            if (progress is not null && clock.ElapsedMilliseconds - lastReport > 100)
            {
                lastReport = clock.ElapsedMilliseconds;
                double f = budget is { } bb ? clock.Elapsed / bb : (double)i / settings.Iterations;
                progress(label, 0.3 + 0.65 * Math.Min(f, 1));
            }
        }
        row.AllocatedBytesPerRun = (double)allocated / samples.Count;
        return samples;
    }

    /// <summary>N workers on one session (a session takes concurrent runs), each making the requested runs.</summary>
    private List<double> MeasureConcurrent(InferenceSession session, Dictionary<string, object> inputs)
    {
        var perWorker = new List<double>[settings.Concurrent];
        var budget = settings.DurationSeconds is { } d ? TimeSpan.FromSeconds(d) : (TimeSpan?)null;
        var clock = Stopwatch.StartNew();
        Exception? failure = null;
        var threads = Enumerable.Range(0, settings.Concurrent).Select(w => new Thread(() =>
        {
            var mine = perWorker[w] = [];
            try
            {
                for (int i = 0; budget is { } b ? (i == 0 || clock.Elapsed < b) : i < settings.Iterations; i++)
                {
                    long t0 = Stopwatch.GetTimestamp();
                    session.Run(inputs);
                    if (settings.SlowdownFactor > 1) SpinFor(Stopwatch.GetElapsedTime(t0) * (settings.SlowdownFactor - 1));
                    mine.Add(Stopwatch.GetElapsedTime(t0).TotalMilliseconds);
                }
            }
            catch (Exception e) { Interlocked.CompareExchange(ref failure, e, null); }
        })).ToList();
        foreach (var t in threads) t.Start();
        foreach (var t in threads) t.Join();
        if (failure is not null) throw failure is OnnxException ? failure : new InferenceException(failure.Message);
        return perWorker.SelectMany(s => s).ToList();
    }

    private static void SpinFor(TimeSpan t)
    {
        long end = Stopwatch.GetTimestamp() + (long)(t.TotalSeconds * Stopwatch.Frequency);
        while (Stopwatch.GetTimestamp() < end) Thread.SpinWait(20);
    }

    /// <summary>Inputs by the settings' rule: .pb files, an input folder, the model's test_data_set_0, else seeded random.</summary>
    private (Dictionary<string, object> Inputs, string Source, string? SetDir) Inputs(Graph graph, BenchTarget target, int? batch)
    {
        string? setDir = settings.InputDir;
        if (setDir is not null && !Directory.Exists(setDir)) throw new OnnxException($"input folder '{setDir}' does not exist");
        if (setDir is null && settings.InputFiles.Count == 0 && !settings.RandomInputs && target.Path is not null
            && Path.GetDirectoryName(Path.GetFullPath(target.Path)) is { } modelDir && Directory.Exists(Path.Combine(modelDir, "test_data_set_0")))
            setDir = Path.Combine(modelDir, "test_data_set_0");

        Dictionary<string, object> inputs;
        string source;
        if (settings.InputFiles.Count > 0)
        {
            inputs = RandomInputs.For(graph, settings.Seed, batch);
            foreach (var (name, file) in settings.InputFiles)
            {
                var info = graph.Inputs.FirstOrDefault(i => i.Name == name)
                    ?? throw new OnnxException($"--input '{name}' is not an input of the model; inputs are: {string.Join(", ", graph.RequiredInputs.Select(i => i.Name))}");
                if (!File.Exists(file)) throw new OnnxException($"input file '{file}' does not exist");
                inputs[name] = ValueCodec.Read(file, info.Type).Value;
            }
            source = "files";
            setDir = null;
        }
        else if (setDir is not null)
        {
            inputs = ConformanceRunner.ReadInputs(setDir, graph);
            source = Path.GetFileName(Path.TrimEndingDirectorySeparator(setDir));
        }
        else
        {
            inputs = RandomInputs.For(graph, settings.Seed, batch);
            source = $"random (seed {settings.Seed})";
        }
        if (batch is { } n && !source.StartsWith("random", StringComparison.Ordinal))
        {
            bool tiled = false;
            foreach (var key in inputs.Keys.ToList())
                if (inputs[key] is Tensor t && t.Rank > 0 && t.Shape[0] != n) { inputs[key] = RepeatBatch(t, n, key); tiled = true; }
            if (tiled)
            {
                // Recorded outputs are for the recorded batch: nothing to check the repeated batch against.
                source += $" repeated to batch {n}";
                setDir = null;
            }
        }
        return (inputs, source, setDir);
    }

    /// <summary>Stacks a batch-1 recorded tensor n times along axis 0.</summary>
    private static Tensor RepeatBatch(Tensor t, int n, string name)
    {
        if (t.Shape[0] != 1) throw new OnnxException($"cannot make batch {n} from recorded input '{name}' of batch {t.Shape[0]}");
        var shape = (int[])t.Shape.Clone();
        shape[0] = n;
        var r = Tensor.Zeros(t.ElementType, shape);
        for (int i = 0; i < n; i++) Array.Copy(t.Buffer, 0, r.Buffer, i * t.Length, t.Length);
        return r;
    }

    private void CheckOutputs(Graph graph, Dictionary<string, object> actual, string? setDir, BenchResult row)
    {
        if (setDir is null || Directory.GetFiles(setDir, "output_*.pb").Length == 0)
        {
            row.Check = "n/a";
            row.Message = "no expected outputs to check against";
            return;
        }
        foreach (var (name, expected) in ConformanceRunner.ReadOutputs(setDir, graph))
        {
            string? why = actual.TryGetValue(name, out var got)
                ? TensorComparer.Compare(expected, got, settings.Rtol, settings.Atol)
                : $"output '{name}' missing";
            if (why is not null)
            {
                row.Check = "fail";
                row.Status = BenchStatus.CheckFailed;
                row.Message = $"output '{name}': {why}";
                return;
            }
        }
        row.Check = "pass";
    }
}

/// <summary>
/// Whether a graph's batched (rank >= 1) inputs all have a symbolic leading dimension, or all the same static one;
/// a mix of the two is neither, and batch sweeps skip such a model.
/// </summary>
public readonly record struct BatchInfo(bool Symbolic, int? Static)
{
    public static BatchInfo Of(Graph g)
    {
        var lead = g.RequiredInputs.Select(i => i.Type as TensorType).Where(t => t?.Shape is { Length: > 0 }).Select(t => t!.Shape![0]).ToList();
        if (lead.Count == 0) return new BatchInfo(false, null);
        if (lead.All(d => !d.IsKnown)) return new BatchInfo(true, null);
        if (lead.All(d => d.IsKnown && d.Value == lead[0].Value)) return new BatchInfo(false, (int)lead[0].Value);
        return new BatchInfo(false, null);
    }
}
