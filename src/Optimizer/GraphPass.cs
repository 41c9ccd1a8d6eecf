using NetOnnx.Runtime;

namespace NetOnnx.Optimizer;

/// <summary>
/// A graph rewrite. A pass belongs to one optimisation level, may be disabled by name, and reports what it
/// changed. Passes must keep the model's outputs (within float tolerance for reassociating rewrites).
/// </summary>
public interface IGraphPass
{
    string Name { get; }
    OptimizationLevel Level { get; }
    PassResult Run(Model model);

    /// <summary>
    /// Whether the pass may emit nodes of this runtime's internal domain (com.netonnx), which other runtimes
    /// cannot load; `optimize --portable` skips such passes.
    /// </summary>
    bool EmitsInternalOps => false;
}

/// <summary>What one pass did.</summary>
public sealed record PassResult(int NodesRemoved, int NodesAdded, int InitializersRemoved = 0, string? Detail = null)
{
    public bool Changed => NodesRemoved > 0 || NodesAdded > 0 || InitializersRemoved > 0;
    public static readonly PassResult Unchanged = new(0, 0);
}

/// <summary>A pass's result with its name and time, for reports and the CLI.</summary>
public sealed record PassReport(string Pass, PassResult Result, double Milliseconds);
