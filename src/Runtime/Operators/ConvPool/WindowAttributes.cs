using NetOnnx.Kernels;
using NetOnnx.Kernels.ConvPool;

namespace NetOnnx.Runtime.Operators.ConvPool;

/// <summary>The sliding-window attributes shared by Conv, ConvTranspose and the pools.</summary>
internal sealed class WindowAttributes
{
    public long[]? KernelShape { get; }
    public long[]? Strides { get; }
    public long[]? Dilations { get; }
    public long[]? Pads { get; }
    public string AutoPad { get; }
    public bool CeilMode { get; }

    public WindowAttributes(KernelInfo info, bool kernelRequired)
    {
        KernelShape = info.GetInts("kernel_shape");
        Strides = info.GetInts("strides");
        Dilations = info.GetInts("dilations");
        Pads = info.GetInts("pads");
        AutoPad = info.GetString("auto_pad", "NOTSET");
        CeilMode = info.GetInt("ceil_mode", 0) != 0;
        if (kernelRequired && KernelShape is null) throw info.Error("attribute 'kernel_shape' is required");
        if (AutoPad is not ("NOTSET" or "VALID" or "SAME_UPPER" or "SAME_LOWER" or ""))
            throw info.Error($"auto_pad '{AutoPad}' is not one of NOTSET, VALID, SAME_UPPER, SAME_LOWER");
    }

    /// <summary>Geometry for input x of shape [N, C, spatial...] and the given kernel.</summary>
    /// <remarks>The last geometry is kept and reused while the spatial input and kernel dimensions repeat (no allocation per run).</remarks>
    public ConvGeometry Geometry(KernelContext ctx, int[] xShape, ReadOnlySpan<int> kernel)
    {
        if (xShape.Length < 3) throw ctx.Error($"input must be [N, C, spatial...], got {ShapeMath.Format(xShape)}");
        var last = _lastGeometry;
        if (last is not null && last.Spatial.AsSpan().SequenceEqual(xShape.AsSpan(2)) && last.Kernel.AsSpan().SequenceEqual(kernel)) return last.Geo;
        ConvGeometry geo;
        try { geo = ConvGeometry.Create(xShape.AsSpan(2), kernel, Strides, Dilations, Pads, AutoPad, CeilMode); }
        catch (ArgumentException e) { throw ctx.Error(e.Message); }
        catch (OverflowException) { throw ctx.Error("window attribute out of range"); }
        _lastGeometry = new GeometryEntry(xShape[2..], kernel.ToArray(), geo);
        return geo;
    }

    // Replaced whole by concurrent runs; each reads a consistent entry.
    private sealed record GeometryEntry(int[] Spatial, int[] Kernel, ConvGeometry Geo);
    private GeometryEntry? _lastGeometry;
    private int[]? _kernelFromAttribute;

    /// <summary>kernel_shape as ints, checked and converted once.</summary>
    public int[] KernelFromAttribute(KernelContext ctx) => _kernelFromAttribute ??= ConvertKernel(ctx);

    private int[] ConvertKernel(KernelContext ctx)
    {
        var k = KernelShape!;
        var r = new int[k.Length];
        for (int i = 0; i < k.Length; i++)
        {
            if (k[i] < 1 || k[i] > int.MaxValue) throw ctx.Error($"kernel_shape value {k[i]} is invalid");
            r[i] = (int)k[i];
        }
        return r;
    }
}
