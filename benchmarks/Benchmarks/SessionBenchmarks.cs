using BenchmarkDotNet.Attributes;
using NetOnnx.Runtime;

namespace NetOnnx.Benchmarks;

/// <summary>Whole-model latency of ours against ONNX Runtime (the baseline) on every zoo model.</summary>
[MemoryDiagnoser]
public class SessionBenchmarks
{
    private InferenceSession? _ours;
    private OrtRunner? _ort;
    private Dictionary<string, Tensor>? _inputs;

    public static IEnumerable<string> Models => ZooModels.Names();

    [ParamsSource(nameof(Models))]
    public string Model { get; set; } = "";

    [Params(1, 2)]
    public int Threads { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        var path = ZooModels.ModelPath(Model);
        _ours = new InferenceSession(path, new Runtime.SessionOptions { IntraOpThreads = Threads });
        _inputs = ZooModels.Inputs(path, _ours.Model.Graph);
        _ort = new OrtRunner(path, _inputs, Threads);
    }

    [Benchmark(Baseline = true)]
    public void OnnxRuntime() => _ort!.Run();

    [Benchmark]
    public void NetOnnx() => _ours!.Run(_inputs!);

    [GlobalCleanup]
    public void Cleanup()
    {
        _ours?.Dispose();
        _ort?.Dispose();
    }
}
