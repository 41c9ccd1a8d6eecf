using Google.Protobuf;
using NetOnnx.OnnxImport;
using NetOnnx.OnnxImport.Proto;
using NetOnnx.Runtime;
using Xunit;
using static NetOnnx.Tests.TestModels;

namespace NetOnnx.Tests;

public class ShapeInferenceTests
{
    private static AttributeProto Ints(string name, params long[] v)
    {
        var a = new AttributeProto { Name = name, Type = AttributeProto.Types.AttributeType.Ints };
        a.Ints.AddRange(v);
        return a;
    }

    private static Model Infer(GraphProto g, long opset = 17)
    {
        var m = OnnxModelLoader.Load(Model(g, opset).ToByteArray());
        ShapeInference.InferGraph(m.Graph, m);
        return m;
    }

    private static string ShapeOf(Model m, string name) =>
        m.Graph.TypeOf(name) is TensorType { Shape: { } s } ? "[" + string.Join(",", s.Select(d => d.ToString())) + "]" : "unknown";

    [Fact]
    public void BroadcastKeepsSymbolicDimensions()
    {
        var g = new GraphProto { Name = "g" };
        var x = Info("x", 1, 0, 3, 1);
        x.Type.TensorType.Shape.Dim[0] = new TensorShapeProto.Types.Dimension { DimParam = "N" };
        g.Input.Add(x);
        g.Input.Add(Info("b", 1, 4));
        g.Output.Add(new ValueInfoProto { Name = "y" });
        g.Node.Add(NodeOf("Add", ["x", "b"], ["y"]));
        var m = Infer(g);
        Assert.Equal("[N,3,4]", ShapeOf(m, "y"));
    }

    [Fact]
    public void ConvAndPoolShapesFollowPadsStridesAndDilations()
    {
        var g = new GraphProto { Name = "g" };
        g.Input.Add(Info("x", 1, 1, 3, 32, 32));
        g.Output.Add(new ValueInfoProto { Name = "p" });
        g.Initializer.Add(FloatTensor("w", new float[8 * 3 * 3 * 3], 8, 3, 3, 3));
        var conv = NodeOf("Conv", ["x", "w"], ["y"], "conv");
        conv.Attribute.Add(Ints("pads", 1, 1, 1, 1));
        conv.Attribute.Add(Ints("strides", 2, 2));
        g.Node.Add(conv);
        var pool = NodeOf("MaxPool", ["y"], ["p"], "pool");
        pool.Attribute.Add(Ints("kernel_shape", 3, 3));
        pool.Attribute.Add(Ints("dilations", 2, 2));
        g.Node.Add(pool);
        var m = Infer(g);
        Assert.Equal("[1,8,16,16]", ShapeOf(m, "y"));
        Assert.Equal("[1,8,12,12]", ShapeOf(m, "p"));
    }

    [Fact]
    public void ReshapeResolvesZeroAndMinusOneFromAConstantShape()
    {
        var g = new GraphProto { Name = "g" };
        g.Input.Add(Info("x", 1, 2, 3, 4));
        g.Output.Add(new ValueInfoProto { Name = "y" });
        var shape = new TensorProto { Name = "s", DataType = (int)DataType.Int64 };
        shape.Dims.Add(2);
        shape.Int64Data.AddRange([0, -1]);
        g.Initializer.Add(shape);
        g.Node.Add(NodeOf("Reshape", ["x", "s"], ["y"]));
        Assert.Equal("[2,12]", ShapeOf(Infer(g), "y"));
    }

    [Fact]
    public void BatchedMatMulBroadcastsBatchDimensions()
    {
        var g = new GraphProto { Name = "g" };
        g.Input.Add(Info("a", 1, 2, 1, 4, 5));
        g.Input.Add(Info("b", 1, 3, 5, 6));
        g.Output.Add(new ValueInfoProto { Name = "y" });
        g.Node.Add(NodeOf("MatMul", ["a", "b"], ["y"]));
        Assert.Equal("[2,3,4,6]", ShapeOf(Infer(g), "y"));
    }

    [Fact]
    public void ReductionAxesAndKeepdimsShapeTheResult()
    {
        var g = new GraphProto { Name = "g" };
        g.Input.Add(Info("x", 1, 2, 3, 4));
        g.Output.Add(new ValueInfoProto { Name = "y" });
        var n = NodeOf("ReduceMean", ["x"], ["y"]);
        n.Attribute.Add(Ints("axes", -1, 0));
        n.Attribute.Add(new AttributeProto { Name = "keepdims", Type = AttributeProto.Types.AttributeType.Int, I = 0 });
        g.Node.Add(n);
        Assert.Equal("[3]", ShapeOf(Infer(g, opset: 13), "y"));
    }

    [Fact]
    public void IncompatibleShapesAreReportedWithTheNode()
    {
        var g = new GraphProto { Name = "g" };
        g.Input.Add(Info("a", 1, 2, 3));
        g.Input.Add(Info("b", 1, 4));
        g.Output.Add(new ValueInfoProto { Name = "y" });
        g.Node.Add(NodeOf("Add", ["a", "b"], ["y"], "bad_add"));
        var e = Assert.Throws<ModelLoadException>(() => Infer(g));
        Assert.Contains("bad_add", e.Message);
        Assert.Contains("3 and 4", e.Message);
    }
}
