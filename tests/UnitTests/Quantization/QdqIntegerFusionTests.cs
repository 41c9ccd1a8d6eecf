using Microsoft.ML.OnnxRuntime;
using NetOnnx.OnnxImport;
using NetOnnx.Optimizer.Passes.Quantization;
using NetOnnx.Runtime;
using Xunit;
using static NetOnnx.Tests.IrBuilder;
using SessionOptions = NetOnnx.Runtime.SessionOptions;

namespace NetOnnx.Tests;

/// <summary>
/// The integer paths between QDQ convolutions: QLinearAdd (with Relu), QLinearConcat, uint8 MaxPool and
/// reshapes, depthwise QLinearConv. Each fused graph is run against the same file unoptimised (the float
/// DequantizeLinear -> op -> QuantizeLinear chain), which it must match bit for bit; the contrib ops against
/// ONNX Runtime's own kernels; bad parameters against their messages.
/// </summary>
public class QdqIntegerFusionTests
{
    private static ValueInfo U8(string name, params int[] dims) =>
        new(name, OnnxType.Tensor(DataType.UInt8, dims.Select(d => Dim.Known(d)).ToArray()));

    private static Tensor Bytes(Random rng, params int[] shape)
    {
        var b = new byte[shape.Aggregate(1, (p, d) => p * d)];
        rng.NextBytes(b);
        return Tensor.Create(DataType.UInt8, b, shape);
    }

    private static Tensor Zero(byte z) => Tensor.Create(DataType.UInt8, new[] { z });

    /// <summary>Runs the model at both levels; asserts equal bytes; returns the optimised graph's op types.</summary>
    private static List<string> AssertFusedEqualsChain(Func<Model> build, Dictionary<string, Tensor> feeds)
    {
        byte[] Run(OptimizationLevel level, out Model optimized)
        {
            using var s = new InferenceSession(build(), new SessionOptions { OptimizationLevel = level, IntraOpThreads = 2 });
            optimized = s.Model;
            return s.Run(feeds)["y"].ToArray<byte>();
        }
        var chain = Run(OptimizationLevel.None, out _);
        var fused = Run(OptimizationLevel.All, out var m);
        Assert.Equal(chain, fused);
        return m.Graph.Nodes.Select(n => n.OpType).ToList();
    }

    [Theory]
    [InlineData(false, 105)]
    [InlineData(true, 105)]
    [InlineData(true, 4096)]
    public void AddReluChainBecomesQLinearAddBitExact(bool relu, int size)
    {
        var rng = new Random(size + (relu ? 1 : 0));
        Model Build() => Model([U8("a", 1, size), U8("b", 1, size)], [U8("y", 1, size)],
        [
            N("DequantizeLinear", ["a", "sa", "za"], ["fa"]),
            N("DequantizeLinear", ["b", "sb", "zb"], ["fb"]),
            N("Add", ["fa", "fb"], ["s"]),
            .. relu ? new[] { N("Relu", ["s"], ["r"]) } : [],
            N("QuantizeLinear", [relu ? "r" : "s", "sy", "zy"], ["y"]),
        ], new Dictionary<string, Tensor>
        {
            ["sa"] = Tensor.Scalar(0.031f), ["za"] = Zero(121), ["sb"] = Tensor.Scalar(0.017f), ["zb"] = Zero(3),
            ["sy"] = Tensor.Scalar(0.029f), ["zy"] = Zero(relu ? (byte)0 : (byte)140),
        }, opset: 13);
        var ops = AssertFusedEqualsChain(Build, new() { ["a"] = Bytes(rng, 1, size), ["b"] = Bytes(rng, 1, size) });
        Assert.Equal(["QLinearAdd"], ops);
    }

    [Fact]
    public void ConcatWithMixedScalesThenMaxPoolRunsOnBytesBitExact()
    {
        var rng = new Random(3);
        var pool = new[]
        {
            NodeAttribute.Of("kernel_shape", new long[] { 3, 3 }), NodeAttribute.Of("strides", new long[] { 2, 2 }),
            NodeAttribute.Of("pads", new long[] { 1, 0, 1, 1 }), NodeAttribute.Of("ceil_mode", 1L),
        };
        // x1 has other parameters than the output (table requantization), x2 the same (plain copy).
        Model Build() => Model([U8("x1", 1, 3, 9, 11), U8("x2", 1, 2, 9, 11)], [U8("y", 1, 5, 5, 6)],
        [
            N("DequantizeLinear", ["x1", "s1", "z1"], ["f1"]),
            N("DequantizeLinear", ["x2", "sy", "zy"], ["f2"]),
            N("Concat", ["f1", "f2"], ["c"], NodeAttribute.Of("axis", 1L)),
            N("MaxPool", ["c"], ["p"], pool),
            N("QuantizeLinear", ["p", "sy", "zy"], ["y"]),
        ], new Dictionary<string, Tensor> { ["s1"] = Tensor.Scalar(0.05f), ["z1"] = Zero(90), ["sy"] = Tensor.Scalar(0.07f), ["zy"] = Zero(20) }, opset: 13);
        var ops = AssertFusedEqualsChain(Build, new() { ["x1"] = Bytes(rng, 1, 3, 9, 11), ["x2"] = Bytes(rng, 1, 2, 9, 11) });
        Assert.Equal(["QLinearConcat", "MaxPool"], ops);
    }

    [Fact]
    public void MaxPoolAndFlattenWithEqualParametersDropTheirQdqPair()
    {
        var rng = new Random(5);
        Model Build() => Model([U8("x", 2, 4, 13, 40)], [U8("y", 2, 4 * 12 * 39)],
        [
            N("DequantizeLinear", ["x", "s", "z"], ["f"]),
            N("MaxPool", ["f"], ["p"], NodeAttribute.Of("kernel_shape", new long[] { 2, 2 })),
            N("QuantizeLinear", ["p", "s", "z"], ["q"]),
            N("DequantizeLinear", ["q", "s", "z"], ["g"]),
            N("Flatten", ["g"], ["h"]),
            N("QuantizeLinear", ["h", "s", "z"], ["y"]),
        ], new Dictionary<string, Tensor> { ["s"] = Tensor.Scalar(0.1f), ["z"] = Zero(7) }, opset: 13);
        var ops = AssertFusedEqualsChain(Build, new() { ["x"] = Bytes(rng, 2, 4, 13, 40) });
        Assert.Equal(["MaxPool", "Flatten"], ops);
    }

    [Theory]
    [InlineData("HardSwish")]
    [InlineData("Relu")]
    [InlineData("Clip")]
    [InlineData("HardSigmoid")]
    public void UnaryOpBetweenDqAndQBecomesATableLookupBitExact(string op)
    {
        var rng = new Random(op.Length);
        Model Build() => Model([U8("x", 1, 3, 17, 11)], [U8("y", 1, 3, 17, 11)],
        [
            N("DequantizeLinear", ["x", "s", "z"], ["f"]),
            op == "Clip" ? N("Clip", ["f", "lo", "hi"], ["g"]) : N(op, ["f"], ["g"]),
            N("QuantizeLinear", ["g", "sy", "zy"], ["y"]),
        ], new Dictionary<string, Tensor>
        {
            ["s"] = Tensor.Scalar(0.05f), ["z"] = Zero(128), ["sy"] = Tensor.Scalar(0.03f), ["zy"] = Zero(40),
            ["lo"] = Tensor.Scalar(-1f), ["hi"] = Tensor.Scalar(2.5f),
        }, opset: 14);
        var ops = AssertFusedEqualsChain(Build, new() { ["x"] = Bytes(rng, 1, 3, 17, 11) });
        Assert.Equal(["QLinearLookup"], ops);
    }

    /// <summary>The fused com.netonnx forms written with function bodies (optimize at level all): ONNX Runtime gives the same bytes.</summary>
    [Fact]
    public void OptimizedFileWithInternalQuantizedOpsLoadsInOnnxRuntime()
    {
        var rng = new Random(17);
        Model Build() => Model([U8("a", 1, 200), U8("b", 1, 200)], [U8("y", 1, 200)],
        [
            N("DequantizeLinear", ["a", "s", "z"], ["fa"]),
            N("DequantizeLinear", ["b", "s2", "z"], ["fb"]),
            N("Add", ["fa", "fb"], ["sum"]),
            N("Relu", ["sum"], ["r"]),
            N("QuantizeLinear", ["r", "s", "z"], ["q"]),
            N("DequantizeLinear", ["q", "s", "z"], ["g"]),
            N("HardSigmoid", ["g"], ["h"]),
            N("QuantizeLinear", ["h", "s3", "z"], ["y"]),
        ], new Dictionary<string, Tensor>
        {
            ["s"] = Tensor.Scalar(0.04f), ["s2"] = Tensor.Scalar(0.02f), ["s3"] = Tensor.Scalar(0.005f), ["z"] = Zero(100),
        }, opset: 14);
        var feeds = new Dictionary<string, Tensor> { ["a"] = Bytes(rng, 1, 200), ["b"] = Bytes(rng, 1, 200) };
        var m = Build();
        NetOnnx.Optimizer.PassManager.CreateDefault().Run(m, OptimizationLevel.All);
        Assert.Equal(["QLinearAdd", "QLinearLookup"], m.Graph.Nodes.Select(n => n.OpType));
        NetOnnx.Optimizer.InternalOpFunctions.Attach(m);
        var bytes = OnnxModelWriter.ToBytes(m);
        using var ours = new InferenceSession(bytes, new SessionOptions { IntraOpThreads = 1 });
        var mine = ours.Run(feeds)["y"].ToArray<byte>();
        using var so = new Microsoft.ML.OnnxRuntime.SessionOptions { GraphOptimizationLevel = GraphOptimizationLevel.ORT_DISABLE_ALL };
        using var ort = new Microsoft.ML.OnnxRuntime.InferenceSession(bytes, so);
        using var av = OrtValue.CreateTensorValueFromMemory(feeds["a"].ToArray<byte>(), [1, 200]);
        using var bv = OrtValue.CreateTensorValueFromMemory(feeds["b"].ToArray<byte>(), [1, 200]);
        using var ro = new RunOptions();
        using var results = ort.Run(ro, ["a", "b"], [av, bv], ["y"]);
        var theirs = results[0].GetTensorDataAsSpan<byte>().ToArray();
        // ORT runs the standard-op bodies (float DQ/Add/Relu/Q, then Gather): the same arithmetic as ours.
        Assert.Equal(theirs, mine);
    }

    /// <summary>Depthwise QLinearConv (direct kernel) against the same node with weights fed at run time (int32 reference path).</summary>
    [Theory]
    [InlineData(5, 9, 11, 3, 1, 1, 1, false)]
    [InlineData(6, 12, 13, 3, 2, 1, 1, true)]
    [InlineData(3, 10, 20, 5, 2, 2, 1, false)]
    [InlineData(4, 8, 9, 3, 1, 2, 2, true)]
    [InlineData(2, 7, 40, 3, 3, 0, 1, true)]
    public void DepthwiseQLinearConvMatchesTheReferencePathExactly(int c, int h, int w, int k, int stride, int pad, int dil, bool perChannel)
    {
        var rng = new Random(c * 31 + h);
        var x = Bytes(rng, 1, c, h, w);
        var wq = new sbyte[c * k * k];
        for (int i = 0; i < wq.Length; i++) wq[i] = (sbyte)rng.Next(-128, 128);
        var wt = Tensor.Create(DataType.Int8, wq, c, 1, k, k);
        int n = perChannel ? c : 1;
        var bias = Enumerable.Range(0, c).Select(_ => rng.Next(-3000, 3000)).ToArray();
        Model Build(bool constantWeights)
        {
            var inits = new Dictionary<string, Tensor>
            {
                ["xs"] = Tensor.Scalar(0.02f), ["xz"] = Zero(119),
                ["ws"] = Tensor.Create(Enumerable.Range(0, n).Select(i => 0.01f + 0.003f * i).ToArray(), perChannel ? [c] : []),
                ["wz"] = Tensor.Create(DataType.Int8, Enumerable.Range(0, n).Select(i => (sbyte)(i % 3 - 1)).ToArray(), perChannel ? [c] : []),
                ["ys"] = Tensor.Scalar(0.3f), ["yz"] = Zero(128),
                ["b"] = Tensor.Create(DataType.Int32, bias, c),
            };
            if (constantWeights) inits["w"] = wt;
            var inputs = new List<ValueInfo> { U8("x", 1, c, h, w) };
            if (!constantWeights) inputs.Add(new("w", OnnxType.Tensor(DataType.Int8, [Dim.Known(c), Dim.Known(1), Dim.Known(k), Dim.Known(k)])));
            return Model(inputs, [new ValueInfo("y", null)],
                [N("QLinearConv", ["x", "xs", "xz", "w", "ws", "wz", "ys", "yz", "b"], ["y"],
                    NodeAttribute.Of("group", (long)c), NodeAttribute.Of("strides", new long[] { stride, stride }),
                    NodeAttribute.Of("pads", new long[] { pad, pad, pad, pad }), NodeAttribute.Of("dilations", new long[] { dil, dil }))], inits, opset: 13);
        }
        using var direct = new InferenceSession(Build(true), new SessionOptions { IntraOpThreads = 2 });
        using var reference = new InferenceSession(Build(false), new SessionOptions { IntraOpThreads = 1 });
        var a = direct.Run(new Dictionary<string, Tensor> { ["x"] = x })["y"];
        var b = reference.Run(new Dictionary<string, Tensor> { ["x"] = x, ["w"] = wt })["y"];
        Assert.Equal(b.Shape, a.Shape);
        Assert.Equal(b.ToArray<byte>(), a.ToArray<byte>());
    }

    /// <summary>A float CNN with a depthwise conv, a residual Add + Relu and a Concat, quantized to QDQ.</summary>
    private static Model ResidualCnn(long opset = 13)
    {
        var rng = new Random(8);
        var inits = new Dictionary<string, Tensor>
        {
            ["w1"] = RandomFloats(rng, 8, 3, 3, 3), ["b1"] = RandomFloats(rng, 8),
            ["wd"] = RandomFloats(rng, 8, 1, 3, 3), ["bd"] = RandomFloats(rng, 8),
            ["w2"] = RandomFloats(rng, 8, 8, 1, 1),
            ["w3"] = RandomFloats(rng, 4, 16, 1, 1),
        };
        var pad1 = NodeAttribute.Of("pads", new long[] { 1, 1, 1, 1 });
        return Model([F("x", 1, 3, 12, 10)], [F("y", 1, 4, 12, 10)],
        [
            N("Conv", ["x", "w1", "b1"], ["c1"], pad1),
            N("Relu", ["c1"], ["r1"]),
            N("Conv", ["r1", "wd", "bd"], ["d"], pad1, NodeAttribute.Of("group", 8L)),
            N("Relu", ["d"], ["rd"]),
            N("Conv", ["rd", "w2"], ["c2"]),
            N("Add", ["c2", "r1"], ["s"]),
            N("Relu", ["s"], ["rs"]),
            N("Concat", ["rs", "r1"], ["cat"], NodeAttribute.Of("axis", 1L)),
            N("Conv", ["cat", "w3"], ["y"]),
        ], inits, opset);
    }

    private static Dictionary<string, (float, float)> Ranges(Model m)
    {
        var names = StaticQuantization.TensorsToCalibrate(m, new StaticQuantizationOptions());
        var probe = OnnxModelLoader.Load(OnnxModelWriter.ToBytes(m));
        foreach (var n in names) if (probe.Graph.Outputs.All(o => o.Name != n)) probe.Graph.Outputs.Add(new ValueInfo(n, null));
        using var s = new InferenceSession(probe, new SessionOptions { OptimizationLevel = OptimizationLevel.None });
        var ranges = names.ToDictionary(n => n, _ => new ActivationRange());
        for (int seed = 0; seed < 6; seed++)
        {
            var outs = s.Run(new Dictionary<string, Tensor> { ["x"] = RandomFloats(new Random(seed), 1, 3, 12, 10) });
            foreach (var n in names) ranges[n].Observe(outs[n].ReadOnlySpan<float>());
        }
        return ranges.ToDictionary(kv => kv.Key, kv => kv.Value.Range(CalibrationMethod.MinMax));
    }

    [Fact]
    public void QuantizedResidualCnnStaysInteger_AndOnnxRuntimeAgrees()
    {
        var m = ResidualCnn();
        StaticQuantization.Apply(m, Ranges(ResidualCnn()), new StaticQuantizationOptions { PerChannel = true });
        var bytes = OnnxModelWriter.ToBytes(m);
        var x = RandomFloats(new Random(99), 1, 3, 12, 10);
        using var ours = new InferenceSession(bytes, new SessionOptions { IntraOpThreads = 1 });
        var ops = ours.Model.Graph.Nodes.Select(n => n.OpType).ToList();
        // Only the entry Q and the exit DQ stay: everything between runs on uint8.
        Assert.Equal(4, ops.Count(o => o == "QLinearConv"));
        Assert.Contains("QLinearAdd", ops);
        Assert.Contains("QLinearConcat", ops);
        Assert.DoesNotContain(ops, o => o is "Conv" or "Add" or "Relu" or "Concat");
        Assert.Equal(1, ops.Count(o => o == "DequantizeLinear"));
        var y = ours.Run(new Dictionary<string, Tensor> { ["x"] = x })["y"].ToArray<float>();

        using var so = new Microsoft.ML.OnnxRuntime.SessionOptions { IntraOpNumThreads = 1 };
        using var ort = new Microsoft.ML.OnnxRuntime.InferenceSession(bytes, so);
        using var xv = OrtValue.CreateTensorValueFromMemory(x.ToArray<float>(), [1, 3, 12, 10]);
        using var ro = new RunOptions();
        using var results = ort.Run(ro, ["x"], [xv], ["y"]);
        var theirs = results[0].GetTensorDataAsSpan<float>().ToArray();
        var q = OnnxModelLoader.Load(bytes).Graph;
        float step = q.Initializers[q.Nodes.Last(n => n.OpType == "DequantizeLinear").Inputs[1]].ReadOnlySpan<float>()[0];
        // Integer convs and requantizations may round a step apart at each of the few layers.
        for (int i = 0; i < y.Length; i++) Assert.True(Math.Abs(y[i] - theirs[i]) <= 3.01f * step, $"[{i}] ours {y[i]}, ORT {theirs[i]} (step {step})");

        using var f = new InferenceSession(ResidualCnn(), new SessionOptions { OptimizationLevel = OptimizationLevel.None });
        var r = f.Run(new Dictionary<string, Tensor> { ["x"] = x })["y"].ToArray<float>();
        double dot = 0, na = 0, nb = 0;
        for (int i = 0; i < r.Length; i++) { dot += r[i] * y[i]; na += r[i] * r[i]; nb += y[i] * y[i]; }
        Assert.True(dot / Math.Sqrt(na * nb) > 0.99, $"cosine {dot / Math.Sqrt(na * nb)}");
    }

    /// <summary>A fire module (squeeze, then 1x1 and 3x3 expands concatenated): the Concat inputs get the output's range.</summary>
    [Fact]
    public void ConcatInputsShareTheOutputScaleSoTheIntegerConcatCopies()
    {
        Model Fire()
        {
            var rng = new Random(4);
            var inits = new Dictionary<string, Tensor>
            {
                ["ws"] = RandomFloats(rng, 4, 3, 1, 1), ["we1"] = RandomFloats(rng, 6, 4, 1, 1), ["we3"] = RandomFloats(rng, 5, 4, 3, 3), ["wc"] = RandomFloats(rng, 2, 11, 1, 1),
            };
            return Model([F("x", 1, 3, 12, 10)], [F("y", 1, 2, 12, 10)],
            [
                N("Conv", ["x", "ws"], ["s0"]), N("Relu", ["s0"], ["s"]),
                N("Conv", ["s", "we1"], ["e10"]), N("Relu", ["e10"], ["e1"]),
                N("Conv", ["s", "we3"], ["e30"], NodeAttribute.Of("pads", new long[] { 1, 1, 1, 1 })), N("Relu", ["e30"], ["e3"]),
                N("Concat", ["e1", "e3"], ["cat"], NodeAttribute.Of("axis", 1L)),
                N("Conv", ["cat", "wc"], ["y"]),
            ], inits, opset: 13);
        }
        var m = Fire();
        StaticQuantization.Apply(m, Ranges(Fire()), new StaticQuantizationOptions { PerChannel = true });
        var g = m.Graph;
        float ScaleOf(string dqOutput) => g.Initializers[g.Nodes.Single(n => n.OpType == "DequantizeLinear" && n.Outputs[0] == dqOutput).Inputs[1]].ReadOnlySpan<float>()[0];
        var concat = g.Nodes.Single(n => n.OpType == "Concat");
        var outQ = g.Nodes.Single(n => n.OpType == "QuantizeLinear" && n.Inputs[0] == concat.Outputs[0]);
        float outScale = g.Initializers[outQ.Inputs[1]].ReadOnlySpan<float>()[0];
        Assert.All(concat.Inputs, i => Assert.Equal(outScale, ScaleOf(i)));
        var x = RandomFloats(new Random(5), 1, 3, 12, 10);
        using var s = new InferenceSession(OnnxModelWriter.ToBytes(m), new SessionOptions { IntraOpThreads = 1 });
        Assert.Contains(s.Model.Graph.Nodes, n => n.OpType == "QLinearConcat");
        var y = s.Run(new Dictionary<string, Tensor> { ["x"] = x })["y"].ToArray<float>();
        using var f = new InferenceSession(Fire(), new SessionOptions { OptimizationLevel = OptimizationLevel.None });
        var r = f.Run(new Dictionary<string, Tensor> { ["x"] = x })["y"].ToArray<float>();
        double dot = 0, na = 0, nb = 0;
        for (int i = 0; i < r.Length; i++) { dot += r[i] * y[i]; na += r[i] * r[i]; nb += y[i] * y[i]; }
        Assert.True(dot / Math.Sqrt(na * nb) > 0.99, $"cosine {dot / Math.Sqrt(na * nb)}");
    }

    [Fact]
    public void PreparationLiftsAnOpset11ModelWithConstantWeightsAndFoldsBatchNorm()
    {
        var m = ResidualCnn(opset: 11);
        // Weights as Constant nodes (paddle2onnx style) and a BatchNormalization after the last conv.
        var w3 = m.Graph.Initializers["w3"];
        m.Graph.Initializers.Remove("w3");
        m.Graph.Nodes.Insert(0, new Node("Constant", [], ["w3"], "w3_const", "", [NodeAttribute.Of("value", w3)]));
        var last = m.Graph.Nodes[^1];
        last.Outputs[0] = "pre_bn";
        m.Graph.Nodes.Add(N("BatchNormalization", ["pre_bn", "g", "bb", "mu", "var"], ["y"]));
        foreach (var (k, v) in new[] { ("g", 1.5f), ("bb", 0.25f), ("mu", 0.1f), ("var", 2f) })
            m.Graph.Initializers[k] = Tensor.Create(Enumerable.Repeat(v, 4).ToArray(), 4);
        var x = RandomFloats(new Random(1), 1, 3, 12, 10);
        using var before = new InferenceSession(OnnxModelWriter.ToBytes(m), new SessionOptions { OptimizationLevel = OptimizationLevel.None });
        var r = before.Run(new Dictionary<string, Tensor> { ["x"] = x })["y"].ToArray<float>();

        var notes = QuantizationPreparation.Run(m);
        Assert.Equal(13, m.OpsetFor(""));
        Assert.Contains(notes, n => n.Contains("11 -> 13"));
        Assert.DoesNotContain(m.Graph.Nodes, n => n.OpType is "Constant" or "BatchNormalization");
        Assert.Equal(4, StaticQuantization.Apply(m, Ranges(m), new StaticQuantizationOptions()).Count);
        using var after = new InferenceSession(OnnxModelWriter.ToBytes(m), new SessionOptions { IntraOpThreads = 1 });
        var y = after.Run(new Dictionary<string, Tensor> { ["x"] = x })["y"].ToArray<float>();
        double dot = 0, na = 0, nb = 0;
        for (int i = 0; i < r.Length; i++) { dot += r[i] * y[i]; na += r[i] * r[i]; nb += y[i] * y[i]; }
        Assert.True(dot / Math.Sqrt(na * nb) > 0.99, $"cosine {dot / Math.Sqrt(na * nb)}");
    }

    [Fact]
    public void PreparationRefusesAnOpset11ModelWhoseOpsChangedMeaning()
    {
        var m = Model([F("x", 1, 4)], [F("y", 1, 4)], [N("Softmax", ["x"], ["y"])], opset: 11);
        var e = Assert.Throws<OnnxException>(() => QuantizationPreparation.Run(m));
        Assert.Contains("Softmax", e.Message);
    }

    /// <summary>com.microsoft QLinearAdd and QLinearConcat as ONNX Runtime defines them: its kernels and ours agree to one step.</summary>
    [Fact]
    public void ContribOpsMatchOnnxRuntime()
    {
        var rng = new Random(12);
        var a = Bytes(rng, 1, 3, 5, 7);
        var b = Bytes(rng, 1, 3, 5, 7);
        var m = Model([U8("a", 1, 3, 5, 7), U8("b", 1, 3, 5, 7)], [U8("y", 1, 3, 5, 7), U8("c", 1, 6, 5, 7)],
        [
            new Node("QLinearAdd", ["a", "sa", "za", "b", "sb", "zb", "sy", "zy"], ["y"], "add", "com.microsoft"),
            new Node("QLinearConcat", ["sy", "zy", "a", "sa", "za", "b", "sb", "zb"], ["c"], "cat", "com.microsoft", [NodeAttribute.Of("axis", 1L)]),
        ], new Dictionary<string, Tensor>
        {
            ["sa"] = Tensor.Scalar(0.02f), ["za"] = Zero(100), ["sb"] = Tensor.Scalar(0.05f), ["zb"] = Zero(10),
            ["sy"] = Tensor.Scalar(0.04f), ["zy"] = Zero(60),
        }, opset: 13);
        m.Opsets["com.microsoft"] = 1;
        var bytes = OnnxModelWriter.ToBytes(m);
        using var ours = new InferenceSession(bytes, new SessionOptions { IntraOpThreads = 1 });
        var outs = ours.Run(new Dictionary<string, Tensor> { ["a"] = a, ["b"] = b });
        using var ort = new Microsoft.ML.OnnxRuntime.InferenceSession(bytes);
        using var av = OrtValue.CreateTensorValueFromMemory(a.ToArray<byte>(), [1, 3, 5, 7]);
        using var bv = OrtValue.CreateTensorValueFromMemory(b.ToArray<byte>(), [1, 3, 5, 7]);
        using var ro = new RunOptions();
        using var results = ort.Run(ro, ["a", "b"], [av, bv], ["y", "c"]);
        foreach (var (name, k) in new[] { ("y", 0), ("c", 1) })
        {
            var mine = outs[name].ToArray<byte>();
            var theirs = results[k].GetTensorDataAsSpan<byte>().ToArray();
            Assert.Equal(theirs.Length, mine.Length);
            for (int i = 0; i < mine.Length; i++) Assert.True(Math.Abs(mine[i] - theirs[i]) <= 1, $"{name}[{i}] ours {mine[i]}, ORT {theirs[i]}");
        }
    }

    [Fact]
    public void BadQuantizationParametersAreNamed()
    {
        var rng = new Random(2);
        Model Add(Tensor zeroA) => Model([U8("a", 1, 8), U8("b", 1, 8)], [U8("y", 1, 8)],
            [new Node("QLinearAdd", ["a", "s", "za", "b", "s", "z", "s", "z"], ["y"], "add", "com.microsoft")],
            new Dictionary<string, Tensor> { ["s"] = Tensor.Scalar(0.1f), ["za"] = zeroA, ["z"] = Zero(0) }, opset: 13);
        var feeds = new Dictionary<string, Tensor> { ["a"] = Bytes(rng, 1, 8), ["b"] = Bytes(rng, 1, 8) };
        using (var s = new InferenceSession(Add(Tensor.Create(DataType.Int8, new sbyte[] { 3 })), new SessionOptions()))
        {
            var e = Assert.ThrowsAny<OnnxException>(() => s.Run(feeds));
            Assert.Contains("A_zero_point must be a uint8", e.Message);
        }
        var noScale = Model([U8("a", 1, 8)], [U8("y", 1, 8)],
            [new Node("QLinearConcat", ["", "z", "a", "s", "z"], ["y"], "cat", "com.microsoft", [NodeAttribute.Of("axis", 1L)])],
            new Dictionary<string, Tensor> { ["s"] = Tensor.Scalar(0.1f), ["z"] = Zero(0) }, opset: 13);
        using (var s = new InferenceSession(noScale, new SessionOptions()))
        {
            var e = Assert.ThrowsAny<OnnxException>(() => s.Run(new Dictionary<string, Tensor> { ["a"] = Bytes(rng, 1, 8) }));
            Assert.Contains("Y_scale is missing", e.Message);
        }
        var badShapes = Model([U8("a", 1, 8), U8("b", 1, 3)], [U8("y", 1, 8)],
            [new Node("QLinearAdd", ["a", "s", "z", "b", "s", "z", "s", "z"], ["y"], "add", "com.microsoft")],
            new Dictionary<string, Tensor> { ["s"] = Tensor.Scalar(0.1f), ["z"] = Zero(0) }, opset: 13);
        using (var s = new InferenceSession(badShapes, new SessionOptions()))
        {
            var e = Assert.ThrowsAny<OnnxException>(() => s.Run(new Dictionary<string, Tensor> { ["a"] = Bytes(rng, 1, 8), ["b"] = Bytes(rng, 1, 3) }));
            Assert.Contains("do not broadcast", e.Message);
        }
    }
}
