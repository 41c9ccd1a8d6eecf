using Google.Protobuf;
using NetOnnx.OnnxImport.Proto;
using NetOnnx.Runtime;

namespace NetOnnx.Tests;

/// <summary>Builds small ONNX models as protobuf in code, so tests need no files.</summary>
internal static class TestModels
{
    public static ValueInfoProto Info(string name, int elemType, params long[] dims)
    {
        var tt = new TypeProto.Types.Tensor { ElemType = elemType, Shape = new TensorShapeProto() };
        foreach (var d in dims) tt.Shape.Dim.Add(new TensorShapeProto.Types.Dimension { DimValue = d });
        return new ValueInfoProto { Name = name, Type = new TypeProto { TensorType = tt } };
    }

    public static ValueInfoProto SymbolicInfo(string name, int elemType, params string[] dims)
    {
        var tt = new TypeProto.Types.Tensor { ElemType = elemType, Shape = new TensorShapeProto() };
        foreach (var d in dims) tt.Shape.Dim.Add(new TensorShapeProto.Types.Dimension { DimParam = d });
        return new ValueInfoProto { Name = name, Type = new TypeProto { TensorType = tt } };
    }

    public static TensorProto FloatTensor(string name, float[] values, params long[] dims)
    {
        var t = new TensorProto { Name = name, DataType = (int)DataType.Float };
        t.Dims.AddRange(dims);
        t.FloatData.AddRange(values);
        return t;
    }

    public static NodeProto NodeOf(string op, string[] inputs, string[] outputs, string name = "")
    {
        var n = new NodeProto { OpType = op, Name = name };
        n.Input.AddRange(inputs);
        n.Output.AddRange(outputs);
        return n;
    }

    public static ModelProto Model(GraphProto g, long opset = 17)
    {
        var m = new ModelProto { IrVersion = 8, Graph = g, ProducerName = "tests" };
        m.OpsetImport.Add(new OperatorSetIdProto { Domain = "", Version = opset });
        return m;
    }

    /// <summary>y = Identity(x) over a float [2,3] input.</summary>
    public static byte[] IdentityModel()
    {
        var g = new GraphProto { Name = "identity" };
        g.Input.Add(Info("x", 1, 2, 3));
        g.Output.Add(Info("y", 1, 2, 3));
        g.Node.Add(NodeOf("Identity", ["x"], ["y"], "id"));
        return Model(g).ToByteArray();
    }

    public static string SharedRoot
    {
        get
        {
            // Tests run from tests/UnitTests/bin/<cfg>/net10.0; the shared data sits beside the repository.
            var dir = new DirectoryInfo(AppContext.BaseDirectory);
            while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "Runtime.sln"))) dir = dir.Parent;
            var repo = dir?.FullName ?? Directory.GetCurrentDirectory();
            return Environment.GetEnvironmentVariable("NETONNX_SHARED") ?? Path.GetFullPath(Path.Combine(repo, "..", "shared"));
        }
    }
}
