using System.Collections.Concurrent;
using NetOnnx.Kernels;
using NetOnnx.Runtime.Diagnostics;

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

    private readonly Model _model;

    /// <summary>
    /// The optimised model the plan was made from. Throws when the session released weights from it
    /// (<see cref="SessionOptions.ReleaseModelWeights"/>): it would no longer be the whole model.
    /// </summary>
    public Model Model => ModelWeightsReleased
        ? throw new InvalidOperationException($"the session released {Plan.ReleasedConstants.Length} packed weights from its model " +
            "(SessionOptions.ReleaseModelWeights), so Model is not available; create the session with ReleaseModelWeights = false to keep it")
        : _model;
    /// <summary>Whether planning removed packed weights from <see cref="Model"/> (see <see cref="SessionOptions.ReleaseModelWeights"/>).</summary>
    public bool ModelWeightsReleased { get; }
    /// <summary>The graph's name (readable after a weight release, for telemetry).</summary>
    public string GraphName => _model.Graph.Name;
    public SessionOptions Options { get; }
    public ExecutionPlan Plan { get; }
    public IReadOnlyList<ValueInfo> Inputs { get; }
    public IReadOnlyList<ValueInfo> Outputs { get; }
    /// <summary>Bytes of intermediate buffers the last run allocated (the run-time counterpart of PlannedPeakBytes).</summary>
    public long LastRunAllocatedBytes { get; private set; }
    /// <summary>Most bytes of intermediate buffers alive at once in the last run (the actual counterpart of PlannedPeakBytes).</summary>
    public long LastRunPeakBytes { get; private set; }

    public Session(Model model, SessionOptions? options = null) : this(model, options, options?.ReleaseModelWeights ?? false) { }

    /// <param name="releaseModelWeights">
    /// Remove each weight every reader packed from <paramref name="model"/> as planning goes (what
    /// <see cref="SessionOptions.ReleaseModelWeights"/> asks for, resolved by the caller when it is null).
    /// </param>
    public Session(Model model, SessionOptions? options, bool releaseModelWeights)
    {
        _model = model;
        Options = options ?? new SessionOptions();
        ShapeInference.InferGraph(model.Graph, model);
        Plan = new Planner(model, Options, releaseModelWeights).Plan(model.Graph);
        ModelWeightsReleased = releaseModelWeights && Plan.ReleasedConstants.Length > 0;
        Inputs = model.Graph.RequiredInputs.ToList();
        Outputs = model.Graph.Outputs.ToList();
    }

    /// <summary>Per-node timings of runs made with profiling on, oldest first.</summary>
    public IReadOnlyList<RunProfile> Profile => _profiles.ToArray();

    /// <summary>Runs the model on named inputs; returns the requested outputs (all by default) by name.</summary>
    public Dictionary<string, object> Run(IReadOnlyDictionary<string, object> inputs, IReadOnlyCollection<string>? outputNames = null) =>
        RunCore<object, object>(inputs, outputNames, null)!;

    /// <summary>Convenience for tensor-only models.</summary>
    public Dictionary<string, Tensor> Run(IReadOnlyDictionary<string, Tensor> inputs) => RunCore<Tensor, Tensor>(inputs, null, null)!;

    /// <summary>
    /// Runs the model and writes the outputs named in <paramref name="outputs"/> into those caller-owned tensors
    /// (each must have the output's element type and shape; outputs not named are not kept). Nothing is handed
    /// out, so every intermediate buffer stays with the session: warm runs allocate nothing on the managed heap
    /// where the kernels do not. The dictionary a first <see cref="Run(IReadOnlyDictionary{string, Tensor})"/>
    /// returned serves as a reusable results container: <c>var outs = s.Run(inputs); s.Run(inputs, outs);</c>.
    /// </summary>
    public void Run(IReadOnlyDictionary<string, Tensor> inputs, IReadOnlyDictionary<string, Tensor> outputs)
    {
        ArgumentNullException.ThrowIfNull(outputs);
        RunCore<Tensor, Tensor>(inputs, null, outputs);
    }

    /// <inheritdoc cref="Run(IReadOnlyDictionary{string, Tensor}, IReadOnlyDictionary{string, Tensor})"/>
    public void Run(IReadOnlyDictionary<string, object> inputs, IReadOnlyDictionary<string, Tensor> outputs)
    {
        ArgumentNullException.ThrowIfNull(outputs);
        RunCore<object, object>(inputs, null, outputs);
    }

    // Generic over the dictionaries' value types so the tensor overload needs no copies of them. With bound
    // outputs it returns null and fills those tensors instead.
    private Dictionary<string, TOut>? RunCore<TIn, TOut>(IReadOnlyDictionary<string, TIn> inputs, IReadOnlyCollection<string>? outputNames,
        IReadOnlyDictionary<string, Tensor>? bound)
        where TIn : class where TOut : class
    {
        var graph = _model.Graph;
        // Counting matches instead of enumerating the caller's dictionary: no enumerator or closure per run.
        int matched = 0;
        for (int i = 0; i < graph.Inputs.Count; i++) if (inputs.ContainsKey(graph.Inputs[i].Name)) matched++;
        if (matched != inputs.Count)
            foreach (var name in inputs.Keys)
                if (!graph.Inputs.Any(i => i.Name == name))
                    throw new InferenceException($"'{name}' is not an input of the model; inputs are: {string.Join(", ", Inputs.Select(i => i.Name))}");
        if (bound is not null) ValidateBound(graph, bound);

        // Free buffers carry over between runs (one pool per concurrent run), so a warm session stops allocating.
        var pool = _pools.TryTake(out var cached) ? cached : new BufferPool();
        var feed = pool.RentSlots(graph.Inputs.Count);
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
        var run = timings is null ? pool.RunState(Options.EffectiveThreads) : new RunState { Threads = Options.EffectiveThreads, Timings = timings, Pool = pool };
        using var activity = RuntimeTelemetry.StartRun(this);
        long managedBefore = timings is null ? 0 : GC.GetAllocatedBytesForCurrentThread();
        var start = System.Diagnostics.Stopwatch.GetTimestamp();
        object?[] outs;
        try
        {
            outs = Executor.Run(Plan, feed, null, run);
        }
        catch (Exception e)
        {
            RuntimeTelemetry.RunFailed(this, activity, e);
            throw;
        }
        finally
        {
            pool.ReturnSlots(feed);
        }
        double ms = RuntimeTelemetry.RunEnded(this, start);
        LastRunAllocatedBytes = run.Pool.AllocatedBytes;
        LastRunPeakBytes = run.Pool.PeakBytes;
        if (timings is not null)
        {
            var profile = new RunProfile(ms, timings)
            {
                StartTimestamp = start,
                ThreadId = Environment.CurrentManagedThreadId,
                ManagedAllocatedBytes = GC.GetAllocatedBytesForCurrentThread() - managedBefore,
                PeakBytes = run.Pool.PeakBytes,
                BufferAllocatedBytes = run.Pool.AllocatedBytes,
            };
            _profiles.Enqueue(profile);
            RuntimeTelemetry.AddNodeSpans(activity, profile);
        }

        Dictionary<string, TOut>? result = null;
        if (bound is not null) CopyToBound(graph, outs, bound, pool);
        else
        {
            result = new Dictionary<string, TOut>(graph.Outputs.Count, StringComparer.Ordinal);
            // Aliasing between outputs is only possible with several of them.
            var handedOut = graph.Outputs.Count > 1 ? new HashSet<Array>(ReferenceEqualityComparer.Instance) : null;
            for (int i = 0; i < graph.Outputs.Count; i++)
            {
                var name = graph.Outputs[i].Name;
                if (outputNames is not null && !outputNames.Contains(name)) continue;
                var v = outs[i] ?? throw new InferenceException($"output '{name}' was not computed");
                result[name] = Detach(v, run.Pool, handedOut) as TOut
                    ?? throw new InferenceException($"output '{name}' is a {v.GetType().Name}, not a tensor: use the Run overload that returns objects");
            }
        }
        pool.ReturnSlots(outs);
        pool.ResetForReuse();
        if (_pools.Count < MaxCachedPools) _pools.Add(pool);
        return result;
    }

    /// <summary>Checks bound outputs against what the model declares before running (names, element types, static dimensions).</summary>
    private void ValidateBound(Graph graph, IReadOnlyDictionary<string, Tensor> bound)
    {
        int matched = 0;
        for (int i = 0; i < graph.Outputs.Count; i++)
        {
            var info = graph.Outputs[i];
            if (!bound.TryGetValue(info.Name, out var t)) continue;
            matched++;
            if (t is null) throw new InferenceException($"bound output '{info.Name}' is null");
            if (info.Type is not TensorType tt) continue;
            if (t.ElementType != tt.ElementType)
                throw new InferenceException($"bound output '{info.Name}' is {t.ElementType.OnnxName()}, the model's output is {tt.ElementType.OnnxName()}");
            if (tt.Shape is { } dims)
            {
                if (dims.Length != t.Rank)
                    throw new InferenceException($"bound output '{info.Name}' has shape {ShapeMath.Format(t.Shape)}, the model declares {tt} (rank {dims.Length})");
                for (int d = 0; d < dims.Length; d++)
                    if (dims[d].IsKnown && dims[d].Value != t.Shape[d])
                        throw new InferenceException($"bound output '{info.Name}' has shape {ShapeMath.Format(t.Shape)}, the model declares {tt} (dimension {d} must be {dims[d].Value})");
            }
        }
        if (matched != bound.Count)
            foreach (var name in bound.Keys)
                if (!graph.Outputs.Any(o => o.Name == name))
                    throw new InferenceException($"bound output '{name}' is not an output of the model; outputs are: {string.Join(", ", Outputs.Select(o => o.Name))}");
    }

    /// <summary>
    /// Copies each computed output into its bound tensor, then gives every output buffer back to the pool (nothing
    /// was handed out), so the next run reuses them.
    /// </summary>
    private void CopyToBound(Graph graph, object?[] outs, IReadOnlyDictionary<string, Tensor> bound, BufferPool pool)
    {
        for (int i = 0; i < graph.Outputs.Count; i++)
        {
            var name = graph.Outputs[i].Name;
            if (!bound.TryGetValue(name, out var dst)) continue;
            if (outs[i] is not Tensor v)
                throw new InferenceException($"output '{name}' is {(outs[i] is null ? "not computed" : "a " + outs[i]!.GetType().Name)}, so it cannot be written into a bound tensor");
            if (v.ElementType != dst.ElementType || !v.Shape.AsSpan().SequenceEqual(dst.Shape))
                throw new InferenceException($"output '{name}' came out as {v.ElementType.OnnxName()} {ShapeMath.Format(v.Shape)}, " +
                    $"but the bound tensor is {dst.ElementType.OnnxName()} {ShapeMath.Format(dst.Shape)}");
            if (!ReferenceEquals(v.Buffer, dst.Buffer)) Array.Copy(v.Buffer, dst.Buffer, v.Length);
        }
        var slots = Plan.OutputSlots;
        for (int i = 0; i < slots.Length; i++)
        {
            bool first = true;
            for (int k = 0; k < i && first; k++) first = slots[k] != slots[i];
            if (first && Array.IndexOf(Plan.ProducedOutputSlots, slots[i]) >= 0) pool.Release(outs[i]);
        }
    }

    /// <summary>
    /// The value as handed to the caller: copies of constants and of the caller's own inputs (also inside
    /// sequences and optionals), so nobody can alter the model, and of buffers already handed out in another
    /// output, so outputs never alias each other.
    /// </summary>
    private static object Detach(object v, BufferPool pool, HashSet<Array>? handedOut) => v switch
    {
        Tensor t => Own(t, pool, handedOut),
        TensorSequence s => DetachSequence(s, pool, handedOut ?? new HashSet<Array>(ReferenceEqualityComparer.Instance)),
        OptionalValue { Value: { } inner } o => new OptionalValue(o.Type, Detach(inner, pool, handedOut)),
        _ => v,
    };

    // Apart from Detach so its lambda's closure is only allocated for sequences (items may alias each other).
    private static TensorSequence DetachSequence(TensorSequence s, BufferPool pool, HashSet<Array> handedOut) =>
        new(s.ElementType, s.Items.Select(t => Own(t, pool, handedOut)));

    /// <summary>The tensor itself when its buffer is a pool buffer not yet handed out (a lone output needs no set), else a copy.</summary>
    private static Tensor Own(Tensor t, BufferPool pool, HashSet<Array>? handedOut) =>
        pool.Owns(t.Buffer) && (handedOut?.Add(t.Buffer) ?? true) ? t : t.Clone();

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
public sealed record RunProfile(double TotalMilliseconds, IReadOnlyList<NodeTiming> Nodes)
{
    /// <summary><see cref="System.Diagnostics.Stopwatch.GetTimestamp"/> when the run started.</summary>
    public long StartTimestamp { get; init; }
    /// <summary>Managed thread the run was called on.</summary>
    public int ThreadId { get; init; }
    /// <summary>Managed bytes allocated on the calling thread during the run (kernel work on pool threads is not counted).</summary>
    public long ManagedAllocatedBytes { get; init; }
    /// <summary>Most bytes of intermediate buffers alive at once.</summary>
    public long PeakBytes { get; init; }
    /// <summary>Bytes of intermediate buffers newly allocated (0 once the session's buffer cache is warm).</summary>
    public long BufferAllocatedBytes { get; init; }
}
