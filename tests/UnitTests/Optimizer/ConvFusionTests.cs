using Google.Protobuf;
using NetOnnx.Kernels.Elementwise;
using NetOnnx.OnnxImport;
using NetOnnx.OnnxImport.Proto;
using NetOnnx.Optimizer;
using NetOnnx.Optimizer.Passes;
using NetOnnx.Runtime;
using NetOnnx.Runtime.Operators.Fused;
using Xunit;
using static NetOnnx.Tests.TestModels;

namespace NetOnnx.Tests;

/// <summary>
/// The Conv/Gemm folding and fusion passes: what they rewrite, what they must leave alone, and that the fused
/// kernels give the unfused graph's outputs.
/// </summary>
public class ConvFusionTests
{
    private static float[] Random(int n, int seed, float scale = 1f)
    {
        var r = new Random(seed);
        return Enumerable.Range(0, n).Select(_ => (float)(r.NextDouble() * 2 - 1) * scale).ToArray();
    }

    private static AttributeProto IntsAttr(string name, params long[] v)
    {
        var a = new AttributeProto { Name = name, Type = AttributeProto.Types.AttributeType.Ints };
        a.Ints.AddRange(v);
        return a;
    }

    private static AttributeProto IntAttr(string name, long v) => new() { Name = name, Type = AttributeProto.Types.AttributeType.Int, I = v };
    private static AttributeProto FloatAttr(string name, float v) => new() { Name = name, Type = AttributeProto.Types.AttributeType.Float, F = v };

    /// <summary>
    /// x [1, c, h, w] -> Conv (m filters 3x3, pad 1, constant W and B, optional group) -> "conv"; then the
    /// caller's nodes. Returns the graph for the caller to finish.
    /// </summary>
    private static GraphProto ConvGraph(int c, int m, int h, int w, int group = 1, int seed = 1)
    {
        var g = new GraphProto { Name = "conv" };
        g.Input.Add(Info("x", 1, 1, c, h, w));
        g.Initializer.Add(FloatTensor("W", Random(m * (c / group) * 9, seed, 0.5f), m, c / group, 3, 3));
        g.Initializer.Add(FloatTensor("B", Random(m, seed + 1), m));
        var conv = NodeOf("Conv", ["x", "W", "B"], ["conv"], "conv");
        conv.Attribute.Add(IntsAttr("pads", 1, 1, 1, 1));
        if (group != 1) conv.Attribute.Add(IntAttr("group", group));
        g.Node.Add(conv);
        return g;
    }

    private static void AddBatchNorm(GraphProto g, int m, string input, string output, bool meanIsInput = false)
    {
        g.Initializer.Add(FloatTensor("bn_scale", Random(m, 11), m));
        g.Initializer.Add(FloatTensor("bn_bias", Random(m, 12), m));
        if (meanIsInput) g.Input.Add(Info("bn_mean", 1, m));
        else g.Initializer.Add(FloatTensor("bn_mean", Random(m, 13), m));
        g.Initializer.Add(FloatTensor("bn_var", Random(m, 14).Select(v => v * v + 0.1f).ToArray(), m));
        var bn = NodeOf("BatchNormalization", [input, "bn_scale", "bn_bias", "bn_mean", "bn_var"], [output], "bn");
        bn.Attribute.Add(FloatAttr("epsilon", 1e-3f));
        g.Node.Add(bn);
    }

    private static Dictionary<string, float[]> RunAt(byte[] model, OptimizationLevel level, Dictionary<string, Tensor> inputs)
    {
        using var s = new InferenceSession(model, new SessionOptions { OptimizationLevel = level });
        return s.Run(inputs).ToDictionary(kv => kv.Key, kv => kv.Value.ToArray<float>());
    }

    /// <summary>Runs at level None and All, asserts equal outputs within 1e-4, returns the optimised graph.</summary>
    private static Graph AssertSameOutputs(byte[] model, Dictionary<string, Tensor> inputs)
    {
        var none = RunAt(model, OptimizationLevel.None, inputs);
        var all = RunAt(model, OptimizationLevel.All, inputs);
        foreach (var (name, expected) in none)
        {
            var actual = all[name];
            Assert.Equal(expected.Length, actual.Length);
            for (int i = 0; i < expected.Length; i++)
                Assert.True(Math.Abs(expected[i] - actual[i]) <= 1e-4f + 1e-4f * Math.Abs(expected[i]),
                    $"{name}[{i}]: {actual[i]} vs unfused {expected[i]}");
        }
        var m = OnnxModelLoader.Load(model);
        PassManager.CreateDefault().Run(m, OptimizationLevel.All);
        return m.Graph;
    }

    private static Dictionary<string, Tensor> Input(int c, int h, int w, int seed = 5) =>
        new() { ["x"] = Tensor.Create(Random(c * h * w, seed, 2f), 1, c, h, w) };

    private static string[] Ops(Graph g) => g.Nodes.Select(n => n.OpType).ToArray();

    [Fact]
    public void ConvBatchNormReluBecomesOneFusedConv()
    {
        var g = ConvGraph(3, 8, 6, 7);
        AddBatchNorm(g, 8, "conv", "bn");
        g.Node.Add(NodeOf("Relu", ["bn"], ["y"], "relu"));
        g.Output.Add(Info("y", 1, 1, 8, 6, 7));
        var bytes = Model(g).ToByteArray();

        var m = OnnxModelLoader.Load(bytes);
        var r = new ConvBatchNormFolding().Run(m);
        Assert.Equal(1, r.NodesRemoved);
        Assert.Equal(["Conv", "Relu"], Ops(m.Graph));
        Assert.Equal("bn", m.Graph.Nodes[0].Outputs[0]);

        var opt = AssertSameOutputs(bytes, Input(3, 6, 7));
        var fused = Assert.Single(opt.Nodes);
        Assert.Equal(("FusedConv", FusedDomain.Name), (fused.OpType, fused.Domain));
        Assert.Equal("Relu", fused.GetString("activation", ""));
        // The replaced constants are gone, not kept beside the folded ones.
        Assert.Equal(2, opt.Initializers.Count);
    }

    [Fact]
    public void BatchNormWithNonConstantStatisticsIsLeftAlone()
    {
        var g = ConvGraph(3, 4, 5, 5);
        AddBatchNorm(g, 4, "conv", "y", meanIsInput: true);
        g.Output.Add(Info("y", 1, 1, 4, 5, 5));
        var m = OnnxModelLoader.Load(Model(g).ToByteArray());
        Assert.False(new ConvBatchNormFolding().Run(m).Changed);
        Assert.Equal(["Conv", "BatchNormalization"], Ops(m.Graph));
    }

    [Fact]
    public void ActivationWhoseInputIsReadElsewhereIsNotFused()
    {
        var g = ConvGraph(3, 4, 5, 5);
        g.Node.Add(NodeOf("Relu", ["conv"], ["r"], "relu"));
        g.Node.Add(NodeOf("Neg", ["conv"], ["n"], "neg"));
        g.Node.Add(NodeOf("Add", ["r", "n"], ["y"], "add"));
        g.Output.Add(Info("y", 1, 1, 4, 5, 5));
        var bytes = Model(g).ToByteArray();
        var m = OnnxModelLoader.Load(bytes);
        Assert.False(new ConvActivationFusion().Run(m).Changed);
        var opt = AssertSameOutputs(bytes, Input(3, 5, 5));
        Assert.Contains("Conv", Ops(opt));
        Assert.DoesNotContain("FusedConv", Ops(opt));
    }

    [Fact]
    public void ConvOutputThatIsAGraphOutputIsNotFused()
    {
        var g = ConvGraph(3, 4, 5, 5);
        g.Node.Add(NodeOf("Relu", ["conv"], ["y"], "relu"));
        g.Output.Add(Info("y", 1, 1, 4, 5, 5));
        g.Output.Add(Info("conv", 1, 1, 4, 5, 5));
        var bytes = Model(g).ToByteArray();
        var opt = AssertSameOutputs(bytes, Input(3, 5, 5));
        Assert.Equal(["Conv", "Relu"], Ops(opt));
    }

    [Fact]
    public void ResidualAddAndActivationFuseIntoConv()
    {
        // y = Relu(Conv(x) + x): 8 in, 8 out channels, big enough for full GEMM tiles and edge tiles.
        var g = ConvGraph(8, 8, 9, 13);
        g.Node.Add(NodeOf("Add", ["conv", "x"], ["sum"], "add"));
        g.Node.Add(NodeOf("Relu", ["sum"], ["y"], "relu"));
        g.Output.Add(Info("y", 1, 1, 8, 9, 13));
        var opt = AssertSameOutputs(Model(g).ToByteArray(), Input(8, 9, 13));
        var fused = Assert.Single(opt.Nodes);
        Assert.Equal("FusedConv", fused.OpType);
        Assert.Equal(["x", "W", "B", "x"], fused.Inputs.Select(i => i.StartsWith('W') ? "W" : i.StartsWith('B') ? "B" : i).ToArray());
    }

    [Fact]
    public void ResidualWithBroadcastShapeIsNotFused()
    {
        // The Add broadcasts a [1, 8, 1, 1] value: not a residual of the output's shape, so only the activation fuses.
        var g = ConvGraph(3, 8, 4, 4);
        g.Input.Add(Info("z", 1, 1, 8, 1, 1));
        g.Node.Add(NodeOf("Add", ["conv", "z"], ["sum"], "add"));
        g.Node.Add(NodeOf("Relu", ["sum"], ["y"], "relu"));
        g.Output.Add(Info("y", 1, 1, 8, 4, 4));
        var inputs = Input(3, 4, 4);
        inputs["z"] = Tensor.Create(Random(8, 9), 1, 8, 1, 1);
        var opt = AssertSameOutputs(Model(g).ToByteArray(), inputs);
        Assert.Equal(["Conv", "Add", "Relu"], Ops(opt));
    }

    [Fact]
    public void PerChannelMulAndAddFoldIntoConv()
    {
        var g = ConvGraph(3, 4, 5, 6);
        g.Initializer.Add(FloatTensor("mul_c", Random(4, 21), 4, 1, 1));
        g.Initializer.Add(FloatTensor("add_c", Random(4, 22), 1, 4, 1, 1));
        g.Node.Add(NodeOf("Mul", ["conv", "mul_c"], ["scaled"], "mul"));
        g.Node.Add(NodeOf("Add", ["add_c", "scaled"], ["y"], "add"));
        g.Output.Add(Info("y", 1, 1, 4, 5, 6));
        var bytes = Model(g).ToByteArray();
        var m = OnnxModelLoader.Load(bytes);
        Assert.Equal(1, new ConvMulFolding().Run(m).NodesRemoved);
        Assert.Equal(1, new ConvAddFolding().Run(m).NodesRemoved);
        Assert.Equal(["Conv"], Ops(m.Graph));
        var opt = AssertSameOutputs(bytes, Input(3, 5, 6));
        Assert.Equal(["Conv"], Ops(opt));
    }

    [Fact]
    public void AddThatBroadcastsBeyondChannelsIsNotFolded()
    {
        var g = ConvGraph(3, 4, 5, 6);
        g.Initializer.Add(FloatTensor("add_c", Random(6, 23), 6));
        g.Node.Add(NodeOf("Add", ["conv", "add_c"], ["y"], "add"));
        g.Output.Add(Info("y", 1, 1, 4, 5, 6));
        var m = OnnxModelLoader.Load(Model(g).ToByteArray());
        Assert.False(new ConvAddFolding().Run(m).Changed);
    }

    [Fact]
    public void MatMulAddReluBecomesFusedGemm()
    {
        var g = new GraphProto { Name = "mlp" };
        g.Input.Add(Info("x", 1, 7, 20));
        g.Initializer.Add(FloatTensor("Wm", Random(20 * 40, 31), 20, 40));
        g.Initializer.Add(FloatTensor("bias", Random(40, 32), 40));
        g.Node.Add(NodeOf("MatMul", ["x", "Wm"], ["mm"], "mm"));
        g.Node.Add(NodeOf("Add", ["mm", "bias"], ["lin"], "add"));
        g.Node.Add(NodeOf("Relu", ["lin"], ["y"], "relu"));
        g.Output.Add(Info("y", 1, 7, 40));
        var bytes = Model(g).ToByteArray();
        var m = OnnxModelLoader.Load(bytes);
        Assert.True(new MatMulAddToGemm().Run(m).Changed);
        Assert.Equal(["Gemm", "Relu"], Ops(m.Graph));
        var inputs = new Dictionary<string, Tensor> { ["x"] = Tensor.Create(Random(7 * 20, 33), 7, 20) };
        var opt = AssertSameOutputs(bytes, inputs);
        Assert.Equal(["FusedGemm"], Ops(opt));
    }

    [Fact]
    public void NdMatMulIsLeftAlone()
    {
        var g = new GraphProto { Name = "mm3" };
        g.Input.Add(Info("x", 1, 2, 3, 4));
        g.Initializer.Add(FloatTensor("Wm", Random(4 * 5, 34), 4, 5));
        g.Initializer.Add(FloatTensor("bias", Random(5, 35), 5));
        g.Node.Add(NodeOf("MatMul", ["x", "Wm"], ["mm"], "mm"));
        g.Node.Add(NodeOf("Add", ["mm", "bias"], ["y"], "add"));
        g.Output.Add(Info("y", 1, 2, 3, 5));
        var m = OnnxModelLoader.Load(Model(g).ToByteArray());
        Assert.False(new MatMulAddToGemm().Run(m).Changed);
    }

    public static TheoryData<string, int> Activations() => new()
    {
        { "Relu", 1 }, { "Sigmoid", 1 }, { "Tanh", 1 }, { "HardSwish", 1 }, { "HardSigmoid", 1 }, { "LeakyRelu", 1 }, { "Clip", 1 },
        { "Relu", 6 }, { "HardSwish", 6 }, { "Clip", 6 }, { "LeakyRelu", 6 },
    };

    /// <summary>Fused kernel vs the unfused pair on random data, GEMM path (group 1) and depthwise path (group 6).</summary>
    [Theory]
    [MemberData(nameof(Activations))]
    public void FusedConvMatchesUnfusedOnRandomData(string activation, int group)
    {
        int c = 6, m = group == 1 ? 20 : 6;
        var g = ConvGraph(c, m, 11, 17, group, seed: activation.Length + group);
        var act = NodeOf(activation, activation == "Clip" ? ["conv", "lo", "hi"] : ["conv"], ["y"], "act");
        if (activation == "Clip")
        {
            g.Initializer.Add(FloatTensor("lo", [-0.5f]));
            g.Initializer.Add(FloatTensor("hi", [0.75f]));
        }
        if (activation == "LeakyRelu") act.Attribute.Add(FloatAttr("alpha", 0.3f));
        if (activation == "HardSigmoid") { act.Attribute.Add(FloatAttr("alpha", 0.25f)); act.Attribute.Add(FloatAttr("beta", 0.4f)); }
        g.Node.Add(act);
        g.Output.Add(Info("y", 1, 1, m, 11, 17));
        var opt = AssertSameOutputs(Model(g).ToByteArray(), Input(c, 11, 17, seed: group));
        var fused = Assert.Single(opt.Nodes);
        Assert.Equal(activation, fused.GetString("activation", ""));
    }

    [Fact]
    public void DepthwiseResidualFuses()
    {
        var g = ConvGraph(6, 6, 10, 10, group: 6);
        g.Node.Add(NodeOf("Add", ["x", "conv"], ["sum"], "add"));
        g.Node.Add(NodeOf("HardSwish", ["sum"], ["y"], "act"));
        g.Output.Add(Info("y", 1, 1, 6, 10, 10));
        var opt = AssertSameOutputs(Model(g).ToByteArray(), Input(6, 10, 10));
        Assert.Equal(4, Assert.Single(opt.Nodes).Inputs.Count);
    }

    [Theory]
    [InlineData(ActivationKind.Relu, 0f, 0f)]
    [InlineData(ActivationKind.Clip, -1f, 2f)]
    [InlineData(ActivationKind.Sigmoid, 0f, 0f)]
    [InlineData(ActivationKind.HardSigmoid, 0.2f, 0.5f)]
    [InlineData(ActivationKind.HardSwish, 0f, 0f)]
    [InlineData(ActivationKind.LeakyRelu, 0.1f, 0f)]
    [InlineData(ActivationKind.Silu, 0f, 0f)]
    [InlineData(ActivationKind.Tanh, 0f, 0f)]
    public void VectorActivationMatchesScalarFormula(ActivationKind kind, float a, float b)
    {
        var act = new FusedActivation(kind, a, b);
        var x = Random(77, (int)kind, 8f);
        var y = (float[])x.Clone();
        act.Apply(y);
        for (int i = 0; i < x.Length; i++) Assert.True(Math.Abs(y[i] - act.Scalar(x[i])) <= 1e-5f, $"{kind}({x[i]}) = {y[i]}, scalar {act.Scalar(x[i])}");
    }
}

/// <summary>HardSwish exported as x * HardSigmoid(x) becomes one node and then fuses into the Conv.</summary>
public class HardSwishFusionTests
{
    [Theory]
    [InlineData(13)]
    [InlineData(17)]
    public void DecomposedHardSwishAfterConvFuses(long opset)
    {
        var g = new GraphProto { Name = "hs" };
        g.Input.Add(Info("x", 1, 1, 3, 6, 6));
        g.Initializer.Add(FloatTensor("W", Enumerable.Range(0, 4 * 3 * 9).Select(i => (i % 7 - 3) * 0.1f).ToArray(), 4, 3, 3, 3));
        var conv = NodeOf("Conv", ["x", "W"], ["c"], "conv");
        var pads = new AttributeProto { Name = "pads", Type = AttributeProto.Types.AttributeType.Ints };
        pads.Ints.AddRange([1, 1, 1, 1]);
        conv.Attribute.Add(pads);
        g.Node.Add(conv);
        var hs = NodeOf("HardSigmoid", ["c"], ["gate"], "hs");
        hs.Attribute.Add(new AttributeProto { Name = "alpha", Type = AttributeProto.Types.AttributeType.Float, F = 1f / 6 });
        g.Node.Add(hs);
        g.Node.Add(NodeOf("Mul", ["c", "gate"], ["y"], "mul"));
        g.Output.Add(Info("y", 1, 1, 4, 6, 6));
        var bytes = Model(g, opset).ToByteArray();
        var x = Tensor.Create(Enumerable.Range(0, 108).Select(i => (i % 11 - 5) * 0.7f).ToArray(), 1, 3, 6, 6);
        float[] RunAt(OptimizationLevel level)
        {
            using var s = new InferenceSession(bytes, new SessionOptions { OptimizationLevel = level });
            return s.Run(new Dictionary<string, Tensor> { ["x"] = x })["y"].ToArray<float>();
        }
        var expected = RunAt(OptimizationLevel.None);
        var actual = RunAt(OptimizationLevel.All);
        for (int i = 0; i < expected.Length; i++) Assert.True(Math.Abs(expected[i] - actual[i]) <= 1e-4f, $"[{i}] {actual[i]} vs {expected[i]}");
        var m = OnnxModelLoader.Load(bytes);
        PassManager.CreateDefault().Run(m, OptimizationLevel.All);
        var fused = Assert.Single(m.Graph.Nodes);
        Assert.Equal(("FusedConv", "HardSwish"), (fused.OpType, fused.GetString("activation", "")));
        // Without ConvActivationFusion the rewrite must still leave a runnable graph (no HardSwish before opset 14).
        var o = new SessionOptions();
        o.DisabledPasses.Add("ConvActivationFusion");
        using var partial = new InferenceSession(bytes, o);
        var y = partial.Run(new Dictionary<string, Tensor> { ["x"] = x })["y"].ToArray<float>();
        for (int i = 0; i < expected.Length; i++) Assert.True(Math.Abs(expected[i] - y[i]) <= 1e-4f);
    }

    [Fact]
    public void ClipFormOfHardSwishAfterConvFusesAtOpset11()
    {
        // PaddlePaddle's export: Div(Mul(x, Clip(Add(x, 3), 0, 6)), 6).
        var g = new GraphProto { Name = "hs6" };
        g.Input.Add(Info("x", 1, 1, 3, 5, 5));
        g.Initializer.Add(FloatTensor("W", Enumerable.Range(0, 4 * 3).Select(i => (i % 5 - 2) * 0.9f).ToArray(), 4, 3, 1, 1));
        g.Initializer.Add(FloatTensor("three", [3f]));
        g.Initializer.Add(FloatTensor("zero", [0f]));
        g.Initializer.Add(FloatTensor("six", [6f]));
        g.Node.Add(NodeOf("Conv", ["x", "W"], ["c"], "conv"));
        g.Node.Add(NodeOf("Add", ["c", "three"], ["a"], "add"));
        g.Node.Add(NodeOf("Clip", ["a", "zero", "six"], ["r6"], "clip"));
        g.Node.Add(NodeOf("Mul", ["c", "r6"], ["p"], "mul"));
        g.Node.Add(NodeOf("Div", ["p", "six"], ["y"], "div"));
        g.Output.Add(Info("y", 1, 1, 4, 5, 5));
        var bytes = Model(g, 11).ToByteArray();
        var x = Tensor.Create(Enumerable.Range(0, 75).Select(i => (i % 13 - 6) * 0.8f).ToArray(), 1, 3, 5, 5);
        float[] RunAt(OptimizationLevel level)
        {
            using var s = new InferenceSession(bytes, new SessionOptions { OptimizationLevel = level });
            return s.Run(new Dictionary<string, Tensor> { ["x"] = x })["y"].ToArray<float>();
        }
        var expected = RunAt(OptimizationLevel.None);
        var actual = RunAt(OptimizationLevel.All);
        for (int i = 0; i < expected.Length; i++) Assert.True(Math.Abs(expected[i] - actual[i]) <= 1e-4f, $"[{i}] {actual[i]} vs {expected[i]}");
        var m = OnnxModelLoader.Load(bytes);
        PassManager.CreateDefault().Run(m, OptimizationLevel.All);
        Assert.Equal(("FusedConv", "HardSwish"), (Assert.Single(m.Graph.Nodes).OpType, m.Graph.Nodes[0].GetString("activation", "")));
    }
}
