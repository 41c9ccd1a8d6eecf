using System.Collections.Concurrent;
using System.Reflection;
using System.Runtime.CompilerServices;

namespace NetOnnx.Runtime;

/// <summary>
/// A device beside the CPU that runs some of a graph's nodes. The planner asks it which nodes it can run,
/// orders the graph so claimed nodes sit together, and hands each maximal run of claimed nodes to
/// <see cref="Compile"/>, which returns one kernel that reads host tensors and writes host tensors: values that
/// stay inside a partition never leave the device, so copies happen only where the graph crosses devices.
/// </summary>
public interface IExecutionProvider
{
    /// <summary>Names the provider and its device in plans, profiles and errors (e.g. "ilgpu-cuda: NVIDIA H200").</summary>
    string Name { get; }

    /// <summary>Whether the provider has a kernel for this node with these inferred types and constants.</summary>
    bool CanRun(KernelInfo node);

    /// <summary>Compiles claimed nodes (in execution order) into one kernel; may upload constants now.</summary>
    OpKernel Compile(DevicePartition partition);
}

/// <summary>Consecutive claimed nodes and the values that cross the partition's boundary.</summary>
public sealed class DevicePartition
{
    /// <summary>The nodes in execution order, each with what a kernel may know at creation.</summary>
    public required IReadOnlyList<KernelInfo> Nodes { get; init; }
    /// <summary>Non-constant values the partition reads from the host, in the kernel's input order.</summary>
    public required IReadOnlyList<string> Inputs { get; init; }
    /// <summary>Values computed here that something after the partition (or the caller) reads, in output order.</summary>
    public required IReadOnlyList<string> Outputs { get; init; }
    /// <summary>The constant (initializer) of a name, or null.</summary>
    public required Func<string, Tensor?> Constant { get; init; }
}

/// <summary>
/// The devices a session can run on besides the CPU. Provider assemblies register a factory per device name
/// (from a module initializer); <see cref="SessionOptions.Device"/> other than "cpu" loads the GPU provider
/// assembly (NetOnnx.Gpu) when it is present beside the application and nothing has registered the name yet.
/// </summary>
public static class ExecutionProviders
{
    private static readonly ConcurrentDictionary<string, Func<SessionOptions, IExecutionProvider?>> s_factories = new(StringComparer.OrdinalIgnoreCase);
    private const string GpuAssembly = "NetOnnx.Gpu";

    /// <summary>Registers a device; the factory may return null to mean "run on the CPU" (e.g. "auto" without a GPU).</summary>
    public static void Register(string device, Func<SessionOptions, IExecutionProvider?> factory) => s_factories[device] = factory;

    /// <summary>Device names registered so far (plus "cpu").</summary>
    public static IReadOnlyList<string> Devices => ["cpu", .. s_factories.Keys.Order(StringComparer.Ordinal)];

    /// <summary>The provider the options ask for, or null for plain CPU execution.</summary>
    public static IExecutionProvider? Resolve(SessionOptions options)
    {
        if (options.ExecutionProvider is { } p) return p;
        string device = options.Device.Trim();
        if (device.Length == 0 || device.Equals("cpu", StringComparison.OrdinalIgnoreCase)) return null;
        if (!s_factories.ContainsKey(device)) TryLoad(GpuAssembly);
        if (!s_factories.TryGetValue(device, out var factory))
            throw new DeviceException(s_factories.IsEmpty
                ? $"device '{device}' needs the {GpuAssembly} assembly (reference src/Gpu); only 'cpu' is available"
                : $"device '{device}' is not known; devices are: {string.Join(", ", Devices)}");
        try { return factory(options); }
        catch (OnnxException) { throw; }
        // Driver and accelerator failures arrive as whatever the GPU library throws; the caller gets one error type.
        catch (Exception e) { throw new DeviceException($"device '{device}' could not be opened: {e.Message}", e); }
    }

    private static void TryLoad(string name)
    {
        Assembly asm;
        try { asm = Assembly.Load(name); }
        catch (Exception e) when (e is FileNotFoundException or FileLoadException or BadImageFormatException) { return; }
        // Loading does not run a module initializer; touching the module does.
        RuntimeHelpers.RunModuleConstructor(asm.ManifestModule.ModuleHandle);
    }
}

/// <summary>The requested device does not exist here or could not be opened; the message says what was found.</summary>
public sealed class DeviceException : OnnxException
{
    public DeviceException(string message, Exception? inner = null) : base(message, inner) { }
}
