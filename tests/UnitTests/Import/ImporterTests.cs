using Google.Protobuf;
using NetOnnx.OnnxImport;
using NetOnnx.OnnxImport.Proto;
using NetOnnx.Runtime;
using Xunit;

namespace NetOnnx.Tests;

public class ImporterTests
{
    [Fact]
    public void LoadsGraphInputsOutputsAndOpsets()
    {
        var m = OnnxModelLoader.Load(TestModels.IdentityModel());
        Assert.Equal(17, m.OpsetFor(""));
        var x = Assert.Single(m.Graph.Inputs);
        Assert.Equal("x", x.Name);
        var tt = Assert.IsType<TensorType>(x.Type);
        Assert.Equal(DataType.Float, tt.ElementType);
        Assert.Equal([2, 3], tt.StaticShape!);
        Assert.Equal("Identity", Assert.Single(m.Graph.Nodes).OpType);
    }

    [Fact]
    public void KeepsSymbolicDimensions()
    {
        var g = new GraphProto();
        g.Input.Add(TestModels.SymbolicInfo("x", 1, "batch", "seq"));
        g.Output.Add(TestModels.SymbolicInfo("y", 1, "batch", "seq"));
        g.Node.Add(TestModels.NodeOf("Identity", ["x"], ["y"]));
        var m = OnnxModelLoader.Load(TestModels.Model(g).ToByteArray());
        var shape = ((TensorType)m.Graph.Inputs[0].Type!).Shape!;
        Assert.Equal("batch", shape[0].Symbol);
        Assert.False(shape[1].IsKnown);
    }

    [Fact]
    public void TruncatedFileIsReportedAsInvalidModel()
    {
        var bytes = TestModels.IdentityModel();
        var e = Assert.Throws<ModelLoadException>(() => OnnxModelLoader.Load(bytes[..(bytes.Length / 2)]));
        Assert.Contains("not a valid ONNX model", e.Message);
    }

    [Fact]
    public void GarbageBytesAreReportedAsInvalidModel()
    {
        var garbage = new byte[300];
        new Random(7).NextBytes(garbage);
        Assert.Throws<ModelLoadException>(() => OnnxModelLoader.Load(garbage));
    }

    [Fact]
    public void MissingFileNamesThePath()
    {
        var e = Assert.Throws<ModelLoadException>(() => OnnxModelLoader.Load("/nonexistent/model.onnx"));
        Assert.Contains("/nonexistent/model.onnx", e.Message);
    }

    [Fact]
    public void RawDataAndTypedFieldsDecodeToTheSameValues()
    {
        var typed = new TensorProto { Name = "t", DataType = (int)DataType.Int64 };
        typed.Dims.Add(3);
        typed.Int64Data.AddRange([1L, -2L, 1L << 40]);
        var raw = new TensorProto { Name = "t", DataType = (int)DataType.Int64, RawData = ByteString.CopyFrom(new long[] { 1, -2, 1L << 40 }.SelectMany(BitConverter.GetBytes).ToArray()) };
        raw.Dims.Add(3);
        Assert.Equal(new long[] { 1, -2, 1L << 40 }, TensorCodec.FromProto(typed).ToArray<long>());
        Assert.Equal(new long[] { 1, -2, 1L << 40 }, TensorCodec.FromProto(raw).ToArray<long>());
    }

    [Fact]
    public void Int4RawDataUnpacksLowNibbleFirstWithSign()
    {
        // 0x8F: low nibble 0xF = -1, high nibble 0x8 = -8; 0x07: 7, then 0.
        var p = new TensorProto { DataType = (int)DataType.Int4, RawData = ByteString.CopyFrom(0x8F, 0x07) };
        p.Dims.Add(3);
        var t = TensorCodec.FromProto(p);
        Assert.Equal(new sbyte[] { -1, -8, 7 }, t.ToArray<sbyte>());
        Assert.Equal(new byte[] { 0x8F, 0x07 }, TensorCodec.ToProto(t).RawData.ToByteArray());
    }

    [Fact]
    public void RawDataOfWrongLengthIsRejected()
    {
        var p = new TensorProto { Name = "w", DataType = (int)DataType.Float, RawData = ByteString.CopyFrom(new byte[7]) };
        p.Dims.Add(2);
        var e = Assert.Throws<ModelLoadException>(() => TensorCodec.FromProto(p));
        Assert.Contains("'w'", e.Message);
    }

    [Fact]
    public void ExternalDataIsReadRelativeToTheModel()
    {
        var dir = Directory.CreateTempSubdirectory("netonnx-ext");
        try
        {
            File.WriteAllBytes(Path.Combine(dir.FullName, "weights.bin"), new byte[4].Concat(new float[] { 1.5f, -2f }.SelectMany(BitConverter.GetBytes)).ToArray());
            var p = new TensorProto { Name = "w", DataType = (int)DataType.Float, DataLocation = TensorProto.Types.DataLocation.External };
            p.Dims.Add(2);
            p.ExternalData.Add(new StringStringEntryProto { Key = "location", Value = "weights.bin" });
            p.ExternalData.Add(new StringStringEntryProto { Key = "offset", Value = "4" });
            p.ExternalData.Add(new StringStringEntryProto { Key = "length", Value = "8" });
            Assert.Equal(new[] { 1.5f, -2f }, TensorCodec.FromProto(p, dir.FullName).ToArray<float>());
        }
        finally { dir.Delete(true); }
    }

    [Theory]
    [InlineData("../outside.bin")]
    [InlineData("sub/../../outside.bin")]
    [InlineData("/etc/passwd")]
    public void ExternalDataEscapingTheModelFolderIsRefused(string location)
    {
        var dir = Directory.CreateTempSubdirectory("netonnx-ext");
        try
        {
            var p = new TensorProto { Name = "w", DataType = (int)DataType.Float, DataLocation = TensorProto.Types.DataLocation.External };
            p.Dims.Add(1);
            p.ExternalData.Add(new StringStringEntryProto { Key = "location", Value = location });
            var e = Assert.Throws<ModelLoadException>(() => TensorCodec.FromProto(p, dir.FullName));
            Assert.Contains(location, e.Message);
        }
        finally { dir.Delete(true); }
    }

    [Fact]
    public void LocalFunctionsAreInlined()
    {
        var f = new FunctionProto { Name = "Twice", Domain = "custom" };
        f.Input.Add("a");
        f.Output.Add("b");
        f.Node.Add(TestModels.NodeOf("Identity", ["a"], ["tmp"]));
        f.Node.Add(TestModels.NodeOf("Identity", ["tmp"], ["b"]));
        f.OpsetImport.Add(new OperatorSetIdProto { Domain = "", Version = 17 });
        var g = new GraphProto();
        g.Input.Add(TestModels.Info("x", 1, 2));
        g.Output.Add(TestModels.Info("y", 1, 2));
        var call = TestModels.NodeOf("Twice", ["x"], ["y"], "call");
        call.Domain = "custom";
        g.Node.Add(call);
        var mp = TestModels.Model(g);
        mp.OpsetImport.Add(new OperatorSetIdProto { Domain = "custom", Version = 1 });
        mp.Functions.Add(f);
        var m = OnnxModelLoader.Load(mp.ToByteArray());
        Assert.Equal(["Identity", "Identity"], m.Graph.Nodes.Select(n => n.OpType));
        Assert.Equal("x", m.Graph.Nodes[0].Inputs[0]);
        Assert.Equal("y", m.Graph.Nodes[1].Outputs[0]);
        var session = new Session(m);
        var r = session.Run(new Dictionary<string, Tensor> { ["x"] = Tensor.Create(new[] { 3f, 4f }, 2) });
        Assert.Equal(new[] { 3f, 4f }, r["y"].ToArray<float>());
    }
}

public class WriterTests
{
    [Fact]
    public void ModelsRoundTripThroughTheWriter()
    {
        var zoo = Path.Combine(TestModels.SharedRoot, "zoo", "mnist_cnn", "model.onnx");
        var original = File.Exists(zoo) ? OnnxModelLoader.Load(zoo) : OnnxModelLoader.Load(TestModels.IdentityModel());
        var again = OnnxModelLoader.Load(OnnxModelWriter.ToBytes(original));
        Assert.Equal(original.Opsets, again.Opsets);
        Assert.Equal(original.Graph.Nodes.Select(n => n.ToString()), again.Graph.Nodes.Select(n => n.ToString()));
        Assert.Equal(original.Graph.Initializers.Keys.Order(), again.Graph.Initializers.Keys.Order());
        foreach (var (k, t) in original.Graph.Initializers)
        {
            Assert.Equal(t.Shape, again.Graph.Initializers[k].Shape);
            Assert.True(t.Bytes().SequenceEqual(again.Graph.Initializers[k].Bytes()), k);
        }
        Assert.Equal(original.Graph.Inputs.Select(i => i.Type), again.Graph.Inputs.Select(i => i.Type));
    }
}
