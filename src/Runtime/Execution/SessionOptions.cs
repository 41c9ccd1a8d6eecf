namespace NetOnnx.Runtime;

/// <summary>Graph optimisation levels, as in ONNX Runtime: none, basic (folding, cleanup), extended (fusions), all.</summary>
public enum OptimizationLevel { None = 0, Basic = 1, Extended = 2, All = 99 }

public sealed class SessionOptions
{
    /// <summary>Threads a kernel may use; 0 means one per core.</summary>
    public int IntraOpThreads { get; set; }
    public OptimizationLevel OptimizationLevel { get; set; } = OptimizationLevel.All;
    /// <summary>Record per-node timings of every run (see <see cref="Session.Profile"/>).</summary>
    public bool EnableProfiling { get; set; }
    /// <summary>Kernels to use; null means <see cref="KernelRegistry.Default"/>.</summary>
    public KernelRegistry? Kernels { get; set; }
    /// <summary>Passes to skip by name.</summary>
    public HashSet<string> DisabledPasses { get; } = new(StringComparer.OrdinalIgnoreCase);

    public int EffectiveThreads => IntraOpThreads > 0 ? IntraOpThreads : Environment.ProcessorCount;
}
