using Microsoft.ML.OnnxRuntime;
using NetOnnx.OnnxImport;
using NetOnnx.Optimizer.Passes.Quantization;
using NetOnnx.Runtime;
using Xunit;
using static NetOnnx.Tests.IrBuilder;
using SessionOptions = NetOnnx.Runtime.SessionOptions;

namespace NetOnnx.Tests;

/// <summary>
/// Static QDQ quantization: calibration ranges, the QDQ file (ONNX Runtime runs it alike), the Conv island our
/// runtime turns into QLinearConv, and QLinearConv's int8-GEMM path against its independent int32 reference path.
/// </summary>
public class StaticQuantizationTests
{
    /// <summary>x [1, 3, 10, 9] -> Conv 3x3 pad 1 (+bias) -> Relu -> MaxPool 2 -> Conv 1x1 stride 2 -> y.</summary>
    private static Model FloatCnn()
    {
        var rng = new Random(21);
        var inits = new Dictionary<string, Tensor>
        {
            ["w1"] = RandomFloats(rng, 8, 3, 3, 3),
            ["b1"] = RandomFloats(rng, 8),
            ["w2"] = RandomFloats(rng, 5, 8, 1, 1),
        };
        return Model([F("x", 1, 3, 10, 9)], [F("y", 1, 5, 3, 2)],
        [
            N("Conv", ["x", "w1", "b1"], ["c1"], NodeAttribute.Of("pads", new long[] { 1, 1, 1, 1 })),
            N("Relu", ["c1"], ["r1"]),
            N("MaxPool", ["r1"], ["p1"], NodeAttribute.Of("kernel_shape", new long[] { 2, 2 }), NodeAttribute.Of("strides", new long[] { 2, 2 })),
            N("Conv", ["p1", "w2"], ["y"], NodeAttribute.Of("strides", new long[] { 2, 2 })),
        ], inits, opset: 13);
    }

    private static Tensor Input(int seed) => RandomFloats(new Random(seed), 1, 3, 10, 9);

    /// <summary>Ranges by running the float model with every calibrated tensor as an extra output.</summary>
    private static Dictionary<string, (float, float)> Calibrate(CalibrationMethod method)
    {
        var m = FloatCnn();
        var names = StaticQuantization.TensorsToCalibrate(m, new StaticQuantizationOptions());
        foreach (var n in names) if (m.Graph.Outputs.All(o => o.Name != n)) m.Graph.Outputs.Add(new ValueInfo(n, null));
        using var s = new InferenceSession(m, new SessionOptions { OptimizationLevel = OptimizationLevel.None });
        var ranges = names.ToDictionary(n => n, _ => new ActivationRange());
        for (int pass = 0; pass < 2; pass++)
            for (int seed = 0; seed < 12; seed++)
            {
                var outs = s.Run(new Dictionary<string, Tensor> { ["x"] = Input(seed) });
                foreach (var n in names)
                    if (pass == 0) ranges[n].Observe(outs[n].ReadOnlySpan<float>()); else ranges[n].Histogram(outs[n].ReadOnlySpan<float>());
            }
        return ranges.ToDictionary(kv => kv.Key, kv => kv.Value.Range(method));
    }

    private static byte[] Quantized(CalibrationMethod method = CalibrationMethod.MinMax)
    {
        var m = FloatCnn();
        StaticQuantization.Apply(m, Calibrate(method), new StaticQuantizationOptions { PerChannel = true });
        return OnnxModelWriter.ToBytes(m);
    }

    private static float[] Run(byte[] model, OptimizationLevel level, Tensor x, out Model optimized)
    {
        using var s = new InferenceSession(model, new SessionOptions { OptimizationLevel = level, IntraOpThreads = 1 });
        optimized = s.Model;
        return s.Run(new Dictionary<string, Tensor> { ["x"] = x })["y"].ToArray<float>();
    }

    [Fact]
    public void CalibrationTracksTheRangeAndPercentileClipsOutliers()
    {
        var r = new ActivationRange();
        var data = Enumerable.Range(0, 10000).Select(i => (float)(i % 100) / 100f).ToArray();
        data[17] = 50f; // one outlier
        r.Observe(data);
        r.Histogram(data);
        Assert.Equal((0f, 50f), r.Range(CalibrationMethod.MinMax));
        var (lo, hi) = r.Range(CalibrationMethod.Percentile, 99.9);
        Assert.Equal(0f, lo);
        Assert.InRange(hi, 0.95f, 1.1f);
        var (_, entropyHi) = r.Range(CalibrationMethod.Entropy);
        Assert.True(entropyHi < 50f, $"entropy threshold {entropyHi} keeps the outlier");
        var negative = new ActivationRange();
        negative.Observe([-3f, -1f]);
        Assert.Equal((-3f, 0f), negative.Range(CalibrationMethod.MinMax)); // zero always representable
    }

    [Fact]
    public void WritesQdqAroundEachConvWithInt8WeightsAndInt32Bias()
    {
        var m = OnnxModelLoader.Load(Quantized());
        var ops = m.Graph.Nodes.Select(n => n.OpType).ToList();
        Assert.Equal(2, ops.Count(o => o == "Conv"));
        Assert.True(ops.Count(o => o == "QuantizeLinear") >= 3);
        Assert.Contains(m.Graph.Initializers.Values, t => t.ElementType == DataType.Int32 && t.Length == 8);
        Assert.Equal(2, m.Graph.Initializers.Values.Count(t => t.ElementType == DataType.Int8 && t.Rank == 4));
        Assert.DoesNotContain(m.Graph.Initializers.Values, t => t.ElementType == DataType.Float && t.Rank == 4);
    }

    [Theory]
    [InlineData(CalibrationMethod.MinMax)]
    [InlineData(CalibrationMethod.Percentile)]
    [InlineData(CalibrationMethod.Entropy)]
    public void IslandsBecomeQLinearConvAndMatchTheUnfusedGraph(CalibrationMethod method)
    {
        var bytes = Quantized(method);
        var x = Input(7);
        var plain = Run(bytes, OptimizationLevel.None, x, out _);
        var fused = Run(bytes, OptimizationLevel.All, x, out var optimized);
        Assert.Equal(2, optimized.Graph.Nodes.Count(n => n.OpType == "QLinearConv"));
        Assert.DoesNotContain(optimized.Graph.Nodes, n => n.OpType == "Conv");
        // Float DQ -> Conv -> Q and the integer kernel can differ by one quantization step of the output.
        var yScale = OnnxModelLoader.Load(bytes).Graph.Nodes.Last(n => n.OpType == "QuantizeLinear").Inputs[1];
        float step = OnnxModelLoader.Load(bytes).Graph.Initializers[yScale].ReadOnlySpan<float>()[0];
        for (int i = 0; i < plain.Length; i++) Assert.True(Math.Abs(plain[i] - fused[i]) <= step * 1.01f, $"[{i}] {plain[i]} vs {fused[i]} (step {step})");
        var reference = Run(OnnxModelWriter.ToBytes(FloatCnn()), OptimizationLevel.None, x, out _);
        double dot = 0, na = 0, nb = 0;
        for (int i = 0; i < reference.Length; i++) { dot += reference[i] * fused[i]; na += reference[i] * reference[i]; nb += fused[i] * fused[i]; }
        Assert.True(dot / Math.Sqrt(na * nb) > 0.99, $"cosine {dot / Math.Sqrt(na * nb)}");
    }

    [Fact]
    public void OnnxRuntimeRunsTheQdqFileWithTheSameAnswers()
    {
        var bytes = Quantized();
        var x = Input(9);
        var ours = Run(bytes, OptimizationLevel.All, x, out _);
        using var so = new Microsoft.ML.OnnxRuntime.SessionOptions { IntraOpNumThreads = 1 };
        using var session = new Microsoft.ML.OnnxRuntime.InferenceSession(bytes, so);
        using var xv = OrtValue.CreateTensorValueFromMemory(x.ToArray<float>(), [1, 3, 10, 9]);
        using var ro = new RunOptions();
        using var results = session.Run(ro, ["x"], [xv], ["y"]);
        var theirs = results[0].GetTensorDataAsSpan<float>().ToArray();
        var yScale = OnnxModelLoader.Load(bytes).Graph.Nodes.Last(n => n.OpType == "QuantizeLinear").Inputs[1];
        float step = OnnxModelLoader.Load(bytes).Graph.Initializers[yScale].ReadOnlySpan<float>()[0];
        Assert.Equal(ours.Length, theirs.Length);
        // Both run the same integer arithmetic; rounding of intermediate requantization may differ by a step.
        for (int i = 0; i < ours.Length; i++) Assert.True(Math.Abs(ours[i] - theirs[i]) <= 2.01f * step, $"[{i}] ours {ours[i]}, ORT {theirs[i]} (step {step})");
    }

    /// <summary>QLinearConv with constant weights (int8 GEMM path) against the same node with weights fed at run time (int32 reference path).</summary>
    [Theory]
    [InlineData(3, 7, 6, 3, 1, 1, 0, 5)]
    [InlineData(4, 9, 9, 3, 2, 1, 1, 6)]
    [InlineData(5, 6, 8, 1, 1, 0, 0, 16)]
    [InlineData(2, 11, 9, 3, 2, 2, 2, 3)]
    [InlineData(16, 5, 5, 1, 2, 0, 0, 33)]
    [InlineData(8, 6, 7, 1, 1, 0, 0, 20)]
    public void QLinearConvFastPathMatchesTheReferencePathExactly(int c, int h, int w, int k, int stride, int pad, int dil, int m)
    {
        var rng = new Random(c * 100 + h);
        var x = new byte[c * h * w];
        rng.NextBytes(x);
        var wq = new sbyte[m * c * k * k];
        // Full int8 range: the fast path must take its split-activation kernel and still be exact.
        for (int i = 0; i < wq.Length; i++) wq[i] = (sbyte)rng.Next(-128, 128);
        var bias = Enumerable.Range(0, m).Select(_ => rng.Next(-2000, 2000)).ToArray();
        var wScale = Enumerable.Range(0, m).Select(i => 0.01f + 0.001f * i).ToArray();
        var wZero = Enumerable.Range(0, m).Select(i => (sbyte)(i % 3 - 1)).ToArray();
        var attrs = new[]
        {
            NodeAttribute.Of("strides", new long[] { stride, stride }), NodeAttribute.Of("pads", new long[] { pad, pad, pad, pad }),
            NodeAttribute.Of("dilations", new long[] { dil + 1, dil + 1 }),
        };
        var wt = Tensor.Create(DataType.Int8, wq, m, c, k, k);
        Model Build(bool constantWeights)
        {
            var inits = new Dictionary<string, Tensor>
            {
                ["xs"] = Tensor.Scalar(0.02f), ["xz"] = Tensor.Create(DataType.UInt8, new byte[] { 131 }),
                ["ws"] = Tensor.Create(wScale, m), ["wz"] = Tensor.Create(DataType.Int8, wZero, m),
                ["ys"] = Tensor.Scalar(0.5f), ["yz"] = Tensor.Create(DataType.UInt8, new byte[] { 100 }),
                ["b"] = Tensor.Create(DataType.Int32, bias, m),
            };
            if (constantWeights) inits["w"] = wt;
            var inputs = new List<ValueInfo> { new("x", OnnxType.Tensor(DataType.UInt8, [Dim.Known(1), Dim.Known(c), Dim.Known(h), Dim.Known(w)])) };
            if (!constantWeights) inputs.Add(new("w", OnnxType.Tensor(DataType.Int8, [Dim.Known(m), Dim.Known(c), Dim.Known(k), Dim.Known(k)])));
            return Model(inputs, [new ValueInfo("y", null)],
                [N("QLinearConv", ["x", "xs", "xz", "w", "ws", "wz", "ys", "yz", "b"], ["y"], attrs)], inits, opset: 13);
        }
        var xt = Tensor.Create(DataType.UInt8, x, 1, c, h, w);
        using var fast = new InferenceSession(Build(true), new SessionOptions { IntraOpThreads = 2 });
        using var reference = new InferenceSession(Build(false), new SessionOptions { IntraOpThreads = 1 });
        var a = fast.Run(new Dictionary<string, Tensor> { ["x"] = xt })["y"];
        var b = reference.Run(new Dictionary<string, Tensor> { ["x"] = xt, ["w"] = wt })["y"];
        Assert.Equal(b.Shape, a.Shape);
        Assert.Equal(b.ToArray<byte>(), a.ToArray<byte>());
    }

    [Fact]
    public void GroupedConvIslandStaysFloatAndBiasListedAsInputIsStillQuantized()
    {
        var rng = new Random(4);
        Model Build()
        {
            // Two filters per group: grouped but not depthwise, so no integer kernel takes it.
            var m = Model([F("x", 1, 3, 6, 6)], [F("y", 1, 6, 6, 6)],
                [N("Conv", ["x", "w", "b"], ["y"], NodeAttribute.Of("group", 3L), NodeAttribute.Of("pads", new long[] { 1, 1, 1, 1 }))],
                new Dictionary<string, Tensor> { ["w"] = RandomFloats(new Random(4), 6, 1, 3, 3), ["b"] = RandomFloats(new Random(5), 6) }, opset: 13);
            // Older exporters list initializers as graph inputs too.
            m.Graph.Inputs.Add(F("b", 6));
            return m;
        }
        var x = RandomFloats(rng, 1, 3, 6, 6);
        var q = Build();
        var ranges = new Dictionary<string, (float, float)> { ["x"] = (-2f, 2f), ["y"] = (-30f, 30f) };
        StaticQuantization.Apply(q, ranges, new StaticQuantizationOptions());
        Assert.Contains(q.Graph.Initializers.Values, t => t.ElementType == DataType.Int32 && t.Length == 6);
        using var s = new InferenceSession(q, new SessionOptions { IntraOpThreads = 1 });
        Assert.DoesNotContain(s.Model.Graph.Nodes, n => n.OpType == "QLinearConv");
        var y = s.Run(new Dictionary<string, Tensor> { ["x"] = x })["y"].ToArray<float>();
        using var f = new InferenceSession(Build(), new SessionOptions { OptimizationLevel = OptimizationLevel.None });
        var r = f.Run(new Dictionary<string, Tensor> { ["x"] = x, ["b"] = Build().Graph.Initializers["b"] })["y"].ToArray<float>();
        for (int i = 0; i < r.Length; i++) Assert.True(Math.Abs(r[i] - y[i]) < 0.5f, $"[{i}] {r[i]} vs {y[i]}");
    }

    [Fact]
    public void ConvClipIslandBecomesOneQLinearConv()
    {
        Model Build() => Model([F("x", 1, 2, 5, 5)], [F("y", 1, 4, 5, 5)],
            [
                N("Conv", ["x", "w"], ["c"], NodeAttribute.Of("pads", new long[] { 1, 1, 1, 1 })),
                N("Clip", ["c", "lo", "hi"], ["y"]),
            ],
            new Dictionary<string, Tensor>
            {
                ["w"] = RandomFloats(new Random(9), 4, 2, 3, 3), ["lo"] = Tensor.Scalar(0f), ["hi"] = Tensor.Scalar(6f),
            }, opset: 13);
        var x = RandomFloats(new Random(10), 1, 2, 5, 5);
        var q = Build();
        StaticQuantization.Apply(q, new Dictionary<string, (float, float)> { ["x"] = (-2f, 2f), ["y"] = (0f, 6f) }, new StaticQuantizationOptions());
        using var s = new InferenceSession(q, new SessionOptions { IntraOpThreads = 1 });
        Assert.Single(s.Model.Graph.Nodes, n => n.OpType == "QLinearConv");
        Assert.DoesNotContain(s.Model.Graph.Nodes, n => n.OpType is "Clip" or "Conv");
        var y = s.Run(new Dictionary<string, Tensor> { ["x"] = x })["y"].ToArray<float>();
        using var f = new InferenceSession(Build(), new SessionOptions { OptimizationLevel = OptimizationLevel.None });
        var r = f.Run(new Dictionary<string, Tensor> { ["x"] = x })["y"].ToArray<float>();
        // Steps of 2/255 on x and 6/255 on y, 7-bit weights: a few output steps at most.
        for (int i = 0; i < r.Length; i++) Assert.True(Math.Abs(r[i] - y[i]) < 0.15f, $"[{i}] {r[i]} vs {y[i]}");
        Assert.All(y, v => Assert.InRange(v, 0f, 6f));
    }

    [Fact]
    public void OldOpsetIsRefusedWithTheReason()
    {
        var m = FloatCnn();
        m.Opsets[""] = 11;
        var e = Assert.Throws<OnnxException>(() => StaticQuantization.Apply(m, new Dictionary<string, (float, float)>(), new StaticQuantizationOptions()));
        Assert.Contains("opset", e.Message);
    }

    [Fact]
    public void MissingCalibrationRangeIsNamed()
    {
        var e = Assert.Throws<OnnxException>(() => StaticQuantization.Apply(FloatCnn(), new Dictionary<string, (float, float)>(), new StaticQuantizationOptions()));
        Assert.Contains("'x'", e.Message);
    }
}
