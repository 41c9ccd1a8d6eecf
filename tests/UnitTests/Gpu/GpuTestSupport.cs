using NetOnnx.Runtime;
using Xunit;

namespace NetOnnx.Tests.Gpu;

/// <summary>
/// Runs one model on the CPU kernels and through the GPU provider on ILGPU's CPU simulator and compares every
/// output: the CPU kernels are the independent reference. The model runs at optimisation level None so each
/// node meets the GPU kernel it is meant to test.
/// </summary>
internal static class GpuCheck
{
    public const string Simulator = "ilgpu-cpu";
    /// <summary>The simulator with the tiled shared-memory GEMM/conv kernels a GPU uses.</summary>
    public const string TiledSimulator = "ilgpu-cpu-tiled";

    public static Session Open(Model model, string device, OptimizationLevel level = OptimizationLevel.None) =>
        new(model, new SessionOptions { Device = device, OptimizationLevel = level, IntraOpThreads = 1 });

    /// <summary>Steps that run on the device, and those that stay on the CPU.</summary>
    public static (int Device, int Cpu) Placement(Session s) =>
        (s.Plan.Steps.Count(st => st.KernelName.StartsWith("ilgpu", StringComparison.Ordinal)),
         s.Plan.Steps.Count(st => !st.KernelName.StartsWith("ilgpu", StringComparison.Ordinal)));

    public static void Matches(Func<Model> build, Dictionary<string, Tensor> feeds, string device = Simulator,
        double rtol = 1e-4, double atol = 1e-5, bool allOnDevice = true)
    {
        var cpu = new Session(build(), new SessionOptions { OptimizationLevel = OptimizationLevel.None, IntraOpThreads = 1 });
        using var gpu = Open(build(), device);
        if (allOnDevice)
        {
            var (dev, host) = Placement(gpu);
            Assert.True(dev == 1 && host == 0, $"expected the whole graph in one device partition, got {dev} device and {host} CPU steps: " +
                string.Join(", ", gpu.Plan.Steps.Select(s => $"{s.Node.OpType}@{s.KernelName}")));
        }
        var expected = cpu.Run(feeds);
        var actual = gpu.Run(feeds);
        foreach (var (name, e) in expected) AssertClose(e, actual[name], name, rtol, atol);
    }

    public static void AssertClose(Tensor e, Tensor a, string what, double rtol, double atol)
    {
        Assert.Equal(e.ElementType, a.ElementType);
        Assert.True(e.Shape.SequenceEqual(a.Shape), $"{what}: shape [{string.Join(",", a.Shape)}], expected [{string.Join(",", e.Shape)}]");
        for (int i = 0; i < e.Length; i++)
        {
            double x = e.GetDouble(i), y = a.GetDouble(i);
            if (double.IsNaN(x) && double.IsNaN(y)) continue;
            if (double.IsInfinity(x) && x == y) continue;
            Assert.True(Math.Abs(x - y) <= atol + rtol * Math.Abs(x), $"{what}[{i}]: GPU {y}, CPU {x}");
        }
    }
}
