using NetOnnx.OnnxImport;
using NetOnnx.Runtime;
using NetOnnx.Tools;
using Xunit;
using static NetOnnx.Tests.IrBuilder;

namespace NetOnnx.Tests;

public class QuantizeCommandTests
{
    private static (int Code, string Out, string Err) Run(params string[] args)
    {
        var o = new StringWriter();
        var e = new StringWriter();
        int code = Cli.Run(args, o, e);
        return (code, o.ToString(), e.ToString());
    }

    /// <summary>x [4, 32] -> MatMul -> Relu -> MatMul -> y [4, 10]: a tiny classifier.</summary>
    private static string WriteModel()
    {
        var rng = new Random(4);
        var m = Model([F("x", 4, 32)], [F("y", 4, 10)],
        [
            N("MatMul", ["x", "w1"], ["h"]),
            N("Relu", ["h"], ["r"]),
            N("MatMul", ["r", "w2"], ["y"]),
        ], new Dictionary<string, Tensor> { ["w1"] = RandomFloats(rng, 32, 64), ["w2"] = RandomFloats(rng, 64, 10) }, opset: 13);
        var dir = Directory.CreateTempSubdirectory("netonnx-quant-");
        var path = Path.Combine(dir.FullName, "model.onnx");
        OnnxModelWriter.Save(m, path);
        return path;
    }

    [Fact]
    public void QuantizeWritesAModelAndReportsErrorAndSensitivity()
    {
        var path = WriteModel();
        var outPath = Path.Combine(Path.GetDirectoryName(path)!, "int8.onnx");
        var (code, output, err) = Run("quantize", path, "-o", outPath, "--per-channel");
        Assert.True(code == 0, err);
        Assert.Contains("quantized 2 layers", output);
        Assert.Contains("cosine", output);
        Assert.Contains("layer sensitivity", output);
        Assert.Contains("n_h", output);
        var q = OnnxModelLoader.Load(outPath);
        Assert.Equal(2, q.Graph.Nodes.Count(n => n.OpType == "MatMulInteger"));
        Assert.True(new FileInfo(outPath).Length * 2 < new FileInfo(path).Length);
    }

    [Fact]
    public void MaxErrorOfZeroKeepsEveryLayerFloat()
    {
        var path = WriteModel();
        var outPath = Path.Combine(Path.GetDirectoryName(path)!, "int8.onnx");
        var (code, output, err) = Run("quantize", path, "-o", outPath, "--max-error", "0");
        Assert.True(code == 0, err);
        Assert.Contains("error budget 0: met with 2 layer(s) kept in float", output);
        Assert.DoesNotContain(OnnxModelLoader.Load(outPath).Graph.Nodes, n => n.OpType == "MatMulInteger");
    }

    [Theory]
    [InlineData("--mode", "bogus")]
    [InlineData("--method", "average")]
    public void BadOptionsAreUsageErrors(string option, string value)
    {
        var path = WriteModel();
        var (code, _, err) = Run("quantize", path, "-o", path + ".q", option, value);
        Assert.Equal(2, code);
        Assert.Contains(value, err);
    }

    [Fact]
    public void MissingModelFailsWithOneLine()
    {
        var (code, _, err) = Run("quantize", "/no/such.onnx", "-o", "/tmp/x.onnx");
        Assert.Equal(1, code);
        Assert.Contains("/no/such.onnx", err);
    }
}
