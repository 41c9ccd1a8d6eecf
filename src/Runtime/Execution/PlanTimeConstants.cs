namespace NetOnnx.Runtime;

/// <summary>
/// Evaluates, while a graph is planned, a node whose inputs are all known constants, by running its kernel once.
/// Used for If/Loop/Scan bodies, which the optimizer's constant folding does not enter: exported models such as
/// silero_vad hold a hundred Constant/Unsqueeze/Slice nodes per branch that would otherwise run on every call.
/// </summary>
internal static class PlanTimeConstants
{
    /// <summary>Largest value kept as a plan constant, in bytes (as the optimizer's constant folding).</summary>
    public const long MaxBytes = 16 << 20;

    private static readonly HashSet<string> s_never = new(StringComparer.Ordinal)
    {
        "RandomNormal", "RandomUniform", "RandomNormalLike", "RandomUniformLike", "Multinomial", "Bernoulli",
        "If", "Loop", "Scan",
    };

    /// <summary>The node's outputs, or null when it is not foldable or its kernel fails (the run then reports the error).</summary>
    public static Tensor[]? TryEvaluate(Graph graph, PlanStep step, IReadOnlyDictionary<string, Tensor> known,
        Dictionary<string, int> slotOf, int slotCount)
    {
        var node = step.Node;
        if (node.Domain.Length != 0 || s_never.Contains(node.OpType)) return null;
        if (node.Attributes.Values.Any(a => a.Graph is not null || a.Graphs is not null)) return null;
        if (node.Outputs.All(o => o.Length == 0)) return null;
        foreach (var i in node.Inputs)
            if (i.Length > 0 && !known.ContainsKey(i)) return null;

        var values = new object?[slotCount];
        foreach (var i in node.Inputs)
            if (i.Length > 0) values[slotOf[i]] = known[i];
        var plan = new ExecutionPlan
        {
            Graph = graph, SlotNames = [], SlotOf = slotOf, Constants = [], InputSlots = [], OutputSlots = [],
            Steps = [], OuterNames = [], OuterSlots = [],
        };
        var frame = new Frame { Plan = plan, Values = values, Run = new RunState { Threads = 1, Pool = new BufferPool() } };
        try
        {
            step.Kernel.Compute(new KernelContext(frame, step));
        }
        catch (Exception e) when (e is OnnxException or ArgumentException or InvalidOperationException or NotSupportedException
            or IndexOutOfRangeException or InvalidCastException or OverflowException or ArithmeticException or NullReferenceException)
        {
            return null;
        }
        var results = new Tensor[node.Outputs.Count];
        for (int k = 0; k < results.Length; k++)
        {
            if (node.Outputs[k].Length == 0) continue;
            if (values[step.Outputs[k]] is not Tensor t || (long)t.Length * t.ElementType.SizeOf() > MaxBytes) return null;
            // Pooled buffers may be longer than the tensor; constants hold exactly their elements.
            results[k] = t.Buffer.Length == t.Length ? t : t.Clone();
        }
        return results;
    }
}
