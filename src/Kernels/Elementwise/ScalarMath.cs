namespace NetOnnx.Kernels.Elementwise;

/// <summary>Scalar special functions .NET lacks (erf) and numerically careful forms of activations.</summary>
public static class ScalarMath
{
    private const double TwoOverSqrtPi = 1.1283791670955126;
    private const double InvSqrtPi = 0.5641895835477563;

    /// <summary>
    /// The error function to near double precision: the Maclaurin series for |x| &lt; 2 (it converges quickly
    /// there and keeps relative accuracy near zero), a continued fraction for erfc beyond.
    /// </summary>
    public static double Erf(double x)
    {
        if (double.IsNaN(x)) return x;
        double ax = Math.Abs(x);
        if (ax < 2.0)
        {
            // erf(x) = 2/sqrt(pi) * sum (-1)^n x^(2n+1) / (n! (2n+1))
            double x2 = x * x, term = x, sum = x;
            for (int n = 1; n < 60; n++)
            {
                term *= -x2 / n;
                double t = term / (2 * n + 1);
                sum += t;
                if (Math.Abs(t) < 1e-17 * Math.Abs(sum)) break;
            }
            return TwoOverSqrtPi * sum;
        }
        if (ax >= 6.0) return x > 0 ? 1.0 : -1.0;
        double r = 1.0 - Erfc(ax);
        return x > 0 ? r : -r;
    }

    /// <summary>erfc(x) for x &gt;= 2 by the Laplace continued fraction, evaluated backwards.</summary>
    private static double Erfc(double x)
    {
        // erfc(x) = exp(-x^2)/sqrt(pi) * 1/(x + (1/2)/(x + 1/(x + (3/2)/(x + 2/(x + ...)))))
        double f = x;
        for (int k = 60; k >= 1; k--) f = x + k * 0.5 / f;
        return Math.Exp(-x * x) * InvSqrtPi / f;
    }

    public static float Erf(float x) => (float)Erf((double)x);

    /// <summary>log(1 + exp(x)) without overflow for large x or loss for very negative x.</summary>
    public static double Softplus(double x) => x > 0 ? x + Math.Log(1 + Math.Exp(-x)) : Math.Log(1 + Math.Exp(x));
    public static float Softplus(float x) => x > 0 ? x + MathF.Log(1 + MathF.Exp(-x)) : MathF.Log(1 + MathF.Exp(x));

    public static double Sigmoid(double x) => x >= 0 ? 1 / (1 + Math.Exp(-x)) : Math.Exp(x) / (1 + Math.Exp(x));
    public static float Sigmoid(float x) => x >= 0 ? 1 / (1 + MathF.Exp(-x)) : MathF.Exp(x) / (1 + MathF.Exp(x));
}
