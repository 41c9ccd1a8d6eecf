using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace NetOnnx.Kernels.Elementwise;

/// <summary>A unary real function in float and double (half and bfloat16 are computed through float).</summary>
public interface IFloatFunction
{
    static abstract float F(float x);
    static abstract double D(double x);
}

/// <summary>A float function with SIMD forms, for the hot activations.</summary>
public interface IVectorFloatFunction : IFloatFunction
{
    static abstract Vector512<float> V(Vector512<float> x);
    static abstract Vector256<float> V(Vector256<float> x);
    static abstract Vector128<float> V(Vector128<float> x);
}

/// <summary>A unary real function with up to two parameters taken from node attributes.</summary>
public interface IParamFunction
{
    static abstract float F(float x, float a, float b);
    static abstract double D(double x, double a, double b);
}

/// <summary>A parametrised float function with SIMD forms (the parameters come broadcast in vectors).</summary>
public interface IVectorParamFunction : IParamFunction
{
    static abstract Vector512<float> V(Vector512<float> x, Vector512<float> a, Vector512<float> b);
    static abstract Vector256<float> V(Vector256<float> x, Vector256<float> a, Vector256<float> b);
    static abstract Vector128<float> V(Vector128<float> x, Vector128<float> a, Vector128<float> b);
}

public static class FloatLoops
{
    public static void ApplyVector<TOp>(ReadOnlySpan<float> x, Span<float> y, float a, float b) where TOp : IVectorParamFunction
    {
        int n = y.Length, i = 0;
        ref float rx = ref MemoryMarshal.GetReference(x);
        ref float ry = ref MemoryMarshal.GetReference(y);
        if (Vector512.IsHardwareAccelerated)
        {
            var va = Vector512.Create(a); var vb = Vector512.Create(b);
            for (; i <= n - 16; i += 16) TOp.V(Vector512.LoadUnsafe(ref rx, (nuint)i), va, vb).StoreUnsafe(ref ry, (nuint)i);
        }
        if (Vector256.IsHardwareAccelerated)
        {
            var va = Vector256.Create(a); var vb = Vector256.Create(b);
            for (; i <= n - 8; i += 8) TOp.V(Vector256.LoadUnsafe(ref rx, (nuint)i), va, vb).StoreUnsafe(ref ry, (nuint)i);
        }
        if (Vector128.IsHardwareAccelerated)
        {
            var va = Vector128.Create(a); var vb = Vector128.Create(b);
            for (; i <= n - 4; i += 4) TOp.V(Vector128.LoadUnsafe(ref rx, (nuint)i), va, vb).StoreUnsafe(ref ry, (nuint)i);
        }
        for (; i < n; i++) Unsafe.Add(ref ry, i) = TOp.F(Unsafe.Add(ref rx, i), a, b);
    }

    public static void Apply<TOp>(ReadOnlySpan<float> x, Span<float> y) where TOp : IFloatFunction
    {
        for (int i = 0; i < y.Length; i++) y[i] = TOp.F(x[i]);
    }

    public static void Apply<TOp>(ReadOnlySpan<double> x, Span<double> y) where TOp : IFloatFunction
    {
        for (int i = 0; i < y.Length; i++) y[i] = TOp.D(x[i]);
    }

    public static void ApplyVector<TOp>(ReadOnlySpan<float> x, Span<float> y) where TOp : IVectorFloatFunction
    {
        int n = y.Length, i = 0;
        ref float rx = ref MemoryMarshal.GetReference(x);
        ref float ry = ref MemoryMarshal.GetReference(y);
        if (Vector512.IsHardwareAccelerated)
            for (; i <= n - 16; i += 16) TOp.V(Vector512.LoadUnsafe(ref rx, (nuint)i)).StoreUnsafe(ref ry, (nuint)i);
        if (Vector256.IsHardwareAccelerated)
            for (; i <= n - 8; i += 8) TOp.V(Vector256.LoadUnsafe(ref rx, (nuint)i)).StoreUnsafe(ref ry, (nuint)i);
        if (Vector128.IsHardwareAccelerated)
            for (; i <= n - 4; i += 4) TOp.V(Vector128.LoadUnsafe(ref rx, (nuint)i)).StoreUnsafe(ref ry, (nuint)i);
        for (; i < n; i++) Unsafe.Add(ref ry, i) = TOp.F(Unsafe.Add(ref rx, i));
    }

    public static void Apply<TOp>(ReadOnlySpan<float> x, Span<float> y, float a, float b) where TOp : IParamFunction
    {
        for (int i = 0; i < y.Length; i++) y[i] = TOp.F(x[i], a, b);
    }

    public static void Apply<TOp>(ReadOnlySpan<double> x, Span<double> y, double a, double b) where TOp : IParamFunction
    {
        for (int i = 0; i < y.Length; i++) y[i] = TOp.D(x[i], a, b);
    }
}

// ---- plain functions ----

public readonly struct ExpFn : IVectorFloatFunction
{
    public static float F(float x) => MathF.Exp(x);
    public static double D(double x) => Math.Exp(x);
    public static Vector512<float> V(Vector512<float> x) => Vector512.Exp(x);
    public static Vector256<float> V(Vector256<float> x) => Vector256.Exp(x);
    public static Vector128<float> V(Vector128<float> x) => Vector128.Exp(x);
}

public readonly struct LogFn : IVectorFloatFunction
{
    public static float F(float x) => MathF.Log(x);
    public static double D(double x) => Math.Log(x);
    public static Vector512<float> V(Vector512<float> x) => Vector512.Log(x);
    public static Vector256<float> V(Vector256<float> x) => Vector256.Log(x);
    public static Vector128<float> V(Vector128<float> x) => Vector128.Log(x);
}

public readonly struct SqrtFn : IVectorFloatFunction
{
    public static float F(float x) => MathF.Sqrt(x);
    public static double D(double x) => Math.Sqrt(x);
    public static Vector512<float> V(Vector512<float> x) => Vector512.Sqrt(x);
    public static Vector256<float> V(Vector256<float> x) => Vector256.Sqrt(x);
    public static Vector128<float> V(Vector128<float> x) => Vector128.Sqrt(x);
}

public readonly struct ReciprocalFn : IVectorFloatFunction
{
    public static float F(float x) => 1f / x;
    public static double D(double x) => 1.0 / x;
    public static Vector512<float> V(Vector512<float> x) => Vector512<float>.One / x;
    public static Vector256<float> V(Vector256<float> x) => Vector256<float>.One / x;
    public static Vector128<float> V(Vector128<float> x) => Vector128<float>.One / x;
}

public readonly struct FloorFn : IVectorFloatFunction
{
    public static float F(float x) => MathF.Floor(x);
    public static double D(double x) => Math.Floor(x);
    public static Vector512<float> V(Vector512<float> x) => Vector512.Floor(x);
    public static Vector256<float> V(Vector256<float> x) => Vector256.Floor(x);
    public static Vector128<float> V(Vector128<float> x) => Vector128.Floor(x);
}

public readonly struct CeilFn : IVectorFloatFunction
{
    public static float F(float x) => MathF.Ceiling(x);
    public static double D(double x) => Math.Ceiling(x);
    public static Vector512<float> V(Vector512<float> x) => Vector512.Ceiling(x);
    public static Vector256<float> V(Vector256<float> x) => Vector256.Ceiling(x);
    public static Vector128<float> V(Vector128<float> x) => Vector128.Ceiling(x);
}

/// <summary>Round half to even, as ONNX (and numpy) specify.</summary>
public readonly struct RoundFn : IFloatFunction
{
    public static float F(float x) => MathF.Round(x, MidpointRounding.ToEven);
    public static double D(double x) => Math.Round(x, MidpointRounding.ToEven);
}

public readonly struct ReluFn : IVectorFloatFunction
{
    // x > 0 ? x : 0 keeps NaN as NaN, like the reference.
    public static float F(float x) => x > 0 ? x : (float.IsNaN(x) ? x : 0f);
    public static double D(double x) => x > 0 ? x : (double.IsNaN(x) ? x : 0.0);
    public static Vector512<float> V(Vector512<float> x) => Vector512.ConditionalSelect(Vector512.LessThanOrEqual(x, Vector512<float>.Zero), Vector512<float>.Zero, x);
    public static Vector256<float> V(Vector256<float> x) => Vector256.ConditionalSelect(Vector256.LessThanOrEqual(x, Vector256<float>.Zero), Vector256<float>.Zero, x);
    public static Vector128<float> V(Vector128<float> x) => Vector128.ConditionalSelect(Vector128.LessThanOrEqual(x, Vector128<float>.Zero), Vector128<float>.Zero, x);
}

public readonly struct SigmoidFn : IVectorFloatFunction
{
    public static float F(float x) => ScalarMath.Sigmoid(x);
    public static double D(double x) => ScalarMath.Sigmoid(x);
    // 1/(1+exp(-x)): exp overflows to +inf for very negative x, giving the correct limit 0.
    public static Vector512<float> V(Vector512<float> x) => VectorMath.Sigmoid(x);
    public static Vector256<float> V(Vector256<float> x) => VectorMath.Sigmoid(x);
    public static Vector128<float> V(Vector128<float> x) => VectorMath.Sigmoid(x);
}

public readonly struct TanhFn : IVectorFloatFunction
{
    public static float F(float x) => MathF.Tanh(x);
    public static double D(double x) => Math.Tanh(x);
    public static Vector512<float> V(Vector512<float> x) => VectorMath.Tanh(x);
    public static Vector256<float> V(Vector256<float> x) => VectorMath.Tanh(x);
    public static Vector128<float> V(Vector128<float> x) => VectorMath.Tanh(x);
}

public readonly struct ErfFn : IVectorFloatFunction
{
    public static float F(float x) => ScalarMath.Erf(x);
    public static double D(double x) => ScalarMath.Erf(x);
    public static Vector512<float> V(Vector512<float> x) => VectorMath.Erf(x);
    public static Vector256<float> V(Vector256<float> x) => VectorMath.Erf(x);
    public static Vector128<float> V(Vector128<float> x) => VectorMath.Erf(x);
}

public readonly struct SinFn : IFloatFunction { public static float F(float x) => MathF.Sin(x); public static double D(double x) => Math.Sin(x); }
public readonly struct CosFn : IFloatFunction { public static float F(float x) => MathF.Cos(x); public static double D(double x) => Math.Cos(x); }
public readonly struct TanFn : IFloatFunction { public static float F(float x) => MathF.Tan(x); public static double D(double x) => Math.Tan(x); }
public readonly struct AsinFn : IFloatFunction { public static float F(float x) => MathF.Asin(x); public static double D(double x) => Math.Asin(x); }
public readonly struct AcosFn : IFloatFunction { public static float F(float x) => MathF.Acos(x); public static double D(double x) => Math.Acos(x); }
public readonly struct AtanFn : IFloatFunction { public static float F(float x) => MathF.Atan(x); public static double D(double x) => Math.Atan(x); }
public readonly struct SinhFn : IFloatFunction { public static float F(float x) => MathF.Sinh(x); public static double D(double x) => Math.Sinh(x); }
public readonly struct CoshFn : IFloatFunction { public static float F(float x) => MathF.Cosh(x); public static double D(double x) => Math.Cosh(x); }
public readonly struct AsinhFn : IFloatFunction { public static float F(float x) => MathF.Asinh(x); public static double D(double x) => Math.Asinh(x); }
public readonly struct AcoshFn : IFloatFunction { public static float F(float x) => MathF.Acosh(x); public static double D(double x) => Math.Acosh(x); }
public readonly struct AtanhFn : IFloatFunction { public static float F(float x) => MathF.Atanh(x); public static double D(double x) => Math.Atanh(x); }

public readonly struct SoftplusFn : IFloatFunction
{
    public static float F(float x) => ScalarMath.Softplus(x);
    public static double D(double x) => ScalarMath.Softplus(x);
}

public readonly struct SoftsignFn : IFloatFunction
{
    public static float F(float x) => x / (1 + MathF.Abs(x));
    public static double D(double x) => x / (1 + Math.Abs(x));
}

/// <summary>Mish: x * tanh(softplus(x)).</summary>
public readonly struct MishFn : IFloatFunction
{
    public static float F(float x) => (float)D(x);
    public static double D(double x) => x * Math.Tanh(ScalarMath.Softplus(x));
}

/// <summary>HardSwish: x * max(0, min(1, x/6 + 1/2)).</summary>
public readonly struct HardSwishFn : IVectorFloatFunction
{
    public static float F(float x) => x * Math.Clamp(x / 6f + 0.5f, 0f, 1f);
    public static double D(double x) => x * Math.Clamp(x / 6.0 + 0.5, 0.0, 1.0);
    public static Vector512<float> V(Vector512<float> x) =>
        x * Vector512.Max(Vector512<float>.Zero, Vector512.Min(Vector512<float>.One, x / Vector512.Create(6f) + Vector512.Create(0.5f)));
    public static Vector256<float> V(Vector256<float> x) =>
        x * Vector256.Max(Vector256<float>.Zero, Vector256.Min(Vector256<float>.One, x / Vector256.Create(6f) + Vector256.Create(0.5f)));
    public static Vector128<float> V(Vector128<float> x) =>
        x * Vector128.Max(Vector128<float>.Zero, Vector128.Min(Vector128<float>.One, x / Vector128.Create(6f) + Vector128.Create(0.5f)));
}

/// <summary>Gelu with the exact erf form.</summary>
public readonly struct GeluFn : IVectorFloatFunction
{
    public static float F(float x) => (float)D(x);
    public static double D(double x) => 0.5 * x * (1 + ScalarMath.Erf(x * 0.70710678118654752));
    public static Vector512<float> V(Vector512<float> x) => VectorMath.Gelu(x);
    public static Vector256<float> V(Vector256<float> x) => VectorMath.Gelu(x);
    public static Vector128<float> V(Vector128<float> x) => VectorMath.Gelu(x);
}

/// <summary>Gelu with the tanh approximation.</summary>
public readonly struct GeluTanhFn : IVectorFloatFunction
{
    public static float F(float x) => (float)D(x);
    public static double D(double x) => 0.5 * x * (1 + Math.Tanh(0.79788456080286536 * (x + 0.044715 * x * x * x)));
    public static Vector512<float> V(Vector512<float> x) => VectorMath.GeluTanh(x);
    public static Vector256<float> V(Vector256<float> x) => VectorMath.GeluTanh(x);
    public static Vector128<float> V(Vector128<float> x) => VectorMath.GeluTanh(x);
}

// ---- parametrised functions (a, b from attributes) ----

public readonly struct LeakyReluFn : IVectorParamFunction
{
    public static float F(float x, float a, float b) => x >= 0 ? x : a * x;
    public static double D(double x, double a, double b) => x >= 0 ? x : a * x;
    public static Vector512<float> V(Vector512<float> x, Vector512<float> a, Vector512<float> b) =>
        Vector512.ConditionalSelect(Vector512.LessThan(x, Vector512<float>.Zero), a * x, x);
    public static Vector256<float> V(Vector256<float> x, Vector256<float> a, Vector256<float> b) =>
        Vector256.ConditionalSelect(Vector256.LessThan(x, Vector256<float>.Zero), a * x, x);
    public static Vector128<float> V(Vector128<float> x, Vector128<float> a, Vector128<float> b) =>
        Vector128.ConditionalSelect(Vector128.LessThan(x, Vector128<float>.Zero), a * x, x);
}

public readonly struct EluFn : IVectorParamFunction
{
    public static float F(float x, float a, float b) => x >= 0 ? x : a * (MathF.Exp(x) - 1);
    public static double D(double x, double a, double b) => x >= 0 ? x : a * (Math.Exp(x) - 1);
    public static Vector512<float> V(Vector512<float> x, Vector512<float> a, Vector512<float> b) =>
        Vector512.ConditionalSelect(Vector512.LessThan(x, Vector512<float>.Zero), a * (Vector512.Exp(x) - Vector512<float>.One), x);
    public static Vector256<float> V(Vector256<float> x, Vector256<float> a, Vector256<float> b) =>
        Vector256.ConditionalSelect(Vector256.LessThan(x, Vector256<float>.Zero), a * (Vector256.Exp(x) - Vector256<float>.One), x);
    public static Vector128<float> V(Vector128<float> x, Vector128<float> a, Vector128<float> b) =>
        Vector128.ConditionalSelect(Vector128.LessThan(x, Vector128<float>.Zero), a * (Vector128.Exp(x) - Vector128<float>.One), x);
}

/// <summary>Selu: a = alpha, b = gamma.</summary>
public readonly struct SeluFn : IParamFunction
{
    public static float F(float x, float a, float b) => x > 0 ? b * x : b * (a * MathF.Exp(x) - a);
    public static double D(double x, double a, double b) => x > 0 ? b * x : b * (a * Math.Exp(x) - a);
}

/// <summary>Celu: max(0,x) + min(0, alpha*(exp(x/alpha)-1)).</summary>
public readonly struct CeluFn : IParamFunction
{
    public static float F(float x, float a, float b) => MathF.Max(0, x) + MathF.Min(0, a * (MathF.Exp(x / a) - 1));
    public static double D(double x, double a, double b) => Math.Max(0, x) + Math.Min(0, a * (Math.Exp(x / a) - 1));
}

public readonly struct ThresholdedReluFn : IParamFunction
{
    public static float F(float x, float a, float b) => x > a ? x : 0f;
    public static double D(double x, double a, double b) => x > a ? x : 0.0;
}

/// <summary>HardSigmoid: max(0, min(1, alpha*x + beta)).</summary>
public readonly struct HardSigmoidFn : IVectorParamFunction
{
    public static float F(float x, float a, float b) => MathF.Max(0, MathF.Min(1, a * x + b));
    public static double D(double x, double a, double b) => Math.Max(0, Math.Min(1, a * x + b));
    public static Vector512<float> V(Vector512<float> x, Vector512<float> a, Vector512<float> b) =>
        Vector512.Max(Vector512<float>.Zero, Vector512.Min(Vector512<float>.One, a * x + b));
    public static Vector256<float> V(Vector256<float> x, Vector256<float> a, Vector256<float> b) =>
        Vector256.Max(Vector256<float>.Zero, Vector256.Min(Vector256<float>.One, a * x + b));
    public static Vector128<float> V(Vector128<float> x, Vector128<float> a, Vector128<float> b) =>
        Vector128.Max(Vector128<float>.Zero, Vector128.Min(Vector128<float>.One, a * x + b));
}

/// <summary>Shrink: a = lambd, b = bias.</summary>
public readonly struct ShrinkFn : IParamFunction
{
    public static float F(float x, float a, float b) => x < -a ? x + b : x > a ? x - b : 0f;
    public static double D(double x, double a, double b) => x < -a ? x + b : x > a ? x - b : 0.0;
}

/// <summary>Swish: x * sigmoid(alpha * x).</summary>
public readonly struct SwishFn : IVectorParamFunction
{
    public static float F(float x, float a, float b) => x * ScalarMath.Sigmoid(a * x);
    public static double D(double x, double a, double b) => x * ScalarMath.Sigmoid(a * x);
    public static Vector512<float> V(Vector512<float> x, Vector512<float> a, Vector512<float> b) => x * VectorMath.Sigmoid(a * x);
    public static Vector256<float> V(Vector256<float> x, Vector256<float> a, Vector256<float> b) => x * VectorMath.Sigmoid(a * x);
    public static Vector128<float> V(Vector128<float> x, Vector128<float> a, Vector128<float> b) => x * VectorMath.Sigmoid(a * x);
}

public readonly struct AbsFn : IVectorFloatFunction
{
    public static float F(float x) => MathF.Abs(x);
    public static double D(double x) => Math.Abs(x);
    public static Vector512<float> V(Vector512<float> x) => Vector512.Abs(x);
    public static Vector256<float> V(Vector256<float> x) => Vector256.Abs(x);
    public static Vector128<float> V(Vector128<float> x) => Vector128.Abs(x);
}
