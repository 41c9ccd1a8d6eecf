using Microsoft.ML.OnnxRuntime;
using NetOnnx.OnnxImport;
using NetOnnx.Optimizer.Passes.Quantization;
using NetOnnx.Runtime;
using Xunit;
using static NetOnnx.Tests.IrBuilder;
using SessionOptions = NetOnnx.Runtime.SessionOptions;

namespace NetOnnx.Tests;

/// <summary>
/// Dynamic quantization end to end: the standard-ONNX chain it writes, the fused kernel our runtime makes of it
/// (same numbers as the unfused chain), the error against float, and ONNX Runtime running the same file.
/// </summary>
public class DynamicQuantizationTests
{
    private const int K = 40, N = 24, V = 64;

    /// <summary>x [2, 3, K] -> MatMul(W1) + b1 -> y1; the same x -> Gemm-free MatMul(W2) -> y2; ids -> Gather(table) -> e.</summary>
    private static Model FloatModel()
    {
        var rng = new Random(11);
        var inits = new Dictionary<string, Tensor>
        {
            ["w1"] = RandomFloats(rng, K, N),
            ["b1"] = RandomFloats(rng, N),
            ["w2"] = RandomFloats(rng, K, 8),
            ["table"] = RandomFloats(rng, V, 32),
        };
        var ids = new ValueInfo("ids", OnnxType.Tensor(DataType.Int64, [Dim.Known(5)]));
        return Model([F("x", 2, 3, K), ids], [F("y1", 2, 3, N), F("y2", 2, 3, 8), F("e", 5, 32)],
        [
            N("MatMul", ["x", "w1"], ["m1"]),
            N("Add", ["m1", "b1"], ["y1"]),
            N("MatMul", ["x", "w2"], ["y2"]),
            N("Gather", ["table", "ids"], ["e"]),
        ], inits, opset: 13);
    }

    private static Dictionary<string, Tensor> Feeds()
    {
        var rng = new Random(3);
        return new()
        {
            ["x"] = RandomFloats(rng, 2, 3, K),
            ["ids"] = Tensor.Create(new long[] { 0, 5, 63, 17, 5 }, 5),
        };
    }

    private static byte[] Quantized(bool perChannel, out List<QuantizedLayer> layers)
    {
        var m = FloatModel();
        layers = DynamicQuantization.Apply(m, new DynamicQuantizationOptions { PerChannel = perChannel });
        return OnnxModelWriter.ToBytes(m);
    }

    private static Dictionary<string, float[]> Run(byte[] model, OptimizationLevel level, out Model optimized)
    {
        using var s = new InferenceSession(model, new SessionOptions { OptimizationLevel = level, IntraOpThreads = 1 });
        optimized = s.Model;
        return s.Run(Feeds()).ToDictionary(kv => kv.Key, kv => kv.Value.ToArray<float>());
    }

    [Fact]
    public void WritesTheStandardChainAndDropsTheFloatWeights()
    {
        var m = OnnxModelLoader.Load(Quantized(false, out var layers));
        Assert.Equal(["MatMul", "MatMul", "Gather"], layers.Select(l => l.OpType));
        var ops = m.Graph.Nodes.Select(n => n.OpType).ToList();
        // One DynamicQuantizeLinear serves both MatMuls that read x.
        Assert.Equal(1, ops.Count(o => o == "DynamicQuantizeLinear"));
        Assert.Equal(2, ops.Count(o => o == "MatMulInteger"));
        Assert.Equal(1, ops.Count(o => o == "DequantizeLinear"));
        Assert.DoesNotContain("MatMul", ops);
        Assert.False(m.Graph.Initializers.ContainsKey("w1"));
        Assert.False(m.Graph.Initializers.ContainsKey("table"));
        var wq = m.Graph.Initializers.Values.Where(t => t.ElementType == DataType.Int8 && t.Rank == 2).ToList();
        Assert.All(wq.Where(t => t.Shape[0] == K), t => Assert.All(t.ToArray<sbyte>(), v => Assert.InRange(v, -DynamicQuantization.WeightLimit, DynamicQuantization.WeightLimit)));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void FusedKernelGivesExactlyTheUnfusedChainsNumbers(bool perChannel)
    {
        var bytes = Quantized(perChannel, out _);
        var plain = Run(bytes, OptimizationLevel.None, out var unfused);
        var fused = Run(bytes, OptimizationLevel.All, out var optimized);
        Assert.Contains(unfused.Graph.Nodes, n => n.OpType == "MatMulInteger");
        Assert.Equal(2, optimized.Graph.Nodes.Count(n => n.OpType == "DynamicQuantizeMatMul"));
        Assert.DoesNotContain(optimized.Graph.Nodes, n => n.OpType is "MatMulInteger" or "DynamicQuantizeLinear");
        foreach (var (name, v) in plain) Assert.Equal(v, fused[name]);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void QuantizedOutputsStayCloseToFloat(bool perChannel)
    {
        var reference = Run(OnnxModelWriter.ToBytes(FloatModel()), OptimizationLevel.None, out _);
        var q = Run(Quantized(perChannel, out _), OptimizationLevel.All, out _);
        foreach (var (name, r) in reference)
        {
            double dot = 0, na = 0, nb = 0, maxRef = 0, maxErr = 0;
            for (int i = 0; i < r.Length; i++)
            {
                dot += r[i] * q[name][i]; na += r[i] * r[i]; nb += q[name][i] * q[name][i];
                maxRef = Math.Max(maxRef, Math.Abs(r[i]));
                maxErr = Math.Max(maxErr, Math.Abs(r[i] - q[name][i]));
            }
            Assert.True(dot / Math.Sqrt(na * nb) > 0.999, $"{name}: cosine {dot / Math.Sqrt(na * nb)}");
            // u8 activations over [-2, 2] and 7-bit weights: a few percent of the output range at most.
            Assert.True(maxErr < 0.05 * maxRef, $"{name}: max error {maxErr} vs max {maxRef}");
        }
    }

    [Fact]
    public void OnnxRuntimeRunsTheQuantizedFileWithTheSameAnswers()
    {
        var bytes = Quantized(true, out _);
        var ours = Run(bytes, OptimizationLevel.All, out _);
        using var so = new Microsoft.ML.OnnxRuntime.SessionOptions { IntraOpNumThreads = 1 };
        using var session = new Microsoft.ML.OnnxRuntime.InferenceSession(bytes, so);
        var feeds = Feeds();
        using var x = OrtValue.CreateTensorValueFromMemory(feeds["x"].ToArray<float>(), [2, 3, K]);
        using var ids = OrtValue.CreateTensorValueFromMemory(feeds["ids"].ToArray<long>(), [5]);
        using var runOptions = new RunOptions();
        string[] names = ["y1", "y2", "e"];
        using var results = session.Run(runOptions, ["x", "ids"], [x, ids], names);
        for (int o = 0; o < names.Length; o++)
        {
            var theirs = results[o].GetTensorDataAsSpan<float>().ToArray();
            var mine = ours[names[o]];
            Assert.Equal(mine.Length, theirs.Length);
            double maxRef = mine.Max(v => Math.Abs(v));
            // Same chain, so only rounding of x / scale may differ by one step in a few elements.
            for (int i = 0; i < mine.Length; i++)
                Assert.True(Math.Abs(mine[i] - theirs[i]) <= 1e-3 * maxRef + 1e-6, $"{names[o]}[{i}]: ours {mine[i]}, ORT {theirs[i]}");
        }
    }

    [Fact]
    public void ExcludedLayersStayFloat()
    {
        var m = FloatModel();
        var layers = DynamicQuantization.Apply(m, new DynamicQuantizationOptions { Exclude = new HashSet<string> { "n_m1", "Gather" } });
        Assert.Equal(["n_y2"], layers.Select(l => l.Id));
        Assert.True(m.Graph.Initializers.ContainsKey("w1"));
        Assert.True(m.Graph.Initializers.ContainsKey("table"));
    }

    [Fact]
    public void OldOpsetIsRefusedWithTheReason()
    {
        var m = FloatModel();
        m.Opsets[""] = 10;
        var e = Assert.Throws<OnnxException>(() => DynamicQuantization.Apply(m, new DynamicQuantizationOptions()));
        Assert.Contains("opset", e.Message);
    }

    [Fact]
    public void ChainWithRuntimeWeightsIsNotFusedAndStillRuns()
    {
        // MatMulInteger whose B is a graph input: the fused kernel needs constant weights, so the chain stays.
        var m = Model([F("x", 2, K), new ValueInfo("wq", OnnxType.Tensor(DataType.Int8, [Dim.Known(K), Dim.Known(3)]))], [F("y", 2, 3)],
        [
            new Node("DynamicQuantizeLinear", ["x"], ["xq", "xs", "xz"], "dql"),
            new Node("MatMulInteger", ["xq", "wq", "xz"], ["acc"], "mmi"),
            new Node("Cast", ["acc"], ["accf"], "cast", "", [NodeAttribute.Of("to", (long)DataType.Float)]),
            new Node("Mul", ["xs", "ws"], ["s"], "smul"),
            new Node("Mul", ["accf", "s"], ["y"], "ymul"),
        ], new Dictionary<string, Tensor> { ["ws"] = Tensor.Create(new[] { 0.5f }, 1) }, opset: 13);
        var rng = new Random(2);
        var w = new sbyte[K * 3];
        for (int i = 0; i < w.Length; i++) w[i] = (sbyte)rng.Next(-100, 100);
        var x = RandomFloats(rng, 2, K);
        using var s = new InferenceSession(m, new SessionOptions { IntraOpThreads = 1 });
        Assert.DoesNotContain(s.Model.Graph.Nodes, n => n.OpType == "DynamicQuantizeMatMul");
        var y = s.Run(new Dictionary<string, Tensor> { ["x"] = x, ["wq"] = Tensor.Create(DataType.Int8, w, K, 3) })["y"].ToArray<float>();
        // Independent check: quantize x by the DynamicQuantizeLinear formula and multiply naively.
        var xs = x.ToArray<float>();
        float lo = Math.Min(0, xs.Min()), hi = Math.Max(0, xs.Max()), scale = (hi - lo) / 255f;
        float zp = MathF.Round(Math.Clamp(-lo / scale, 0, 255), MidpointRounding.ToEven);
        for (int i = 0; i < 2; i++)
            for (int j = 0; j < 3; j++)
            {
                long acc = 0;
                for (int p = 0; p < K; p++)
                    acc += (long)(Math.Clamp(MathF.Round(xs[i * K + p] / scale, MidpointRounding.ToEven) + zp, 0, 255) - zp) * w[p * 3 + j];
                Assert.Equal(acc * (scale * 0.5f), y[i * 3 + j], 4);
            }
    }
}
