using System.Numerics;
using NetOnnx.Kernels;
using NetOnnx.Kernels.ConvPool;
using NetOnnx.Kernels.Threading;

namespace NetOnnx.Runtime.Operators.ConvPool;

/// <summary>MaxPool with optional Indices output (flat input indices, storage_order 1 = column-major spatial).</summary>
[OpKernel("MaxPool", 1)]
public sealed class MaxPool : OpKernel
{
    private readonly WindowAttributes _attrs;
    private readonly bool _columnMajor;

    public MaxPool(KernelInfo info)
    {
        _attrs = new WindowAttributes(info, kernelRequired: true);
        _columnMajor = info.GetInt("storage_order", 0) == 1;
    }

    public override void Compute(KernelContext ctx)
    {
        var x = ctx.Input(0);
        var geo = _attrs.Geometry(ctx, x.Shape, _attrs.KernelFromAttribute(ctx));
        Span<int> shape = stackalloc int[2 + geo.SpatialDims];
        shape[0] = x.Shape[0]; shape[1] = x.Shape[1];
        geo.OutDims.CopyTo(shape[2..]);
        var y = ctx.OutputUninitialized(0, x.ElementType, shape);
        Span<long> idx = default;
        if (ctx.IsOutputRequested(1)) idx = ctx.OutputUninitialized(1, DataType.Int64, shape).Span<long>();
        int planes = x.Shape[0] * x.Shape[1];
        switch (x.ElementType)
        {
            case DataType.Float when idx.IsEmpty && Pooling.HasRowKernel(geo) && x.Buffer is float[] xa && y.Buffer is float[] ya:
                MaxRows(xa, ya, planes, geo, ctx.Threads, (long)y.Length * geo.KernelSize);
                break;
            case DataType.Float when idx.IsEmpty: Pooling.MaxFloat(x.ReadOnlySpan<float>(), y.Span<float>(), planes, geo); break;
            case DataType.Float: Pooling.Max(x.ReadOnlySpan<float>(), y.Span<float>(), idx, planes, geo, _columnMajor); break;
            case DataType.Double: Pooling.Max(x.ReadOnlySpan<double>(), y.Span<double>(), idx, planes, geo, _columnMajor); break;
            case DataType.Float16: Pooling.Max(x.ReadOnlySpan<Half>(), y.Span<Half>(), idx, planes, geo, _columnMajor); break;
            case DataType.Int8: Pooling.Max(x.ReadOnlySpan<sbyte>(), y.Span<sbyte>(), idx, planes, geo, _columnMajor); break;
            case DataType.UInt8 when idx.IsEmpty && Kernels.Quantization.QuantizedPooling.Handles(geo) && x.Buffer is byte[] xb && y.Buffer is byte[] yb:
                IntraOpPool.ForRanges(planes, ctx.Threads, (p0, p1) => Kernels.Quantization.QuantizedPooling.MaxRows(xb, yb, p0, p1, geo),
                    work: (long)y.Length * geo.KernelSize);
                break;
            case DataType.UInt8: Pooling.Max(x.ReadOnlySpan<byte>(), y.Span<byte>(), idx, planes, geo, _columnMajor); break;
            case DataType.BFloat16:
            {
                var xf = Linalg.FloatData.Read(x); var yf = new float[y.Length];
                Pooling.Max<float>(xf.AsSpan(0, x.Length), yf, idx, planes, geo, _columnMajor);
                Linalg.FloatData.Write(yf, y);
                break;
            }
            default: throw ctx.Error($"element type {x.ElementType.OnnxName()} is not supported");
        }
    }

    /// <summary>Planes are independent: split them across the intra-op threads (apart so the closure is only made when threaded).</summary>
    private static void MaxRows(float[] xa, float[] ya, int planes, ConvGeometry geo, int threads, long work)
    {
        if (threads <= 1) Pooling.MaxRows512(xa, ya, 0, planes, geo);
        else MaxRowsThreaded(xa, ya, planes, geo, threads, work);
    }

    private static void MaxRowsThreaded(float[] xa, float[] ya, int planes, ConvGeometry geo, int threads, long work) =>
        IntraOpPool.ForRanges(planes, threads, (p0, p1) => Pooling.MaxRows512(xa, ya, p0, p1, geo), work);
}

/// <summary>AveragePool (count_include_pad, ceil_mode, dilations) and LpPool share one loop.</summary>
public abstract class AverageLpPoolBase : OpKernel
{
    private readonly WindowAttributes _attrs;
    private readonly bool _countIncludePad;
    private readonly double _p;

    private protected AverageLpPoolBase(KernelInfo info, double p)
    {
        _attrs = new WindowAttributes(info, kernelRequired: true);
        _countIncludePad = info.GetInt("count_include_pad", 0) != 0;
        _p = p;
    }

    public override void Compute(KernelContext ctx)
    {
        var x = ctx.Input(0);
        var geo = _attrs.Geometry(ctx, x.Shape, _attrs.KernelFromAttribute(ctx));
        Span<int> shape = stackalloc int[2 + geo.SpatialDims];
        shape[0] = x.Shape[0]; shape[1] = x.Shape[1];
        geo.OutDims.CopyTo(shape[2..]);
        var y = ctx.OutputUninitialized(0, x.ElementType, shape);
        int planes = x.Shape[0] * x.Shape[1];
        switch (x.ElementType)
        {
            case DataType.Float: Pooling.AverageOrLp(x.ReadOnlySpan<float>(), y.Span<float>(), planes, geo, _countIncludePad, _p); break;
            case DataType.Double: Pooling.AverageOrLp(x.ReadOnlySpan<double>(), y.Span<double>(), planes, geo, _countIncludePad, _p); break;
            case DataType.Float16: Pooling.AverageOrLp(x.ReadOnlySpan<Half>(), y.Span<Half>(), planes, geo, _countIncludePad, _p); break;
            case DataType.BFloat16:
            {
                var xf = Linalg.FloatData.Read(x); var yf = new float[y.Length];
                Pooling.AverageOrLp<float>(xf.AsSpan(0, x.Length), yf, planes, geo, _countIncludePad, _p);
                Linalg.FloatData.Write(yf, y);
                break;
            }
            default: throw ctx.Error($"element type {x.ElementType.OnnxName()} is not supported");
        }
    }

    /// <summary>LpPool's p: a float attribute in opset 1, an int afterwards.</summary>
    private protected static double ReadP(KernelInfo info)
    {
        var a = info.Node.Attr("p");
        double p = a is null ? 2 : a.Kind == AttributeKind.Float ? a.Float : a.Int;
        if (!(p > 0)) throw info.Error($"p must be positive, got {p}");
        return p;
    }
}

[OpKernel("AveragePool", 1)]
public sealed class AveragePool : AverageLpPoolBase
{
    public AveragePool(KernelInfo info) : base(info, 0) { }
}

[OpKernel("LpPool", 1)]
public sealed class LpPool : AverageLpPoolBase
{
    public LpPool(KernelInfo info) : base(info, ReadP(info)) { }
}

/// <summary>GlobalAveragePool, GlobalMaxPool and GlobalLpPool: one reduction per image and channel.</summary>
public abstract class GlobalPoolBase : OpKernel
{
    private protected enum Kind { Average, Max, Lp }
    private readonly Kind _kind;
    private readonly double _p;

    private protected GlobalPoolBase(Kind kind, double p) { _kind = kind; _p = p; }

    public override void Compute(KernelContext ctx)
    {
        var x = ctx.Input(0);
        if (x.Rank < 2) throw ctx.Error($"input must be [N, C, ...], got {ShapeMath.Format(x.Shape)}");
        var shape = x.Shape.ToArray();
        for (int i = 2; i < shape.Length; i++) shape[i] = 1;
        var y = ctx.OutputUninitialized(0, x.ElementType, shape);
        int planes = x.Shape[0] * x.Shape[1];
        int size = planes == 0 ? 0 : x.Length / planes;
        switch (x.ElementType)
        {
            case DataType.Float: Reduce(x.ReadOnlySpan<float>(), y.Span<float>(), planes, size); break;
            case DataType.Double: Reduce(x.ReadOnlySpan<double>(), y.Span<double>(), planes, size); break;
            case DataType.Float16: Reduce(x.ReadOnlySpan<Half>(), y.Span<Half>(), planes, size); break;
            case DataType.BFloat16:
            {
                var xf = Linalg.FloatData.Read(x); var yf = new float[y.Length];
                Reduce<float>(xf.AsSpan(0, x.Length), yf, planes, size);
                Linalg.FloatData.Write(yf, y);
                break;
            }
            default: throw ctx.Error($"element type {x.ElementType.OnnxName()} is not supported");
        }
    }

    private void Reduce<T>(ReadOnlySpan<T> x, Span<T> y, int planes, int size) where T : struct, INumber<T>
    {
        for (int p = 0; p < planes; p++)
        {
            var s = x.Slice(p * size, size);
            double r;
            switch (_kind)
            {
                case Kind.Average:
                {
                    double sum = 0;
                    if (typeof(T) == typeof(float))
                    {
                        var f = System.Runtime.InteropServices.MemoryMarshal.Cast<T, float>(s);
                        sum = SumFloat(f);
                    }
                    else foreach (var v in s) sum += double.CreateTruncating(v);
                    r = sum / size;
                    break;
                }
                case Kind.Max:
                {
                    T best = s.Length > 0 ? s[0] : T.Zero;
                    foreach (var v in s) if (v > best) best = v;
                    y[p] = best;
                    continue;
                }
                default:
                {
                    double sum = 0;
                    foreach (var v in s) sum += Math.Pow(Math.Abs(double.CreateTruncating(v)), _p);
                    r = Math.Pow(sum, 1 / _p);
                    break;
                }
            }
            y[p] = T.CreateTruncating(r);
        }
    }

    private static double SumFloat(ReadOnlySpan<float> f)
    {
        int i = 0;
        double sum = 0;
        if (System.Runtime.Intrinsics.Vector256.IsHardwareAccelerated)
        {
            var acc = System.Runtime.Intrinsics.Vector256<float>.Zero;
            for (; i <= f.Length - 8; i += 8) acc += System.Runtime.Intrinsics.Vector256.Create(f.Slice(i, 8));
            sum = System.Runtime.Intrinsics.Vector256.Sum(acc);
        }
        for (; i < f.Length; i++) sum += f[i];
        return sum;
    }

    private protected static double ReadP(KernelInfo info)
    {
        var a = info.Node.Attr("p");
        double p = a is null ? 2 : a.Kind == AttributeKind.Float ? a.Float : a.Int;
        if (!(p > 0)) throw info.Error($"p must be positive, got {p}");
        return p;
    }
}

[OpKernel("GlobalAveragePool", 1)]
public sealed class GlobalAveragePool : GlobalPoolBase { public GlobalAveragePool(KernelInfo info) : base(Kind.Average, 0) { } }

[OpKernel("GlobalMaxPool", 1)]
public sealed class GlobalMaxPool : GlobalPoolBase { public GlobalMaxPool(KernelInfo info) : base(Kind.Max, 0) { } }

[OpKernel("GlobalLpPool", 1)]
public sealed class GlobalLpPool : GlobalPoolBase { public GlobalLpPool(KernelInfo info) : base(Kind.Lp, ReadP(info)) { } }

/// <summary>MaxUnpool: scatters X into a zero tensor at the flat positions given by I.</summary>
[OpKernel("MaxUnpool", 9)]
public sealed class MaxUnpool : OpKernel
{
    private readonly WindowAttributes _attrs;

    public MaxUnpool(KernelInfo info) => _attrs = new WindowAttributes(info, kernelRequired: true);

    public override void Compute(KernelContext ctx)
    {
        var x = ctx.Input(0);
        var ind = ctx.Input(1);
        if (x.Rank < 3) throw ctx.Error($"X must be [N, C, spatial...], got {ShapeMath.Format(x.Shape)}");
        if (!ShapeMath.SameShape(x.Shape, ind.Shape)) throw ctx.Error($"I {ShapeMath.Format(ind.Shape)} must have the shape of X {ShapeMath.Format(x.Shape)}");
        var kernel = _attrs.KernelFromAttribute(ctx);
        int nd = x.Rank - 2;
        if (kernel.Length != nd) throw ctx.Error($"kernel_shape has {kernel.Length} values, expected {nd}");
        // Indices address the default (inferred) output; an explicit output_shape keeps each element at the
        // same coordinates in the larger tensor, like the ONNX reference.
        var inferred = new int[x.Rank];
        inferred[0] = x.Shape[0]; inferred[1] = x.Shape[1];
        for (int i = 0; i < nd; i++)
        {
            int s = _attrs.Strides is { Length: > 0 } st ? (int)st[i] : 1;
            int pb = _attrs.Pads is { Length: > 0 } p ? (int)p[i] : 0, pe = _attrs.Pads is { Length: > 0 } q ? (int)q[i + nd] : 0;
            inferred[2 + i] = (x.Shape[2 + i] - 1) * s + kernel[i] - pb - pe;
        }
        int[] shape = inferred;
        if (ctx.OptionalInput(2) is { } os)
        {
            var v = os.ToInt64Array();
            if (v.Length != x.Rank) throw ctx.Error($"output_shape has {v.Length} values, expected {x.Rank}");
            shape = v.Select(d => checked((int)d)).ToArray();
            for (int i = 0; i < x.Rank; i++)
                if (shape[i] < inferred[i]) throw ctx.Error($"output_shape {ShapeMath.Format(shape)} is smaller than the unpooled shape {ShapeMath.Format(inferred)}");
        }
        var y = ctx.Output(0, x.ElementType, shape);
        var idx = ind.ToInt64Array();
        long total = ShapeMath.Size(inferred);
        bool remap = !ShapeMath.SameShape(shape, inferred);
        var inStr = ShapeMath.Strides(inferred); var outStr = ShapeMath.Strides(shape);
        int size = x.ElementType.SizeOf();
        var xb = x.Bytes(); var yb = y.Bytes();
        for (int i = 0; i < idx.Length; i++)
        {
            long t = idx[i];
            if (t < 0 || t >= total) throw ctx.Error($"index {t} is outside the unpooled output of {total} elements");
            if (remap)
            {
                long rem = t, o = 0;
                for (int d = 0; d < inferred.Length; d++) { o += rem / inStr[d] * outStr[d]; rem %= inStr[d]; }
                t = o;
            }
            xb.Slice(i * size, size).CopyTo(yb.Slice((int)t * size, size));
        }
    }
}

/// <summary>MaxRoiPool: max over each region of interest, divided into pooled_shape bins (Caffe-style rounding).</summary>
[OpKernel("MaxRoiPool", 1)]
public sealed class MaxRoiPool : OpKernel
{
    private readonly int _ph, _pw;
    private readonly float _scale;

    public MaxRoiPool(KernelInfo info)
    {
        var ps = info.GetInts("pooled_shape");
        if (ps is not { Length: 2 } || ps[0] < 1 || ps[1] < 1) throw info.Error("attribute 'pooled_shape' must hold two positive values");
        _ph = (int)ps[0]; _pw = (int)ps[1];
        _scale = info.GetFloat("spatial_scale", 1f);
    }

    public override void Compute(KernelContext ctx)
    {
        var x = ctx.Input(0);
        var rois = ctx.Input(1);
        if (x.Rank != 4) throw ctx.Error($"X must be [N, C, H, W], got {ShapeMath.Format(x.Shape)}");
        if (rois.Rank != 2 || rois.Shape[1] != 5) throw ctx.Error($"rois must be [num_rois, 5], got {ShapeMath.Format(rois.Shape)}");
        int n = x.Shape[0], c = x.Shape[1], h = x.Shape[2], w = x.Shape[3], r = rois.Shape[0];
        var y = ctx.OutputUninitialized(0, x.ElementType, [r, c, _ph, _pw]);
        for (int i = 0; i < r; i++)
        {
            int b = (int)rois.GetDouble(i * 5);
            if (b < 0 || b >= n) throw ctx.Error($"roi {i} refers to batch {b}, outside [0, {n})");
            int x1 = (int)Math.Round(rois.GetDouble(i * 5 + 1) * _scale), y1 = (int)Math.Round(rois.GetDouble(i * 5 + 2) * _scale);
            int x2 = (int)Math.Round(rois.GetDouble(i * 5 + 3) * _scale), y2 = (int)Math.Round(rois.GetDouble(i * 5 + 4) * _scale);
            int rh = Math.Max(y2 - y1 + 1, 1), rw = Math.Max(x2 - x1 + 1, 1);
            double bh = (double)rh / _ph, bw = (double)rw / _pw;
            for (int ch = 0; ch < c; ch++)
            {
                int plane = (b * c + ch) * h * w;
                for (int py = 0; py < _ph; py++)
                {
                    int hs = Math.Clamp((int)Math.Floor(py * bh) + y1, 0, h), he = Math.Clamp((int)Math.Ceiling((py + 1) * bh) + y1, 0, h);
                    for (int px = 0; px < _pw; px++)
                    {
                        int ws = Math.Clamp((int)Math.Floor(px * bw) + x1, 0, w), we = Math.Clamp((int)Math.Ceiling((px + 1) * bw) + x1, 0, w);
                        double best = double.NegativeInfinity;
                        bool any = false;
                        for (int yy = hs; yy < he; yy++)
                            for (int xx = ws; xx < we; xx++)
                            {
                                double v = x.GetDouble(plane + yy * w + xx);
                                if (!any || v > best) { best = v; any = true; }
                            }
                        int o = ((i * c + ch) * _ph + py) * _pw + px;
                        double res = any ? best : 0;
                        switch (y.ElementType)
                        {
                            case DataType.Float: y.Span<float>()[o] = (float)res; break;
                            case DataType.Double: y.Span<double>()[o] = res; break;
                            case DataType.Float16: y.Span<Half>()[o] = (Half)res; break;
                            default: throw ctx.Error($"element type {y.ElementType.OnnxName()} is not supported");
                        }
                    }
                }
            }
        }
    }
}
