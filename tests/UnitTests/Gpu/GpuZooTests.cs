using NetOnnx.Runtime;
using NetOnnx.Tools.Conformance;
using Xunit;

namespace NetOnnx.Tests.Gpu;

/// <summary>
/// Every zoo model through the GPU provider on ILGPU's CPU simulator must match ONNX Runtime's reference outputs
/// (rtol 1e-3, atol 1e-4), each in a single device partition (Silero VAD's If bodies excepted). Skips when ../shared/zoo is absent.
/// </summary>
public class GpuZooTests
{
    private static readonly string Root = Path.Combine(TestModels.SharedRoot, "zoo");

    public static TheoryData<string> Models() => OptimizedZooRoundTripTests.Models();

    [Theory]
    [MemberData(nameof(Models))]
    public void MatchesReferenceOnSimulator(string model)
    {
        var dir = Path.Combine(Root, model);
        if (!Directory.Exists(dir)) Assert.Skip($"zoo not found at {Root}: the GPU zoo check needs ../shared/zoo");
        var options = new SessionOptions { Device = GpuCheck.Simulator, IntraOpThreads = 2 };
        var outcome = ConformanceRunner.RunTest("zoo", dir, options, rtol: 1e-3, atol: 1e-4);
        Assert.True(outcome.Passed, outcome.Detail);

        using var s = new InferenceSession(Path.Combine(dir, "model.onnx"), options);
        var (device, cpu) = GpuCheck.Placement(s.Core);
        int deviceNodes = s.Core.Plan.Steps.Where(st => st.KernelName.StartsWith("ilgpu", StringComparison.Ordinal))
            .Sum(st => int.Parse(st.Node.Name.Split('(')[1].Split(' ')[0], System.Globalization.CultureInfo.InvariantCulture));
        var onCpu = string.Join(", ", s.Core.Plan.Steps.Where(st => !st.KernelName.StartsWith("ilgpu", StringComparison.Ordinal))
            .GroupBy(st => st.Node.OpType).Select(g => $"{g.Key} x{g.Count()}"));
        TestContext.Current.SendDiagnosticMessage($"{model}: {deviceNodes} nodes in {device} device partitions; on the CPU: {onCpu}");
        // Silero VAD computes inside If branches, which stay on the CPU; every other model runs wholly on the device.
        if (model != "silero_vad_v5") Assert.True(cpu == 0 && device == 1, $"{model}: {deviceNodes} nodes in {device} device partitions; on the CPU: {onCpu}");
    }
}
