using System.Buffers;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using NetOnnx.Kernels.Elementwise;
using NetOnnx.Kernels.Recurrent;
using NetOnnx.Kernels.Threading;

namespace NetOnnx.Kernels.SmallShapes;

/// <summary>
/// One row times a transposed matrix, y = act(alpha * a * B^T + beta * y): a classifier's Gemm at batch 1
/// ([1, K] x [N, K]^T). It is a stream over B's N rows, so each output is a dot product of a with one row of B,
/// eight rows at a time with independent 16-lane accumulators (AVX-512; else <see cref="SeqMath.MatVecTransB{T}"/>,
/// four rows of 8 lanes), and the rows are
/// split across threads: a single thread cannot pull a megabytes-large B through at the memory's speed.
/// </summary>
public static class RowGemv
{
    /// <param name="a">The row, k values.</param>
    /// <param name="b">B, n rows of k values, row pitch ldb.</param>
    /// <param name="y">n outputs; read (times beta) only when beta is not 0.</param>
    public static void Run(ReadOnlyMemory<float> a, ReadOnlyMemory<float> b, int ldb, int n, int k, float alpha, float beta,
        Memory<float> y, FusedActivation activation, int threads)
    {
        if (n < 0 || k < 0 || a.Length < k || y.Length < n || (n > 0 && b.Length < (long)(n - 1) * ldb + k))
            throw new ArgumentException($"RowGemv: operands too short for n={n}, k={k}, ldb={ldb}");
        IntraOpPool.ForRanges(n, threads, (j0, j1) => Range(a.Span, b.Span, ldb, j0, j1, k, alpha, beta, y.Span, activation),
            work: (long)n * k * sizeof(float));
    }

    private static void Range(ReadOnlySpan<float> a, ReadOnlySpan<float> b, int ldb, int j0, int j1, int k, float alpha, float beta,
        Span<float> y, FusedActivation activation)
    {
        int rows = j1 - j0;
        var outs = y.Slice(j0, rows);
        var rowsOfB = b.Slice(j0 * ldb, (rows - 1) * ldb + k);
        if (beta == 0)
        {
            Dots(a.Slice(0, k), rowsOfB, ldb, outs, rows, k);
            if (alpha != 1) for (int j = 0; j < rows; j++) outs[j] *= alpha;
        }
        else
        {
            var dots = ArrayPool<float>.Shared.Rent(rows);
            Dots(a.Slice(0, k), rowsOfB, ldb, dots.AsSpan(0, rows), rows, k);
            for (int j = 0; j < rows; j++) outs[j] = alpha * dots[j] + beta * outs[j];
            ArrayPool<float>.Shared.Return(dots);
        }
        activation.Apply(outs);
    }

    /// <summary>d[j] = a . b[j] for j in [0, rows).</summary>
    private static unsafe void Dots(ReadOnlySpan<float> a, ReadOnlySpan<float> b, int ldb, Span<float> d, int rows, int k)
    {
        int j = 0;
        if (Avx512F.IsSupported && k >= 16)
        {
            int kv = k & ~15;
            fixed (float* pa = a, pb = b)
            {
                for (; j + 8 <= rows; j += 8)
                {
                    float* r0 = pb + (long)j * ldb;
                    Vector512<float> s0 = default, s1 = default, s2 = default, s3 = default, s4 = default, s5 = default, s6 = default, s7 = default;
                    for (int p = 0; p < kv; p += 16)
                    {
                        var av = Vector512.Load(pa + p);
                        float* q = r0 + p;
                        s0 = Avx512F.FusedMultiplyAdd(av, Vector512.Load(q), s0);
                        s1 = Avx512F.FusedMultiplyAdd(av, Vector512.Load(q + ldb), s1);
                        s2 = Avx512F.FusedMultiplyAdd(av, Vector512.Load(q + 2 * ldb), s2);
                        s3 = Avx512F.FusedMultiplyAdd(av, Vector512.Load(q + 3 * ldb), s3);
                        s4 = Avx512F.FusedMultiplyAdd(av, Vector512.Load(q + 4 * ldb), s4);
                        s5 = Avx512F.FusedMultiplyAdd(av, Vector512.Load(q + 5 * ldb), s5);
                        s6 = Avx512F.FusedMultiplyAdd(av, Vector512.Load(q + 6 * ldb), s6);
                        s7 = Avx512F.FusedMultiplyAdd(av, Vector512.Load(q + 7 * ldb), s7);
                    }
                    d[j] = Vector512.Sum(s0); d[j + 1] = Vector512.Sum(s1); d[j + 2] = Vector512.Sum(s2); d[j + 3] = Vector512.Sum(s3);
                    d[j + 4] = Vector512.Sum(s4); d[j + 5] = Vector512.Sum(s5); d[j + 6] = Vector512.Sum(s6); d[j + 7] = Vector512.Sum(s7);
                    for (int p = kv; p < k; p++)
                        for (int r = 0; r < 8; r++) d[j + r] += pa[p] * r0[(long)r * ldb + p];
                }
            }
        }
        if (j < rows) SeqMath.MatVecTransB(a, b.Slice(j * ldb), ldb, d.Slice(j), rows - j, k, false);
    }
}
