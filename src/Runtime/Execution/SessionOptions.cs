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

    /// <summary>
    /// Where nodes run: "cpu" (default), or a device the GPU provider (NetOnnx.Gpu) offers: "cuda", "opencl",
    /// "ilgpu-cpu" (ILGPU's CPU simulator, for tests) or "auto" (CUDA, then OpenCL, then the CPU).
    /// </summary>
    public string Device { get; set; } = "cpu";
    /// <summary>A provider to use instead of the one <see cref="Device"/> names (for embedders and tests).</summary>
    public IExecutionProvider? ExecutionProvider { get; set; }

    /// <summary>
    /// Run 3x3 stride-1 convolutions as Winograd F(4x4,3x3) where that is faster (default on). Winograd rounds
    /// differently from the direct sum (resnet18's largest error against ONNX Runtime 1.9e-6 -> 5.8e-6, far inside
    /// the zoo's 1e-4 + 1e-3|ref|) and turns an infinite input into NaN across its 4x4 tile; turn it off for
    /// results closest to the direct convolution.
    /// </summary>
    public bool UseWinogradConvolution { get; set; } = true;

    /// <summary>
    /// Drop the model's copy of each weight that every reader packed into its own form, as soon as the last of those
    /// kernels is created, so such weights are held once (packed) instead of twice. Null (default): on for
    /// InferenceSession over a file path (its Model re-reads the file when asked for), off otherwise (a caller's
    /// Model stays whole; bytes and streams cannot be re-read). After a release, Session.Model throws.
    /// </summary>
    public bool? ReleaseModelWeights { get; set; }

    public int EffectiveThreads => IntraOpThreads > 0 ? IntraOpThreads : Environment.ProcessorCount;
}
