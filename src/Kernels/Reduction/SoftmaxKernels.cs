using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace NetOnnx.Kernels.Reduction;

/// <summary>
/// Softmax, LogSoftmax and arg-max/min over one axis of a tensor viewed as [outer, n, inner]. The inner==1
/// case works on contiguous rows (vectorised); otherwise n rows of length inner are combined element-wise.
/// </summary>
public static class SoftmaxKernels
{
    public static void Softmax<T>(ReadOnlySpan<T> x, Span<T> y, int outer, int n, int inner, bool log)
        where T : struct, IFloatingPointIeee754<T>
    {
        if (n == 0 || outer == 0 || inner == 0) return;
        int block = n * inner;
        if (inner == 1)
        {
            for (int o = 0; o < outer; o++) SoftmaxRow(x.Slice(o * n, n), y.Slice(o * n, n), log);
            return;
        }
        var m = new T[inner];
        var s = new T[inner];
        for (int o = 0; o < outer; o++)
        {
            var xb = x.Slice(o * block, block);
            var yb = y.Slice(o * block, block);
            xb[..inner].CopyTo(m);
            for (int k = 1; k < n; k++) ReduceKernels.AccumulateRow<T, MaxReduce<T>>(xb.Slice(k * inner, inner), m);
            Array.Clear(s);
            for (int k = 0; k < n; k++)
            {
                var xr = xb.Slice(k * inner, inner);
                var yr = yb.Slice(k * inner, inner);
                ExpShiftedAccumulate<T>(xr, m, yr, s);
            }
            if (log)
            {
                for (int j = 0; j < inner; j++) s[j] = m[j] + T.Log(s[j]);
                for (int k = 0; k < n; k++)
                {
                    var xr = xb.Slice(k * inner, inner);
                    var yr = yb.Slice(k * inner, inner);
                    for (int j = 0; j < inner; j++) yr[j] = xr[j] - s[j];
                }
            }
            else
            {
                for (int j = 0; j < inner; j++) s[j] = T.One / s[j];
                for (int k = 0; k < n; k++)
                {
                    var yr = yb.Slice(k * inner, inner);
                    for (int j = 0; j < inner; j++) yr[j] *= s[j];
                }
            }
        }
    }

    /// <summary>Softmax (or LogSoftmax) of one contiguous row, shifted by its maximum.</summary>
    public static void SoftmaxRow<T>(ReadOnlySpan<T> x, Span<T> y, bool log) where T : struct, IFloatingPointIeee754<T>
    {
        T m = ReduceKernels.ReduceRow<T, MaxReduce<T>>(x);
        T s = ExpShifted(x, y, m);
        if (log)
        {
            T shift = m + T.Log(s);
            AddScalar(x, y, -shift);
        }
        else Scale(y, T.One / s);
    }

    /// <summary>y = exp(x - m); returns the sum of y.</summary>
    public static T ExpShifted<T>(ReadOnlySpan<T> x, Span<T> y, T m) where T : struct, IFloatingPointIeee754<T>
    {
        if (typeof(T) == typeof(float))
            return (T)(object)ExpShiftedFloat(MemoryMarshal.Cast<T, float>(x), MemoryMarshal.Cast<T, float>(y), (float)(object)m);
        if (typeof(T) == typeof(double))
            return (T)(object)ExpShiftedDouble(MemoryMarshal.Cast<T, double>(x), MemoryMarshal.Cast<T, double>(y), (double)(object)m);
        T s = T.Zero;
        for (int i = 0; i < x.Length; i++) { T e = T.Exp(x[i] - m); y[i] = e; s += e; }
        return s;
    }

    // Float and double get their own vector paths: the BCL's vector Exp exists only for those two types.
    private static float ExpShiftedFloat(ReadOnlySpan<float> x, Span<float> y, float m)
    {
        int i = 0, n = x.Length;
        float s = 0f;
        ref float x0 = ref MemoryMarshal.GetReference(x);
        ref float y0 = ref MemoryMarshal.GetReference(y);
        if (Vector512.IsHardwareAccelerated && n >= 16)
        {
            var acc = Vector512<float>.Zero;
            var vm = Vector512.Create(m);
            for (; i <= n - 16; i += 16)
            {
                var e = Vector512.Exp(Vector512.LoadUnsafe(ref x0, (nuint)i) - vm);
                e.StoreUnsafe(ref y0, (nuint)i);
                acc += e;
            }
            s = Vector512.Sum(acc);
        }
        else if (Vector256.IsHardwareAccelerated && n >= 8)
        {
            var acc = Vector256<float>.Zero;
            var vm = Vector256.Create(m);
            for (; i <= n - 8; i += 8)
            {
                var e = Vector256.Exp(Vector256.LoadUnsafe(ref x0, (nuint)i) - vm);
                e.StoreUnsafe(ref y0, (nuint)i);
                acc += e;
            }
            s = Vector256.Sum(acc);
        }
        for (; i < n; i++) { float e = MathF.Exp(Unsafe.Add(ref x0, i) - m); Unsafe.Add(ref y0, i) = e; s += e; }
        return s;
    }

    private static double ExpShiftedDouble(ReadOnlySpan<double> x, Span<double> y, double m)
    {
        int i = 0, n = x.Length;
        double s = 0;
        ref double x0 = ref MemoryMarshal.GetReference(x);
        ref double y0 = ref MemoryMarshal.GetReference(y);
        if (Vector256.IsHardwareAccelerated && n >= 4)
        {
            var acc = Vector256<double>.Zero;
            var vm = Vector256.Create(m);
            for (; i <= n - 4; i += 4)
            {
                var e = Vector256.Exp(Vector256.LoadUnsafe(ref x0, (nuint)i) - vm);
                e.StoreUnsafe(ref y0, (nuint)i);
                acc += e;
            }
            s = Vector256.Sum(acc);
        }
        for (; i < n; i++) { double e = Math.Exp(Unsafe.Add(ref x0, i) - m); Unsafe.Add(ref y0, i) = e; s += e; }
        return s;
    }

    /// <summary>y = exp(x - m) and s += y, element-wise over a row (the strided softmax case).</summary>
    public static void ExpShiftedAccumulate<T>(ReadOnlySpan<T> x, ReadOnlySpan<T> m, Span<T> y, Span<T> s) where T : struct, IFloatingPointIeee754<T>
    {
        if (typeof(T) == typeof(float))
        {
            ExpShiftedAccumulateFloat(MemoryMarshal.Cast<T, float>(x), MemoryMarshal.Cast<T, float>(m), MemoryMarshal.Cast<T, float>(y), MemoryMarshal.Cast<T, float>(s));
            return;
        }
        for (int i = 0; i < x.Length; i++) { T e = T.Exp(x[i] - m[i]); y[i] = e; s[i] += e; }
    }

    private static void ExpShiftedAccumulateFloat(ReadOnlySpan<float> x, ReadOnlySpan<float> m, Span<float> y, Span<float> s)
    {
        int i = 0, n = x.Length;
        ref float x0 = ref MemoryMarshal.GetReference(x);
        ref float m0 = ref MemoryMarshal.GetReference(m);
        ref float y0 = ref MemoryMarshal.GetReference(y);
        ref float s0 = ref MemoryMarshal.GetReference(s);
        if (Vector512.IsHardwareAccelerated)
            for (; i <= n - 16; i += 16)
            {
                var e = Vector512.Exp(Vector512.LoadUnsafe(ref x0, (nuint)i) - Vector512.LoadUnsafe(ref m0, (nuint)i));
                e.StoreUnsafe(ref y0, (nuint)i);
                (Vector512.LoadUnsafe(ref s0, (nuint)i) + e).StoreUnsafe(ref s0, (nuint)i);
            }
        else if (Vector256.IsHardwareAccelerated)
            for (; i <= n - 8; i += 8)
            {
                var e = Vector256.Exp(Vector256.LoadUnsafe(ref x0, (nuint)i) - Vector256.LoadUnsafe(ref m0, (nuint)i));
                e.StoreUnsafe(ref y0, (nuint)i);
                (Vector256.LoadUnsafe(ref s0, (nuint)i) + e).StoreUnsafe(ref s0, (nuint)i);
            }
        for (; i < n; i++) { float e = MathF.Exp(Unsafe.Add(ref x0, i) - Unsafe.Add(ref m0, i)); Unsafe.Add(ref y0, i) = e; Unsafe.Add(ref s0, i) += e; }
    }

    /// <summary>y = x + c.</summary>
    public static void AddScalar<T>(ReadOnlySpan<T> x, Span<T> y, T c) where T : struct, INumber<T>
    {
        int i = 0, n = x.Length;
        ref T x0 = ref MemoryMarshal.GetReference(x);
        ref T y0 = ref MemoryMarshal.GetReference(y);
        if (Vector512.IsHardwareAccelerated && Vector512<T>.IsSupported)
        {
            var vc = Vector512.Create(c);
            for (; i <= n - Vector512<T>.Count; i += Vector512<T>.Count)
                (Vector512.LoadUnsafe(ref x0, (nuint)i) + vc).StoreUnsafe(ref y0, (nuint)i);
        }
        if (Vector256.IsHardwareAccelerated && Vector256<T>.IsSupported)
        {
            var vc = Vector256.Create(c);
            for (; i <= n - Vector256<T>.Count; i += Vector256<T>.Count)
                (Vector256.LoadUnsafe(ref x0, (nuint)i) + vc).StoreUnsafe(ref y0, (nuint)i);
        }
        for (; i < n; i++) Unsafe.Add(ref y0, i) = Unsafe.Add(ref x0, i) + c;
    }

    /// <summary>y *= c in place.</summary>
    public static void Scale<T>(Span<T> y, T c) where T : struct, INumber<T>
    {
        int i = 0, n = y.Length;
        ref T y0 = ref MemoryMarshal.GetReference(y);
        if (Vector512.IsHardwareAccelerated && Vector512<T>.IsSupported)
        {
            var vc = Vector512.Create(c);
            for (; i <= n - Vector512<T>.Count; i += Vector512<T>.Count)
                (Vector512.LoadUnsafe(ref y0, (nuint)i) * vc).StoreUnsafe(ref y0, (nuint)i);
        }
        if (Vector256.IsHardwareAccelerated && Vector256<T>.IsSupported)
        {
            var vc = Vector256.Create(c);
            for (; i <= n - Vector256<T>.Count; i += Vector256<T>.Count)
                (Vector256.LoadUnsafe(ref y0, (nuint)i) * vc).StoreUnsafe(ref y0, (nuint)i);
        }
        for (; i < n; i++) Unsafe.Add(ref y0, i) *= c;
    }

    /// <summary>
    /// Index of the largest (or smallest) element along the middle axis of [outer, n, inner]; ties go to the
    /// first index, or the last when <paramref name="last"/>. NaN never wins a comparison.
    /// </summary>
    public static void ArgExtreme<T>(ReadOnlySpan<T> x, Span<long> y, int outer, int n, int inner, bool max, bool last)
        where T : struct, INumber<T>
    {
        if (n == 0 || outer == 0 || inner == 0) return;
        var best = new T[inner];
        for (int o = 0; o < outer; o++)
        {
            var xb = x.Slice(o * n * inner, n * inner);
            var yb = y.Slice(o * inner, inner);
            xb[..inner].CopyTo(best);
            yb.Clear();
            for (int k = 1; k < n; k++)
            {
                var row = xb.Slice(k * inner, inner);
                for (int j = 0; j < inner; j++)
                {
                    T v = row[j], b = best[j];
                    bool better = max ? (last ? v >= b : v > b) : (last ? v <= b : v < b);
                    if (better) { best[j] = v; yb[j] = k; }
                }
            }
        }
    }
}
