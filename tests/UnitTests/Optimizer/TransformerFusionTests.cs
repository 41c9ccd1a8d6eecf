using Google.Protobuf;
using NetOnnx.OnnxImport;
using NetOnnx.OnnxImport.Proto;
using NetOnnx.Optimizer;
using NetOnnx.Runtime;
using Xunit;
using static NetOnnx.Tests.TestModels;

namespace NetOnnx.Tests;

/// <summary>
/// The transformer fusions on small hand-built graphs in the shapes torch exports: each pattern is fused and
/// keeps the outputs (level None vs All), and near-miss patterns are left alone.
/// </summary>
public class TransformerFusionTests
{
    private const int B = 2, S = 5, H = 8;

    private static AttributeProto Ints(string name, params long[] v)
    {
        var a = new AttributeProto { Name = name, Type = AttributeProto.Types.AttributeType.Ints };
        a.Ints.AddRange(v);
        return a;
    }

    private static AttributeProto Int(string name, long v) => new() { Name = name, Type = AttributeProto.Types.AttributeType.Int, I = v };

    private static NodeProto With(NodeProto n, params AttributeProto[] attrs) { n.Attribute.AddRange(attrs); return n; }

    private static TensorProto Scalar(string name, float v) => FloatTensor(name, [v]);

    private static float[] Values(int n, int seed)
    {
        var r = new Random(seed);
        return Enumerable.Range(0, n).Select(_ => (float)(r.NextDouble() * 4 - 2)).ToArray();
    }

    /// <summary>Runs the model at level None and All on random inputs; asserts equal outputs and returns the optimised model's ops.</summary>
    private static List<string> CheckFusion(GraphProto g, long opset = 13)
    {
        var bytes = Model(g, opset).ToByteArray();
        var inputs = new Dictionary<string, Tensor>();
        int seed = 1;
        foreach (var i in g.Input)
        {
            var dims = i.Type.TensorType.Shape.Dim.Select(d => (int)d.DimValue).ToArray();
            int n = dims.Aggregate(1, (a, b) => a * b);
            inputs[i.Name] = i.Type.TensorType.ElemType == (int)DataType.Bool
                ? Tensor.Create(Enumerable.Range(0, n).Select(k => k % 3 != 0).ToArray(), dims)
                : Tensor.Create(Values(n, seed++), dims);
        }
        using var plain = new InferenceSession(bytes, new SessionOptions { OptimizationLevel = OptimizationLevel.None });
        using var fused = new InferenceSession(bytes, new SessionOptions { OptimizationLevel = OptimizationLevel.All, IntraOpThreads = 2 });
        var expected = plain.Run(inputs);
        var actual = fused.Run(inputs);
        foreach (var (name, e) in expected)
        {
            var ev = e.ToArray<float>();
            var av = actual[name].ToArray<float>();
            Assert.Equal(e.Shape, actual[name].Shape);
            for (int k = 0; k < ev.Length; k++) Assert.True(Math.Abs(ev[k] - av[k]) <= 1e-4f + 1e-4f * Math.Abs(ev[k]), $"{name}[{k}]: {ev[k]} vs {av[k]}");
        }
        // The rewritten graph still writes out and loads back with the internal domain imported.
        var reloaded = OnnxModelLoader.Load(OnnxModelWriter.ToBytes(fused.Model));
        if (reloaded.Graph.Nodes.Any(n => n.Domain == FusedOps.Domain)) Assert.Equal(FusedOps.Version, reloaded.OpsetFor(FusedOps.Domain));
        return fused.Model.Graph.Nodes.Select(n => n.Domain.Length == 0 ? n.OpType : $"{n.Domain}.{n.OpType}").ToList();
    }

    // y = 0.5 * (x * (1 + erf(x / sqrt2)))
    private static GraphProto ErfGelu(float half = 0.5f)
    {
        var g = new GraphProto { Name = "gelu" };
        g.Input.Add(Info("x", 1, B, S, H));
        g.Output.Add(Info("y", 1, B, S, H));
        g.Initializer.Add(Scalar("sqrt2", 1.4142135f));
        g.Initializer.Add(Scalar("one", 1f));
        g.Initializer.Add(Scalar("half", half));
        g.Node.Add(NodeOf("Div", ["x", "sqrt2"], ["d"]));
        g.Node.Add(NodeOf("Erf", ["d"], ["e"]));
        g.Node.Add(NodeOf("Add", ["e", "one"], ["a"]));
        g.Node.Add(NodeOf("Mul", ["x", "a"], ["m"]));
        g.Node.Add(NodeOf("Mul", ["m", "half"], ["y"]));
        return g;
    }

    // y = 0.5 * (x * (1 + tanh(0.7978846 * (x + 0.044715 * x^3)))), x^3 as Pow or x * (x * x)
    private static GraphProto TanhGelu(bool pow, float k = 0.044715f)
    {
        var g = new GraphProto { Name = "gelu_tanh" };
        g.Input.Add(Info("x", 1, B, S, H));
        g.Output.Add(Info("y", 1, B, S, H));
        g.Initializer.Add(Scalar("three", 3f));
        g.Initializer.Add(Scalar("k", k));
        g.Initializer.Add(Scalar("c", 0.7978846f));
        g.Initializer.Add(Scalar("one", 1f));
        g.Initializer.Add(Scalar("half", 0.5f));
        if (pow) g.Node.Add(NodeOf("Pow", ["x", "three"], ["x3"]));
        else
        {
            g.Node.Add(NodeOf("Mul", ["x", "x"], ["x2"]));
            g.Node.Add(NodeOf("Mul", ["x", "x2"], ["x3"]));
        }
        g.Node.Add(NodeOf("Mul", ["k", "x3"], ["kx3"]));
        g.Node.Add(NodeOf("Add", ["x", "kx3"], ["inner"]));
        g.Node.Add(NodeOf("Mul", ["c", "inner"], ["ci"]));
        g.Node.Add(NodeOf("Tanh", ["ci"], ["t"]));
        g.Node.Add(NodeOf("Add", ["one", "t"], ["a"]));
        g.Node.Add(NodeOf("Mul", ["x", "a"], ["m"]));
        g.Node.Add(NodeOf("Mul", ["half", "m"], ["y"]));
        return g;
    }

    [Fact]
    public void ErfGeluIsFused()
    {
        var ops = CheckFusion(ErfGelu());
        Assert.Equal(["com.netonnx.Gelu"], ops);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void TanhGeluIsFused(bool pow)
    {
        var ops = CheckFusion(TanhGelu(pow));
        Assert.Equal(["com.netonnx.Gelu"], ops);
    }

    [Fact]
    public void GeluWithAWrongConstantIsLeftAlone()
    {
        Assert.DoesNotContain("com.netonnx.Gelu", CheckFusion(ErfGelu(half: 0.6f)));
        Assert.DoesNotContain("com.netonnx.Gelu", CheckFusion(TanhGelu(pow: true, k: 0.05f)));
    }

    // LayerNorm over the last axis, optionally preceded by a residual Add, with the mean optionally also an output.
    private static GraphProto LayerNorm(bool residual = false, bool meanEscapes = false, bool sumEscapes = false)
    {
        var g = new GraphProto { Name = "ln" };
        g.Input.Add(Info("x", 1, B, S, H));
        if (residual) g.Input.Add(Info("r", 1, B, S, H));
        g.Output.Add(Info("y", 1, B, S, H));
        if (meanEscapes) g.Output.Add(Info("mean", 1, B, S, 1));
        g.Initializer.Add(Scalar("two", 2f));
        g.Initializer.Add(Scalar("eps", 1e-5f));
        g.Initializer.Add(FloatTensor("gamma", Values(H, 7), H));
        g.Initializer.Add(FloatTensor("beta", Values(H, 8), H));
        string x = "x";
        if (residual)
        {
            g.Node.Add(NodeOf("Add", ["x", "r"], ["sum"]));
            x = "sum";
            if (sumEscapes) { g.Output.Add(Info("sum2", 1, B, S, H)); g.Node.Add(NodeOf("Mul", ["sum", "two"], ["sum2"])); }
        }
        g.Node.Add(With(NodeOf("ReduceMean", [x], ["mean"]), Ints("axes", -1)));
        g.Node.Add(NodeOf("Sub", [x, "mean"], ["d"]));
        g.Node.Add(NodeOf("Pow", ["d", "two"], ["d2"]));
        g.Node.Add(With(NodeOf("ReduceMean", ["d2"], ["var"]), Ints("axes", -1)));
        g.Node.Add(NodeOf("Add", ["var", "eps"], ["ve"]));
        g.Node.Add(NodeOf("Sqrt", ["ve"], ["sd"]));
        g.Node.Add(NodeOf("Div", ["d", "sd"], ["n"]));
        g.Node.Add(NodeOf("Mul", ["n", "gamma"], ["ng"]));
        g.Node.Add(NodeOf("Add", ["ng", "beta"], ["y"]));
        return g;
    }

    [Fact]
    public void LayerNormIsFused()
    {
        var ops = CheckFusion(LayerNorm());
        Assert.Equal(["com.netonnx.LayerNormalization"], ops);
    }

    [Fact]
    public void LayerNormWhoseMeanFeedsElsewhereIsLeftAlone()
    {
        var ops = CheckFusion(LayerNorm(meanEscapes: true));
        Assert.DoesNotContain("com.netonnx.LayerNormalization", ops);
        Assert.Contains("ReduceMean", ops);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void ResidualAddAndLayerNormAreFused(bool sumEscapes)
    {
        var ops = CheckFusion(LayerNorm(residual: true, sumEscapes: sumEscapes));
        Assert.Contains("com.netonnx.SkipLayerNormalization", ops);
        Assert.DoesNotContain("Add", ops);
        Assert.DoesNotContain("com.netonnx.LayerNormalization", ops);
    }

    // softmax(Q·Kt / 8 + mask [or Where(bool, -inf, ·)]) · V over [B, heads, S, D].
    private static GraphProto Attention(string mask, float divisor = 8f, bool probsEscape = false)
    {
        const int heads = 2, d = 4;
        var g = new GraphProto { Name = "attn" };
        g.Input.Add(Info("q", 1, B, heads, S, d));
        g.Input.Add(Info("kt", 1, B, heads, d, S));
        g.Input.Add(Info("v", 1, B, heads, S, d));
        if (mask == "add") g.Input.Add(Info("mask", 1, B, 1, 1, S));
        if (mask == "where") g.Input.Add(Info("keep", 9, 1, 1, S, S));
        g.Output.Add(Info("y", 1, B, heads, S, d));
        if (probsEscape) g.Output.Add(Info("p", 1, B, heads, S, S));
        g.Initializer.Add(Scalar("div", divisor));
        g.Initializer.Add(Scalar("ninf", float.NegativeInfinity));
        g.Node.Add(NodeOf("MatMul", ["q", "kt"], ["qk"]));
        g.Node.Add(NodeOf("Div", ["qk", "div"], ["s"]));
        string scores = "s";
        if (mask == "add") { g.Node.Add(NodeOf("Add", ["s", "mask"], ["sm"])); scores = "sm"; }
        if (mask == "where") { g.Node.Add(NodeOf("Where", ["keep", "s", "ninf"], ["sw"])); scores = "sw"; }
        g.Node.Add(With(NodeOf("Softmax", [scores], ["p"]), Int("axis", -1)));
        g.Node.Add(NodeOf("MatMul", ["p", "v"], ["y"]));
        return g;
    }

    [Theory]
    [InlineData("none")]
    [InlineData("add")]
    [InlineData("where")]
    public void AttentionIsFused(string mask)
    {
        var ops = CheckFusion(Attention(mask));
        Assert.Equal(["com.netonnx.ScaledDotProductAttention"], ops);
    }

    [Fact]
    public void AttentionWhoseProbabilitiesAreReadElsewhereIsLeftAlone()
    {
        var ops = CheckFusion(Attention("add", probsEscape: true));
        Assert.DoesNotContain("com.netonnx.ScaledDotProductAttention", ops);
    }

    [Fact]
    public void FusionsAreExtendedLevel()
    {
        var m = OnnxModelLoader.Load(Model(ErfGelu(), 13).ToByteArray());
        PassManager.CreateDefault().Run(m, OptimizationLevel.Basic);
        Assert.DoesNotContain(m.Graph.Nodes, n => n.Domain == FusedOps.Domain);
        Assert.False(m.Opsets.ContainsKey(FusedOps.Domain));
    }
}
