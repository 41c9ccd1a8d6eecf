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
        for (int i = 0; i < m; i++) MatVecTransB(a.Slice(i * lda, k), b, ldb, c.Slice(i * ldc, n), n, k, accumulate);
    }

    /// <summary>
    /// c[j] (+)= sum_p a[p]*B[j,p] for j &lt; n (B row stride ldb). Four rows at a time, so each vector of a feeds
    /// four multiply-adds and four independent sums hide the add latency (an LSTM step is two of these).
    /// </summary>
    public static void MatVecTransB<T>(ReadOnlySpan<T> a, ReadOnlySpan<T> b, int ldb, Span<T> c, int n, int k, bool accumulate)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (n == 0) return;
        if (a.Length < k || c.Length < n || b.Length < (long)(n - 1) * ldb + k)
            throw new ArgumentException($"MatVecTransB: spans too short for n={n}, k={k}, ldb={ldb}");
        int j = 0;
        int vc = Vector<T>.Count;
        if (Vector.IsHardwareAccelerated && k >= vc)
        {
            int kv = k - k % vc;
            ref T ar = ref MemoryMarshal.GetReference(a);
            for (; j + 4 <= n; j += 4)
            {
                ref T b0 = ref MemoryMarshal.GetReference(b.Slice(j * ldb, k));
                ref T b1 = ref MemoryMarshal.GetReference(b.Slice((j + 1) * ldb, k));
                ref T b2 = ref MemoryMarshal.GetReference(b.Slice((j + 2) * ldb, k));
                ref T b3 = ref MemoryMarshal.GetReference(b.Slice((j + 3) * ldb, k));
                Vector<T> s0 = Vector<T>.Zero, s1 = s0, s2 = s0, s3 = s0;
                for (int p = 0; p < kv; p += vc)
                {
                    var av = Vector.LoadUnsafe(ref ar, (nuint)p);
                    s0 += av * Vector.LoadUnsafe(ref b0, (nuint)p);
                    s1 += av * Vector.LoadUnsafe(ref b1, (nuint)p);
                    s2 += av * Vector.LoadUnsafe(ref b2, (nuint)p);
                    s3 += av * Vector.LoadUnsafe(ref b3, (nuint)p);
                }
                T d0 = Vector.Sum(s0), d1 = Vector.Sum(s1), d2 = Vector.Sum(s2), d3 = Vector.Sum(s3);
                for (int p = kv; p < k; p++)
                {
                    T av = a[p];
                    d0 += av * b[j * ldb + p];
                    d1 += av * b[(j + 1) * ldb + p];
                    d2 += av * b[(j + 2) * ldb + p];
                    d3 += av * b[(j + 3) * ldb + p];
                }
                if (accumulate) { c[j] += d0; c[j + 1] += d1; c[j + 2] += d2; c[j + 3] += d3; }
                else { c[j] = d0; c[j + 1] = d1; c[j + 2] = d2; c[j + 3] = d3; }
            }
        }
        for (; j < n; j++)
        {
            T d = Dot(a.Slice(0, k), b.Slice(j * ldb, k));
            c[j] = accumulate ? c[j] + d : d;
        }
    }

    /// <summary>
    /// Two vectors at once: c0[j] = a0·B[j], c1[j] = a1·B[j] for j &lt; n (B row stride ldb), so every row of B
    /// is read once for both (convolutions with few output positions).
    /// </summary>
    public static void MatVec2TransB(ReadOnlySpan<float> a0, ReadOnlySpan<float> a1, ReadOnlySpan<float> b, int ldb,
        Span<float> c0, Span<float> c1, int n, int k)
    {
        if (n == 0) return;
        if (a0.Length < k || a1.Length < k || c0.Length < n || c1.Length < n || b.Length < (long)(n - 1) * ldb + k)
            throw new ArgumentException($"MatVec2TransB: spans too short for n={n}, k={k}, ldb={ldb}");
        int vc = Vector<float>.Count;
        int kv = Vector.IsHardwareAccelerated ? k - k % vc : 0;
        ref float r0 = ref MemoryMarshal.GetReference(a0);
        ref float r1 = ref MemoryMarshal.GetReference(a1);
        int j = 0;
        for (; j + 2 <= n; j += 2)
        {
            ref float b0 = ref MemoryMarshal.GetReference(b.Slice(j * ldb, k));
            ref float b1 = ref MemoryMarshal.GetReference(b.Slice((j + 1) * ldb, k));
            Vector<float> s00 = Vector<float>.Zero, s01 = s00, s10 = s00, s11 = s00;
            for (int p = 0; p < kv; p += vc)
            {
                var x0 = Vector.LoadUnsafe(ref r0, (nuint)p);
                var x1 = Vector.LoadUnsafe(ref r1, (nuint)p);
                var w0 = Vector.LoadUnsafe(ref b0, (nuint)p);
                var w1 = Vector.LoadUnsafe(ref b1, (nuint)p);
                s00 += x0 * w0; s01 += x0 * w1;
                s10 += x1 * w0; s11 += x1 * w1;
            }
            float d00 = Vector.Sum(s00), d01 = Vector.Sum(s01), d10 = Vector.Sum(s10), d11 = Vector.Sum(s11);
            for (int p = kv; p < k; p++)
            {
                float w0 = b[j * ldb + p], w1 = b[(j + 1) * ldb + p];
                d00 += a0[p] * w0; d01 += a0[p] * w1;
                d10 += a1[p] * w0; d11 += a1[p] * w1;
            }
            c0[j] = d00; c0[j + 1] = d01; c1[j] = d10; c1[j + 1] = d11;
        }
        for (; j < n; j++)
        {
            var row = b.Slice(j * ldb, k);
            c0[j] = Dot(a0.Slice(0, k), row);
            c1[j] = Dot(a1.Slice(0, k), row);
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
