using System.Numerics;
using NetOnnx.Kernels;
using NetOnnx.Kernels.Elementwise;

namespace NetOnnx.Runtime.Operators.Elementwise;

/// <summary>Runs a real function over a float, double, float16 or bfloat16 tensor (the last two through float).</summary>
internal static class FloatUnary
{
    public static void Run<TOp>(KernelContext ctx) where TOp : IFloatFunction
    {
        var x = ctx.Input(0);
        var y = ctx.OutputUninitialized(0, x.ElementType, (int[])x.Shape.Clone());
        if (x.ElementType is not (DataType.Float or DataType.Double or DataType.Float16 or DataType.BFloat16)) throw Ew.Unsupported(ctx, x.ElementType);
        Ew.Chunked(ctx, x.Length, (s, n) =>
        {
            switch (x.ElementType)
            {
                case DataType.Float: FloatLoops.Apply<TOp>(x.ReadOnlySpan<float>().Slice(s, n), y.Span<float>().Slice(s, n)); break;
                case DataType.Double: FloatLoops.Apply<TOp>(x.ReadOnlySpan<double>().Slice(s, n), y.Span<double>().Slice(s, n)); break;
                case DataType.Float16: { var xs = x.ReadOnlySpan<Half>(); var d = y.Span<Half>(); for (int i = s; i < s + n; i++) d[i] = (Half)TOp.F((float)xs[i]); break; }
                default: { var xs = x.ReadOnlySpan<BFloat16>(); var d = y.Span<BFloat16>(); for (int i = s; i < s + n; i++) d[i] = (BFloat16)TOp.F((float)xs[i]); break; }
            }
        });
    }

    public static void RunVector<TOp>(KernelContext ctx) where TOp : IVectorFloatFunction
    {
        var x = ctx.Input(0);
        if (x.ElementType != DataType.Float) { Run<TOp>(ctx); return; }
        var y = ctx.OutputUninitialized(0, x.ElementType, x.Shape.AsSpan());
        if (Ew.Threads(ctx, x.Length) <= 1) FloatLoops.ApplyVector<TOp>(x.ReadOnlySpan<float>(), y.Span<float>());
        else Chunked<TOp>(ctx, x, y);
    }

    // Apart from RunVector so the closure is only allocated when threads are used.
    private static void Chunked<TOp>(KernelContext ctx, Tensor x, Tensor y) where TOp : IVectorFloatFunction =>
        Ew.Chunked(ctx, x.Length, (s, n) => FloatLoops.ApplyVector<TOp>(x.ReadOnlySpan<float>().Slice(s, n), y.Span<float>().Slice(s, n)));

    private static void IntLoop<T, TOp>(Tensor x, Tensor y, double a, double b) where T : INumber<T> where TOp : IParamFunction
    {
        var s = x.ReadOnlySpan<T>();
        var d = y.Span<T>();
        for (int i = 0; i < d.Length; i++) d[i] = T.CreateSaturating(TOp.D(double.CreateTruncating(s[i]), a, b));
    }

    public static void RunVector<TOp>(KernelContext ctx, float a, float b) where TOp : IVectorParamFunction
    {
        var x = ctx.Input(0);
        if (x.ElementType != DataType.Float) { Run<TOp>(ctx, a, b); return; }
        var y = ctx.OutputUninitialized(0, x.ElementType, x.Shape.AsSpan());
        if (Ew.Threads(ctx, x.Length) <= 1) FloatLoops.ApplyVector<TOp>(x.ReadOnlySpan<float>(), y.Span<float>(), a, b);
        else Chunked<TOp>(ctx, x, y, a, b);
    }

    private static void Chunked<TOp>(KernelContext ctx, Tensor x, Tensor y, float a, float b) where TOp : IVectorParamFunction =>
        Ew.Chunked(ctx, x.Length, (s, n) => FloatLoops.ApplyVector<TOp>(x.ReadOnlySpan<float>().Slice(s, n), y.Span<float>().Slice(s, n), a, b));

    public static void Run<TOp>(KernelContext ctx, float a, float b, bool integers = false) where TOp : IParamFunction
    {
        var x = ctx.Input(0);
        var y = ctx.OutputUninitialized(0, x.ElementType, (int[])x.Shape.Clone());
        if (integers && x.ElementType.IsInteger() && !x.ElementType.IsEncoded())
        {
            // Integer inputs (Shrink allows every numeric type): computed in double, converted back saturating.
            switch (x.ElementType)
            {
                case DataType.Int8: IntLoop<sbyte, TOp>(x, y, a, b); break;
                case DataType.Int16: IntLoop<short, TOp>(x, y, a, b); break;
                case DataType.Int32: IntLoop<int, TOp>(x, y, a, b); break;
                case DataType.Int64: IntLoop<long, TOp>(x, y, a, b); break;
                case DataType.UInt8: IntLoop<byte, TOp>(x, y, a, b); break;
                case DataType.UInt16: IntLoop<ushort, TOp>(x, y, a, b); break;
                case DataType.UInt32: IntLoop<uint, TOp>(x, y, a, b); break;
                default: IntLoop<ulong, TOp>(x, y, a, b); break;
            }
            return;
        }
        if (x.ElementType is not (DataType.Float or DataType.Double or DataType.Float16 or DataType.BFloat16)) throw Ew.Unsupported(ctx, x.ElementType);
        Ew.Chunked(ctx, x.Length, (s, n) =>
        {
            switch (x.ElementType)
            {
                case DataType.Float: FloatLoops.Apply<TOp>(x.ReadOnlySpan<float>().Slice(s, n), y.Span<float>().Slice(s, n), a, b); break;
                case DataType.Double: FloatLoops.Apply<TOp>(x.ReadOnlySpan<double>().Slice(s, n), y.Span<double>().Slice(s, n), a, b); break;
                case DataType.Float16: { var xs = x.ReadOnlySpan<Half>(); var d = y.Span<Half>(); for (int i = s; i < s + n; i++) d[i] = (Half)TOp.F((float)xs[i], a, b); break; }
                default: { var xs = x.ReadOnlySpan<BFloat16>(); var d = y.Span<BFloat16>(); for (int i = s; i < s + n; i++) d[i] = (BFloat16)TOp.F((float)xs[i], a, b); break; }
            }
        });
    }
}

internal abstract class FloatUnaryKernel<TOp> : OpKernel where TOp : IFloatFunction
{
    public override void Compute(KernelContext ctx) => FloatUnary.Run<TOp>(ctx);
}

internal abstract class VectorUnaryKernel<TOp> : OpKernel where TOp : IVectorFloatFunction
{
    public override void Compute(KernelContext ctx) => FloatUnary.RunVector<TOp>(ctx);
}

[OpKernel("Exp", 1)] internal sealed class Exp : VectorUnaryKernel<ExpFn> { public Exp(KernelInfo info) { } }
[OpKernel("Log", 1)] internal sealed class Log : VectorUnaryKernel<LogFn> { public Log(KernelInfo info) { } }
[OpKernel("Sqrt", 1)] internal sealed class Sqrt : VectorUnaryKernel<SqrtFn> { public Sqrt(KernelInfo info) { } }
[OpKernel("Reciprocal", 1)] internal sealed class Reciprocal : VectorUnaryKernel<ReciprocalFn> { public Reciprocal(KernelInfo info) { } }
[OpKernel("Floor", 1)] internal sealed class Floor : VectorUnaryKernel<FloorFn> { public Floor(KernelInfo info) { } }
[OpKernel("Ceil", 1)] internal sealed class Ceil : VectorUnaryKernel<CeilFn> { public Ceil(KernelInfo info) { } }
[OpKernel("Round", 11)] internal sealed class Round : FloatUnaryKernel<RoundFn> { public Round(KernelInfo info) { } }
[OpKernel("Sigmoid", 1)] internal sealed class Sigmoid : VectorUnaryKernel<SigmoidFn> { public Sigmoid(KernelInfo info) { } }
[OpKernel("Tanh", 1)] internal sealed class Tanh : VectorUnaryKernel<TanhFn> { public Tanh(KernelInfo info) { } }
[OpKernel("Erf", 9)] internal sealed class Erf : VectorUnaryKernel<ErfFn> { public Erf(KernelInfo info) { } }
[OpKernel("Sin", 7)] internal sealed class Sin : FloatUnaryKernel<SinFn> { public Sin(KernelInfo info) { } }
[OpKernel("Cos", 7)] internal sealed class Cos : FloatUnaryKernel<CosFn> { public Cos(KernelInfo info) { } }
[OpKernel("Tan", 7)] internal sealed class Tan : FloatUnaryKernel<TanFn> { public Tan(KernelInfo info) { } }
[OpKernel("Asin", 7)] internal sealed class Asin : FloatUnaryKernel<AsinFn> { public Asin(KernelInfo info) { } }
[OpKernel("Acos", 7)] internal sealed class Acos : FloatUnaryKernel<AcosFn> { public Acos(KernelInfo info) { } }
[OpKernel("Atan", 7)] internal sealed class Atan : FloatUnaryKernel<AtanFn> { public Atan(KernelInfo info) { } }
[OpKernel("Sinh", 9)] internal sealed class Sinh : FloatUnaryKernel<SinhFn> { public Sinh(KernelInfo info) { } }
[OpKernel("Cosh", 9)] internal sealed class Cosh : FloatUnaryKernel<CoshFn> { public Cosh(KernelInfo info) { } }
[OpKernel("Asinh", 9)] internal sealed class Asinh : FloatUnaryKernel<AsinhFn> { public Asinh(KernelInfo info) { } }
[OpKernel("Acosh", 9)] internal sealed class Acosh : FloatUnaryKernel<AcoshFn> { public Acosh(KernelInfo info) { } }
[OpKernel("Atanh", 9)] internal sealed class Atanh : FloatUnaryKernel<AtanhFn> { public Atanh(KernelInfo info) { } }
[OpKernel("Softplus", 1)] internal sealed class Softplus : FloatUnaryKernel<SoftplusFn> { public Softplus(KernelInfo info) { } }
[OpKernel("Softsign", 1)] internal sealed class Softsign : FloatUnaryKernel<SoftsignFn> { public Softsign(KernelInfo info) { } }
[OpKernel("Mish", 18)] internal sealed class Mish : FloatUnaryKernel<MishFn> { public Mish(KernelInfo info) { } }
[OpKernel("HardSwish", 14)] internal sealed class HardSwish : VectorUnaryKernel<HardSwishFn> { public HardSwish(KernelInfo info) { } }

/// <summary>
/// Gelu (opset 20): approximate="none" uses erf, "tanh" the tanh approximation. Also serves the optimizer's
/// fused Gelu in the internal domain, for models whose opset predates Gelu.
/// </summary>
[OpKernel("Gelu", 20)]
[OpKernel("Gelu", 1, Domain = FusedOps.Domain)]
internal sealed class Gelu : OpKernel
{
    private readonly bool _tanh;

    public Gelu(KernelInfo info)
    {
        string approx = info.GetString("approximate", "none");
        if (approx != "none" && approx != "tanh") throw info.Error($"approximate must be 'none' or 'tanh', got '{approx}'");
        _tanh = approx == "tanh";
    }

    public override void Compute(KernelContext ctx)
    {
        if (_tanh) FloatUnary.RunVector<GeluTanhFn>(ctx);
        else FloatUnary.RunVector<GeluFn>(ctx);
    }
}

/// <summary>An activation with one or two float attributes and a SIMD float form.</summary>
internal abstract class VectorParamUnaryKernel<TOp> : OpKernel where TOp : IVectorParamFunction
{
    private readonly float _a, _b;

    private protected VectorParamUnaryKernel(float a, float b) { _a = a; _b = b; }

    public override void Compute(KernelContext ctx) => FloatUnary.RunVector<TOp>(ctx, _a, _b);
}

/// <summary>An activation with one or two float attributes.</summary>
internal abstract class ParamUnaryKernel<TOp> : OpKernel where TOp : IParamFunction
{
    private readonly float _a, _b;
    private readonly bool _integers;

    private protected ParamUnaryKernel(float a, float b, bool integers = false) { _a = a; _b = b; _integers = integers; }

    public override void Compute(KernelContext ctx) => FloatUnary.Run<TOp>(ctx, _a, _b, _integers);
}

[OpKernel("LeakyRelu", 1)] internal sealed class LeakyRelu(KernelInfo info) : VectorParamUnaryKernel<LeakyReluFn>(info.GetFloat("alpha", 0.01f), 0);
[OpKernel("Elu", 1)] internal sealed class Elu(KernelInfo info) : VectorParamUnaryKernel<EluFn>(info.GetFloat("alpha", 1f), 0);
[OpKernel("Selu", 1)] internal sealed class Selu(KernelInfo info) : ParamUnaryKernel<SeluFn>(info.GetFloat("alpha", 1.67326319217681884765625f), info.GetFloat("gamma", 1.05070102214813232421875f));
[OpKernel("Celu", 12)] internal sealed class Celu(KernelInfo info) : ParamUnaryKernel<CeluFn>(info.GetFloat("alpha", 1f), 0);
[OpKernel("ThresholdedRelu", 10)] internal sealed class ThresholdedRelu(KernelInfo info) : ParamUnaryKernel<ThresholdedReluFn>(info.GetFloat("alpha", 1f), 0);
[OpKernel("HardSigmoid", 1)] internal sealed class HardSigmoid(KernelInfo info) : VectorParamUnaryKernel<HardSigmoidFn>(info.GetFloat("alpha", 0.2f), info.GetFloat("beta", 0.5f));
[OpKernel("Shrink", 9)] internal sealed class Shrink(KernelInfo info) : ParamUnaryKernel<ShrinkFn>(info.GetFloat("lambd", 0.5f), info.GetFloat("bias", 0f), integers: true);
[OpKernel("Swish", 24)] internal sealed class Swish(KernelInfo info) : VectorParamUnaryKernel<SwishFn>(info.GetFloat("alpha", 1f), 0);

/// <summary>An operation over every numeric type (Abs, Neg, Sign, Relu on integers).</summary>
internal interface INumericFunction
{
    static abstract T Apply<T>(T x) where T : INumber<T>;
}

internal static class NumericUnary
{
    public static void Run<TOp>(KernelContext ctx) where TOp : INumericFunction
    {
        var x = ctx.Input(0);
        var y = ctx.OutputUninitialized(0, x.ElementType, (int[])x.Shape.Clone());
        switch (x.ElementType)
        {
            case DataType.Float: Loop<float, TOp>(x, y); break;
            case DataType.Double: Loop<double, TOp>(x, y); break;
            case DataType.Float16: Loop<Half, TOp>(x, y); break;
            case DataType.Int8: Loop<sbyte, TOp>(x, y); break;
            case DataType.Int16: Loop<short, TOp>(x, y); break;
            case DataType.Int32: Loop<int, TOp>(x, y); break;
            case DataType.Int64: Loop<long, TOp>(x, y); break;
            case DataType.UInt8: Loop<byte, TOp>(x, y); break;
            case DataType.UInt16: Loop<ushort, TOp>(x, y); break;
            case DataType.UInt32: Loop<uint, TOp>(x, y); break;
            case DataType.UInt64: Loop<ulong, TOp>(x, y); break;
            case DataType.BFloat16: { var s = x.ReadOnlySpan<BFloat16>(); var d = y.Span<BFloat16>(); for (int i = 0; i < d.Length; i++) d[i] = (BFloat16)TOp.Apply((float)s[i]); break; }
            default: throw Ew.Unsupported(ctx, x.ElementType);
        }
    }

    private static void Loop<T, TOp>(Tensor x, Tensor y) where T : INumber<T> where TOp : INumericFunction
    {
        var s = x.ReadOnlySpan<T>();
        var d = y.Span<T>();
        for (int i = 0; i < d.Length; i++) d[i] = TOp.Apply(s[i]);
    }
}

// Written with comparisons rather than T.Abs/T.Sign: those throw on int.MinValue and NaN, ONNX wraps/propagates.
internal readonly struct AbsNum : INumericFunction { public static T Apply<T>(T x) where T : INumber<T> => x < T.Zero ? -x : x; }
internal readonly struct NegNum : INumericFunction { public static T Apply<T>(T x) where T : INumber<T> => -x; }
internal readonly struct SignNum : INumericFunction { public static T Apply<T>(T x) where T : INumber<T> => x > T.Zero ? T.One : x < T.Zero ? -T.One : x; }
internal readonly struct ReluNum : INumericFunction { public static T Apply<T>(T x) where T : INumber<T> => x < T.Zero ? T.Zero : x; }

[OpKernel("Abs", 1)]
internal sealed class Abs : OpKernel
{
    public Abs(KernelInfo info) { }

    public override void Compute(KernelContext ctx)
    {
        if (ctx.Input(0).ElementType == DataType.Float)
        {
            var x = ctx.Input(0);
            var y = ctx.OutputUninitialized(0, x.ElementType, (int[])x.Shape.Clone());
            FloatLoops.ApplyVector<AbsFn>(x.ReadOnlySpan<float>(), y.Span<float>());
        }
        else NumericUnary.Run<AbsNum>(ctx);
    }
}

[OpKernel("Neg", 1)]
internal sealed class Neg : OpKernel
{
    public Neg(KernelInfo info) { }

    public override void Compute(KernelContext ctx) => NumericUnary.Run<NegNum>(ctx);
}

[OpKernel("Sign", 9)]
internal sealed class Sign : OpKernel
{
    public Sign(KernelInfo info) { }

    public override void Compute(KernelContext ctx) => NumericUnary.Run<SignNum>(ctx);
}

/// <summary>Relu: vectorised for float; opset 14 adds signed integers.</summary>
[OpKernel("Relu", 1)]
internal sealed class Relu : OpKernel
{
    public Relu(KernelInfo info) { }

    public override void Compute(KernelContext ctx)
    {
        if (ctx.Input(0).ElementType == DataType.Float) FloatUnary.RunVector<ReluFn>(ctx);
        else NumericUnary.Run<ReluNum>(ctx);
    }
}

/// <summary>PRelu: slope broadcasts to X (numpy style; per-channel [C] slopes of old models are also accepted).</summary>
[OpKernel("PRelu", 1)]
internal sealed class PRelu : OpKernel
{
    public PRelu(KernelInfo info) { }

    public override void Compute(KernelContext ctx)
    {
        var x = ctx.Input(0);
        var slope = ctx.Input(1);
        Ew.SameType(ctx, x, slope);
        var sShape = slope.Shape;
        if (!BroadcastsTo(sShape, x.Shape))
        {
            // Opset < 7 models may give a [C] slope for an [N, C, ...] input.
            if (slope.Length == (x.Rank >= 2 ? x.Shape[1] : -1))
            {
                sShape = new int[x.Rank - 1];
                Array.Fill(sShape, 1);
                sShape[0] = slope.Length;
            }
            else throw ctx.Error($"slope of shape {ShapeMath.Format(slope.Shape)} cannot broadcast to input shape {ShapeMath.Format(x.Shape)}");
        }
        var y = ctx.OutputUninitialized(0, x.ElementType, (int[])x.Shape.Clone());
        Arith.Dispatch<PReluArith>(ctx, x, x.Shape, slope, sShape, y);
    }

    private static bool BroadcastsTo(int[] s, int[] target)
    {
        if (s.Length > target.Length) return false;
        for (int i = 0; i < s.Length; i++)
        {
            int d = s[s.Length - 1 - i], t = target[target.Length - 1 - i];
            if (d != t && d != 1) return false;
        }
        return true;
    }
}
