using System.Buffers;
using NetOnnx.Kernels.Conversions;
using NetOnnx.Kernels.Quantization;
using NetOnnx.Runtime.Operators.Conversion;

namespace NetOnnx.Runtime.Operators.Quantization;

/// <summary>Helpers shared by the quantization operators.</summary>
internal static class QuantCommon
{
    /// <summary>Any numeric tensor's values as floats (exact for every quantized type and for scales).</summary>
    public static float[] Floats(Tensor t)
    {
        if (t.ElementType == DataType.Float) return t.ToArray<float>();
        var f = new Tensor(DataType.Float, t.Shape, new float[t.Length]);
        ElementConverter.Convert(t, f);
        return f.ToArray<float>();
    }

    /// <summary>Integer range of a quantized integer type, or null for float8/float4 outputs.</summary>
    public static (int Min, int Max)? IntRange(DataType t) => t switch
    {
        DataType.UInt8 => (0, 255),
        DataType.Int8 => (-128, 127),
        DataType.UInt16 => (0, 65535),
        DataType.Int16 => (-32768, 32767),
        DataType.UInt4 => (0, 15),
        DataType.Int4 => (-8, 7),
        DataType.UInt2 => (0, 3),
        DataType.Int2 => (-2, 1),
        DataType.Int32 => (int.MinValue, int.MaxValue),
        _ => null,
    };

    /// <summary>
    /// How scale/zero-point elements map onto x, viewed as [outer, axisDim, inner]: per tensor, per axis
    /// (1-D of axisDim) or blocked (same rank as x with ceil(axisDim/block) along the axis).
    /// </summary>
    public readonly record struct Layout(int Outer, int AxisDim, int Inner, int Block, bool PerTensor)
    {
        public int Blocks => Block > 0 ? (AxisDim + Block - 1) / Block : 0;

        /// <summary>Index of the scale for the run (o, d) when the scale is constant along inner.</summary>
        public int RunScale(int o, int d) => PerTensor ? 0 : d;
    }

    public static Layout GetLayout(KernelContext ctx, Tensor x, Tensor scale, Tensor? zp, long axisAttr, long block)
    {
        if (zp is not null && zp.Length != scale.Length)
            throw ctx.Error($"zero point has {zp.Length} elements but the scale has {scale.Length}");
        if (block < 0) throw ctx.Error($"block_size {block} is negative");
        bool perTensor = block == 0 && scale.Length == 1 && scale.Rank <= 1;
        // One run over the whole tensor: the kernels then see one long span, not x.Length spans of one element.
        if (perTensor) return new Layout(1, 1, x.Length, 0, true);
        if (x.Rank == 0) throw ctx.Error("a scalar input needs a scalar scale");
        int axis = (int)axisAttr;
        if (axis < -x.Rank || axis >= x.Rank) throw ctx.Error($"axis {axisAttr} is out of range for rank {x.Rank}");
        if (axis < 0) axis += x.Rank;
        int outer = 1, inner = 1;
        for (int i = 0; i < axis; i++) outer *= x.Shape[i];
        for (int i = axis + 1; i < x.Rank; i++) inner *= x.Shape[i];
        int dim = x.Shape[axis];
        if (block == 0)
        {
            if (scale.Rank != 1 || scale.Length != dim)
                throw ctx.Error($"per-axis scale must be 1-D of size {dim} (axis {axis} of {Kernels.ShapeMath.Format(x.Shape)}), got {Kernels.ShapeMath.Format(scale.Shape)}");
            return new Layout(outer, dim, inner, 0, false);
        }
        int nb = (int)((dim + block - 1) / block);
        if (scale.Rank != x.Rank) throw ctx.Error($"blocked scale must have rank {x.Rank}, got {Kernels.ShapeMath.Format(scale.Shape)}");
        for (int i = 0; i < x.Rank; i++)
        {
            int want = i == axis ? nb : x.Shape[i];
            if (scale.Shape[i] != want)
                throw ctx.Error($"blocked scale shape {Kernels.ShapeMath.Format(scale.Shape)} does not match input {Kernels.ShapeMath.Format(x.Shape)} with block_size {block} on axis {axis}");
        }
        return new Layout(outer, dim, inner, (int)block, false);
    }

    public static int Axis(KernelInfo info) => (int)info.GetInt("axis", 1);
}

/// <summary>
/// QuantizeLinear: y = saturate(round_half_even(x / y_scale) + y_zero_point), per tensor, per axis (13+) or
/// blocked (21+); float8 (19+) and float4 (23+) outputs round x / y_scale + zero point into the format.
/// The output type is the zero point's, else output_dtype (21+), else uint8.
/// </summary>
[OpKernel("QuantizeLinear", 10)]
public sealed class QuantizeLinear : OpKernel
{
    private readonly long _axis, _block;
    private readonly bool _saturate;
    private readonly DataType _outputDtype;
    private readonly DataType _precision;

    public QuantizeLinear(KernelInfo info)
    {
        _axis = info.GetInt("axis", 1);
        _block = info.GetInt("block_size", 0);
        _saturate = info.GetInt("saturate", 1) != 0;
        _outputDtype = (DataType)info.GetInt("output_dtype", 0);
        _precision = (DataType)info.GetInt("precision", 0);
        if (_outputDtype != DataType.Undefined && QuantCommon.IntRange(_outputDtype) is null && ElementConverter.MiniFloat(_outputDtype) is null)
            throw info.Error($"output_dtype {_outputDtype.OnnxName()} is not a quantized type");
        if (_precision is not (DataType.Undefined or DataType.Float or DataType.Float16 or DataType.BFloat16 or DataType.Double))
            throw info.Error($"precision {_precision.OnnxName()} is not a float type");
    }

    public override void Compute(KernelContext ctx)
    {
        var x = ctx.Input(0);
        var scaleT = ctx.Input(1);
        var zpT = ctx.OptionalInput(2);
        DataType outType = zpT?.ElementType ?? (_outputDtype != DataType.Undefined ? _outputDtype : DataType.UInt8);
        if (zpT is not null && _outputDtype != DataType.Undefined && zpT.ElementType != _outputDtype)
            throw ctx.Error($"output_dtype {_outputDtype.OnnxName()} differs from the zero point's type {zpT.ElementType.OnnxName()}");
        var range = QuantCommon.IntRange(outType);
        var mini = ElementConverter.MiniFloat(outType);
        if (range is null && mini is null) throw ctx.Error($"cannot quantize to {outType.OnnxName()}");
        if (!scaleT.ElementType.IsFloat() && scaleT.ElementType != DataType.Int32)
            throw ctx.Error($"y_scale must be a float tensor, got {scaleT.ElementType.OnnxName()}");

        var layout = QuantCommon.GetLayout(ctx, x, scaleT, zpT, _axis, _block);
        float[] scale = QuantCommon.Floats(scaleT);
        float[]? zp = zpT is null ? null : QuantCommon.Floats(zpT);
        DataType precision = _precision != DataType.Undefined ? _precision : scaleT.ElementType;

        float[]? rented = null;
        ReadOnlySpan<float> xs;
        if (x.ElementType == DataType.Float) xs = x.ReadOnlySpan<float>();
        else
        {
            rented = ArrayPool<float>.Shared.Rent(x.Length);
            var xf = new Tensor(DataType.Float, x.Shape, rented);
            try { ElementConverter.Convert(x, xf); }
            catch (NotSupportedException e) { throw ctx.Error(e.Message); }
            xs = rented.AsSpan(0, x.Length);
        }
        try
        {
            var y = ctx.OutputUninitialized(0, outType, x.Shape);
            if (mini is not null) QuantizeMini(xs, y.Span<byte>(), layout, scale, zp, mini, _saturate);
            else
            {
                var (lo, hi) = range!.Value;
                bool roundQuotient = precision is DataType.Float16 or DataType.BFloat16;
                switch (outType)
                {
                    case DataType.UInt8 or DataType.UInt4 or DataType.UInt2: QuantizeInt(xs, y.Span<byte>(), layout, scale, zp, lo, hi, roundQuotient ? precision : DataType.Float); break;
                    case DataType.Int8 or DataType.Int4 or DataType.Int2: QuantizeInt(xs, y.Span<sbyte>(), layout, scale, zp, lo, hi, roundQuotient ? precision : DataType.Float); break;
                    case DataType.UInt16: QuantizeInt(xs, y.Span<ushort>(), layout, scale, zp, lo, hi, roundQuotient ? precision : DataType.Float); break;
                    case DataType.Int16: QuantizeInt(xs, y.Span<short>(), layout, scale, zp, lo, hi, roundQuotient ? precision : DataType.Float); break;
                    case DataType.Int32: QuantizeInt(xs, y.Span<int>(), layout, scale, zp, lo, hi, roundQuotient ? precision : DataType.Float); break;
                }
            }
        }
        finally
        {
            if (rented is not null) ArrayPool<float>.Shared.Return(rented);
        }
    }

    private static float RoundTo(float q, DataType precision) => precision switch
    {
        DataType.Float16 => (float)(Half)q,
        DataType.BFloat16 => (float)(BFloat16)q,
        _ => q,
    };

    private static void QuantizeInt<T>(ReadOnlySpan<float> x, Span<T> y, QuantCommon.Layout l, float[] scale, float[]? zp, int lo, int hi, DataType precision)
        where T : unmanaged, System.Numerics.INumberBase<T>
    {
        bool exact = precision == DataType.Float;
        for (int o = 0; o < l.Outer; o++)
        {
            for (int d = 0; d < l.AxisDim; d++)
            {
                int start = (o * l.AxisDim + d) * l.Inner;
                var xr = x.Slice(start, l.Inner);
                var yr = y.Slice(start, l.Inner);
                if (l.Block == 0 && exact)
                {
                    int si = l.RunScale(o, d);
                    QuantizeKernels.Quantize(xr, scale[si], zp?[si] ?? 0f, lo, hi, yr);
                    continue;
                }
                for (int i = 0; i < l.Inner; i++)
                {
                    int si = l.Block == 0 ? l.RunScale(o, d) : (o * l.Blocks + d / l.Block) * l.Inner + i;
                    float q = RoundTo(xr[i] / scale[si], precision);
                    yr[i] = T.CreateTruncating(QuantizeKernels.RoundClamp(q, zp?[si] ?? 0f, lo, hi));
                }
            }
        }
    }

    private static void QuantizeMini(ReadOnlySpan<float> x, Span<byte> y, QuantCommon.Layout l, float[] scale, float[]? zp, MiniFloatFormat f, bool saturate)
    {
        for (int o = 0; o < l.Outer; o++)
            for (int d = 0; d < l.AxisDim; d++)
            {
                int start = (o * l.AxisDim + d) * l.Inner;
                for (int i = 0; i < l.Inner; i++)
                {
                    int si = l.Block == 0 ? l.RunScale(o, d) : (o * l.Blocks + d / l.Block) * l.Inner + i;
                    y[start + i] = f.Encode(x[start + i] / scale[si] + (zp?[si] ?? 0f), saturate);
                }
            }
    }
}

/// <summary>
/// DequantizeLinear: y = (x - x_zero_point) * x_scale, per tensor, per axis (13+) or blocked (21+), for
/// 8/16/32-bit, 4/2-bit integer and float8/float4 inputs. The output has the scale's type unless
/// output_dtype (23+) says otherwise.
/// </summary>
[OpKernel("DequantizeLinear", 10)]
public sealed class DequantizeLinear : OpKernel
{
    private readonly long _axis, _block;
    private readonly DataType _outputDtype;

    public DequantizeLinear(KernelInfo info)
    {
        _axis = info.GetInt("axis", 1);
        _block = info.GetInt("block_size", 0);
        _outputDtype = (DataType)info.GetInt("output_dtype", 0);
        if (_outputDtype is not (DataType.Undefined or DataType.Float or DataType.Float16 or DataType.BFloat16))
            throw info.Error($"output_dtype {_outputDtype.OnnxName()} is not float, float16 or bfloat16");
    }

    public override void Compute(KernelContext ctx)
    {
        var x = ctx.Input(0);
        var scaleT = ctx.Input(1);
        var zpT = ctx.OptionalInput(2);
        if (zpT is not null && zpT.ElementType != x.ElementType)
            throw ctx.Error($"zero point type {zpT.ElementType.OnnxName()} differs from input type {x.ElementType.OnnxName()}");
        if (!scaleT.ElementType.IsFloat()) throw ctx.Error($"x_scale must be a float tensor, got {scaleT.ElementType.OnnxName()}");
        var layout = QuantCommon.GetLayout(ctx, x, scaleT, zpT, _axis, _block);
        float[] scale = QuantCommon.Floats(scaleT);
        float[]? zp = zpT is null ? null : QuantCommon.Floats(zpT);
        DataType outType = _outputDtype != DataType.Undefined ? _outputDtype : scaleT.ElementType;
        if (outType is not (DataType.Float or DataType.Float16 or DataType.BFloat16))
            throw ctx.Error($"cannot dequantize to {outType.OnnxName()}");

        if (layout.Block == 0 && outType == DataType.Float && x.ElementType is DataType.UInt8 or DataType.Int8)
        {
            // The common QDQ case: 8-bit input, float output, one scale per run; no staging buffers.
            var yd = ctx.OutputUninitialized(0, DataType.Float, x.Shape).Span<float>();
            for (int o = 0; o < layout.Outer; o++)
                for (int d = 0; d < layout.AxisDim; d++)
                {
                    int start = (o * layout.AxisDim + d) * layout.Inner, si = layout.RunScale(o, d);
                    float s = scale[si], z = zp?[si] ?? 0f;
                    var yr = yd.Slice(start, layout.Inner);
                    if (x.ElementType == DataType.UInt8)
                    {
                        QuantizeKernels.Dequantize(x.ReadOnlySpan<byte>().Slice(start, layout.Inner), s, z, yr);
                    }
                    else
                    {
                        var xr = x.ReadOnlySpan<sbyte>().Slice(start, layout.Inner);
                        for (int i = 0; i < xr.Length; i++) yr[i] = (xr[i] - z) * s;
                    }
                }
            return;
        }
        var xf = new float[x.Length];
        try { ElementConverter.Convert(x, new Tensor(DataType.Float, x.Shape, xf)); }
        catch (NotSupportedException e) { throw ctx.Error(e.Message); }
        float[] yf = outType == DataType.Float ? (float[])ctx.OutputUninitialized(0, outType, x.Shape).Buffer : new float[x.Length];

        for (int o = 0; o < layout.Outer; o++)
            for (int d = 0; d < layout.AxisDim; d++)
            {
                int start = (o * layout.AxisDim + d) * layout.Inner;
                if (layout.Block == 0)
                {
                    int si = layout.RunScale(o, d);
                    QuantizeKernels.Dequantize(xf.AsSpan(start, layout.Inner), scale[si], zp?[si] ?? 0f, yf.AsSpan(start, layout.Inner));
                    continue;
                }
                for (int i = 0; i < layout.Inner; i++)
                {
                    int si = (o * layout.Blocks + d / layout.Block) * layout.Inner + i;
                    yf[start + i] = (xf[start + i] - (zp?[si] ?? 0f)) * scale[si];
                }
            }
        if (outType != DataType.Float)
            ElementConverter.Convert(new Tensor(DataType.Float, x.Shape, yf), ctx.OutputUninitialized(0, outType, x.Shape));
    }
}

/// <summary>
/// DynamicQuantizeLinear (opset 11): uint8 quantization with scale and zero point computed from the data so
/// that the range [min(x,0), max(x,0)] maps onto [0, 255].
/// </summary>
[OpKernel("DynamicQuantizeLinear", 11)]
public sealed class DynamicQuantizeLinear : OpKernel
{
    public DynamicQuantizeLinear(KernelInfo info) { }

    public override void Compute(KernelContext ctx)
    {
        var x = ctx.Input(0);
        if (x.ElementType != DataType.Float) throw ctx.Error($"input must be float, got {x.ElementType.OnnxName()}");
        var xs = x.ReadOnlySpan<float>();
        var (mn, mx) = QuantizeKernels.MinMax(xs);
        mn = MathF.Min(mn, 0f);
        mx = MathF.Max(mx, 0f);
        if (float.IsNaN(mn) || float.IsNaN(mx) || float.IsInfinity(mn) || float.IsInfinity(mx))
            throw ctx.Error("input contains NaN or infinity, so no scale can be computed");
        float scale = (mx - mn) / 255f;
        float zp = 0f;
        if (scale != 0f)
        {
            // Saturate first, then round half to even (the spec's order).
            float z = Math.Clamp(0f - mn / scale, 0f, 255f);
            zp = MathF.Round(z, MidpointRounding.ToEven);
        }
        var y = ctx.OutputUninitialized(0, DataType.UInt8, x.Shape);
        if (scale == 0f) y.Span<byte>().Clear();
        else QuantizeKernels.Quantize(xs, scale, zp, 0f, 255f, y.Span<byte>());
        ctx.Output(1, DataType.Float, []).Span<float>()[0] = scale;
        ctx.Output(2, DataType.UInt8, []).Span<byte>()[0] = (byte)zp;
    }
}
