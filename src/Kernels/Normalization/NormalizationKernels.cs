using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using NetOnnx.Kernels.Reduction;

namespace NetOnnx.Kernels.Normalization;

/// <summary>Building blocks of the normalisation operators: moments of a row and affine row transforms.</summary>
public static class NormalizationKernels
{
    /// <summary>Mean and population variance of a contiguous row (two passes, so large means do not cancel).</summary>
    public static (T Mean, T Variance) Moments<T>(ReadOnlySpan<T> x) where T : struct, IFloatingPointIeee754<T>
    {
        int n = x.Length;
        if (n == 0) return (T.NaN, T.NaN);
        T mean = ReduceKernels.ReduceRow<T, SumReduce<T>>(x) / T.CreateTruncating(n);
        return (mean, SumSquaredDeviation(x, mean) / T.CreateTruncating(n));
    }

    /// <summary>Sum of (x - c)^2 over a row.</summary>
    public static T SumSquaredDeviation<T>(ReadOnlySpan<T> x, T c) where T : struct, IFloatingPointIeee754<T>
    {
        int i = 0, n = x.Length;
        T s = T.Zero;
        ref T x0 = ref MemoryMarshal.GetReference(x);
        if (Vector512.IsHardwareAccelerated && Vector512<T>.IsSupported && n >= Vector512<T>.Count)
        {
            var vc = Vector512.Create(c);
            var acc = Vector512<T>.Zero;
            for (; i <= n - Vector512<T>.Count; i += Vector512<T>.Count)
            {
                var d = Vector512.LoadUnsafe(ref x0, (nuint)i) - vc;
                acc += d * d;
            }
            s = Vector512.Sum(acc);
        }
        else if (Vector256.IsHardwareAccelerated && Vector256<T>.IsSupported && n >= Vector256<T>.Count)
        {
            var vc = Vector256.Create(c);
            var acc = Vector256<T>.Zero;
            for (; i <= n - Vector256<T>.Count; i += Vector256<T>.Count)
            {
                var d = Vector256.LoadUnsafe(ref x0, (nuint)i) - vc;
                acc += d * d;
            }
            s = Vector256.Sum(acc);
        }
        for (; i < n; i++) { T d = Unsafe.Add(ref x0, i) - c; s += d * d; }
        return s;
    }

    /// <summary>y = x * a + b over a row.</summary>
    public static void Affine<T>(ReadOnlySpan<T> x, Span<T> y, T a, T b) where T : struct, IFloatingPointIeee754<T>
    {
        int i = 0, n = x.Length;
        ref T x0 = ref MemoryMarshal.GetReference(x);
        ref T y0 = ref MemoryMarshal.GetReference(y);
        if (Vector512.IsHardwareAccelerated && Vector512<T>.IsSupported)
        {
            var va = Vector512.Create(a); var vb = Vector512.Create(b);
            for (; i <= n - Vector512<T>.Count; i += Vector512<T>.Count)
                (Vector512.LoadUnsafe(ref x0, (nuint)i) * va + vb).StoreUnsafe(ref y0, (nuint)i);
        }
        if (Vector256.IsHardwareAccelerated && Vector256<T>.IsSupported)
        {
            var va = Vector256.Create(a); var vb = Vector256.Create(b);
            for (; i <= n - Vector256<T>.Count; i += Vector256<T>.Count)
                (Vector256.LoadUnsafe(ref x0, (nuint)i) * va + vb).StoreUnsafe(ref y0, (nuint)i);
        }
        for (; i < n; i++) Unsafe.Add(ref y0, i) = Unsafe.Add(ref x0, i) * a + b;
    }

    /// <summary>y = (x - mean) * inv * scale + bias over a row, with per-element scale and bias (bias may be empty).</summary>
    public static void ScaleShift<T>(ReadOnlySpan<T> x, Span<T> y, T mean, T inv, ReadOnlySpan<T> scale, ReadOnlySpan<T> bias)
        where T : struct, IFloatingPointIeee754<T>
    {
        int i = 0, n = x.Length;
        bool hasBias = bias.Length > 0;
        ref T x0 = ref MemoryMarshal.GetReference(x);
        ref T y0 = ref MemoryMarshal.GetReference(y);
        ref T s0 = ref MemoryMarshal.GetReference(scale);
        ref T b0 = ref MemoryMarshal.GetReference(bias);
        if (Vector256.IsHardwareAccelerated && Vector256<T>.IsSupported)
        {
            var vm = Vector256.Create(mean); var vi = Vector256.Create(inv);
            for (; i <= n - Vector256<T>.Count; i += Vector256<T>.Count)
            {
                var v = (Vector256.LoadUnsafe(ref x0, (nuint)i) - vm) * vi * Vector256.LoadUnsafe(ref s0, (nuint)i);
                if (hasBias) v += Vector256.LoadUnsafe(ref b0, (nuint)i);
                v.StoreUnsafe(ref y0, (nuint)i);
            }
        }
        for (; i < n; i++)
        {
            T v = (Unsafe.Add(ref x0, i) - mean) * inv * Unsafe.Add(ref s0, i);
            if (hasBias) v += Unsafe.Add(ref b0, i);
            Unsafe.Add(ref y0, i) = v;
        }
    }

    /// <summary>
    /// Local response normalisation across channels of [N, C, inner]: y = x / (bias + alpha/size * sum of squares
    /// over the channel window [c - floor((size-1)/2), c + ceil((size-1)/2)])^beta.
    /// </summary>
    public static void Lrn<T>(ReadOnlySpan<T> x, Span<T> y, int n, int c, int inner, int size, T alpha, T beta, T bias)
        where T : struct, IFloatingPointIeee754<T>
    {
        int before = (size - 1) / 2, after = size - 1 - before;
        T k = alpha / T.CreateTruncating(size);
        var sq = new T[inner];
        for (int b = 0; b < n; b++)
        {
            int bo = b * c * inner;
            for (int ch = 0; ch < c; ch++)
            {
                Array.Clear(sq);
                int lo = Math.Max(0, ch - before), hi = Math.Min(c - 1, ch + after);
                for (int j = lo; j <= hi; j++)
                    ReduceKernels.AccumulateRow<T, SumSquareReduce<T>>(x.Slice(bo + j * inner, inner), sq);
                var xr = x.Slice(bo + ch * inner, inner);
                var yr = y.Slice(bo + ch * inner, inner);
                for (int i = 0; i < inner; i++) yr[i] = xr[i] / T.Pow(bias + k * sq[i], beta);
            }
        }
    }
}
