using System.Runtime.Intrinsics;

namespace NetOnnx.Kernels.Elementwise;

/// <summary>
/// SIMD float approximations of tanh and erf (rational minimax fits, about 3e-7 absolute error, the
/// accuracy float needs) and the activations built on them. Exp comes from the vector library.
/// </summary>
public static class VectorMath
{
    public static Vector512<float> Tanh(Vector512<float> x)
    {
        var c = Vector512.Create(7.90531110763549805f);
        var xc = Vector512.Min(Vector512.Max(x, -c), c);
        var x2 = xc * xc;
        var p = Vector512.Create(-2.76076847742355e-16f);
        p = p * x2 + Vector512.Create(2.00018790482477e-13f);
        p = p * x2 + Vector512.Create(-8.60467152213735e-11f);
        p = p * x2 + Vector512.Create(5.12229709037114e-08f);
        p = p * x2 + Vector512.Create(1.48572235717979e-05f);
        p = p * x2 + Vector512.Create(6.37261928875436e-04f);
        p = p * x2 + Vector512.Create(4.89352455891786e-03f);
        var q = Vector512.Create(1.19825839466702e-06f);
        q = q * x2 + Vector512.Create(1.18534705686654e-04f);
        q = q * x2 + Vector512.Create(2.26843463243900e-03f);
        q = q * x2 + Vector512.Create(4.89352518554385e-03f);
        var r = xc * p / q;
        // Tiny inputs: tanh(x) = x to float precision, and the ratio would lose relative accuracy.
        return Vector512.ConditionalSelect(Vector512.LessThan(Vector512.Abs(x), Vector512.Create(0.0004f)), x, r);
    }

    public static Vector512<float> Erf(Vector512<float> x)
    {
        var c = Vector512.Create(4f);
        var xc = Vector512.Min(Vector512.Max(x, -c), c);
        var x2 = xc * xc;
        var p = Vector512.Create(-2.72614225801306e-10f);
        p = p * x2 + Vector512.Create(2.77068142495902e-08f);
        p = p * x2 + Vector512.Create(-2.10102402082508e-06f);
        p = p * x2 + Vector512.Create(-5.69250639462346e-05f);
        p = p * x2 + Vector512.Create(-7.34990630326855e-04f);
        p = p * x2 + Vector512.Create(-2.95459980854025e-03f);
        p = p * x2 + Vector512.Create(-1.60960333262415e-02f);
        var q = Vector512.Create(-1.45660718464996e-05f);
        q = q * x2 + Vector512.Create(-2.13374055278905e-04f);
        q = q * x2 + Vector512.Create(-1.68282697438203e-03f);
        q = q * x2 + Vector512.Create(-7.37332916720468e-03f);
        q = q * x2 + Vector512.Create(-1.42647390514189e-02f);
        return xc * p / q;
    }

    public static Vector512<float> Sigmoid(Vector512<float> x) => Vector512<float>.One / (Vector512<float>.One + Vector512.Exp(-x));

    /// <summary>Exact Gelu: 0.5 x (1 + erf(x / sqrt 2)).</summary>
    public static Vector512<float> Gelu(Vector512<float> x) =>
        Vector512.Create(0.5f) * x * (Vector512<float>.One + Erf(x * Vector512.Create(0.70710678118654752f)));

    /// <summary>Tanh-approximated Gelu: 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))).</summary>
    public static Vector512<float> GeluTanh(Vector512<float> x) =>
        Vector512.Create(0.5f) * x * (Vector512<float>.One + Tanh(Vector512.Create(0.79788456080286536f) * (x + Vector512.Create(0.044715f) * x * x * x)));

    public static Vector256<float> Tanh(Vector256<float> x)
    {
        var c = Vector256.Create(7.90531110763549805f);
        var xc = Vector256.Min(Vector256.Max(x, -c), c);
        var x2 = xc * xc;
        var p = Vector256.Create(-2.76076847742355e-16f);
        p = p * x2 + Vector256.Create(2.00018790482477e-13f);
        p = p * x2 + Vector256.Create(-8.60467152213735e-11f);
        p = p * x2 + Vector256.Create(5.12229709037114e-08f);
        p = p * x2 + Vector256.Create(1.48572235717979e-05f);
        p = p * x2 + Vector256.Create(6.37261928875436e-04f);
        p = p * x2 + Vector256.Create(4.89352455891786e-03f);
        var q = Vector256.Create(1.19825839466702e-06f);
        q = q * x2 + Vector256.Create(1.18534705686654e-04f);
        q = q * x2 + Vector256.Create(2.26843463243900e-03f);
        q = q * x2 + Vector256.Create(4.89352518554385e-03f);
        var r = xc * p / q;
        // Tiny inputs: tanh(x) = x to float precision, and the ratio would lose relative accuracy.
        return Vector256.ConditionalSelect(Vector256.LessThan(Vector256.Abs(x), Vector256.Create(0.0004f)), x, r);
    }

    public static Vector256<float> Erf(Vector256<float> x)
    {
        var c = Vector256.Create(4f);
        var xc = Vector256.Min(Vector256.Max(x, -c), c);
        var x2 = xc * xc;
        var p = Vector256.Create(-2.72614225801306e-10f);
        p = p * x2 + Vector256.Create(2.77068142495902e-08f);
        p = p * x2 + Vector256.Create(-2.10102402082508e-06f);
        p = p * x2 + Vector256.Create(-5.69250639462346e-05f);
        p = p * x2 + Vector256.Create(-7.34990630326855e-04f);
        p = p * x2 + Vector256.Create(-2.95459980854025e-03f);
        p = p * x2 + Vector256.Create(-1.60960333262415e-02f);
        var q = Vector256.Create(-1.45660718464996e-05f);
        q = q * x2 + Vector256.Create(-2.13374055278905e-04f);
        q = q * x2 + Vector256.Create(-1.68282697438203e-03f);
        q = q * x2 + Vector256.Create(-7.37332916720468e-03f);
        q = q * x2 + Vector256.Create(-1.42647390514189e-02f);
        return xc * p / q;
    }

    public static Vector256<float> Sigmoid(Vector256<float> x) => Vector256<float>.One / (Vector256<float>.One + Vector256.Exp(-x));

    /// <summary>Exact Gelu: 0.5 x (1 + erf(x / sqrt 2)).</summary>
    public static Vector256<float> Gelu(Vector256<float> x) =>
        Vector256.Create(0.5f) * x * (Vector256<float>.One + Erf(x * Vector256.Create(0.70710678118654752f)));

    /// <summary>Tanh-approximated Gelu: 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))).</summary>
    public static Vector256<float> GeluTanh(Vector256<float> x) =>
        Vector256.Create(0.5f) * x * (Vector256<float>.One + Tanh(Vector256.Create(0.79788456080286536f) * (x + Vector256.Create(0.044715f) * x * x * x)));

    public static Vector128<float> Tanh(Vector128<float> x)
    {
        var c = Vector128.Create(7.90531110763549805f);
        var xc = Vector128.Min(Vector128.Max(x, -c), c);
        var x2 = xc * xc;
        var p = Vector128.Create(-2.76076847742355e-16f);
        p = p * x2 + Vector128.Create(2.00018790482477e-13f);
        p = p * x2 + Vector128.Create(-8.60467152213735e-11f);
        p = p * x2 + Vector128.Create(5.12229709037114e-08f);
        p = p * x2 + Vector128.Create(1.48572235717979e-05f);
        p = p * x2 + Vector128.Create(6.37261928875436e-04f);
        p = p * x2 + Vector128.Create(4.89352455891786e-03f);
        var q = Vector128.Create(1.19825839466702e-06f);
        q = q * x2 + Vector128.Create(1.18534705686654e-04f);
        q = q * x2 + Vector128.Create(2.26843463243900e-03f);
        q = q * x2 + Vector128.Create(4.89352518554385e-03f);
        var r = xc * p / q;
        // Tiny inputs: tanh(x) = x to float precision, and the ratio would lose relative accuracy.
        return Vector128.ConditionalSelect(Vector128.LessThan(Vector128.Abs(x), Vector128.Create(0.0004f)), x, r);
    }

    public static Vector128<float> Erf(Vector128<float> x)
    {
        var c = Vector128.Create(4f);
        var xc = Vector128.Min(Vector128.Max(x, -c), c);
        var x2 = xc * xc;
        var p = Vector128.Create(-2.72614225801306e-10f);
        p = p * x2 + Vector128.Create(2.77068142495902e-08f);
        p = p * x2 + Vector128.Create(-2.10102402082508e-06f);
        p = p * x2 + Vector128.Create(-5.69250639462346e-05f);
        p = p * x2 + Vector128.Create(-7.34990630326855e-04f);
        p = p * x2 + Vector128.Create(-2.95459980854025e-03f);
        p = p * x2 + Vector128.Create(-1.60960333262415e-02f);
        var q = Vector128.Create(-1.45660718464996e-05f);
        q = q * x2 + Vector128.Create(-2.13374055278905e-04f);
        q = q * x2 + Vector128.Create(-1.68282697438203e-03f);
        q = q * x2 + Vector128.Create(-7.37332916720468e-03f);
        q = q * x2 + Vector128.Create(-1.42647390514189e-02f);
        return xc * p / q;
    }

    public static Vector128<float> Sigmoid(Vector128<float> x) => Vector128<float>.One / (Vector128<float>.One + Vector128.Exp(-x));

    /// <summary>Exact Gelu: 0.5 x (1 + erf(x / sqrt 2)).</summary>
    public static Vector128<float> Gelu(Vector128<float> x) =>
        Vector128.Create(0.5f) * x * (Vector128<float>.One + Erf(x * Vector128.Create(0.70710678118654752f)));

    /// <summary>Tanh-approximated Gelu: 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))).</summary>
    public static Vector128<float> GeluTanh(Vector128<float> x) =>
        Vector128.Create(0.5f) * x * (Vector128<float>.One + Tanh(Vector128.Create(0.79788456080286536f) * (x + Vector128.Create(0.044715f) * x * x * x)));
}
