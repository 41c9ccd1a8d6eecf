using NetOnnx.Runtime;
using Xunit;
using static NetOnnx.Tests.IrBuilder;

namespace NetOnnx.Tests.Gpu;

/// <summary>Device selection, partitioning across devices, buffer reuse and concurrency of the GPU provider.</summary>
public class GpuProviderTests
{
    private static readonly Random Rng = new(99);

    [Fact]
    public void DeviceCpuUsesNoProvider()
    {
        using var s = new Session(Model([F("x", 2, 3)], [F("y", 2, 3)], [N("Relu", ["x"], ["y"])]), new SessionOptions { Device = "cpu" });
        Assert.Equal((0, 1), GpuCheck.Placement(s));
    }

    [Theory]
    [InlineData("cuda")]
    [InlineData("cuda-cublas")]
    [InlineData("opencl")]
    public void MissingDeviceNamesWhatWasFound(string device)
    {
        // This machine has no CUDA GPU and its PoCL lacks what ILGPU's OpenCL backend needs; on a machine that
        // has the device the session simply opens.
        try
        {
            using var s = new Session(Model([F("x", 2)], [F("y", 2)], [N("Relu", ["x"], ["y"])]), new SessionOptions { Device = device });
            Assert.StartsWith("ilgpu-", s.Plan.Steps[0].KernelName);
        }
        catch (DeviceException e)
        {
            Assert.Contains(device, e.Message);
            Assert.Contains("found", e.Message);
        }
    }

    [Fact]
    public void UnknownDeviceIsAnError()
    {
        var e = Assert.Throws<DeviceException>(() => new Session(Model([F("x", 2)], [F("y", 2)], [N("Relu", ["x"], ["y"])]), new SessionOptions { Device = "tpu" }));
        Assert.Contains("tpu", e.Message);
        Assert.Contains("ilgpu-cpu", e.Message);
    }

    [Fact]
    public void AutoFallsBackToCpuWithoutGpu()
    {
        using var s = new Session(Model([F("x", 2)], [F("y", 2)], [N("Relu", ["x"], ["y"])]), new SessionOptions { Device = "auto" });
        // With a GPU here auto takes it; without one the plain CPU kernels run.
        var (dev, cpu) = GpuCheck.Placement(s);
        Assert.Equal(1, dev + cpu);
        Assert.Equal([1f, 0f], s.Run(new Dictionary<string, Tensor> { ["x"] = Tensor.Create(new[] { 1f, -1f }, 2) })["y"].ToArray<float>());
    }

    /// <summary>
    /// a -> Relu -> TopK (no GPU kernel) -> Add, beside an independent Sigmoid -> Mul chain: the planner puts all
    /// device nodes it can before the CPU node into one partition and the rest into one more.
    /// </summary>
    [Fact]
    public void NodesWithoutGpuKernelSplitTheGraphIntoFewPartitions()
    {
        Model Build() => Model([F("x", 4, 6)], [F("y", 4, 3), F("z", 4, 6)],
        [
            N("Relu", ["x"], ["r"]),
            new Node("TopK", ["r", "k"], ["top", "idx"], "topk", attributes: [NodeAttribute.Of("axis", 1L)]),
            N("Sigmoid", ["x"], ["s"]),
            N("Add", ["top", "top"], ["y"]),
            N("Mul", ["s", "r"], ["z"]),
        ], new Dictionary<string, Tensor> { ["k"] = Tensor.Create(new long[] { 3 }, 1) });
        using var s = GpuCheck.Open(Build(), GpuCheck.Simulator);
        var steps = s.Plan.Steps.Select(st => st.KernelName.StartsWith("ilgpu", StringComparison.Ordinal) ? "gpu" : st.Node.OpType).ToArray();
        Assert.Equal(["gpu", "TopK", "gpu"], steps);
        // The first partition computes Relu, Sigmoid and Mul together: only r goes to the host for TopK.
        Assert.Equal(["r", "z"], s.Plan.Steps[0].Node.Outputs.Order(StringComparer.Ordinal));
        var x = RandomFloats(Rng, 4, 6);
        var cpu = new Session(Build(), new SessionOptions { OptimizationLevel = OptimizationLevel.None }).Run(new Dictionary<string, Tensor> { ["x"] = x });
        var gpu = s.Run(new Dictionary<string, Tensor> { ["x"] = x });
        foreach (var k in new[] { "y", "z" }) GpuCheck.AssertClose(cpu[k], gpu[k], k, 1e-5, 1e-6);
    }

    [Fact]
    public void RepeatedAndConcurrentRunsAgree()
    {
        var w1 = RandomFloats(Rng, 16, 32);
        var w2 = RandomFloats(Rng, 32, 8);
        Model Build() => Model([F("x", 4, 16)], [F("y", 4, 8)],
            [N("MatMul", ["x", "w1"], ["h"]), N("Relu", ["h"], ["r"]), N("MatMul", ["r", "w2"], ["y"])],
            new Dictionary<string, Tensor> { ["w1"] = w1, ["w2"] = w2 });
        using var s = GpuCheck.Open(Build(), GpuCheck.Simulator);
        var cpu = new Session(Build(), new SessionOptions { OptimizationLevel = OptimizationLevel.None });
        var inputs = Enumerable.Range(0, 6).Select(_ => RandomFloats(Rng, 4, 16)).ToArray();
        var expected = inputs.Select(x => cpu.Run(new Dictionary<string, Tensor> { ["x"] = x })["y"]).ToArray();
        Parallel.For(0, 12, new ParallelOptions { MaxDegreeOfParallelism = 3 }, i =>
        {
            var got = s.Run(new Dictionary<string, Tensor> { ["x"] = inputs[i % 6] })["y"];
            // Two chained dot products of 16 and 32 O(1) terms: the engines sum in different orders, so results
            // near zero differ by a few ulps of the partial sums (~1e-6), not of the result.
            GpuCheck.AssertClose(expected[i % 6], got, $"run {i}", 1e-5, 1e-5);
        });
    }

    [Fact]
    public void BadRuntimeShapeNamesTheNode()
    {
        // Declared dims are symbolic, so the mismatch only shows at run time, inside the device partition.
        var m = Model([new ValueInfo("a", OnnxType.Tensor(DataType.Float, [Dim.Named("n"), Dim.Known(3)])), F("b", 4, 2)],
            [new ValueInfo("y", OnnxType.Tensor(DataType.Float, [Dim.Named("n"), Dim.Known(2)]))],
            [new Node("MatMul", ["a", "b"], ["y"], "mm")]);
        using var s = GpuCheck.Open(m, GpuCheck.Simulator);
        var e = Assert.Throws<InferenceException>(() => s.Run(new Dictionary<string, Tensor> { ["a"] = RandomFloats(Rng, 2, 3), ["b"] = RandomFloats(Rng, 4, 2) }));
        Assert.Contains("mm", e.Message);
    }

    [Fact]
    public void ControlFlowStaysOnTheCpu()
    {
        var then = new Graph { Name = "then" };
        then.Outputs.Add(F("t", 2));
        then.Nodes.Add(new Node("Relu", ["x"], ["t"], "then_relu"));
        var els = new Graph { Name = "else" };
        els.Outputs.Add(F("e", 2));
        els.Nodes.Add(new Node("Neg", ["x"], ["e"], "else_neg"));
        var m = Model([F("x", 2), new ValueInfo("c", OnnxType.Tensor(DataType.Bool, []))], [F("y", 2)],
            [new Node("If", ["c"], ["y"], "if", attributes: [NodeAttribute.Of("then_branch", then), NodeAttribute.Of("else_branch", els)])]);
        using var s = GpuCheck.Open(m, GpuCheck.Simulator);
        Assert.Equal((0, 1), GpuCheck.Placement(s));
        var y = s.Run(new Dictionary<string, Tensor> { ["x"] = Tensor.Create(new[] { 1f, -2f }, 2), ["c"] = Tensor.Scalar(false) })["y"];
        Assert.Equal([-1f, 2f], y.ToArray<float>());
    }
}

/// <summary>The CLI passes --device through to the session.</summary>
public class GpuCliTests
{
    [Fact]
    public void RunVerbTakesTheDevice()
    {
        var dir = Path.Combine(Path.GetTempPath(), $"gpu-cli-{Guid.NewGuid():N}");
        Directory.CreateDirectory(dir);
        try
        {
            var model = Path.Combine(dir, "model.onnx");
            File.WriteAllBytes(model, TestModels.IdentityModel());
            var x = Tensor.Create(new[] { 1f, 2f, 3f, 4f, 5f, 6f }, 2, 3);
            File.WriteAllBytes(Path.Combine(dir, "x.pb"), NetOnnx.OnnxImport.ValueCodec.Write(x, "x"));
            var outDir = Path.Combine(dir, "out");
            var error = new StringWriter();
            Assert.Equal(0, NetOnnx.Tools.Cli.Run(["run", model, "--input", $"x={Path.Combine(dir, "x.pb")}", "--output-dir", outDir, "--device", "ilgpu-cpu"], new StringWriter(), error));
            var y = (Tensor)NetOnnx.OnnxImport.ValueCodec.Read(Path.Combine(outDir, "output_0.pb"), null).Value;
            Assert.Equal(x.ToArray<float>(), y.ToArray<float>());

            error = new StringWriter();
            Assert.Equal(1, NetOnnx.Tools.Cli.Run(["run", model, "--device", "tpu"], new StringWriter(), error));
            Assert.Contains("device 'tpu'", error.ToString());
        }
        finally { Directory.Delete(dir, recursive: true); }
    }
}
