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
                for (int j = 0; j < inner; j++) { T e = T.Exp(xr[j] - m[j]); yr[j] = e; s[j] += e; }
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
        int i = 0, n = x.Length;
        T s = T.Zero;
        if (typeof(T) == typeof(float))
        {
            var xf = MemoryMarshal.Cast<T, float>(x);
            var yf = MemoryMarshal.Cast<T, float>(y);
            float mf = (float)(object)m;
            ref float x0 = ref MemoryMarshal.GetReference(xf);
            ref float y0 = ref MemoryMarshal.GetReference(yf);
            if (Vector512.IsHardwareAccelerated && n >= 16)
            {
                var acc = Vector512<float>.Zero;
                var vm = Vector512.Create(mf);
                for (; i <= n - 16; i += 16)
                {
                    var e = Vector512.Exp(Vector512.LoadUnsafe(ref x0, (nuint)i) - vm);
                    e.StoreUnsafe(ref y0, (nuint)i);
                    acc += e;
                }
                s = T.CreateTruncating(Vector512.Sum(acc));
            }
            else if (Vector256.IsHardwareAccelerated && n >= 8)
            {
                var acc = Vector256<float>.Zero;
                var vm = Vector256.Create(mf);
                for (; i <= n - 8; i += 8)
                {
                    var e = Vector256.Exp(Vector256.LoadUnsafe(ref x0, (nuint)i) - vm);
                    e.StoreUnsafe(ref y0, (nuint)i);
                    acc += e;
                }
                s = T.CreateTruncating(Vector256.Sum(acc));
            }
        }
        else if (typeof(T) == typeof(double))
        {
            var xd = MemoryMarshal.Cast<T, double>(x);
            var yd = MemoryMarshal.Cast<T, double>(y);
            double md = (double)(object)m;
            ref double x0 = ref MemoryMarshal.GetReference(xd);
            ref double y0 = ref MemoryMarshal.GetReference(yd);
            if (Vector256.IsHardwareAccelerated && n >= 4)
            {
                var acc = Vector256<double>.Zero;
                var vm = Vector256.Create(md);
                for (; i <= n - 4; i += 4)
                {
                    var e = Vector256.Exp(Vector256.LoadUnsafe(ref x0, (nuint)i) - vm);
                    e.StoreUnsafe(ref y0, (nuint)i);
                    acc += e;
                }
                s = T.CreateTruncating(Vector256.Sum(acc));
            }
        }
        for (; i < n; i++) { T e = T.Exp(x[i] - m); y[i] = e; s += e; }
        return s;
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
