using NetOnnx.Kernels;
using NetOnnx.Kernels.Elementwise;

namespace NetOnnx.Runtime.Operators.Elementwise;

/// <summary>A two-input broadcasting arithmetic op; opset 1-6 forms honour the broadcast/axis attributes.</summary>
internal abstract class BinaryArithKernel<TA> : OpKernel where TA : IArith
{
    private readonly LegacyBroadcast _legacy;
    private readonly BroadcastShapeCache _shapes = new();

    private protected BinaryArithKernel(KernelInfo info) => _legacy = new LegacyBroadcast(info);

    public override void Compute(KernelContext ctx)
    {
        var a = ctx.Input(0);
        var b = ctx.Input(1);
        Ew.SameType(ctx, a, b);
        var (bShape, outShape) = _legacy.Shapes(ctx, a, b, _shapes);
        var o = ctx.OutputUninitialized(0, a.ElementType, outShape);
        Arith.Dispatch<TA>(ctx, a, a.Shape, b, bShape, o);
    }
}

[OpKernel("Add", 1)]
internal sealed class Add(KernelInfo info) : BinaryArithKernel<AddArith>(info);

[OpKernel("Sub", 1)]
internal sealed class Sub(KernelInfo info) : BinaryArithKernel<SubArith>(info);

[OpKernel("Mul", 1)]
internal sealed class Mul(KernelInfo info) : BinaryArithKernel<MulArith>(info);

[OpKernel("Div", 1)]
internal sealed class Div(KernelInfo info) : BinaryArithKernel<DivArith>(info);

/// <summary>Mod: fmod=0 gives the divisor's sign (integers), fmod=1 the dividend's (C fmod).</summary>
[OpKernel("Mod", 10)]
internal sealed class Mod : OpKernel
{
    private readonly bool _fmod;

    public Mod(KernelInfo info) => _fmod = info.GetInt("fmod", 0) != 0;

    public override void Compute(KernelContext ctx)
    {
        var a = ctx.Input(0);
        var b = ctx.Input(1);
        Ew.SameType(ctx, a, b);
        var o = ctx.OutputUninitialized(0, a.ElementType, Ew.Broadcast(ctx, a.Shape, b.Shape));
        if (_fmod) Arith.Dispatch<TruncModArith>(ctx, a, a.Shape, b, b.Shape, o);
        else Arith.Dispatch<FloorModArith>(ctx, a, a.Shape, b, b.Shape, o);
    }
}

/// <summary>
/// Pow: the output has the base's type; the exponent may be any numeric type (opset 12+). Computed in
/// double, with fast paths for a float base and a scalar exponent (x^2, x^0.5 are common in decomposed norms).
/// </summary>
[OpKernel("Pow", 1)]
internal sealed class Pow : OpKernel
{
    private readonly LegacyBroadcast _legacy;

    public Pow(KernelInfo info) => _legacy = new LegacyBroadcast(info);

    public override void Compute(KernelContext ctx)
    {
        var a = ctx.Input(0);
        var b = ctx.Input(1);
        var (bShape, outShape) = _legacy.Shapes(ctx, a, b);
        var t = a.ElementType;
        if (!(t.IsFloat() && !t.IsEncoded() || t.IsInteger() && !t.IsEncoded())) throw Ew.Unsupported(ctx, t);
        if (!(b.ElementType.IsFloat() && !b.ElementType.IsEncoded() || b.ElementType.IsInteger() && !b.ElementType.IsEncoded()))
            throw ctx.Error($"exponent element type {b.ElementType.OnnxName()} is not supported");
        var o = ctx.OutputUninitialized(0, t, outShape);

        if (t == DataType.Float && b.Length == 1 && ShapeMath.SameShape(a.Shape, outShape))
        {
            double e = b.GetDouble(0);
            var x = a.ReadOnlySpan<float>();
            var y = o.Span<float>();
            if (e == 2) Broadcasting.Flat<float, MultiplyOperator<float>>(x, x, y);
            else if (e == 1) x.CopyTo(y);
            else if (e == 0.5) FloatLoops.ApplyVector<SqrtFn>(x, y);
            else { float fe = (float)e; for (int i = 0; i < y.Length; i++) y[i] = MathF.Pow(x[i], fe); }
            return;
        }

        var r = new double[o.Length];
        Broadcasting.Binary<double, double, PowOperator>(Ew.ToDouble(a), a.Shape, Ew.ToDouble(b), bShape, r, outShape);
        Store(ctx, r, o);
    }

    private static void Store(KernelContext ctx, double[] r, Tensor o)
    {
        switch (o.ElementType)
        {
            case DataType.Double: r.CopyTo(o.Span<double>()); break;
            case DataType.Float: { var d = o.Span<float>(); for (int i = 0; i < d.Length; i++) d[i] = (float)r[i]; break; }
            case DataType.Float16: { var d = o.Span<Half>(); for (int i = 0; i < d.Length; i++) d[i] = (Half)r[i]; break; }
            case DataType.BFloat16: { var d = o.Span<BFloat16>(); for (int i = 0; i < d.Length; i++) d[i] = (BFloat16)(float)r[i]; break; }
            // Integer bases: the C cast of pow's result, truncating toward zero.
            case DataType.Int32: { var d = o.Span<int>(); for (int i = 0; i < d.Length; i++) d[i] = (int)(long)r[i]; break; }
            case DataType.Int64: { var d = o.Span<long>(); for (int i = 0; i < d.Length; i++) d[i] = (long)r[i]; break; }
            case DataType.Int8: { var d = o.Span<sbyte>(); for (int i = 0; i < d.Length; i++) d[i] = (sbyte)(long)r[i]; break; }
            case DataType.Int16: { var d = o.Span<short>(); for (int i = 0; i < d.Length; i++) d[i] = (short)(long)r[i]; break; }
            case DataType.UInt8: { var d = o.Span<byte>(); for (int i = 0; i < d.Length; i++) d[i] = (byte)(long)r[i]; break; }
            case DataType.UInt16: { var d = o.Span<ushort>(); for (int i = 0; i < d.Length; i++) d[i] = (ushort)(long)r[i]; break; }
            case DataType.UInt32: { var d = o.Span<uint>(); for (int i = 0; i < d.Length; i++) d[i] = (uint)(long)r[i]; break; }
            case DataType.UInt64: { var d = o.Span<ulong>(); for (int i = 0; i < d.Length; i++) d[i] = (ulong)r[i]; break; }
            default: throw Ew.Unsupported(ctx, o.ElementType);
        }
    }
}

/// <summary>
/// Variadic Sum/Max/Min/Mean: the output is the broadcast of all inputs; the first two inputs are combined
/// into it, then each further input is folded in place (safe because the accumulator has the output shape).
/// </summary>
internal abstract class VariadicKernel<TA> : OpKernel where TA : IArith
{
    private readonly bool _mean;

    private protected VariadicKernel(KernelInfo info, bool mean) => _mean = mean;

    public override void Compute(KernelContext ctx)
    {
        int n = ctx.InputCount;
        if (n == 0) throw ctx.Error("needs at least one input");
        var first = ctx.Input(0);
        var shape = first.Shape;
        for (int i = 1; i < n; i++)
        {
            var t = ctx.Input(i);
            Ew.SameType(ctx, first, t);
            shape = Ew.Broadcast(ctx, shape, t.Shape);
        }
        if (_mean && !first.ElementType.IsFloat()) throw Ew.Unsupported(ctx, first.ElementType);
        var o = ctx.OutputUninitialized(0, first.ElementType, shape);
        if (n == 1)
        {
            // A single input of the output's shape is a copy.
            Array.Copy(first.Buffer, o.Buffer, first.Length);
            return;
        }
        Arith.Dispatch<TA>(ctx, first, first.Shape, ctx.Input(1), ctx.Input(1).Shape, o);
        for (int i = 2; i < n; i++)
        {
            var t = ctx.Input(i);
            Arith.Dispatch<TA>(ctx, o, o.Shape, t, t.Shape, o);
        }
        if (_mean) DivideBy(ctx, o, n);
    }

    private static void DivideBy(KernelContext ctx, Tensor o, int n)
    {
        switch (o.ElementType)
        {
            case DataType.Float: { var d = o.Span<float>(); float f = n; for (int i = 0; i < d.Length; i++) d[i] /= f; break; }
            case DataType.Double: { var d = o.Span<double>(); for (int i = 0; i < d.Length; i++) d[i] /= n; break; }
            case DataType.Float16: { var d = o.Span<Half>(); for (int i = 0; i < d.Length; i++) d[i] = (Half)((float)d[i] / n); break; }
            case DataType.BFloat16: { var d = o.Span<BFloat16>(); for (int i = 0; i < d.Length; i++) d[i] = (BFloat16)((float)d[i] / n); break; }
            default: throw Ew.Unsupported(ctx, o.ElementType);
        }
    }
}

[OpKernel("Sum", 1)]
internal sealed class Sum(KernelInfo info) : VariadicKernel<AddArith>(info, false);

[OpKernel("Mean", 1)]
internal sealed class Mean(KernelInfo info) : VariadicKernel<AddArith>(info, true);

[OpKernel("Max", 1)]
internal sealed class Max(KernelInfo info) : VariadicKernel<MaxArith>(info, false);

[OpKernel("Min", 1)]
internal sealed class Min(KernelInfo info) : VariadicKernel<MinArith>(info, false);
