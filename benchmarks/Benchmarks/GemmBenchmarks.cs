using BenchmarkDotNet.Attributes;
using NetOnnx.Kernels.Gemm;

namespace NetOnnx.Benchmarks;

/// <summary>
/// SGEMM C = A*B at square sizes, with A packed once (constant weights) and with A packed per call.
/// GFLOP/s = 2*n^3 / time; the machine's measured single-core FMA peak is about 170 GFLOP/s.
/// </summary>
public class GemmBenchmarks
{
    private float[] _a = [], _b = [], _c = [];
    private PackedA? _packed;

    [Params(256, 512, 1024, 2048)]
    public int Size { get; set; }

    [Params(1, 2)]
    public int Threads { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        var rng = new Random(1);
        int n = Size;
        _a = new float[n * n]; _b = new float[n * n]; _c = new float[n * n];
        for (int i = 0; i < _a.Length; i++) { _a[i] = (float)rng.NextDouble() - 0.5f; _b[i] = (float)rng.NextDouble() - 0.5f; }
        _packed = Sgemm.Pack(false, n, n, _a, n);
    }

    [Benchmark]
    public void PackedWeights() => Sgemm.Multiply(_packed!, false, Size, 1f, _b, Size, 0f, _c, Size, Threads);

    [Benchmark]
    public void Unpacked() => Sgemm.Multiply(false, false, Size, Size, Size, 1f, _a, Size, _b, Size, 0f, _c, Size, Threads);
}
