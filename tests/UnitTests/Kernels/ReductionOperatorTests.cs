using Google.Protobuf;
using NetOnnx.OnnxImport;
using NetOnnx.OnnxImport.Proto;
using NetOnnx.Runtime;
using Xunit;

namespace NetOnnx.Tests;

/// <summary>Reduction and normalisation operators run through a session: opset-dependent semantics and errors.</summary>
public class ReductionOperatorTests
{
    private static AttributeProto IntAttr(string name, long v) => new() { Name = name, Type = AttributeProto.Types.AttributeType.Int, I = v };

    private static AttributeProto IntsAttr(string name, params long[] v)
    {
        var a = new AttributeProto { Name = name, Type = AttributeProto.Types.AttributeType.Ints };
        a.Ints.AddRange(v);
        return a;
    }

    /// <summary>A one-node model over float input x of the given shape; extra inputs become int64/bool graph inputs.</summary>
    private static Session OneNode(string op, long opset, int[] shape, AttributeProto[] attrs, string[]? extraInputs = null,
        (string Name, int Type)[]? extraTypes = null, int outputs = 1, int elemType = 1)
    {
        var g = new GraphProto { Name = op };
        g.Input.Add(TestModels.Info("x", elemType, shape.Select(d => (long)d).ToArray()));
        foreach (var (name, type) in extraTypes ?? []) g.Input.Add(new ValueInfoProto { Name = name, Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = type } } });
        var outs = Enumerable.Range(0, outputs).Select(i => $"y{i}").ToArray();
        foreach (var o in outs) g.Output.Add(new ValueInfoProto { Name = o, Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = elemType } } });
        var node = TestModels.NodeOf(op, ["x", .. extraInputs ?? []], outs, "n0");
        node.Attribute.AddRange(attrs);
        g.Node.Add(node);
        return new Session(OnnxModelLoader.Load(TestModels.Model(g, opset).ToByteArray()));
    }

    private static float[] Seq(int n) => Enumerable.Range(0, n).Select(i => (float)Math.Sin(i) * 2).ToArray();

    [Fact]
    public void SoftmaxBeforeOpset13FlattensFromTheAxis()
    {
        var x = Tensor.Create(Seq(12), 2, 2, 3);
        var old = OneNode("Softmax", 11, [2, 2, 3], [IntAttr("axis", 1)]).Run(new Dictionary<string, Tensor> { ["x"] = x })["y0"];
        var o = old.ToArray<float>();
        Assert.Equal(1.0, o.Take(6).Sum(), 1e-5);
        Assert.Equal(1.0, o.Skip(6).Sum(), 1e-5);
        var now = OneNode("Softmax", 13, [2, 2, 3], [IntAttr("axis", 1)]).Run(new Dictionary<string, Tensor> { ["x"] = x })["y0"];
        var v = now.ToArray<float>();
        for (int b = 0; b < 2; b++)
            for (int j = 0; j < 3; j++)
                Assert.Equal(1.0, v[b * 6 + j] + v[b * 6 + 3 + j], 1e-5);
    }

    [Fact]
    public void ReduceSumTakesAxesFromAttributeOrInput()
    {
        var x = Tensor.Create(Seq(24), 2, 3, 4);
        var a = OneNode("ReduceSum", 11, [2, 3, 4], [IntsAttr("axes", 1), IntAttr("keepdims", 0)])
            .Run(new Dictionary<string, Tensor> { ["x"] = x })["y0"];
        Assert.Equal([2, 4], a.Shape);
        var s = OneNode("ReduceSum", 13, [2, 3, 4], [], ["axes"], [("axes", 7)]);
        var b = s.Run(new Dictionary<string, Tensor> { ["x"] = x, ["axes"] = Tensor.Create(new long[] { -2 }, 1) })["y0"];
        Assert.Equal([2, 1, 4], b.Shape);
        Assert.Equal(a.ToArray<float>(), b.ToArray<float>());
        float expected = Seq(24)[1] + Seq(24)[5] + Seq(24)[9];
        Assert.Equal(expected, a.ToArray<float>()[1], 1e-5f);
    }

    [Fact]
    public void EmptyAxesReduceEverythingUnlessNoop()
    {
        var x = Tensor.Create(Seq(6), 2, 3);
        var all = OneNode("ReduceSumSquare", 18, [2, 3], [], ["axes"], [("axes", 7)])
            .Run(new Dictionary<string, Tensor> { ["x"] = x, ["axes"] = Tensor.Create(Array.Empty<long>(), 0) })["y0"];
        Assert.Equal([1, 1], all.Shape);
        Assert.Equal(Seq(6).Sum(v => v * v), all.Item<float>(), 1e-4f);
        var noop = OneNode("ReduceSum", 18, [2, 3], [IntAttr("noop_with_empty_axes", 1)], ["axes"], [("axes", 7)])
            .Run(new Dictionary<string, Tensor> { ["x"] = x, ["axes"] = Tensor.Create(Array.Empty<long>(), 0) })["y0"];
        Assert.Equal(x.ToArray<float>(), noop.ToArray<float>());
    }

    [Fact]
    public void BadAxisIsReportedWithTheNode()
    {
        // A constant bad axis is caught when the model loads; one fed at run time when the node runs.
        var l = Assert.Throws<ModelLoadException>(() => OneNode("ReduceMax", 13, [2, 3], [IntsAttr("axes", 5)]));
        Assert.Contains("n0", l.Message);
        var s = OneNode("ReduceMax", 18, [2, 3], [], ["axes"], [("axes", 7)]);
        var e = Assert.Throws<InferenceException>(() => s.Run(new Dictionary<string, Tensor>
            { ["x"] = Tensor.Create(Seq(6), 2, 3), ["axes"] = Tensor.Create(new long[] { 5 }, 1) }));
        Assert.Contains("n0", e.Message);
        Assert.Contains("axis 5", e.Message);
    }

    [Fact]
    public void TrainingDropoutIsSeededAndConsistentWithItsMask()
    {
        var x = Tensor.Create(Enumerable.Repeat(1f, 1000).ToArray(), 1000);
        var s = OneNode("Dropout", 13, [1000], [IntAttr("seed", 7)], ["r", "t"], [("r", 1), ("t", 9)], outputs: 2);
        var feed = new Dictionary<string, Tensor> { ["x"] = x, ["r"] = Tensor.Scalar(0.25f), ["t"] = Tensor.Scalar(true) };
        var r1 = s.Run(feed);
        var r2 = s.Run(feed);
        var y = r1["y0"].ToArray<float>();
        var mask = r1["y1"].ToArray<bool>();
        Assert.Equal(y, r2["y0"].ToArray<float>());
        for (int i = 0; i < y.Length; i++) Assert.Equal(mask[i] ? 1f / 0.75f : 0f, y[i], 1e-6f);
        Assert.InRange(mask.Count(m => !m), 150, 350);
        var inference = s.Run(new Dictionary<string, Tensor> { ["x"] = x, ["r"] = Tensor.Scalar(0.25f), ["t"] = Tensor.Scalar(false) });
        Assert.Equal(x.ToArray<float>(), inference["y0"].ToArray<float>());
        Assert.All(inference["y1"].ToArray<bool>(), Assert.True);
    }

    [Fact]
    public void LayerNormalizationReturnsStatistics()
    {
        var x = Tensor.Create(Seq(8), 2, 4);
        var g = new GraphProto { Name = "ln" };
        g.Input.Add(TestModels.Info("x", 1, 2, 4));
        g.Initializer.Add(TestModels.FloatTensor("s", [1, 1, 1, 1], 4));
        g.Output.Add(TestModels.Info("y", 1, 2, 4));
        g.Output.Add(TestModels.Info("m", 1, 2, 1));
        g.Output.Add(TestModels.Info("i", 1, 2, 1));
        g.Node.Add(TestModels.NodeOf("LayerNormalization", ["x", "s"], ["y", "m", "i"]));
        var r = new Session(OnnxModelLoader.Load(TestModels.Model(g, 17).ToByteArray())).Run(new Dictionary<string, Tensor> { ["x"] = x });
        var xs = Seq(8);
        float mean0 = xs.Take(4).Average();
        Assert.Equal(mean0, r["m"].ToArray<float>()[0], 1e-5f);
        var y = r["y"].ToArray<float>();
        Assert.Equal(0.0, y.Take(4).Sum(), 1e-4);
        Assert.Equal(4.0, y.Take(4).Sum(v => v * v), 1e-2);
    }
}
