using NetOnnx.Kernels;
using NetOnnx.Kernels.Quantization;
using NetOnnx.Runtime.Operators.Fused;

namespace NetOnnx.Runtime.Operators.Quantization;

/// <summary>Per-tensor uint8 quantization parameters read from a (scale, zero point) input pair, checked.</summary>
internal static class QuantParams
{
    public static (float Scale, float Zero) Read(KernelContext ctx, int scaleInput, int zeroInput, string what, Tensor? data = null)
    {
        if (!ctx.HasInput(scaleInput)) throw ctx.Error($"{what}_scale is missing");
        var s = ctx.Input(scaleInput);
        if (s.ElementType != DataType.Float || s.Length != 1) throw ctx.Error($"{what}_scale must be a float scalar, got {s.ElementType.OnnxName()} {ShapeMath.Format(s.Shape)}");
        float scale = s.ReadOnlySpan<float>()[0];
        var z = ctx.OptionalInput(zeroInput);
        if (z is not null && (z.ElementType != DataType.UInt8 || z.Length != 1))
            throw ctx.Error($"{what}_zero_point must be a uint8 scalar (the uint8 data's type), got {z.ElementType.OnnxName()} {ShapeMath.Format(z.Shape)}");
        if (data is not null && data.ElementType != DataType.UInt8) throw ctx.Error($"{what} must be uint8, got {data.ElementType.OnnxName()}");
        return (scale, z is null ? 0f : z.ReadOnlySpan<byte>()[0]);
    }
}

/// <summary>
/// QLinearAdd (com.microsoft, as ONNX Runtime's contrib op): C = quantize(dequantize(A) + dequantize(B)) with
/// per-tensor uint8 parameters and multidirectional broadcasting. Inputs A, A_scale, A_zero_point, B, B_scale,
/// B_zero_point, C_scale, C_zero_point. The com.netonnx form adds activation = "Relu" (the Relu between the Add
/// and the QuantizeLinear, fused by the optimizer). Results equal the float DequantizeLinear -> Add [-> Relu]
/// -> QuantizeLinear chain bit for bit.
/// </summary>
[OpKernel("QLinearAdd", 1, Domain = "com.microsoft")]
[OpKernel("QLinearAdd", 1, Domain = FusedDomain.Name)]
public sealed class QLinearAdd : OpKernel
{
    private readonly bool _relu;

    public QLinearAdd(KernelInfo info)
    {
        string act = info.GetString("activation", "");
        if (act is not ("" or "Relu")) throw info.Error($"activation '{act}' is not supported (only Relu)");
        _relu = act == "Relu";
    }

    public override void Compute(KernelContext ctx)
    {
        var a = ctx.Input(0);
        var b = ctx.Input(3);
        var (sa, za) = QuantParams.Read(ctx, 1, 2, "A", a);
        var (sb, zb) = QuantParams.Read(ctx, 4, 5, "B", b);
        var (sc, zc) = QuantParams.Read(ctx, 6, 7, "C");
        if (ShapeMath.SameShape(a.Shape, b.Shape))
        {
            var y = ctx.OutputUninitialized(0, DataType.UInt8, a.Shape);
            QuantizedElementwise.Add(a.ReadOnlySpan<byte>(), sa, za, b.ReadOnlySpan<byte>(), sb, zb, sc, zc, _relu, y.Span<byte>());
            return;
        }
        int[] shape;
        try { shape = ShapeMath.Broadcast(a.Shape, b.Shape); }
        catch (Exception e) when (e is ArgumentException or OnnxException)
        {
            throw ctx.Error($"A {ShapeMath.Format(a.Shape)} and B {ShapeMath.Format(b.Shape)} do not broadcast");
        }
        var ya = ctx.OutputUninitialized(0, DataType.UInt8, shape);
        QuantizedElementwise.Add(Expand(a, shape), sa, za, Expand(b, shape), sb, zb, sc, zc, _relu, ya.Span<byte>());
    }

    /// <summary>The uint8 tensor broadcast to <paramref name="shape"/> (the uncommon, unequal-shape case).</summary>
    private static byte[] Expand(Tensor t, int[] shape)
    {
        var src = t.ReadOnlySpan<byte>();
        var strides = ShapeMath.BroadcastStrides(t.Shape, shape);
        var dst = new byte[ShapeMath.Size(shape)];
        var idx = new int[shape.Length];
        int off = 0;
        for (int i = 0; i < dst.Length; i++)
        {
            dst[i] = src[off];
            for (int d = shape.Length - 1; d >= 0; d--)
            {
                idx[d]++; off += strides[d];
                if (idx[d] < shape[d]) break;
                off -= strides[d] * idx[d]; idx[d] = 0;
            }
        }
        return dst;
    }
}

/// <summary>
/// QLinearConcat (com.microsoft, as ONNX Runtime's contrib op): inputs Y_scale, Y_zero_point, then a
/// (X, X_scale, X_zero_point) triple per tensor; attribute axis. Each uint8 input moves to the output's
/// parameters through its requantization table (a plain copy when the parameters are equal), which equals
/// DequantizeLinear -> Concat -> QuantizeLinear bit for bit.
/// </summary>
[OpKernel("QLinearConcat", 1, Domain = "com.microsoft")]
public sealed class QLinearConcat : OpKernel
{
    private readonly long _axis;

    public QLinearConcat(KernelInfo info)
    {
        if (!info.Node.HasAttr("axis")) throw info.Error("attribute 'axis' is required");
        _axis = info.GetInt("axis", 0);
    }

    public override void Compute(KernelContext ctx)
    {
        if (ctx.InputCount < 5 || (ctx.InputCount - 2) % 3 != 0)
            throw ctx.Error($"expects Y_scale, Y_zero_point and (X, X_scale, X_zero_point) triples; got {ctx.InputCount} inputs");
        var (sy, zy) = QuantParams.Read(ctx, 0, 1, "Y");
        int n = (ctx.InputCount - 2) / 3;
        var x0 = ctx.Input(2);
        int rank = x0.Rank;
        if (_axis < -rank || _axis >= rank) throw ctx.Error($"axis {_axis} is out of range for rank {rank}");
        int axis = (int)(_axis < 0 ? _axis + rank : _axis);
        var shape = (int[])x0.Shape.Clone();
        shape[axis] = 0;
        var tables = new byte[n][];
        for (int i = 0; i < n; i++)
        {
            var x = ctx.Input(2 + 3 * i);
            var (sx, zx) = QuantParams.Read(ctx, 3 + 3 * i, 4 + 3 * i, $"input {i}", x);
            if (x.Rank != rank) throw ctx.Error($"input {i} has rank {x.Rank}, input 0 has {rank}");
            for (int d = 0; d < rank; d++)
                if (d != axis && x.Shape[d] != x0.Shape[d])
                    throw ctx.Error($"input {i} shape {ShapeMath.Format(x.Shape)} differs from {ShapeMath.Format(x0.Shape)} off axis {axis}");
            shape[axis] += x.Shape[axis];
            var t = QuantizedElementwise.RequantizeTable(sx, zx, sy, zy);
            tables[i] = QuantizedElementwise.IsIdentity(t) ? [] : t;
        }
        var y = ctx.OutputUninitialized(0, DataType.UInt8, shape);
        var ys = y.Span<byte>();
        int outer = 1, inner = 1;
        for (int d = 0; d < axis; d++) outer *= shape[d];
        for (int d = axis + 1; d < rank; d++) inner *= shape[d];
        int rowOut = shape[axis] * inner, at = 0;
        for (int i = 0; i < n; i++)
        {
            var x = ctx.Input(2 + 3 * i);
            var xs = x.ReadOnlySpan<byte>();
            int row = x.Shape[axis] * inner;
            for (int o = 0; o < outer; o++)
            {
                var src = xs.Slice(o * row, row);
                var dst = ys.Slice(o * rowOut + at, row);
                if (tables[i].Length == 0) src.CopyTo(dst); else QuantizedElementwise.Lookup(src, tables[i], dst);
            }
            at += row;
        }
    }
}

/// <summary>
/// QLinearLookup (com.netonnx, made by the optimizer): y[i] = table[x[i]] for uint8 x and a 256-entry uint8 table,
/// which holds Q(f(DQ(v))) for a fused DequantizeLinear -> f -> QuantizeLinear chain.
/// </summary>
[OpKernel("QLinearLookup", 1, Domain = FusedDomain.Name)]
public sealed class QLinearLookup : OpKernel
{
    public QLinearLookup(KernelInfo info) { }

    public override void Compute(KernelContext ctx)
    {
        var x = ctx.Input(0);
        var table = ctx.Input(1);
        if (x.ElementType != DataType.UInt8) throw ctx.Error($"x must be uint8, got {x.ElementType.OnnxName()}");
        if (table.ElementType != DataType.UInt8 || table.Length != 256) throw ctx.Error($"table must hold 256 uint8 values, got {table.ElementType.OnnxName()} {ShapeMath.Format(table.Shape)}");
        var y = ctx.OutputUninitialized(0, DataType.UInt8, x.Shape);
        QuantizedElementwise.Lookup(x.ReadOnlySpan<byte>(), table.ReadOnlySpan<byte>(), y.Span<byte>());
    }
}
