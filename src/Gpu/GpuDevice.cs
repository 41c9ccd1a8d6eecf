using ILGPU;
using ILGPU.Runtime;
using ILGPU.Runtime.CPU;
using ILGPU.Runtime.Cuda;
using ILGPU.Runtime.OpenCL;
using NetOnnx.Gpu.Kernels;

namespace NetOnnx.Gpu;

/// <summary>Which ILGPU backend an accelerator uses.</summary>
public enum GpuBackend { Cuda, OpenCL, CpuSimulator }

/// <summary>
/// One ILGPU accelerator and its compiled kernels. Kernels are compiled on first use and cached for the
/// process; the accelerators are shared by every session on the same device.
/// </summary>
public sealed class GpuDevice
{
    public Accelerator Accelerator { get; }
    public GpuBackend Backend { get; }
    public string Name { get; }
    /// <summary>Side of the square GEMM group; the tile is <see cref="Tile"/> x R per dimension.</summary>
    public int Tile { get; }
    /// <summary>Threads of a row kernel's group (a power of two).</summary>
    public int RowGroup { get; }
    /// <summary>Whether GEMMs go to cuBLAS (CUDA only) instead of the ILGPU tiled kernel.</summary>
    public bool UseCuBlas { get; }
    private readonly Lazy<CuBlas?> _cuBlas;

    /// <summary>
    /// Whether GEMM and convolution use the tiled shared-memory kernels (GPUs) or the one-thread-per-output
    /// ones (the CPU simulator by default, where each group barrier costs an OS-thread rendezvous).
    /// </summary>
    public bool TiledKernels { get; }

    internal GpuDevice(Accelerator accelerator, GpuBackend backend, bool useCuBlas, bool? tiled = null)
    {
        Accelerator = accelerator;
        Backend = backend;
        TiledKernels = tiled ?? backend != GpuBackend.CpuSimulator;
        UseCuBlas = useCuBlas && backend == GpuBackend.Cuda;
        Name = $"ilgpu-{(backend == GpuBackend.CpuSimulator ? "cpu" : backend.ToString().ToLowerInvariant())}{(UseCuBlas ? "+cublas" : "")}{(TiledKernels && backend == GpuBackend.CpuSimulator ? "+tiled" : "")}: {accelerator.Name}";
        int maxGroup = accelerator.MaxNumThreadsPerGroup;
        Tile = 16;
        while (Tile * Tile > maxGroup) Tile /= 2;
        RowGroup = 1;
        while (RowGroup * 2 <= Math.Min(maxGroup, DeviceKernels.MaxRowGroup)) RowGroup *= 2;
        _cuBlas = new Lazy<CuBlas?>(() => UseCuBlas ? new CuBlas((CudaAccelerator)accelerator) : null);
        _unary = accelerator.LoadAutoGroupedKernel<Index1D, ArrayView<float>, ArrayView<float>, UnaryArgs, int>(DeviceKernels.Unary);
        _binary = accelerator.LoadAutoGroupedKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, BinaryArgs, int>(DeviceKernels.Binary);
        _stridedGather = accelerator.LoadAutoGroupedKernel<Index1D, ArrayView<int>, ArrayView<int>, GatherArgs, int>(DeviceKernels.StridedGather);
        _copyColumns = accelerator.LoadAutoGroupedKernel<Index1D, ArrayView<int>, ArrayView<int>, int, int, int, int>(DeviceKernels.CopyColumns);
        _axisGather = accelerator.LoadAutoGroupedKernel<Index1D, ArrayView<int>, ArrayView<int>, ArrayView<int>, AxisGatherArgs, int>(DeviceKernels.AxisGather);
        _intToFloat = accelerator.LoadAutoGroupedKernel<Index1D, ArrayView<int>, ArrayView<float>, int>(DeviceKernels.IntToFloat);
        _channelAffine = accelerator.LoadAutoGroupedKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int>(DeviceKernels.ChannelAffine);
        Gemm = accelerator.LoadKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, GemmArgs>(DeviceKernels.Gemm);
        ConvGemm = accelerator.LoadKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ConvArgs>(DeviceKernels.ConvGemm);
        _gemmDirect = accelerator.LoadAutoGroupedKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, GemmArgs, int>(DeviceKernels.GemmDirect);
        _convDirect = accelerator.LoadAutoGroupedKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ConvArgs, int>(DeviceKernels.ConvDirect);
        _depthwise = accelerator.LoadAutoGroupedKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ConvArgs, int>(DeviceKernels.Depthwise);
        _convTranspose = accelerator.LoadAutoGroupedKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ConvArgs, int>(DeviceKernels.ConvTransposeDirect);
        _resizeNearest = accelerator.LoadAutoGroupedKernel<Index1D, ArrayView<float>, ArrayView<float>, ResizeArgs, int>(DeviceKernels.ResizeNearest);
        _pool = accelerator.LoadAutoGroupedKernel<Index1D, ArrayView<float>, ArrayView<float>, PoolArgs, int>(DeviceKernels.Pool);
        RowReduce = accelerator.LoadKernel<ArrayView<float>, ArrayView<float>, RowArgs>(DeviceKernels.RowReduce);
        RowSoftmax = accelerator.LoadKernel<ArrayView<float>, ArrayView<float>, RowArgs>(DeviceKernels.RowSoftmax);
        RowLayerNorm = accelerator.LoadKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, RowArgs>(DeviceKernels.RowLayerNorm);
        // Grid-stride launches: about two full waves of resident threads on a GPU; a few per simulator thread.
        MaxLaunch = backend == GpuBackend.CpuSimulator ? 4 * accelerator.MaxNumThreads
            : Math.Max(1024, accelerator.NumMultiprocessors * accelerator.MaxNumThreadsPerMultiprocessor * 2);
        Dummy = accelerator.Allocate1D<int>(4);
    }

    private readonly Action<AcceleratorStream, Index1D, ArrayView<float>, ArrayView<float>, UnaryArgs, int> _unary;
    private readonly Action<AcceleratorStream, Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, BinaryArgs, int> _binary;
    private readonly Action<AcceleratorStream, Index1D, ArrayView<int>, ArrayView<int>, GatherArgs, int> _stridedGather;
    private readonly Action<AcceleratorStream, Index1D, ArrayView<int>, ArrayView<int>, int, int, int, int> _copyColumns;
    private readonly Action<AcceleratorStream, Index1D, ArrayView<int>, ArrayView<int>, ArrayView<int>, AxisGatherArgs, int> _axisGather;
    private readonly Action<AcceleratorStream, Index1D, ArrayView<int>, ArrayView<float>, int> _intToFloat;
    private readonly Action<AcceleratorStream, Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int> _channelAffine;
    private readonly Action<AcceleratorStream, Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, GemmArgs, int> _gemmDirect;
    private readonly Action<AcceleratorStream, Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ConvArgs, int> _convDirect;
    private readonly Action<AcceleratorStream, Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ConvArgs, int> _depthwise;
    private readonly Action<AcceleratorStream, Index1D, ArrayView<float>, ArrayView<float>, PoolArgs, int> _pool;
    private readonly Action<AcceleratorStream, Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ConvArgs, int> _convTranspose;
    private readonly Action<AcceleratorStream, Index1D, ArrayView<float>, ArrayView<float>, ResizeArgs, int> _resizeNearest;

    /// <summary>Most threads one grid-stride launch uses.</summary>
    public int MaxLaunch { get; }
    private int Threads(int n) => Math.Max(1, Math.Min(n, MaxLaunch));

    // Each launcher takes the element count n (outputs; for CopyColumns the source length) and launches
    // min(n, MaxLaunch) threads.
    internal void Unary(AcceleratorStream s, int n, ArrayView<float> x, ArrayView<float> y, UnaryArgs p) { int t = Threads(n); _unary(s, t, x, y, p, t); }
    internal void Binary(AcceleratorStream s, int n, ArrayView<float> a, ArrayView<float> b, ArrayView<float> y, BinaryArgs p) { int t = Threads(n); _binary(s, t, a, b, y, p, t); }
    internal void StridedGather(AcceleratorStream s, int n, ArrayView<int> x, ArrayView<int> y, GatherArgs p) { int t = Threads(n); _stridedGather(s, t, x, y, p, t); }
    internal void CopyColumns(AcceleratorStream s, int n, ArrayView<int> src, ArrayView<int> dst, int cols, int dstCols, int offset) { int t = Threads(n); _copyColumns(s, t, src, dst, cols, dstCols, offset, t); }
    internal void AxisGather(AcceleratorStream s, int n, ArrayView<int> x, ArrayView<int> idx, ArrayView<int> y, AxisGatherArgs p) { int t = Threads(n); _axisGather(s, t, x, idx, y, p, t); }
    internal void IntToFloat(AcceleratorStream s, int n, ArrayView<int> x, ArrayView<float> y) { int t = Threads(n); _intToFloat(s, t, x, y, t); }
    internal void ChannelAffine(AcceleratorStream s, int n, ArrayView<float> x, ArrayView<float> scale, ArrayView<float> shift, ArrayView<float> y, int spatial) { int t = Threads(n); _channelAffine(s, t, x, scale, shift, y, spatial, t); }
    internal void GemmDirect(AcceleratorStream s, int n, ArrayView<float> a, ArrayView<float> b, ArrayView<float> bias, ArrayView<float> res, ArrayView<float> c, GemmArgs p) { int t = Threads(n); _gemmDirect(s, t, a, b, bias, res, c, p, t); }
    internal void ConvDirect(AcceleratorStream s, int n, ArrayView<float> x, ArrayView<float> w, ArrayView<float> bias, ArrayView<float> res, ArrayView<float> y, ConvArgs p) { int t = Threads(n); _convDirect(s, t, x, w, bias, res, y, p, t); }
    internal void Depthwise(AcceleratorStream s, int n, ArrayView<float> x, ArrayView<float> w, ArrayView<float> bias, ArrayView<float> res, ArrayView<float> y, ConvArgs p) { int t = Threads(n); _depthwise(s, t, x, w, bias, res, y, p, t); }
    internal void ConvTranspose(AcceleratorStream s, int n, ArrayView<float> x, ArrayView<float> w, ArrayView<float> bias, ArrayView<float> y, ConvArgs p) { int t = Threads(n); _convTranspose(s, t, x, w, bias, y, p, t); }
    internal void ResizeNearest(AcceleratorStream s, int n, ArrayView<float> x, ArrayView<float> y, ResizeArgs p) { int t = Threads(n); _resizeNearest(s, t, x, y, p, t); }
    internal void Pool(AcceleratorStream s, int n, ArrayView<float> x, ArrayView<float> y, PoolArgs p) { int t = Threads(n); _pool(s, t, x, y, p, t); }

    internal readonly Action<AcceleratorStream, KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, GemmArgs> Gemm;
    internal readonly Action<AcceleratorStream, KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ConvArgs> ConvGemm;
    internal readonly Action<AcceleratorStream, KernelConfig, ArrayView<float>, ArrayView<float>, RowArgs> RowReduce;
    internal readonly Action<AcceleratorStream, KernelConfig, ArrayView<float>, ArrayView<float>, RowArgs> RowSoftmax;
    internal readonly Action<AcceleratorStream, KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, RowArgs> RowLayerNorm;
    /// <summary>Stands in for an absent optional operand (kernels never read it).</summary>
    internal readonly MemoryBuffer1D<int, Stride1D.Dense> Dummy;
    internal ArrayView<float> DummyFloats => Dummy.View.AsContiguous().Cast<float>();

    internal CuBlas? CuBlas => _cuBlas.Value;

    /// <summary>Launch shape of the tiled GEMM/conv kernels for an M x N output per batch.</summary>
    internal KernelConfig GemmConfig(int m, int n, int batches)
    {
        int bm = Tile * DeviceKernels.R;
        return new KernelConfig(new Index3D((n + bm - 1) / bm, (m + bm - 1) / bm, batches), new Index3D(Tile, Tile, 1),
            SharedMemoryConfig.RequestDynamic<float>(2 * bm * Tile));
    }

    internal KernelConfig RowConfig(int rows) => new(new Index3D(rows, 1, 1), new Index3D(RowGroup, 1, 1));
}

/// <summary>
/// Opens ILGPU accelerators by device name and registers them with the runtime (module initializer), so
/// <c>SessionOptions.Device</c> finds them as soon as this assembly is loaded.
/// </summary>
public static class GpuDevices
{
    private static readonly object s_lock = new();
    private static Context? s_context;
    private static readonly Dictionary<string, GpuDevice> s_open = new(StringComparer.Ordinal);

    /// <summary>Device names this provider answers to.</summary>
    public static readonly string[] Names = ["auto", "cuda", "cuda-cublas", "opencl", "ilgpu-cpu", "ilgpu-cpu-tiled"];

    // A library module initializer (CA2255) is the point: referencing the assembly is all it takes to offer the devices.
#pragma warning disable CA2255
    [System.Runtime.CompilerServices.ModuleInitializer]
    internal static void Register()
    {
        foreach (var name in Names)
            ExecutionProviders.Register(name, options => Open(name) is { } d ? new GpuExecutionProvider(d) : null);
    }
#pragma warning restore CA2255

    private static Context Context
    {
        get
        {
            // The simulator's device is small on purpose: 2 warps of 2 threads (a 2 x 2 GEMM group still runs the
            // tiled code), since every simulated thread is an OS thread contending for the host's cores. CUDA and OpenCL devices are whatever the drivers report.
            return s_context ??= Context.Create(b => b.Cuda().OpenCL().CPU(new CPUDevice(2, 2, 1)).EnableAlgorithms()
                .Optimize(ILGPU.OptimizationLevel.O1));
        }
    }

    /// <summary>
    /// The accelerator for a device name, or null for "auto" when no GPU exists (the session then runs on the CPU
    /// kernels). Asking for cuda or opencl where none exists throws, naming the devices that were found.
    /// </summary>
    public static GpuDevice? Open(string name)
    {
        lock (s_lock)
        {
            if (s_open.TryGetValue(name, out var open)) return open;
            var ctx = Context;
            Device? cuda = null, cl = null;
            foreach (var d in ctx.GetCudaDevices()) { cuda = d; break; }
            foreach (var d in ctx.GetCLDevices()) { cl = d; break; }
            string Found() => ctx.Devices.Length == 0 ? "no devices" : string.Join("; ", ctx.Devices.Select(d => $"{d.AcceleratorType} '{d.Name}'"));
            GpuDevice? dev = name switch
            {
                "cuda" or "cuda-cublas" => cuda is not null
                    ? new GpuDevice(cuda.CreateAccelerator(ctx), GpuBackend.Cuda, name == "cuda-cublas")
                    : throw new DeviceException($"device '{name}' was requested but ILGPU found no CUDA device (found: {Found()})"),
                "opencl" => cl is not null
                    ? new GpuDevice(cl.CreateAccelerator(ctx), GpuBackend.OpenCL, false)
                    : throw new DeviceException($"device 'opencl' was requested but ILGPU found no OpenCL device it supports (found: {Found()}); " +
                        "ILGPU's OpenCL backend needs OpenCL 2.0 generic address space, which PoCL 3.1 lacks"),
                "ilgpu-cpu" => new GpuDevice(ctx.GetCPUDevice(0).CreateAccelerator(ctx), GpuBackend.CpuSimulator, false),
                // Tests use this to run the tiled GPU kernels on the simulator.
                "ilgpu-cpu-tiled" => new GpuDevice(ctx.GetCPUDevice(0).CreateAccelerator(ctx), GpuBackend.CpuSimulator, false, tiled: true),
                "auto" => cuda is not null ? Open("cuda") : cl is not null ? Open("opencl") : null,
                _ => throw new DeviceException($"device '{name}' is not one of {string.Join(", ", Names)}"),
            };
            if (dev is not null) s_open[name] = dev;
            return dev;
        }
    }
}
