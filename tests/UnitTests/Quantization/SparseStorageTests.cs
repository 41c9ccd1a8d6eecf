using Ort = Microsoft.ML.OnnxRuntime;
using NetOnnx.OnnxImport;
using NetOnnx.Runtime;
using Xunit;
using static NetOnnx.Tests.IrBuilder;

namespace NetOnnx.Tests;

/// <summary>Pruned weights written as ONNX sparse initializers: smaller, read back bit for bit, and loadable by ONNX Runtime.</summary>
public class SparseStorageTests
{
    private static (Model Model, float[] Sparse, float[] Half) Build()
    {
        var rng = new Random(21);
        // 90% zeros (one of them -0.0, which must survive), and a 50%-zero weight that stays dense.
        var sparse = Enumerable.Range(0, 32 * 16).Select(i => i % 10 == 3 ? (float)(rng.NextDouble() * 2 - 1) : 0f).ToArray();
        sparse[7] = -0.0f;
        var half = Enumerable.Range(0, 16 * 8).Select(i => i % 2 == 0 ? (float)(rng.NextDouble() * 2 - 1) : 0f).ToArray();
        var m = Model([F("x", 4, 32)], [F("y", 4, 8)],
        [
            N("MatMul", ["x", "w1"], ["h"]),
            N("MatMul", ["h", "w2"], ["y"]),
        ], new Dictionary<string, Tensor> { ["w1"] = Tensor.Create(sparse, 32, 16), ["w2"] = Tensor.Create(half, 16, 8) }, opset: 13);
        return (m, sparse, half);
    }

    [Fact]
    public void MostlyZeroWeightsGoToSparseInitializersAndReadBackExactly()
    {
        var (m, sparse, half) = Build();
        var proto = OnnxModelWriter.ToProto(m, sparseInitializers: true);
        Assert.Equal("w1", Assert.Single(proto.Graph.SparseInitializer).Values.Name);
        Assert.Equal("w2", Assert.Single(proto.Graph.Initializer).Name);
        var dense = OnnxModelWriter.ToBytes(m);
        var compact = OnnxModelWriter.ToBytes(m, sparseInitializers: true);
        Assert.True(compact.Length < dense.Length - 1200, $"{dense.Length} -> {compact.Length} bytes");

        var back = OnnxModelLoader.Load(compact);
        Assert.Equal([32, 16], back.Graph.Initializers["w1"].Shape);
        Assert.Equal(sparse.Select(BitConverter.SingleToInt32Bits), back.Graph.Initializers["w1"].ToArray<float>().Select(BitConverter.SingleToInt32Bits));
        Assert.Equal(half, back.Graph.Initializers["w2"].ToArray<float>());
    }

    [Fact]
    public void OnnxRuntimeRunsTheSparseFileLikeTheDenseOne()
    {
        var (m, _, _) = Build();
        var x = RandomFloats(new Random(2), 4, 32);
        // Our session optimises its model in place (SparseMatMul), so ONNX Runtime gets a fresh build.
        using var ours = new InferenceSession(m, new SessionOptions { IntraOpThreads = 1 });
        var expected = ours.Run(new Dictionary<string, Tensor> { ["x"] = x })["y"];

        using var so = new Ort.SessionOptions { IntraOpNumThreads = 1 };
        using var session = new Ort.InferenceSession(OnnxModelWriter.ToBytes(Build().Model, sparseInitializers: true), so);
        using var feed = OrtValues.From(x);
        using var results = session.Run(new Ort.RunOptions(), ["x"], [feed], ["y"]);
        var actual = OrtValues.To(results[0]);
        Assert.Equal(expected.Shape, actual.Shape);
        var e = expected.ToArray<float>();
        var a = actual.ToArray<float>();
        for (int i = 0; i < e.Length; i++) Assert.True(Math.Abs(e[i] - a[i]) <= 1e-4f * (1 + Math.Abs(e[i])), $"y[{i}]: ours {e[i]}, ORT {a[i]}");
    }
}
