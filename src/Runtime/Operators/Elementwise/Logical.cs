using System.Numerics;
using System.Runtime.Intrinsics;
using System.Runtime.InteropServices;
using NetOnnx.Kernels;
using NetOnnx.Kernels.Elementwise;

namespace NetOnnx.Runtime.Operators.Elementwise;

/// <summary>Equal/Less/Greater/LessOrEqual/GreaterOrEqual: broadcasting comparisons giving bool.</summary>
internal abstract class CompareKernel<TCmp> : OpKernel where TCmp : IComparison
{
    private readonly LegacyBroadcast _legacy;

    private protected CompareKernel(KernelInfo info) => _legacy = new LegacyBroadcast(info);

    public override void Compute(KernelContext ctx)
    {
        var a = ctx.Input(0);
        var b = ctx.Input(1);
        Ew.SameType(ctx, a, b);
        var (bs, os) = _legacy.Shapes(ctx, a, b);
        var o = ctx.OutputUninitialized(0, DataType.Bool, os);
        var d = o.Span<bool>();
        switch (a.ElementType)
        {
            case DataType.Float: Run<float>(a, b, bs, d, os); break;
            case DataType.Double: Run<double>(a, b, bs, d, os); break;
            case DataType.Float16: Run<Half>(a, b, bs, d, os); break;
            case DataType.Int8: Run<sbyte>(a, b, bs, d, os); break;
            case DataType.Int16: Run<short>(a, b, bs, d, os); break;
            case DataType.Int32: Run<int>(a, b, bs, d, os); break;
            case DataType.Int64: Run<long>(a, b, bs, d, os); break;
            case DataType.UInt8: Run<byte>(a, b, bs, d, os); break;
            case DataType.UInt16: Run<ushort>(a, b, bs, d, os); break;
            case DataType.UInt32: Run<uint>(a, b, bs, d, os); break;
            case DataType.UInt64: Run<ulong>(a, b, bs, d, os); break;
            case DataType.BFloat16:
                Broadcasting.Binary<float, bool, CompareOperator<float, TCmp>>(Ew.ToFloat(a), a.Shape, Ew.ToFloat(b), bs, d, os);
                break;
            case DataType.Bool when typeof(TCmp) == typeof(EqualCmp):
                Broadcasting.Binary<bool, bool, BoolEqualOperator>(a.ReadOnlySpan<bool>(), a.Shape, b.ReadOnlySpan<bool>(), bs, d, os);
                break;
            case DataType.String when typeof(TCmp) == typeof(EqualCmp):
                Broadcasting.Binary<string, bool, StringEqualOperator>(a.ReadOnlySpan<string>(), a.Shape, b.ReadOnlySpan<string>(), bs, d, os);
                break;
            default: throw Ew.Unsupported(ctx, a.ElementType);
        }
    }

    private static void Run<T>(Tensor a, Tensor b, int[] bs, Span<bool> d, int[] os) where T : INumber<T> =>
        Broadcasting.Binary<T, bool, CompareOperator<T, TCmp>>(a.ReadOnlySpan<T>(), a.Shape, b.ReadOnlySpan<T>(), bs, d, os);
}

[OpKernel("Equal", 1)] internal sealed class Equal(KernelInfo info) : CompareKernel<EqualCmp>(info);
[OpKernel("Less", 1)] internal sealed class Less(KernelInfo info) : CompareKernel<LessCmp>(info);
[OpKernel("Greater", 1)] internal sealed class Greater(KernelInfo info) : CompareKernel<GreaterCmp>(info);
[OpKernel("LessOrEqual", 12)] internal sealed class LessOrEqual(KernelInfo info) : CompareKernel<LessOrEqualCmp>(info);
[OpKernel("GreaterOrEqual", 12)] internal sealed class GreaterOrEqual(KernelInfo info) : CompareKernel<GreaterOrEqualCmp>(info);

/// <summary>An integer bitwise operation applied with broadcasting to one integer type.</summary>
internal interface IIntArith
{
    static abstract void Run<T>(ReadOnlySpan<T> a, ReadOnlySpan<int> aShape, ReadOnlySpan<T> b, ReadOnlySpan<int> bShape,
        Span<T> dst, ReadOnlySpan<int> outShape) where T : struct, IBinaryInteger<T>;
}

internal readonly struct AndBits : IIntArith
{
    public static void Run<T>(ReadOnlySpan<T> a, ReadOnlySpan<int> aS, ReadOnlySpan<T> b, ReadOnlySpan<int> bS, Span<T> d, ReadOnlySpan<int> oS)
        where T : struct, IBinaryInteger<T> => Broadcasting.BinaryVector<T, BitwiseAndOperator<T>>(a, aS, b, bS, d, oS);
}

internal readonly struct OrBits : IIntArith
{
    public static void Run<T>(ReadOnlySpan<T> a, ReadOnlySpan<int> aS, ReadOnlySpan<T> b, ReadOnlySpan<int> bS, Span<T> d, ReadOnlySpan<int> oS)
        where T : struct, IBinaryInteger<T> => Broadcasting.BinaryVector<T, BitwiseOrOperator<T>>(a, aS, b, bS, d, oS);
}

internal readonly struct XorBits : IIntArith
{
    public static void Run<T>(ReadOnlySpan<T> a, ReadOnlySpan<int> aS, ReadOnlySpan<T> b, ReadOnlySpan<int> bS, Span<T> d, ReadOnlySpan<int> oS)
        where T : struct, IBinaryInteger<T> => Broadcasting.BinaryVector<T, BitwiseXorOperator<T>>(a, aS, b, bS, d, oS);
}

internal readonly struct ShiftLeftBits : IIntArith
{
    public static void Run<T>(ReadOnlySpan<T> a, ReadOnlySpan<int> aS, ReadOnlySpan<T> b, ReadOnlySpan<int> bS, Span<T> d, ReadOnlySpan<int> oS)
        where T : struct, IBinaryInteger<T> => Broadcasting.Binary<T, T, ShiftLeftOperator<T>>(a, aS, b, bS, d, oS);
}

internal readonly struct ShiftRightBits : IIntArith
{
    public static void Run<T>(ReadOnlySpan<T> a, ReadOnlySpan<int> aS, ReadOnlySpan<T> b, ReadOnlySpan<int> bS, Span<T> d, ReadOnlySpan<int> oS)
        where T : struct, IBinaryInteger<T> => Broadcasting.Binary<T, T, ShiftRightOperator<T>>(a, aS, b, bS, d, oS);
}

internal static class IntArith
{
    public static void Dispatch<TA>(KernelContext ctx, Tensor a, int[] aShape, Tensor b, int[] bShape, Tensor o) where TA : IIntArith
    {
        switch (o.ElementType)
        {
            case DataType.Int8: TA.Run(a.ReadOnlySpan<sbyte>(), aShape, b.ReadOnlySpan<sbyte>(), bShape, o.Span<sbyte>(), o.Shape); break;
            case DataType.Int16: TA.Run(a.ReadOnlySpan<short>(), aShape, b.ReadOnlySpan<short>(), bShape, o.Span<short>(), o.Shape); break;
            case DataType.Int32: TA.Run(a.ReadOnlySpan<int>(), aShape, b.ReadOnlySpan<int>(), bShape, o.Span<int>(), o.Shape); break;
            case DataType.Int64: TA.Run(a.ReadOnlySpan<long>(), aShape, b.ReadOnlySpan<long>(), bShape, o.Span<long>(), o.Shape); break;
            case DataType.UInt8: TA.Run(a.ReadOnlySpan<byte>(), aShape, b.ReadOnlySpan<byte>(), bShape, o.Span<byte>(), o.Shape); break;
            case DataType.UInt16: TA.Run(a.ReadOnlySpan<ushort>(), aShape, b.ReadOnlySpan<ushort>(), bShape, o.Span<ushort>(), o.Shape); break;
            case DataType.UInt32: TA.Run(a.ReadOnlySpan<uint>(), aShape, b.ReadOnlySpan<uint>(), bShape, o.Span<uint>(), o.Shape); break;
            case DataType.UInt64: TA.Run(a.ReadOnlySpan<ulong>(), aShape, b.ReadOnlySpan<ulong>(), bShape, o.Span<ulong>(), o.Shape); break;
            // Bools are stored as bytes 0/1, so the byte forms of and/or/xor are the logical ones.
            case DataType.Bool:
                TA.Run(MemoryMarshal.Cast<bool, byte>(a.ReadOnlySpan<bool>()), aShape, MemoryMarshal.Cast<bool, byte>(b.ReadOnlySpan<bool>()), bShape,
                    MemoryMarshal.Cast<bool, byte>(o.Span<bool>()), o.Shape);
                break;
            default: throw Ew.Unsupported(ctx, o.ElementType);
        }
    }
}

/// <summary>Two-input integer/bool bitwise kernels; <c>logical</c> ones take bool only, bitwise ones integers only.</summary>
internal abstract class BitsKernel<TA> : OpKernel where TA : IIntArith
{
    private readonly LegacyBroadcast _legacy;
    private readonly bool _logical;

    private protected BitsKernel(KernelInfo info, bool logical)
    {
        _legacy = new LegacyBroadcast(info);
        _logical = logical;
    }

    public override void Compute(KernelContext ctx)
    {
        var a = ctx.Input(0);
        var b = ctx.Input(1);
        Ew.SameType(ctx, a, b);
        if (_logical != (a.ElementType == DataType.Bool)) throw Ew.Unsupported(ctx, a.ElementType);
        var (bs, os) = _legacy.Shapes(ctx, a, b);
        var o = ctx.OutputUninitialized(0, a.ElementType, os);
        IntArith.Dispatch<TA>(ctx, a, a.Shape, b, bs, o);
    }
}

[OpKernel("And", 1)] internal sealed class And(KernelInfo info) : BitsKernel<AndBits>(info, true);
[OpKernel("Or", 1)] internal sealed class Or(KernelInfo info) : BitsKernel<OrBits>(info, true);
[OpKernel("Xor", 1)] internal sealed class Xor(KernelInfo info) : BitsKernel<XorBits>(info, true);
[OpKernel("BitwiseAnd", 18)] internal sealed class BitwiseAnd(KernelInfo info) : BitsKernel<AndBits>(info, false);
[OpKernel("BitwiseOr", 18)] internal sealed class BitwiseOr(KernelInfo info) : BitsKernel<OrBits>(info, false);
[OpKernel("BitwiseXor", 18)] internal sealed class BitwiseXor(KernelInfo info) : BitsKernel<XorBits>(info, false);

/// <summary>BitShift (unsigned integers): direction LEFT or RIGHT.</summary>
[OpKernel("BitShift", 11)]
internal sealed class BitShift : OpKernel
{
    private readonly bool _left;

    public BitShift(KernelInfo info)
    {
        string dir = info.GetString("direction", "");
        if (dir != "LEFT" && dir != "RIGHT") throw info.Error($"direction must be LEFT or RIGHT, got '{dir}'");
        _left = dir == "LEFT";
    }

    public override void Compute(KernelContext ctx)
    {
        var a = ctx.Input(0);
        var b = ctx.Input(1);
        Ew.SameType(ctx, a, b);
        if (!a.ElementType.IsInteger() || a.ElementType.IsEncoded()) throw Ew.Unsupported(ctx, a.ElementType);
        var o = ctx.OutputUninitialized(0, a.ElementType, Ew.Broadcast(ctx, a.Shape, b.Shape));
        if (_left) IntArith.Dispatch<ShiftLeftBits>(ctx, a, a.Shape, b, b.Shape, o);
        else IntArith.Dispatch<ShiftRightBits>(ctx, a, a.Shape, b, b.Shape, o);
    }
}

/// <summary>Not (bool) and BitwiseNot (integers).</summary>
[OpKernel("Not", 1)]
[OpKernel("BitwiseNot", 18)]
internal sealed class NotKernel : OpKernel
{
    public NotKernel(KernelInfo info) { }

    public override void Compute(KernelContext ctx)
    {
        var x = ctx.Input(0);
        bool logical = ctx.Node.OpType == "Not";
        if (logical != (x.ElementType == DataType.Bool)) throw Ew.Unsupported(ctx, x.ElementType);
        var y = ctx.OutputUninitialized(0, x.ElementType, (int[])x.Shape.Clone());
        switch (x.ElementType)
        {
            case DataType.Bool: { var s = x.ReadOnlySpan<bool>(); var d = y.Span<bool>(); for (int i = 0; i < d.Length; i++) d[i] = !s[i]; break; }
            case DataType.Int8: Invert<sbyte>(x, y); break;
            case DataType.Int16: Invert<short>(x, y); break;
            case DataType.Int32: Invert<int>(x, y); break;
            case DataType.Int64: Invert<long>(x, y); break;
            case DataType.UInt8: Invert<byte>(x, y); break;
            case DataType.UInt16: Invert<ushort>(x, y); break;
            case DataType.UInt32: Invert<uint>(x, y); break;
            case DataType.UInt64: Invert<ulong>(x, y); break;
            default: throw Ew.Unsupported(ctx, x.ElementType);
        }
    }

    private static void Invert<T>(Tensor x, Tensor y) where T : IBinaryInteger<T>
    {
        var s = x.ReadOnlySpan<T>();
        var d = y.Span<T>();
        for (int i = 0; i < d.Length; i++) d[i] = ~s[i];
    }
}

/// <summary>IsNaN and IsInf (detect_positive / detect_negative) over floating types.</summary>
[OpKernel("IsNaN", 9)]
[OpKernel("IsInf", 10)]
internal sealed class FloatClassify : OpKernel
{
    private readonly bool _nan, _pos, _neg;

    public FloatClassify(KernelInfo info)
    {
        _nan = info.Node.OpType == "IsNaN";
        _pos = info.GetInt("detect_positive", 1) != 0;
        _neg = info.GetInt("detect_negative", 1) != 0;
    }

    public override void Compute(KernelContext ctx)
    {
        var x = ctx.Input(0);
        var y = ctx.OutputUninitialized(0, DataType.Bool, (int[])x.Shape.Clone());
        var d = y.Span<bool>();
        switch (x.ElementType)
        {
            case DataType.Float: { var s = x.ReadOnlySpan<float>(); for (int i = 0; i < d.Length; i++) d[i] = Test(s[i]); break; }
            case DataType.Double: { var s = x.ReadOnlySpan<double>(); for (int i = 0; i < d.Length; i++) d[i] = Test(s[i]); break; }
            case DataType.Float16: { var s = x.ReadOnlySpan<Half>(); for (int i = 0; i < d.Length; i++) d[i] = Test((double)s[i]); break; }
            case DataType.BFloat16: { var s = x.ReadOnlySpan<BFloat16>(); for (int i = 0; i < d.Length; i++) d[i] = Test((float)s[i]); break; }
            default: throw Ew.Unsupported(ctx, x.ElementType);
        }
    }

    private bool Test(double v) => _nan ? double.IsNaN(v) : (_pos && double.IsPositiveInfinity(v)) || (_neg && double.IsNegativeInfinity(v));
}

/// <summary>Where: three-way broadcast select over any element type (copied by element size; strings separately).</summary>
[OpKernel("Where", 9)]
internal sealed class Where : OpKernel
{
    public Where(KernelInfo info) { }

    public override void Compute(KernelContext ctx)
    {
        var c = ctx.Input(0);
        var x = ctx.Input(1);
        var y = ctx.Input(2);
        if (c.ElementType != DataType.Bool) throw ctx.Error($"condition must be bool, got {c.ElementType.OnnxName()}");
        Ew.SameType(ctx, x, y);
        var os = Ew.Broadcast(ctx, Ew.Broadcast(ctx, c.Shape, x.Shape), y.Shape);
        var o = ctx.OutputUninitialized(0, x.ElementType, os);
        var cs = c.ReadOnlySpan<bool>();
        if (x.ElementType == DataType.String)
        {
            Select.Where(cs, c.Shape, x.ReadOnlySpan<string>(), x.Shape, y.ReadOnlySpan<string>(), y.Shape, o.Span<string>(), os);
            return;
        }
        switch (x.ElementType.SizeOf())
        {
            case 1: Run<byte>(cs, c, x, y, o); break;
            case 2: Run<short>(cs, c, x, y, o); break;
            case 4: Run<int>(cs, c, x, y, o); break;
            case 8: Run<long>(cs, c, x, y, o); break;
            case 16: Run<decimal>(cs, c, x, y, o); break;
            default: throw Ew.Unsupported(ctx, x.ElementType);
        }
    }

    private static void Run<T>(ReadOnlySpan<bool> cs, Tensor c, Tensor x, Tensor y, Tensor o) where T : struct =>
        Select.Where(cs, c.Shape, MemoryMarshal.Cast<byte, T>(x.Bytes()), x.Shape, MemoryMarshal.Cast<byte, T>(y.Bytes()), y.Shape,
            MemoryMarshal.Cast<byte, T>(o.Bytes()), o.Shape);
}

/// <summary>
/// Clip: bounds are attributes min/max before opset 11 and optional scalar inputs from 11 (integers from 12).
/// Applied as min(max(x, lo), hi), so lo &gt; hi yields hi as the spec requires.
/// </summary>
[OpKernel("Clip", 1)]
internal sealed class Clip : OpKernel
{
    private readonly bool _attrs;
    private readonly float _minAttr, _maxAttr;

    public Clip(KernelInfo info)
    {
        _attrs = info.OpsetVersion < 11;
        _minAttr = info.GetFloat("min", float.NegativeInfinity);
        _maxAttr = info.GetFloat("max", float.PositiveInfinity);
    }

    public override void Compute(KernelContext ctx)
    {
        var x = ctx.Input(0);
        Tensor? lo = _attrs ? null : ctx.OptionalInput(1), hi = _attrs ? null : ctx.OptionalInput(2);
        foreach (var b in new[] { lo, hi })
        {
            if (b is null) continue;
            if (b.ElementType != x.ElementType) throw ctx.Error($"bound type {b.ElementType.OnnxName()} differs from input type {x.ElementType.OnnxName()}");
            if (b.Length != 1) throw ctx.Error($"bounds must be scalars, got shape {ShapeMath.Format(b.Shape)}");
        }
        var y = ctx.OutputUninitialized(0, x.ElementType, (int[])x.Shape.Clone());
        switch (x.ElementType)
        {
            case DataType.Float:
            {
                float l = lo?.Item<float>() ?? (_attrs ? _minAttr : float.NegativeInfinity);
                float h = hi?.Item<float>() ?? (_attrs ? _maxAttr : float.PositiveInfinity);
                ClipFloat(x.ReadOnlySpan<float>(), y.Span<float>(), l, h);
                break;
            }
            case DataType.Double: Run<double>(x, y, lo, hi); break;
            case DataType.Float16: Run<Half>(x, y, lo, hi); break;
            case DataType.Int8: Run<sbyte>(x, y, lo, hi); break;
            case DataType.Int16: Run<short>(x, y, lo, hi); break;
            case DataType.Int32: Run<int>(x, y, lo, hi); break;
            case DataType.Int64: Run<long>(x, y, lo, hi); break;
            case DataType.UInt8: Run<byte>(x, y, lo, hi); break;
            case DataType.UInt16: Run<ushort>(x, y, lo, hi); break;
            case DataType.UInt32: Run<uint>(x, y, lo, hi); break;
            case DataType.UInt64: Run<ulong>(x, y, lo, hi); break;
            case DataType.BFloat16:
            {
                float l = lo is null ? float.NegativeInfinity : (float)lo.Item<BFloat16>();
                float h = hi is null ? float.PositiveInfinity : (float)hi.Item<BFloat16>();
                var s = x.ReadOnlySpan<BFloat16>(); var d = y.Span<BFloat16>();
                for (int i = 0; i < d.Length; i++) { float v = (float)s[i]; v = v < l ? l : v; d[i] = (BFloat16)(v > h ? h : v); }
                break;
            }
            default: throw Ew.Unsupported(ctx, x.ElementType);
        }
    }

    private void Run<T>(Tensor x, Tensor y, Tensor? lo, Tensor? hi) where T : INumber<T>, IMinMaxValue<T>
    {
        // Old-opset attribute bounds only apply to float types; integers without a bound are unbounded.
        T l = lo is not null ? lo.Item<T>() : _attrs && float.IsFinite(_minAttr) ? T.CreateSaturating(_minAttr) : T.MinValue;
        T h = hi is not null ? hi.Item<T>() : _attrs && float.IsFinite(_maxAttr) ? T.CreateSaturating(_maxAttr) : T.MaxValue;
        if (typeof(T) == typeof(double) || typeof(T) == typeof(Half))
        {
            // MinValue of a float type is finite; infinities would also be correct, but the bounds need not change NaN.
            if (lo is null && !(_attrs && float.IsFinite(_minAttr))) l = T.CreateSaturating(double.NegativeInfinity);
            if (hi is null && !(_attrs && float.IsFinite(_maxAttr))) h = T.CreateSaturating(double.PositiveInfinity);
        }
        var s = x.ReadOnlySpan<T>();
        var d = y.Span<T>();
        for (int i = 0; i < d.Length; i++) { T v = s[i] < l ? l : s[i]; d[i] = v > h ? h : v; }
    }

    private static void ClipFloat(ReadOnlySpan<float> x, Span<float> y, float lo, float hi)
    {
        int i = 0, n = y.Length;
        if (Vector256.IsHardwareAccelerated)
        {
            var vl = Vector256.Create(lo);
            var vh = Vector256.Create(hi);
            for (; i <= n - 8; i += 8)
            {
                var v = Vector256.Create(x.Slice(i, 8));
                // Max/Min propagate NaN like the scalar comparisons below.
                Vector256.Min(Vector256.Max(v, vl), vh).CopyTo(y.Slice(i, 8));
            }
        }
        for (; i < n; i++) { float v = x[i] < lo ? lo : x[i]; y[i] = v > hi ? hi : v; }
    }
}
