using Google.Protobuf;
using NetOnnx.OnnxImport;
using NetOnnx.OnnxImport.Proto;
using NetOnnx.Runtime;
using NetOnnx.Tools;
using Xunit;
using Ort = Microsoft.ML.OnnxRuntime;
using static NetOnnx.Tests.TestModels;

namespace NetOnnx.Tests;

/// <summary>The CLI optimize verb: statistics, IR dumps, and a written model that loads and agrees.</summary>
public class OptimizeCommandTests
{
    // y = (Relu(i) + Relu(i)) + (c1 + c2) where i = Identity(Transpose(Transpose(x))): every basic pass has work.
    private static byte[] Model()
    {
        var g = new GraphProto { Name = "opt" };
        g.Input.Add(Info("x", 1, 2, 3));
        g.Output.Add(Info("y", 1, 2, 3));
        g.Initializer.Add(FloatTensor("c1", [1f, 2f, 3f], 3));
        g.Initializer.Add(FloatTensor("c2", [3f, 4f, 5f], 3));
        var t1 = NodeOf("Transpose", ["x"], ["t1"], "t1");
        t1.Attribute.Add(new AttributeProto { Name = "perm", Type = AttributeProto.Types.AttributeType.Ints, Ints = { 1, 0 } });
        var t2 = NodeOf("Transpose", ["t1"], ["t2"], "t2");
        t2.Attribute.Add(new AttributeProto { Name = "perm", Type = AttributeProto.Types.AttributeType.Ints, Ints = { 1, 0 } });
        g.Node.Add(t1);
        g.Node.Add(t2);
        g.Node.Add(NodeOf("Identity", ["t2"], ["i"], "id"));
        g.Node.Add(NodeOf("Relu", ["i"], ["r1"], "r1"));
        g.Node.Add(NodeOf("Relu", ["i"], ["r2"], "r2"));
        g.Node.Add(NodeOf("Add", ["r1", "r2"], ["s"], "s"));
        g.Node.Add(NodeOf("Add", ["c1", "c2"], ["c"], "c"));
        g.Node.Add(NodeOf("Add", ["s", "c"], ["y"], "y"));
        return TestModels.Model(g).ToByteArray();
    }

    private static (int Code, string Out, string Err) Run(params string[] args)
    {
        var o = new StringWriter();
        var e = new StringWriter();
        int code = Cli.Run(args, o, e);
        return (code, o.ToString(), e.ToString());
    }

    [Fact]
    public void WritesAModelThatLoadsAndGivesTheSameOutputs()
    {
        var dir = Directory.CreateTempSubdirectory("netonnx-opt-");
        try
        {
            var input = Path.Combine(dir.FullName, "in.onnx");
            var output = Path.Combine(dir.FullName, "out.onnx");
            File.WriteAllBytes(input, Model());
            var (code, stdout, err) = Run("optimize", input, "-o", output, "--level", "all");
            Assert.True(code == 0, err);
            Assert.Contains("TransposeCancellation", stdout);
            Assert.Contains("CommonSubexpressionElimination", stdout);
            Assert.Contains("nodes 8 -> 3", stdout);

            var x = Tensor.Create(new float[] { -1, 2, -3, 4, -5, 6 }, 2, 3);
            using var original = new InferenceSession(input, new SessionOptions { OptimizationLevel = OptimizationLevel.None });
            using var written = new InferenceSession(output, new SessionOptions { OptimizationLevel = OptimizationLevel.None });
            Assert.Equal(3, written.Model.Graph.Nodes.Count);
            var feeds = new Dictionary<string, Tensor> { ["x"] = x };
            Assert.Equal(original.Run(feeds)["y"].ToArray<float>(), written.Run(feeds)["y"].ToArray<float>());
        }
        finally { dir.Delete(recursive: true); }
    }

    [Fact]
    public void HonoursDisableAndPrintsIrAfterAPass()
    {
        var dir = Directory.CreateTempSubdirectory("netonnx-opt-");
        try
        {
            var input = Path.Combine(dir.FullName, "in.onnx");
            var output = Path.Combine(dir.FullName, "out.onnx");
            File.WriteAllBytes(input, Model());
            var (code, stdout, err) = Run("optimize", input, "-o", output, "--disable", "CommonSubexpressionElimination",
                "--print-ir-after", "IdentityElimination");
            Assert.True(code == 0, err);
            Assert.Contains("--- IR after IdentityElimination", stdout);
            Assert.Contains("= Relu(", stdout);
            Assert.DoesNotContain("--- IR after ConstantFolding", stdout);
            Assert.Equal(2, OnnxModelLoader.Load(output).Graph.Nodes.Count(n => n.OpType == "Relu"));

            Assert.Equal(2, Run("optimize", input, "-o", output, "--disable", "NoSuchPass").Code);
            Assert.Equal(2, Run("optimize", input).Code);
        }
        finally { dir.Delete(recursive: true); }
    }

    // y = Relu(Conv(x, w)): at level all the pair becomes com.netonnx FusedConv, which other runtimes cannot load.
    private static byte[] ConvReluModel()
    {
        var g = new GraphProto { Name = "convrelu" };
        g.Input.Add(Info("x", 1, 1, 2, 4, 4));
        g.Output.Add(Info("y", 1, 1, 3, 4, 4));
        g.Initializer.Add(FloatTensor("w", Enumerable.Range(0, 3 * 2 * 3 * 3).Select(i => (i % 7 - 3) * 0.1f).ToArray(), 3, 2, 3, 3));
        var conv = NodeOf("Conv", ["x", "w"], ["c"], "conv");
        conv.Attribute.Add(new AttributeProto { Name = "pads", Type = AttributeProto.Types.AttributeType.Ints, Ints = { 1, 1, 1, 1 } });
        g.Node.Add(conv);
        g.Node.Add(NodeOf("Relu", ["c"], ["y"], "relu"));
        return TestModels.Model(g).ToByteArray();
    }

    [Fact]
    public void PortableOutputKeepsToStandardOperators()
    {
        var dir = Directory.CreateTempSubdirectory("netonnx-opt-");
        try
        {
            var input = Path.Combine(dir.FullName, "in.onnx");
            File.WriteAllBytes(input, ConvReluModel());
            var fused = Path.Combine(dir.FullName, "fused.onnx");
            var portable = Path.Combine(dir.FullName, "portable.onnx");
            Assert.Equal(0, Run("optimize", input, "-o", fused).Code);
            Assert.Equal(0, Run("optimize", input, "-o", portable, "--portable").Code);
            Assert.Contains(OnnxModelLoader.Load(fused).Graph.Nodes, n => n.Domain.Length > 0);
            var m = OnnxModelLoader.Load(portable);
            Assert.All(m.Graph.Nodes, n => Assert.Equal("", n.Domain));
            Assert.Equal(["Conv", "Relu"], m.Graph.Nodes.Select(n => n.OpType));
        }
        finally { dir.Delete(recursive: true); }
    }

    [Fact]
    public void OutputWithFusedNodesLoadsInOnnxRuntime()
    {
        // Conv + Relu -> com.netonnx FusedConv, which ONNX Runtime knows only through the written function body.
        var g = new GraphProto { Name = "fused" };
        g.Input.Add(Info("x", 1, 1, 1, 4, 4));
        g.Output.Add(Info("y", 1, 1, 2, 4, 4));
        g.Initializer.Add(FloatTensor("w", Enumerable.Range(0, 18).Select(i => (i % 5 - 2) * 0.25f).ToArray(), 2, 1, 3, 3));
        var conv = NodeOf("Conv", ["x", "w"], ["c"], "conv");
        conv.Attribute.Add(new AttributeProto { Name = "pads", Type = AttributeProto.Types.AttributeType.Ints, Ints = { 1, 1, 1, 1 } });
        g.Node.Add(conv);
        g.Node.Add(NodeOf("Relu", ["c"], ["y"], "relu"));
        var dir = Directory.CreateTempSubdirectory("netonnx-opt-");
        try
        {
            var input = Path.Combine(dir.FullName, "in.onnx");
            var output = Path.Combine(dir.FullName, "out.onnx");
            File.WriteAllBytes(input, TestModels.Model(g, opset: 13).ToByteArray());
            var (code, stdout, err) = Run("optimize", input, "-o", output, "--level", "all");
            Assert.True(code == 0, err);
            Assert.Contains("1 model-local functions", stdout);
            Assert.Equal(["FusedConv"], OnnxModelLoader.Load(output).Graph.Nodes.Select(n => n.OpType));

            var x = Enumerable.Range(0, 16).Select(i => MathF.Cos(i * 0.7f)).ToArray();
            using var plain = new InferenceSession(input, new SessionOptions { OptimizationLevel = OptimizationLevel.None });
            var want = plain.Run(new Dictionary<string, Tensor> { ["x"] = Tensor.Create(x, 1, 1, 4, 4) })["y"].ToArray<float>();
            using var so = new Ort.SessionOptions { GraphOptimizationLevel = Ort.GraphOptimizationLevel.ORT_DISABLE_ALL };
            using var ort = new Ort.InferenceSession(output, so);
            using var feed = Ort.OrtValue.CreateTensorValueFromMemory(x, [1, 1, 4, 4]);
            using var results = ort.Run(new Ort.RunOptions(), new Dictionary<string, Ort.OrtValue> { ["x"] = feed }, ort.OutputNames);
            var got = results[0].GetTensorDataAsSpan<float>().ToArray();
            Assert.Equal(want.Length, got.Length);
            for (int i = 0; i < want.Length; i++) Assert.True(Math.Abs(want[i] - got[i]) <= 1e-5f, $"y[{i}]: {got[i]} in ONNX Runtime, {want[i]} unfused");
        }
        finally { dir.Delete(recursive: true); }
    }
}
