using ILGPU;
using ILGPU.Runtime;
using NetOnnx.Kernels;

namespace NetOnnx.Gpu;

/// <summary>
/// Device storage: 32-bit words (floats, int64 values narrowed to int32, bools as 0f/1f), reference counted so
/// that view ops (Reshape, Squeeze...) share it and it returns to its pool after the last reader.
/// </summary>
internal sealed class DeviceBuffer
{
    public required MemoryBuffer1D<int, Stride1D.Dense> Memory { get; init; }
    public int Refs;
    /// <summary>Constants uploaded at session creation: never recycled.</summary>
    public bool Pinned { get; init; }
    public long Capacity => Memory.Length;
}

/// <summary>A tensor on the device: an ONNX element type and shape over (a prefix of) a buffer.</summary>
internal sealed class DeviceTensor
{
    public DeviceTensor(DataType type, int[] shape, DeviceBuffer buffer)
    {
        ElementType = type;
        Shape = shape;
        Length = ShapeMath.Size(shape);
        Buffer = buffer;
    }

    public DataType ElementType { get; }
    public int[] Shape { get; }
    public int Length { get; }
    public DeviceBuffer Buffer { get; }
    /// <summary>The host tensor this was uploaded from (constants and partition inputs), for host-side checks.</summary>
    public Tensor? Host { get; init; }
    public int Rank => Shape.Length;

    public ArrayView<int> Words => Buffer.Memory.View.SubView(0, Math.Max(Length, 1)).AsContiguous();
    public ArrayView<float> Floats => Words.Cast<float>();
}

/// <summary>
/// Free device buffers of one run, reused by lifetime: a released buffer serves the next request of a size it
/// fits (within 2x), as the CPU pool does. Work is ordered on one stream, so a buffer may be handed on as
/// soon as its last reader has been queued.
/// </summary>
internal sealed class DevicePool : IDisposable
{
    private readonly Accelerator _accelerator;
    private readonly List<DeviceBuffer> _free = [];
    private readonly List<DeviceBuffer> _all = [];
    public AcceleratorStream Stream { get; }
    public long AllocatedBytes { get; private set; }

    public DevicePool(Accelerator accelerator)
    {
        _accelerator = accelerator;
        Stream = accelerator.CreateStream();
    }

    public DeviceBuffer Rent(int words)
    {
        words = Math.Max(words, 1);
        int best = -1;
        for (int i = 0; i < _free.Count; i++)
            if (_free[i].Capacity >= words && _free[i].Capacity <= 2L * words + 64 && (best < 0 || _free[i].Capacity < _free[best].Capacity)) best = i;
        DeviceBuffer b;
        if (best >= 0) { b = _free[best]; _free.RemoveAt(best); }
        else
        {
            b = new DeviceBuffer { Memory = _accelerator.Allocate1D<int>(words) };
            _all.Add(b);
            AllocatedBytes += 4L * words;
        }
        b.Refs = 1;
        return b;
    }

    public void Release(DeviceTensor? t)
    {
        if (t is null || t.Buffer.Pinned) return;
        if (--t.Buffer.Refs == 0) _free.Add(t.Buffer);
    }

    public void Dispose()
    {
        Stream.Dispose();
        foreach (var b in _all) b.Memory.Dispose();
        _all.Clear();
        _free.Clear();
    }
}

/// <summary>Host/device copies with the element conversions the device layout needs.</summary>
internal static class Transfers
{
    private static ArrayView1D<float, Stride1D.Dense> Floats(ArrayView1D<int, Stride1D.Dense> words) => words.AsContiguous().Cast<float>();

    public static bool IsDeviceType(DataType t) => t is DataType.Float or DataType.Int64 or DataType.Int32 or DataType.Bool;

    public static void Upload(AcceleratorStream stream, Tensor host, DeviceBuffer into)
    {
        var view = into.Memory.View.SubView(0, Math.Max(host.Length, 1));
        switch (host.ElementType)
        {
            case DataType.Float:
                Floats(view).SubView(0, host.Length).CopyFromCPU(stream, host.ReadOnlySpan<float>());
                break;
            case DataType.Int32:
                view.SubView(0, host.Length).CopyFromCPU(stream, host.ReadOnlySpan<int>());
                break;
            case DataType.Int64:
            {
                var src = host.ReadOnlySpan<long>();
                var words = new int[src.Length];
                for (int i = 0; i < src.Length; i++)
                    words[i] = src[i] is >= int.MinValue and <= int.MaxValue ? (int)src[i]
                        : throw new NotSupportedException($"int64 value {src[i]} does not fit the device's 32-bit integers");
                view.SubView(0, host.Length).CopyFromCPU(stream, words);
                break;
            }
            case DataType.Bool:
            {
                var src = host.ReadOnlySpan<bool>();
                var words = new float[src.Length];
                for (int i = 0; i < src.Length; i++) words[i] = src[i] ? 1f : 0f;
                Floats(view).SubView(0, host.Length).CopyFromCPU(stream, words);
                break;
            }
            default: throw new NotSupportedException($"element type {host.ElementType.OnnxName()} cannot go to the device");
        }
    }

    public static void Download(AcceleratorStream stream, DeviceTensor t, Tensor host)
    {
        if (t.Length == 0) return;
        var words = t.Buffer.Memory.View.SubView(0, t.Length);
        switch (t.ElementType)
        {
            case DataType.Float: Floats(words).CopyToCPU(stream, host.Span<float>()); break;
            case DataType.Int32: words.CopyToCPU(stream, host.Span<int>()); break;
            case DataType.Int64:
            {
                var tmp = new int[t.Length];
                words.CopyToCPU(stream, tmp.AsSpan());
                stream.Synchronize();
                var dst = host.Span<long>();
                for (int i = 0; i < tmp.Length; i++) dst[i] = tmp[i];
                break;
            }
            case DataType.Bool:
            {
                var tmp = new float[t.Length];
                Floats(words).CopyToCPU(stream, tmp.AsSpan());
                stream.Synchronize();
                var dst = host.Span<bool>();
                for (int i = 0; i < tmp.Length; i++) dst[i] = tmp[i] != 0f;
                break;
            }
            default: throw new NotSupportedException($"element type {t.ElementType.OnnxName()} cannot come from the device");
        }
    }
}
