using System.Numerics;
using NetOnnx.Kernels;
using NetOnnx.Kernels.Elementwise;

namespace NetOnnx.Runtime.Operators.Elementwise;

/// <summary>Shape and type helpers shared by the element-wise kernels.</summary>
internal static class Ew
{
    public static InferenceException Unsupported(KernelContext ctx, DataType t) =>
        ctx.Error($"element type {t.OnnxName()} is not supported by {ctx.Node.OpType}");

    public static int[] Broadcast(KernelContext ctx, int[] a, int[] b)
    {
        try { return ShapeMath.Broadcast(a, b); }
        catch (ArgumentException e) { throw ctx.Error(e.Message); }
    }

    public static void SameType(KernelContext ctx, Tensor a, Tensor b)
    {
        if (a.ElementType != b.ElementType)
            throw ctx.Error($"inputs have different element types {a.ElementType.OnnxName()} and {b.ElementType.OnnxName()}");
    }

    /// <summary>Half and bfloat16 tensors widened to float for computing.</summary>
    public static float[] ToFloat(Tensor t)
    {
        var r = new float[t.Length];
        switch (t.ElementType)
        {
            case DataType.Float: t.ReadOnlySpan<float>().CopyTo(r); break;
            case DataType.Float16: { var s = t.ReadOnlySpan<Half>(); for (int i = 0; i < r.Length; i++) r[i] = (float)s[i]; break; }
            case DataType.BFloat16: { var s = t.ReadOnlySpan<BFloat16>(); for (int i = 0; i < r.Length; i++) r[i] = (float)s[i]; break; }
            default: for (int i = 0; i < r.Length; i++) r[i] = (float)t.GetDouble(i); break;
        }
        return r;
    }

    /// <summary>Stores float results into a float, float16 or bfloat16 tensor.</summary>
    public static void FromFloat(ReadOnlySpan<float> src, Tensor dst)
    {
        switch (dst.ElementType)
        {
            case DataType.Float: src.CopyTo(dst.Span<float>()); break;
            case DataType.Float16: { var d = dst.Span<Half>(); for (int i = 0; i < d.Length; i++) d[i] = (Half)src[i]; break; }
            case DataType.BFloat16: { var d = dst.Span<BFloat16>(); for (int i = 0; i < d.Length; i++) d[i] = (BFloat16)src[i]; break; }
            default: throw new InvalidOperationException($"cannot store float results as {dst.ElementType.OnnxName()}");
        }
    }

    /// <summary>Any numeric tensor as doubles (Pow's mixed base/exponent types).</summary>
    public static double[] ToDouble(Tensor t)
    {
        var r = new double[t.Length];
        switch (t.ElementType)
        {
            case DataType.Float: { var s = t.ReadOnlySpan<float>(); for (int i = 0; i < r.Length; i++) r[i] = s[i]; break; }
            case DataType.Double: t.ReadOnlySpan<double>().CopyTo(r); break;
            case DataType.Int32: { var s = t.ReadOnlySpan<int>(); for (int i = 0; i < r.Length; i++) r[i] = s[i]; break; }
            case DataType.Int64: { var s = t.ReadOnlySpan<long>(); for (int i = 0; i < r.Length; i++) r[i] = s[i]; break; }
            default: for (int i = 0; i < r.Length; i++) r[i] = t.GetDouble(i); break;
        }
        return r;
    }

    /// <summary>
    /// Opset 1-6 binary ops with broadcast=1 broadcast B onto A starting at <c>axis</c> (suffix-aligned when
    /// axis is absent). Padding B's shape with trailing 1s turns that into a numpy broadcast.
    /// </summary>
    public static int[] LegacyShapeB(KernelContext ctx, Tensor a, Tensor b, long? axis)
    {
        if (axis is null) return b.Shape;
        int ra = a.Rank, rb = b.Rank;
        long ax = axis.Value < 0 ? axis.Value + ra : axis.Value;
        if (ax < 0 || ax + rb > ra)
            throw ctx.Error($"broadcast axis {axis.Value} does not fit B of shape {ShapeMath.Format(b.Shape)} into A of shape {ShapeMath.Format(a.Shape)}");
        var s = new int[ra - ax];
        for (int i = 0; i < s.Length; i++) s[i] = i < rb ? b.Shape[i] : 1;
        return s;
    }
}

/// <summary>Opset 1-6 "broadcast"/"axis" attributes of binary ops, read once per node.</summary>
internal readonly struct LegacyBroadcast
{
    public readonly bool Enabled;
    public readonly long? Axis;

    public LegacyBroadcast(KernelInfo info)
    {
        Enabled = info.OpsetVersion < 7 && info.GetInt("broadcast", 0) != 0;
        Axis = Enabled && info.Node.HasAttr("axis") ? info.GetInt("axis", 0) : null;
    }

    /// <summary>The shapes to broadcast: B reshaped for legacy broadcasting when enabled.</summary>
    public (int[] bShape, int[] outShape) Shapes(KernelContext ctx, Tensor a, Tensor b)
    {
        var bs = Enabled ? Ew.LegacyShapeB(ctx, a, b, Axis) : b.Shape;
        return (bs, Ew.Broadcast(ctx, a.Shape, bs));
    }
}

/// <summary>A same-type arithmetic operation applied with broadcasting to one element type.</summary>
internal interface IArith
{
    static abstract void Run<T>(ReadOnlySpan<T> a, ReadOnlySpan<int> aShape, ReadOnlySpan<T> b, ReadOnlySpan<int> bShape,
        Span<T> dst, ReadOnlySpan<int> outShape) where T : struct, INumber<T>;
    /// <summary>Whether integer element types are allowed.</summary>
    static virtual bool Integers => true;
}

internal static class Arith
{
    /// <summary>dst = a op b with broadcasting, dispatched on the element type (bfloat16 through float).</summary>
    public static void Dispatch<TA>(KernelContext ctx, Tensor a, int[] aShape, Tensor b, int[] bShape, Tensor o) where TA : IArith
    {
        var t = o.ElementType;
        if (!TA.Integers && t.IsInteger()) throw Ew.Unsupported(ctx, t);
        try
        {
            switch (t)
            {
                case DataType.Float: TA.Run(a.ReadOnlySpan<float>(), aShape, b.ReadOnlySpan<float>(), bShape, o.Span<float>(), o.Shape); break;
                case DataType.Double: TA.Run(a.ReadOnlySpan<double>(), aShape, b.ReadOnlySpan<double>(), bShape, o.Span<double>(), o.Shape); break;
                case DataType.Float16: TA.Run(a.ReadOnlySpan<Half>(), aShape, b.ReadOnlySpan<Half>(), bShape, o.Span<Half>(), o.Shape); break;
                case DataType.Int8: TA.Run(a.ReadOnlySpan<sbyte>(), aShape, b.ReadOnlySpan<sbyte>(), bShape, o.Span<sbyte>(), o.Shape); break;
                case DataType.Int16: TA.Run(a.ReadOnlySpan<short>(), aShape, b.ReadOnlySpan<short>(), bShape, o.Span<short>(), o.Shape); break;
                case DataType.Int32: TA.Run(a.ReadOnlySpan<int>(), aShape, b.ReadOnlySpan<int>(), bShape, o.Span<int>(), o.Shape); break;
                case DataType.Int64: TA.Run(a.ReadOnlySpan<long>(), aShape, b.ReadOnlySpan<long>(), bShape, o.Span<long>(), o.Shape); break;
                case DataType.UInt8: TA.Run(a.ReadOnlySpan<byte>(), aShape, b.ReadOnlySpan<byte>(), bShape, o.Span<byte>(), o.Shape); break;
                case DataType.UInt16: TA.Run(a.ReadOnlySpan<ushort>(), aShape, b.ReadOnlySpan<ushort>(), bShape, o.Span<ushort>(), o.Shape); break;
                case DataType.UInt32: TA.Run(a.ReadOnlySpan<uint>(), aShape, b.ReadOnlySpan<uint>(), bShape, o.Span<uint>(), o.Shape); break;
                case DataType.UInt64: TA.Run(a.ReadOnlySpan<ulong>(), aShape, b.ReadOnlySpan<ulong>(), bShape, o.Span<ulong>(), o.Shape); break;
                case DataType.BFloat16:
                {
                    var fo = new float[o.Length];
                    TA.Run<float>(Ew.ToFloat(a), aShape, Ew.ToFloat(b), bShape, fo, o.Shape);
                    Ew.FromFloat(fo, o);
                    break;
                }
                default: throw Ew.Unsupported(ctx, t);
            }
        }
        catch (DivideByZeroException) { throw ctx.Error("integer division by zero"); }
        catch (OverflowException) { throw ctx.Error("integer overflow (minimum value divided by -1)"); }
    }
}

internal readonly struct AddArith : IArith
{
    public static void Run<T>(ReadOnlySpan<T> a, ReadOnlySpan<int> aS, ReadOnlySpan<T> b, ReadOnlySpan<int> bS, Span<T> d, ReadOnlySpan<int> oS)
        where T : struct, INumber<T> => Broadcasting.BinaryVector<T, AddOperator<T>>(a, aS, b, bS, d, oS);
}

internal readonly struct SubArith : IArith
{
    public static void Run<T>(ReadOnlySpan<T> a, ReadOnlySpan<int> aS, ReadOnlySpan<T> b, ReadOnlySpan<int> bS, Span<T> d, ReadOnlySpan<int> oS)
        where T : struct, INumber<T> => Broadcasting.BinaryVector<T, SubtractOperator<T>>(a, aS, b, bS, d, oS);
}

internal readonly struct MulArith : IArith
{
    public static void Run<T>(ReadOnlySpan<T> a, ReadOnlySpan<int> aS, ReadOnlySpan<T> b, ReadOnlySpan<int> bS, Span<T> d, ReadOnlySpan<int> oS)
        where T : struct, INumber<T> => Broadcasting.BinaryVector<T, MultiplyOperator<T>>(a, aS, b, bS, d, oS);
}

internal readonly struct DivArith : IArith
{
    // Floating division vectorises; integer division truncates and must trap on zero, so it stays scalar.
    public static void Run<T>(ReadOnlySpan<T> a, ReadOnlySpan<int> aS, ReadOnlySpan<T> b, ReadOnlySpan<int> bS, Span<T> d, ReadOnlySpan<int> oS)
        where T : struct, INumber<T>
    {
        if (typeof(T) == typeof(float) || typeof(T) == typeof(double)) Broadcasting.BinaryVector<T, DivideOperator<T>>(a, aS, b, bS, d, oS);
        else Broadcasting.Binary<T, T, IntDivideOperator<T>>(a, aS, b, bS, d, oS);
    }
}

internal readonly struct MaxArith : IArith
{
    public static void Run<T>(ReadOnlySpan<T> a, ReadOnlySpan<int> aS, ReadOnlySpan<T> b, ReadOnlySpan<int> bS, Span<T> d, ReadOnlySpan<int> oS)
        where T : struct, INumber<T> => Broadcasting.BinaryVector<T, MaxOperator<T>>(a, aS, b, bS, d, oS);
}

internal readonly struct MinArith : IArith
{
    public static void Run<T>(ReadOnlySpan<T> a, ReadOnlySpan<int> aS, ReadOnlySpan<T> b, ReadOnlySpan<int> bS, Span<T> d, ReadOnlySpan<int> oS)
        where T : struct, INumber<T> => Broadcasting.BinaryVector<T, MinOperator<T>>(a, aS, b, bS, d, oS);
}

internal readonly struct FloorModArith : IArith
{
    public static void Run<T>(ReadOnlySpan<T> a, ReadOnlySpan<int> aS, ReadOnlySpan<T> b, ReadOnlySpan<int> bS, Span<T> d, ReadOnlySpan<int> oS)
        where T : struct, INumber<T> => Broadcasting.Binary<T, T, FloorModOperator<T>>(a, aS, b, bS, d, oS);
}

internal readonly struct TruncModArith : IArith
{
    public static void Run<T>(ReadOnlySpan<T> a, ReadOnlySpan<int> aS, ReadOnlySpan<T> b, ReadOnlySpan<int> bS, Span<T> d, ReadOnlySpan<int> oS)
        where T : struct, INumber<T> => Broadcasting.Binary<T, T, TruncModOperator<T>>(a, aS, b, bS, d, oS);
}

internal readonly struct PReluArith : IArith
{
    public static void Run<T>(ReadOnlySpan<T> a, ReadOnlySpan<int> aS, ReadOnlySpan<T> b, ReadOnlySpan<int> bS, Span<T> d, ReadOnlySpan<int> oS)
        where T : struct, INumber<T> => Broadcasting.Binary<T, T, PReluOperator<T>>(a, aS, b, bS, d, oS);
}
