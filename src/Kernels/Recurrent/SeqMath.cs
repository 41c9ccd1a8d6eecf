using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace NetOnnx.Kernels.Recurrent;

/// <summary>
/// Small dense helpers for recurrent and attention kernels: dot products and the "A times B-transposed"
/// product whose inner loop runs over two contiguous rows (the layout ONNX gives weights and keys).
/// </summary>
public static class SeqMath
{
    /// <summary>Sum of x[i]*y[i], SIMD over <see cref="Vector{T}"/> with a scalar tail.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static T Dot<T>(ReadOnlySpan<T> x, ReadOnlySpan<T> y) where T : unmanaged, IFloatingPointIeee754<T>
    {
        int n = x.Length, i = 0;
        T sum = T.Zero;
        if (Vector.IsHardwareAccelerated && n >= Vector<T>.Count)
        {
            var vx = MemoryMarshal.Cast<T, Vector<T>>(x);
            var vy = MemoryMarshal.Cast<T, Vector<T>>(y.Slice(0, n));
            var acc = Vector<T>.Zero;
            for (int v = 0; v < vx.Length; v++) acc += vx[v] * vy[v];
            sum = Vector.Sum(acc);
            i = vx.Length * Vector<T>.Count;
        }
        for (; i < n; i++) sum += x[i] * y[i];
        return sum;
    }

    /// <summary>y[i] += a * x[i].</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Axpy<T>(T a, ReadOnlySpan<T> x, Span<T> y) where T : unmanaged, IFloatingPointIeee754<T>
    {
        int n = x.Length, i = 0;
        if (Vector.IsHardwareAccelerated && n >= Vector<T>.Count)
        {
            var vx = MemoryMarshal.Cast<T, Vector<T>>(x);
            var vy = MemoryMarshal.Cast<T, Vector<T>>(y.Slice(0, n));
            var va = new Vector<T>(a);
            for (int v = 0; v < vx.Length; v++) vy[v] += va * vx[v];
            i = vx.Length * Vector<T>.Count;
        }
        for (; i < n; i++) y[i] += a * x[i];
    }

    /// <summary>
    /// C[m,n] (+)= sum_k A[m,k]*B[n,k]: A is m×k row-major with row stride lda, B is n×k with row stride ldb,
    /// C is m×n with row stride ldc. Accumulates when <paramref name="accumulate"/> is set.
    /// </summary>
    public static void MatMulTransB<T>(ReadOnlySpan<T> a, int lda, ReadOnlySpan<T> b, int ldb, Span<T> c, int ldc,
        int m, int n, int k, bool accumulate) where T : unmanaged, IFloatingPointIeee754<T>
    {
        for (int i = 0; i < m; i++)
        {
            var ar = a.Slice(i * lda, k);
            var cr = c.Slice(i * ldc, n);
            for (int j = 0; j < n; j++)
            {
                T d = Dot(ar, b.Slice(j * ldb, k));
                cr[j] = accumulate ? cr[j] + d : d;
            }
        }
    }

    /// <summary>
    /// C[m,n] (+)= sum_k A[m,k]*B[k,n]: B row-major k×n with row stride ldb, done as row-axpys so the inner loop is contiguous.
    /// </summary>
    public static void MatMul<T>(ReadOnlySpan<T> a, int lda, ReadOnlySpan<T> b, int ldb, Span<T> c, int ldc,
        int m, int n, int k, bool accumulate) where T : unmanaged, IFloatingPointIeee754<T>
    {
        for (int i = 0; i < m; i++)
        {
            var cr = c.Slice(i * ldc, n);
            if (!accumulate) cr.Clear();
            var ar = a.Slice(i * lda, k);
            for (int p = 0; p < k; p++)
            {
                T av = ar[p];
                Axpy(av, b.Slice(p * ldb, n), cr);
            }
        }
    }
}
