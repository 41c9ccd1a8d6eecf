using BenchmarkDotNet.Attributes;

namespace NetOnnx.Benchmarks;

/// <summary>
/// Conv layers of the zoo CNNs (resnet18, mobilenet_v2/v3, squeezenet, ppocr) through the kernels the Conv
/// operator picks: implicit GEMM, 1x1 direct GEMM or depthwise, ReLU fused. The same layers as `conv`.
/// </summary>
public class ConvBenchmarks
{
    private Action? _body;

    public static IEnumerable<string> Layers => KernelLoop.Layers.Select(l => l.Name);

    [ParamsSource(nameof(Layers))]
    public string Layer { get; set; } = "";

    [Params(1, 2)]
    public int Threads { get; set; }

    [GlobalSetup]
    public void Setup() => _body = KernelLoop.BuildConv(KernelLoop.Layers.Single(l => l.Name == Layer), Threads).Body;

    [Benchmark]
    public void Conv() => _body!();
}
