using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace NetOnnx.Kernels.Elementwise;

public readonly struct BitwiseAndOperator<T> : IVectorBinaryOperator<T> where T : IBinaryInteger<T>
{
    public static T Invoke(T x, T y) => x & y;
    public static Vector512<T> Invoke(Vector512<T> x, Vector512<T> y) => x & y;
    public static Vector256<T> Invoke(Vector256<T> x, Vector256<T> y) => x & y;
    public static Vector128<T> Invoke(Vector128<T> x, Vector128<T> y) => x & y;
}

public readonly struct BitwiseOrOperator<T> : IVectorBinaryOperator<T> where T : IBinaryInteger<T>
{
    public static T Invoke(T x, T y) => x | y;
    public static Vector512<T> Invoke(Vector512<T> x, Vector512<T> y) => x | y;
    public static Vector256<T> Invoke(Vector256<T> x, Vector256<T> y) => x | y;
    public static Vector128<T> Invoke(Vector128<T> x, Vector128<T> y) => x | y;
}

public readonly struct BitwiseXorOperator<T> : IVectorBinaryOperator<T> where T : IBinaryInteger<T>
{
    public static T Invoke(T x, T y) => x ^ y;
    public static Vector512<T> Invoke(Vector512<T> x, Vector512<T> y) => x ^ y;
    public static Vector256<T> Invoke(Vector256<T> x, Vector256<T> y) => x ^ y;
    public static Vector128<T> Invoke(Vector128<T> x, Vector128<T> y) => x ^ y;
}

/// <summary>x &lt;&lt; y; shifting by the bit width or more gives 0 (C# would mask the count instead).</summary>
public readonly struct ShiftLeftOperator<T> : IBinaryOperator<T, T> where T : IBinaryInteger<T>
{
    public static T Invoke(T x, T y) => y >= T.CreateTruncating(Unsafe.SizeOf<T>() * 8) || y < T.Zero ? T.Zero : x << int.CreateTruncating(y);
}

public readonly struct ShiftRightOperator<T> : IBinaryOperator<T, T> where T : IBinaryInteger<T>
{
    public static T Invoke(T x, T y) => y >= T.CreateTruncating(Unsafe.SizeOf<T>() * 8) || y < T.Zero ? T.Zero : x >>> int.CreateTruncating(y);
}

/// <summary>Integer division truncating toward zero (C semantics); a zero divisor throws DivideByZeroException.</summary>
public readonly struct IntDivideOperator<T> : IBinaryOperator<T, T> where T : INumber<T>
{
    public static T Invoke(T x, T y) => x / y;
}

/// <summary>Mod with fmod=0: the result takes the sign of the divisor (Python/numpy semantics).</summary>
public readonly struct FloorModOperator<T> : IBinaryOperator<T, T> where T : INumber<T>
{
    public static T Invoke(T x, T y)
    {
        T r = x % y;
        if (r != T.Zero && (r < T.Zero) != (y < T.Zero)) r += y;
        return r;
    }
}

/// <summary>Mod with fmod=1: the result takes the sign of the dividend (C fmod).</summary>
public readonly struct TruncModOperator<T> : IBinaryOperator<T, T> where T : INumber<T>
{
    public static T Invoke(T x, T y) => x % y;
}

/// <summary>PRelu: x &lt; 0 ? slope * x : x.</summary>
public readonly struct PReluOperator<T> : IBinaryOperator<T, T> where T : INumber<T>
{
    public static T Invoke(T x, T slope) => x < T.Zero ? slope * x : x;
}

public interface IComparison
{
    static abstract bool Compare<T>(T x, T y) where T : INumber<T>;
}

public readonly struct CompareOperator<T, TCmp> : IBinaryOperator<T, bool> where T : INumber<T> where TCmp : IComparison
{
    public static bool Invoke(T x, T y) => TCmp.Compare(x, y);
}

public readonly struct EqualCmp : IComparison { public static bool Compare<T>(T x, T y) where T : INumber<T> => x == y; }
public readonly struct LessCmp : IComparison { public static bool Compare<T>(T x, T y) where T : INumber<T> => x < y; }
public readonly struct LessOrEqualCmp : IComparison { public static bool Compare<T>(T x, T y) where T : INumber<T> => x <= y; }
public readonly struct GreaterCmp : IComparison { public static bool Compare<T>(T x, T y) where T : INumber<T> => x > y; }
public readonly struct GreaterOrEqualCmp : IComparison { public static bool Compare<T>(T x, T y) where T : INumber<T> => x >= y; }

public readonly struct BoolEqualOperator : IBinaryOperator<bool, bool> { public static bool Invoke(bool x, bool y) => x == y; }
public readonly struct StringEqualOperator : IBinaryOperator<string, bool> { public static bool Invoke(string x, string y) => string.Equals(x, y, StringComparison.Ordinal); }

/// <summary>Pow on doubles (every base/exponent type pair is computed through double).</summary>
public readonly struct PowOperator : IBinaryOperator<double, double>
{
    public static double Invoke(double x, double y) => Math.Pow(x, y);
}

/// <summary>Where's three-way broadcast select, for any element type.</summary>
public static class Select
{
    public static void Where<T>(ReadOnlySpan<bool> c, ReadOnlySpan<int> cShape, ReadOnlySpan<T> x, ReadOnlySpan<int> xShape,
        ReadOnlySpan<T> y, ReadOnlySpan<int> yShape, Span<T> dst, ReadOnlySpan<int> outShape)
    {
        int n = dst.Length;
        if (n == 0) return;
        if (c.Length == n && x.Length == n && y.Length == n)
        {
            for (int i = 0; i < n; i++) dst[i] = c[i] ? x[i] : y[i];
            return;
        }
        // Each input full-size or a single element (masking with a scalar fill): strides of 1 or 0.
        if ((c.Length == n || c.Length == 1) && (x.Length == n || x.Length == 1) && (y.Length == n || y.Length == 1))
        {
            int sc = c.Length == n ? 1 : 0, sx = x.Length == n ? 1 : 0, sy = y.Length == n ? 1 : 0;
            for (int i = 0; i < n; i++) dst[i] = c[i * sc] ? x[i * sx] : y[i * sy];
            return;
        }
        int r = outShape.Length;
        var cs = Shapes(cShape, outShape); var xs = Shapes(xShape, outShape); var ys = Shapes(yShape, outShape);
        Span<int> idx = stackalloc int[Math.Max(r, 1)];
        idx.Clear();
        int co = 0, xo = 0, yo = 0;
        for (int o = 0; o < n; o++)
        {
            dst[o] = c[co] ? x[xo] : y[yo];
            for (int d = r - 1; d >= 0; d--)
            {
                idx[d]++;
                co += cs[d]; xo += xs[d]; yo += ys[d];
                if (idx[d] < outShape[d]) break;
                co -= cs[d] * outShape[d]; xo -= xs[d] * outShape[d]; yo -= ys[d] * outShape[d];
                idx[d] = 0;
            }
        }
    }

    private static int[] Shapes(ReadOnlySpan<int> s, ReadOnlySpan<int> o) => ShapeMath.BroadcastStrides(s, o);
}
