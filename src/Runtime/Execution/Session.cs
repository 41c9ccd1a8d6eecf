using System.Collections.Concurrent;
using NetOnnx.Kernels;

namespace NetOnnx.Runtime;

/// <summary>
/// A model planned for execution. <see cref="Run"/> validates inputs by name, element type and shape and
/// may be called from several threads at once: each run has its own values and buffer pool.
/// </summary>
public sealed class Session : IDisposable
{
    private readonly ConcurrentQueue<RunProfile> _profiles = new();
    private readonly ConcurrentBag<BufferPool> _pools = new();
    private const int MaxCachedPools = 4;

    public Model Model { get; }
    public SessionOptions Options { get; }
    public ExecutionPlan Plan { get; }
    public IReadOnlyList<ValueInfo> Inputs { get; }
    public IReadOnlyList<ValueInfo> Outputs { get; }
    /// <summary>Bytes of intermediate buffers the last run allocated (the run-time counterpart of PlannedPeakBytes).</summary>
    public long LastRunAllocatedBytes { get; private set; }

    public Session(Model model, SessionOptions? options = null)
    {
        Model = model;
        Options = options ?? new SessionOptions();
        ShapeInference.InferGraph(model.Graph, model);
        Plan = new Planner(model, Options).Plan(model.Graph);
        Inputs = model.Graph.RequiredInputs.ToList();
        Outputs = model.Graph.Outputs.ToList();
    }

    /// <summary>Per-node timings of runs made with profiling on, oldest first.</summary>
    public IReadOnlyList<RunProfile> Profile => _profiles.ToArray();

    /// <summary>Runs the model on named inputs; returns the requested outputs (all by default) by name.</summary>
    public Dictionary<string, object> Run(IReadOnlyDictionary<string, object> inputs, IReadOnlyCollection<string>? outputNames = null)
    {
        var graph = Model.Graph;
        foreach (var name in inputs.Keys)
            if (!graph.Inputs.Any(i => i.Name == name))
                throw new InferenceException($"'{name}' is not an input of the model; inputs are: {string.Join(", ", Inputs.Select(i => i.Name))}");

        var feed = new object?[graph.Inputs.Count];
        for (int i = 0; i < graph.Inputs.Count; i++)
        {
            var info = graph.Inputs[i];
            if (inputs.TryGetValue(info.Name, out var v))
            {
                Validate(info, v);
                feed[i] = v;
            }
            else if (!graph.Initializers.ContainsKey(info.Name))
                throw new InferenceException($"input '{info.Name}' ({info.Type}) was not given");
        }
        if (outputNames is not null)
            foreach (var n in outputNames)
                if (!graph.Outputs.Any(o => o.Name == n))
                    throw new InferenceException($"'{n}' is not an output of the model; outputs are: {string.Join(", ", Outputs.Select(o => o.Name))}");

        var timings = Options.EnableProfiling ? new List<NodeTiming>() : null;
        // Free buffers carry over between runs (one pool per concurrent run), so a warm session stops allocating.
        var pool = _pools.TryTake(out var cached) ? cached : new BufferPool();
        var run = new RunState { Threads = Options.EffectiveThreads, Timings = timings, Pool = pool };
        var start = System.Diagnostics.Stopwatch.GetTimestamp();
        var outs = Executor.Run(Plan, feed, null, run);
        LastRunAllocatedBytes = run.Pool.AllocatedBytes;
        if (timings is not null)
            _profiles.Enqueue(new RunProfile(System.Diagnostics.Stopwatch.GetElapsedTime(start).TotalMilliseconds, timings));

        var result = new Dictionary<string, object>(StringComparer.Ordinal);
        var handedOut = new HashSet<Array>(ReferenceEqualityComparer.Instance);
        for (int i = 0; i < graph.Outputs.Count; i++)
        {
            var name = graph.Outputs[i].Name;
            if (outputNames is not null && !outputNames.Contains(name)) continue;
            var v = outs[i] ?? throw new InferenceException($"output '{name}' was not computed");
            result[name] = Detach(v, run.Pool, handedOut);
        }
        pool.ResetForReuse();
        if (_pools.Count < MaxCachedPools) _pools.Add(pool);
        return result;
    }

    /// <summary>Convenience for tensor-only models.</summary>
    public Dictionary<string, Tensor> Run(IReadOnlyDictionary<string, Tensor> inputs) =>
        Run(inputs.ToDictionary(kv => kv.Key, kv => (object)kv.Value)).ToDictionary(kv => kv.Key, kv => (Tensor)kv.Value);

    /// <summary>
    /// The value as handed to the caller: copies of constants and of the caller's own inputs (also inside
    /// sequences and optionals), so nobody can alter the model, and of buffers already handed out in another
    /// output, so outputs never alias each other.
    /// </summary>
    private static object Detach(object v, BufferPool pool, HashSet<Array> handedOut)
    {
        Tensor Own(Tensor t) => pool.Owns(t.Buffer) && handedOut.Add(t.Buffer) ? t : t.Clone();
        return v switch
        {
            Tensor t => Own(t),
            TensorSequence s => new TensorSequence(s.ElementType, s.Items.Select(Own)),
            OptionalValue { Value: { } inner } o => new OptionalValue(o.Type, Detach(inner, pool, handedOut)),
            _ => v,
        };
    }

    private static void Validate(ValueInfo info, object v)
    {
        switch (info.Type)
        {
            case TensorType tt:
                if (v is not Tensor t) throw new InferenceException($"input '{info.Name}' expects {tt}, got a {v.GetType().Name}");
                if (t.ElementType != tt.ElementType)
                    throw new InferenceException($"input '{info.Name}' expects element type {tt.ElementType.OnnxName()}, got {t.ElementType.OnnxName()}");
                if (tt.Shape is { } dims)
                {
                    if (dims.Length != t.Rank)
                        throw new InferenceException($"input '{info.Name}' expects rank {dims.Length} {tt}, got shape {ShapeMath.Format(t.Shape)}");
                    for (int d = 0; d < dims.Length; d++)
                        if (dims[d].IsKnown && dims[d].Value != t.Shape[d])
                            throw new InferenceException($"input '{info.Name}' has shape {ShapeMath.Format(t.Shape)} but the model declares {tt} (dimension {d} must be {dims[d].Value})");
                }
                break;
            case SequenceType when v is not TensorSequence:
                throw new InferenceException($"input '{info.Name}' expects a sequence, got a {v.GetType().Name}");
            case OptionalType when v is not OptionalValue:
                throw new InferenceException($"input '{info.Name}' expects an optional value, got a {v.GetType().Name}");
        }
    }

    /// <summary>Frees what kernels hold outside the managed heap (device buffers of a GPU partition).</summary>
    public void Dispose()
    {
        foreach (var step in Plan.Steps)
            if (step.Kernel is IDisposable d) d.Dispose();
    }
}

/// <summary>One profiled run: total latency and every node's time.</summary>
public sealed record RunProfile(double TotalMilliseconds, IReadOnlyList<NodeTiming> Nodes);
