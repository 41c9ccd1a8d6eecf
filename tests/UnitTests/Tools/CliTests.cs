using Google.Protobuf;
using NetOnnx.OnnxImport;
using NetOnnx.Runtime;
using NetOnnx.Tools;
using Xunit;

namespace NetOnnx.Tests;

public class CliTests
{
    private static (int Code, string Out, string Err) Run(params string[] args)
    {
        var o = new StringWriter();
        var e = new StringWriter();
        int code = Cli.Run(args, o, e);
        return (code, o.ToString(), e.ToString());
    }

    private static string TempFile(byte[] content)
    {
        var path = Path.Combine(Path.GetTempPath(), $"netonnx-{Guid.NewGuid():N}.onnx");
        File.WriteAllBytes(path, content);
        return path;
    }

    [Fact]
    public void RunOnAMissingFileFailsWithOneLine()
    {
        var (code, _, err) = Run("run", "/no/such/model.onnx");
        Assert.NotEqual(0, code);
        Assert.Contains("/no/such/model.onnx", err);
        Assert.Single(err.Trim().Split('\n'));
    }

    [Fact]
    public void RunOnATruncatedModelFails()
    {
        var bytes = TestModels.IdentityModel();
        var path = TempFile(bytes[..(bytes.Length - 10)]);
        try
        {
            var (code, _, err) = Run("run", path);
            Assert.NotEqual(0, code);
            Assert.Contains("not a valid ONNX model", err);
        }
        finally { File.Delete(path); }
    }

    [Fact]
    public void RunOnGarbageFails()
    {
        var path = TempFile(System.Text.Encoding.ASCII.GetBytes("this is not a protobuf, just text pretending to be a model\n"));
        try
        {
            var (code, _, err) = Run("run", path);
            Assert.NotEqual(0, code);
            Assert.StartsWith("error:", err);
        }
        finally { File.Delete(path); }
    }

    [Fact]
    public void RunWithAWrongShapedInputNamesTheInput()
    {
        var model = TempFile(TestModels.IdentityModel());
        var input = Path.Combine(Path.GetTempPath(), $"netonnx-{Guid.NewGuid():N}.pb");
        File.WriteAllBytes(input, TensorCodec.ToProto(Tensor.Zeros(DataType.Float, 3, 2), "x").ToByteArray());
        try
        {
            var (code, _, err) = Run("run", model, "--input", $"x={input}");
            Assert.NotEqual(0, code);
            Assert.Contains("'x'", err);
            Assert.Contains("[3,2]", err);
        }
        finally { File.Delete(model); File.Delete(input); }
    }

    [Fact]
    public void RunWritesOutputsLikeTestData()
    {
        var model = TempFile(TestModels.IdentityModel());
        var dir = Directory.CreateTempSubdirectory("netonnx-run");
        var inDir = Directory.CreateDirectory(Path.Combine(dir.FullName, "in"));
        File.WriteAllBytes(Path.Combine(inDir.FullName, "input_0.pb"),
            TensorCodec.ToProto(Tensor.Create(new[] { 1f, 2, 3, 4, 5, 6 }, 2, 3), "x").ToByteArray());
        try
        {
            var outDir = Path.Combine(dir.FullName, "out");
            var (code, _, err) = Run("run", model, "--input-dir", inDir.FullName, "--output-dir", outDir);
            Assert.True(code == 0, err);
            var (name, value) = ValueCodec.Read(Path.Combine(outDir, "output_0.pb"), null);
            Assert.Equal("y", name);
            Assert.Equal(new[] { 1f, 2, 3, 4, 5, 6 }, ((Tensor)value).ToArray<float>());
        }
        finally { File.Delete(model); dir.Delete(true); }
    }

    [Fact]
    public void BenchProfileListsEveryOpTypeOfTheModel()
    {
        var (code, stdout, err) = Run("bench", "--iterations", "3", "--warmup-ms", "0", "--profile", "--level", "none");
        Assert.True(code == 0, err);
        Assert.Contains("ms/run", stdout);
        // The built-in model's ops each get a row, and the shares are of the measured runs.
        foreach (var op in new[] { "Conv", "Relu", "MaxPool", "Gemm", "Softmax" })
            Assert.Contains(stdout.Split('\n'), l => l.StartsWith(op + " ", StringComparison.Ordinal));
    }

    [Fact]
    public void UnknownVerbIsAUsageError()
    {
        var (code, _, err) = Run("frobnicate");
        Assert.Equal(2, code);
        Assert.Contains("frobnicate", err);
    }

    [Fact]
    public void PercentilesInterpolateBetweenRanks()
    {
        var sorted = new double[] { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10 };
        Assert.Equal(5.5, LatencyStats.Percentile(sorted, 50), 12);
        Assert.Equal(9.1, LatencyStats.Percentile(sorted, 90), 12);
        Assert.Equal(1, LatencyStats.Percentile(sorted, 0));
        Assert.Equal(10, LatencyStats.Percentile(sorted, 100));
        var s = LatencyStats.From([3, 1, 2]);
        Assert.Equal(2, s.Mean);
        Assert.Equal(1, s.Min);
        Assert.Equal(3, s.Max);
    }
}
