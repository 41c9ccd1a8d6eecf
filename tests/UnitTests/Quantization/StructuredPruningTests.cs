using Ort = Microsoft.ML.OnnxRuntime;
using NetOnnx.OnnxImport;
using NetOnnx.Optimizer.Passes.Pruning;
using NetOnnx.Runtime;
using NetOnnx.Tools;
using NetOnnx.Tools.Conformance;
using Xunit;
using static NetOnnx.Tests.IrBuilder;

namespace NetOnnx.Tests;

public class StructuredPruningTests
{
    private static Dictionary<string, Tensor> Run(Model m, Dictionary<string, Tensor> feeds)
    {
        using var s = new InferenceSession(m, new SessionOptions());
        return s.Run(feeds).ToDictionary(kv => kv.Key, kv => kv.Value);
    }

    private static void AssertClose(Tensor expected, Tensor actual, float tol = 1e-4f)
    {
        Assert.Equal(expected.Shape, actual.Shape);
        var e = expected.ToArray<float>();
        var a = actual.ToArray<float>();
        for (int i = 0; i < e.Length; i++) Assert.True(Math.Abs(e[i] - a[i]) <= tol * (1 + Math.Abs(e[i])), $"[{i}]: {e[i]} expected, {a[i]} after pruning");
    }

    private static Tensor Zeroed(Tensor t, int axis, IEnumerable<int> channels)
    {
        var v = t.ToArray<float>();
        int inner = t.Shape.Skip(axis + 1).Aggregate(1, (p, d) => p * d), dim = t.Shape[axis];
        var set = channels.ToHashSet();
        for (int i = 0; i < v.Length; i++) if (set.Contains(i / inner % dim)) v[i] = 0;
        return Tensor.Create(v, t.Shape);
    }

    private static Tensor Scalar(float v) => Tensor.Create([v]);

    /// <summary>Conv -> BatchNorm -> Relu -> depthwise Conv -> Clip -> Conv, output channels 1, 4 and 6 of the first Conv all zero.</summary>
    private static Model ConvChain()
    {
        var rng = new Random(3);
        int[] dead = [1, 4, 6];
        var positive = Tensor.Create(Enumerable.Range(0, 8).Select(i => 0.5f + 0.1f * i).ToArray(), 8);
        return Model([F("x", 1, 4, 6, 6)], [F("y", 1, 5, 6, 6)],
        [
            N("Conv", ["x", "w1", "b1"], ["c1"], NodeAttribute.Of("pads", new long[] { 1, 1, 1, 1 })),
            N("BatchNormalization", ["c1", "scale", "beta", "mean", "var"], ["bn"]),
            N("Relu", ["bn"], ["r"]),
            N("Conv", ["r", "wd", "bd"], ["d"], NodeAttribute.Of("group", 8L), NodeAttribute.Of("pads", new long[] { 1, 1, 1, 1 })),
            N("Clip", ["d", "lo", "hi"], ["cl"]),
            N("Conv", ["cl", "w3", "b3"], ["y"]),
        ], new Dictionary<string, Tensor>
        {
            ["w1"] = Zeroed(RandomFloats(rng, 8, 4, 3, 3), 0, dead), ["b1"] = Zeroed(RandomFloats(rng, 8), 0, dead),
            ["scale"] = positive, ["beta"] = Zeroed(RandomFloats(rng, 8), 0, dead), ["mean"] = Zeroed(RandomFloats(rng, 8), 0, dead), ["var"] = positive,
            ["wd"] = RandomFloats(rng, 8, 1, 3, 3), ["bd"] = Zeroed(RandomFloats(rng, 8), 0, dead),
            ["lo"] = Scalar(0), ["hi"] = Scalar(6),
            ["w3"] = RandomFloats(rng, 5, 8, 1, 1), ["b3"] = RandomFloats(rng, 5),
        }, opset: 13);
    }

    [Fact]
    public void ConvChainLosesItsZeroChannelsAndKeepsItsOutputs()
    {
        var feeds = new Dictionary<string, Tensor> { ["x"] = RandomFloats(new Random(1), 1, 4, 6, 6) };
        var expected = Run(ConvChain(), feeds)["y"];
        var m = ConvChain();
        var (pruned, skipped) = StructuredPruning.Apply(m, new StructuredPruningOptions { Ratio = 0.375 });

        var p = Assert.Single(pruned);
        Assert.Equal((8, 5), (p.Channels, p.Kept));
        Assert.True(p.WeightsAfter < p.WeightsBefore);
        var g = m.Graph;
        Tensor W(int node, int slot) => g.Initializers[g.Nodes[node].Inputs[slot]];
        Assert.Equal([5, 4, 3, 3], W(0, 1).Shape);
        Assert.Equal([5], W(0, 2).Shape);
        Assert.All(Enumerable.Range(1, 4), i => Assert.Equal([5], W(1, i).Shape));
        Assert.Equal([5, 1, 3, 3], W(3, 1).Shape);
        Assert.Equal(5L, g.Nodes[3].Attr("group")!.Int);
        Assert.Equal([5, 5, 1, 1], W(5, 1).Shape);
        // The kept filters are the original ones of channels 0, 2, 3, 5, 7, in order.
        var w1 = ConvChain().Graph.Initializers["w1"];
        Assert.Equal(StructuredPruning.Slice(w1, 0, [0, 2, 3, 5, 7]).ToArray<float>(), W(0, 1).ToArray<float>());
        // The last Conv writes the graph output, so it is left whole and says why.
        Assert.Contains(skipped, s => s.Id == "n_y" && s.Reason.Contains("graph output"));

        var bytes = OnnxModelWriter.ToBytes(m);
        Assert.True(bytes.Length < OnnxModelWriter.ToBytes(ConvChain()).Length);
        AssertClose(expected, Run(OnnxModelLoader.Load(bytes), feeds)["y"]);
    }

    [Fact]
    public void ChannelsPassThroughPooling()
    {
        Model Build()
        {
            var rng = new Random(9);
            return Model([F("x", 1, 3, 8, 8)], [F("y", 1, 4, 2, 2)],
            [
                N("Conv", ["x", "w1", "b1"], ["c"]),
                N("Relu", ["c"], ["r"]),
                N("MaxPool", ["r"], ["p"], NodeAttribute.Of("kernel_shape", new long[] { 2, 2 }), NodeAttribute.Of("strides", new long[] { 2, 2 })),
                N("Conv", ["p", "w2"], ["y"]),
            ], new Dictionary<string, Tensor>
            {
                ["w1"] = Zeroed(RandomFloats(rng, 6, 3, 3, 3), 0, [2, 3]), ["b1"] = Zeroed(RandomFloats(rng, 6), 0, [2, 3]), ["w2"] = RandomFloats(rng, 4, 6, 2, 2),
            }, opset: 13);
        }
        var feeds = new Dictionary<string, Tensor> { ["x"] = RandomFloats(new Random(3), 1, 3, 8, 8) };
        var expected = Run(Build(), feeds)["y"];
        var m = Build();
        var (pruned, _) = StructuredPruning.Apply(m, new StructuredPruningOptions { Ratio = 1.0 / 3 });
        Assert.Equal((6, 4), (Assert.Single(pruned).Channels, pruned[0].Kept));
        Assert.Equal([4, 4, 2, 2], m.Graph.Initializers[m.Graph.Nodes[3].Inputs[1]].Shape);
        AssertClose(expected, Run(m, feeds)["y"]);
    }

    /// <summary>A transformer FFN with erf GELU and a residual: x + (gelu(x W1 + b1) W2 + b2).</summary>
    private static Model Ffn(int[] deadColumns)
    {
        var rng = new Random(5);
        return Model([F("x", 2, 3, 8)], [F("y", 2, 3, 8)],
        [
            // Exporters route shared biases through Identity and scalars through Constant nodes.
            N("Identity", ["b1src"], ["b1"]),
            N("Constant", [], ["sqrt2"], NodeAttribute.Of("value", Scalar(MathF.Sqrt(2)))),
            N("MatMul", ["x", "w1"], ["h0"]),
            N("Add", ["h0", "b1"], ["h"]),
            N("Div", ["h", "sqrt2"], ["hd"]),
            N("Erf", ["hd"], ["he"]),
            N("Add", ["he", "one"], ["ha"]),
            N("Mul", ["h", "ha"], ["hm"]),
            N("Mul", ["hm", "half"], ["gelu"]),
            N("MatMul", ["gelu", "w2"], ["o0"]),
            N("Add", ["b2", "o0"], ["o"]),
            N("Add", ["x", "o"], ["y"]),
        ], new Dictionary<string, Tensor>
        {
            ["w1"] = Zeroed(RandomFloats(rng, 8, 16), 1, deadColumns), ["b1src"] = Zeroed(RandomFloats(rng, 16), 0, deadColumns),
            ["one"] = Scalar(1), ["half"] = Scalar(0.5f),
            ["w2"] = RandomFloats(rng, 16, 8), ["b2"] = RandomFloats(rng, 8),
        }, opset: 13);
    }

    [Fact]
    public void FfnIntermediateDimensionShrinksAndTheResidualBranchIsLeftWhole()
    {
        int[] dead = [0, 5, 9, 15];
        var feeds = new Dictionary<string, Tensor> { ["x"] = RandomFloats(new Random(2), 2, 3, 8) };
        var expected = Run(Ffn(dead), feeds)["y"];
        var m = Ffn(dead);
        var (pruned, skipped) = StructuredPruning.Apply(m, new StructuredPruningOptions { Ratio = 0.3 });

        var p = Assert.Single(pruned);
        Assert.Equal(("n_h0", 16, 12), (p.Id, p.Channels, p.Kept));
        var g = m.Graph;
        // The Identity fed only the cut bias, so it and the full-size bias are gone.
        Assert.DoesNotContain(g.Nodes, n => n.OpType == "Identity");
        Assert.False(g.Initializers.ContainsKey("b1src"));
        Node Op(string output) => g.Nodes.Single(n => n.Outputs[0] == output);
        Assert.Equal([8, 12], g.Initializers[Op("h0").Inputs[1]].Shape);
        Assert.Equal([12], g.Initializers[Op("h").Inputs[1]].Shape);
        Assert.Equal([12, 8], g.Initializers[Op("o0").Inputs[1]].Shape);
        Assert.Contains(skipped, s => s.Id == "n_o0" && s.Reason.Contains("residual"));
        AssertClose(expected, Run(OnnxModelLoader.Load(OnnxModelWriter.ToBytes(m)), feeds)["y"]);
    }

    [Fact]
    public void GemmPairKeepsTheLargestNormRowsAndMatchesANaiveReference()
    {
        var rng = new Random(11);
        var w1 = RandomFloats(rng, 10, 6);
        var c1 = RandomFloats(rng, 10);
        var w2 = RandomFloats(rng, 10, 4);
        var c2 = RandomFloats(rng, 4);
        Model Build() => Model([F("x", 3, 6)], [F("y", 3, 4)],
        [
            N("Gemm", ["x", "w1", "c1"], ["h"], NodeAttribute.Of("transB", 1L)),
            N("Relu", ["h"], ["r"]),
            N("Gemm", ["r", "w2", "c2"], ["y"]),
        ], new Dictionary<string, Tensor> { ["w1"] = w1, ["c1"] = c1, ["w2"] = w2, ["c2"] = c2 }, opset: 13);
        var m = Build();
        var (pruned, _) = StructuredPruning.Apply(m, new StructuredPruningOptions { Ratio = 0.5 });
        Assert.Equal(5, Assert.Single(pruned).Kept);

        // Reference: keep the 5 rows of w1 with the largest sum of squares; y = relu(x w1k' + c1k) w2k + c2.
        var a = w1.ToArray<float>();
        var kept = Enumerable.Range(0, 10).OrderByDescending(r => Enumerable.Range(0, 6).Sum(k => (double)a[r * 6 + k] * a[r * 6 + k])).Take(5).ToArray();
        var x = RandomFloats(new Random(4), 3, 6);
        var xv = x.ToArray<float>();
        var b1 = c1.ToArray<float>();
        var b2v = w2.ToArray<float>();
        var bias2 = c2.ToArray<float>();
        var want = new float[12];
        for (int i = 0; i < 3; i++)
            for (int j = 0; j < 4; j++)
            {
                double s = bias2[j];
                foreach (int r in kept)
                {
                    double h = b1[r];
                    for (int k = 0; k < 6; k++) h += xv[i * 6 + k] * a[r * 6 + k];
                    s += Math.Max(0, h) * b2v[r * 4 + j];
                }
                want[i * 4 + j] = (float)s;
            }
        AssertClose(Tensor.Create(want, 3, 4), Run(m, new() { ["x"] = x })["y"]);
    }

    [Fact]
    public void ResidualAndReshapeReadersLeaveTheLayerWhole()
    {
        var rng = new Random(6);
        var wa = RandomFloats(rng, 4, 4, 1, 1);
        var wb = RandomFloats(rng, 4, 4, 1, 1);
        Model Build() => Model([F("x", 1, 4, 5, 5)], [F("y", 1, 4, 5, 5), F("z", 1, 100)],
        [
            N("Conv", ["x", "wa"], ["a"]),
            N("Relu", ["a"], ["ra"]),
            N("Add", ["x", "ra"], ["y"]),
            N("Conv", ["x", "wb"], ["b"]),
            N("Reshape", ["b", "shape"], ["z"]),
        ], new Dictionary<string, Tensor>
        {
            ["wa"] = wa, ["wb"] = wb, ["shape"] = Tensor.Create(new long[] { 1, 100 }, 2),
        }, opset: 13);
        var m = Build();
        var (pruned, skipped) = StructuredPruning.Apply(m, new StructuredPruningOptions { Ratio = 0.5 });
        Assert.Empty(pruned);
        Assert.Contains(skipped, s => s.Id == "n_a" && s.Reason.Contains("residual"));
        Assert.Contains(skipped, s => s.Id == "n_b" && s.Reason.Contains("Reshape"));
        Assert.Equal(["wa", "wb"], m.Graph.Nodes.Where(n => n.OpType == "Conv").Select(n => n.Inputs[1]));
        Assert.Equal(wa.ToArray<float>(), m.Graph.Initializers["wa"].ToArray<float>());
    }

    [Fact]
    public void RatioOutsideTheRangeIsRefused()
    {
        Assert.Throws<OnnxException>(() => StructuredPruning.Apply(Ffn([]), new StructuredPruningOptions { Ratio = 1 }));
        Assert.Throws<OnnxException>(() => StructuredPruning.Apply(Ffn([]), new StructuredPruningOptions { Ratio = -0.1 }));
    }

    [Fact]
    public void PruneCommandStructuredShrinksTheFileAndReportsWhatItLeft()
    {
        var dir = Directory.CreateTempSubdirectory("netonnx-sprune-");
        var path = Path.Combine(dir.FullName, "model.onnx");
        OnnxModelWriter.Save(Ffn([]), path);
        var outPath = Path.Combine(dir.FullName, "pruned.onnx");
        var o = new StringWriter();
        var e = new StringWriter();
        Assert.True(Cli.Run(["prune", path, "-o", outPath, "--sparsity", "0.5", "--structured"], o, e) == 0, e.ToString());
        Assert.Contains("8 of 16 output channels", o.ToString());
        Assert.Contains("left whole", o.ToString());
        Assert.Contains("cosine", o.ToString());
        Assert.True(new FileInfo(outPath).Length < new FileInfo(path).Length);
        Assert.Equal(2, Cli.Run(["prune", path, "-o", outPath, "--sparsity", "0.5", "--structured", "--global"], o, e));
    }

    public static TheoryData<string> ZooModels() => new() { "resnet18", "mobilenet_v2", "bert_tiny_encoder", "mnist_cnn" };

    /// <summary>30% structured on zoo models: smaller file, same output shapes, and ONNX Runtime agrees with us on it.</summary>
    [Theory]
    [MemberData(nameof(ZooModels))]
    public void ZooModelPrunedThirtyPercentRunsSmallerInBothRuntimes(string model)
    {
        var source = Path.Combine(TestModels.SharedRoot, "zoo", model);
        if (!Directory.Exists(source)) Assert.Skip($"zoo model not found at {source}");
        var original = File.ReadAllBytes(Path.Combine(source, "model.onnx"));
        var m = OnnxModelLoader.Load(original);
        var (pruned, _) = StructuredPruning.Apply(m, new StructuredPruningOptions { Ratio = 0.3 });
        Assert.NotEmpty(pruned);
        var bytes = OnnxModelWriter.ToBytes(m);
        Assert.True(bytes.Length < original.Length * 0.95, $"{model}: {original.Length} -> {bytes.Length} bytes");

        var set = Directory.GetDirectories(source, "test_data_set_*").Order(StringComparer.Ordinal).First();
        var reloaded = OnnxModelLoader.Load(bytes);
        var inputs = ConformanceRunner.ReadInputs(set, reloaded.Graph);
        var expected = ConformanceRunner.ReadOutputs(set, reloaded.Graph);
        using var ours = new InferenceSession(reloaded, new SessionOptions { IntraOpThreads = 1 });
        var outputs = ours.Run(inputs.ToDictionary(kv => kv.Key, kv => (Tensor)kv.Value));
        foreach (var (name, value) in expected) Assert.Equal(((Tensor)value).Shape, outputs[name].Shape);

        using var so = new Ort.SessionOptions { IntraOpNumThreads = 1 };
        using var session = new Ort.InferenceSession(bytes, so);
        var feeds = inputs.ToDictionary(kv => kv.Key, kv => OrtValues.From((Tensor)kv.Value));
        try
        {
            using var results = session.Run(new Ort.RunOptions(), feeds, session.OutputNames);
            foreach (var (name, value) in session.OutputNames.Zip(results))
            {
                var diff = TensorComparer.Compare(outputs[name], OrtValues.To(value), 1e-3, 1e-4);
                Assert.True(diff is null, $"{model} output '{name}': ours vs ONNX Runtime on the pruned file: {diff}");
            }
        }
        finally { foreach (var v in feeds.Values) v.Dispose(); }
    }
}
