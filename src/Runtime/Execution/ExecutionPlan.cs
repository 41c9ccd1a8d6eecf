namespace NetOnnx.Runtime;

/// <summary>One node ready to run: its kernel and the value slots it reads and writes (-1 = omitted).</summary>
public sealed class PlanStep
{
    public required Node Node { get; init; }
    public required OpKernel Kernel { get; init; }
    public required int[] Inputs { get; init; }
    public required int[] Outputs { get; init; }
    /// <summary>Slots whose last reader is this step; released right after it.</summary>
    public int[] ReleaseAfter { get; set; } = [];
    public required string KernelName { get; init; }
}

/// <summary>
/// A graph compiled for execution: nodes in order with their kernels, every value mapped to a slot,
/// constants bound, and each value's last use known so its buffer can be recycled.
/// </summary>
public sealed class ExecutionPlan
{
    public required Graph Graph { get; init; }
    public required string[] SlotNames { get; init; }
    public required Dictionary<string, int> SlotOf { get; init; }
    /// <summary>Constant value per slot (initializers), or null.</summary>
    public required Tensor?[] Constants { get; init; }
    /// <summary>Initializers no step reads at run time (every reader packed them), so <see cref="Constants"/> leaves them unbound.</summary>
    public string[] ReleasedConstants { get; init; } = [];
    public required int[] InputSlots { get; init; }
    public required int[] OutputSlots { get; init; }
    public required PlanStep[] Steps { get; init; }
    /// <summary>Values this graph reads from enclosing graphs (subgraphs only), with their slots here.</summary>
    public required string[] OuterNames { get; init; }
    public required int[] OuterSlots { get; init; }
    /// <summary>Distinct output slots computed by nodes: the frame holds a reference to them until the run ends.</summary>
    public int[] ProducedOutputSlots { get; init; } = [];
    /// <summary>Peak bytes of intermediate buffers as planned from inferred shapes (lower bound where shapes are unknown).</summary>
    public long PlannedPeakBytes { get; set; }
    /// <summary>Bytes all intermediates would take without any reuse, for comparison.</summary>
    public long PlannedTotalBytes { get; set; }
}
