using System.Buffers;
using System.Runtime.Intrinsics;
using NetOnnx.Kernels.Threading;

namespace NetOnnx.Kernels.Sparse;

/// <summary>Constant sparse weights B [K, N] in compressed-column form: for each output column, its non-zero rows and values.</summary>
public sealed class SparseWeights
{
    public int K { get; }
    public int N { get; }
    internal readonly int[] ColumnStart;
    internal readonly int[] Rows;
    internal readonly float[] Values;

    public int NonZeros => Values.Length;
    public double Sparsity => 1.0 - (double)Values.Length / ((long)K * N);

    private SparseWeights(int k, int n, int[] start, int[] rows, float[] values) { K = k; N = n; ColumnStart = start; Rows = rows; Values = values; }

    /// <summary>Compresses row-major B [K, N], keeping every value that is not exactly zero.</summary>
    public static SparseWeights FromDense(ReadOnlySpan<float> b, int k, int n)
    {
        if (k <= 0 || n <= 0 || b.Length < (long)k * n) throw new ArgumentException($"weights of shape [{k}, {n}] need {(long)k * n} values, got {b.Length}");
        var start = new int[n + 1];
        for (int r = 0; r < k; r++)
            for (int c = 0; c < n; c++) if (b[r * n + c] != 0) start[c + 1]++;
        for (int c = 0; c < n; c++) start[c + 1] += start[c];
        var rows = new int[start[n]];
        var values = new float[start[n]];
        var fill = start[..n];
        for (int r = 0; r < k; r++)
            for (int c = 0; c < n; c++)
            {
                float v = b[r * n + c];
                if (v == 0) continue;
                rows[fill[c]] = r;
                values[fill[c]++] = v;
            }
        return new SparseWeights(k, n, start, rows, values);
    }
}

/// <summary>
/// C[M, N] = A[M, K] x B (sparse) [+ bias]: A is transposed once so that each non-zero b[k, n] becomes one
/// broadcast-multiply-add over a contiguous run of A's column k (32 rows per step); the result is built
/// column-major and transposed into C. The work is proportional to the non-zeros, so at high sparsity it
/// beats the dense GEMM, which does every multiply.
/// </summary>
public static class SparseGemm
{
    private const int Block = 32;

    public static void Multiply(ReadOnlySpan<float> a, int m, SparseWeights w, ReadOnlySpan<float> bias, Span<float> c, int threads)
    {
        int k = w.K, n = w.N;
        if (a.Length < (long)m * k) throw new ArgumentException($"A holds {a.Length} values, [{m}, {k}] needs {(long)m * k}");
        if (c.Length < (long)m * n) throw new ArgumentException($"C holds {c.Length} values, [{m}, {n}] needs {(long)m * n}");
        if (!bias.IsEmpty && bias.Length != n) throw new ArgumentException($"bias has {bias.Length} values, N is {n}");
        if (m == 0) return;
        // Pooled scratch: this runs once per MatMul per inference, and fresh arrays would feed the GC.
        var at = ArrayPool<float>.Shared.Rent(k * m);
        var ct = ArrayPool<float>.Shared.Rent(n * m);
        try
        {
            Transpose(a, m, k, at);
            var biasCopy = bias.ToArray();
            IntraOpPool.ForRanges(n, threads, (c0, c1) => Columns(at, m, w, biasCopy, ct, c0, c1), work: 2L * w.NonZeros * m);
            Transpose(ct, n, m, c);
        }
        finally
        {
            ArrayPool<float>.Shared.Return(at);
            ArrayPool<float>.Shared.Return(ct);
        }
    }

    /// <summary>dst [cols, rows] = src [rows, cols]ᵀ in 16 x 16 tiles, so both sides stay in cache.</summary>
    private static void Transpose(ReadOnlySpan<float> src, int rows, int cols, Span<float> dst)
    {
        const int T = 16;
        for (int r0 = 0; r0 < rows; r0 += T)
            for (int c0 = 0; c0 < cols; c0 += T)
            {
                int r1 = Math.Min(rows, r0 + T), c1 = Math.Min(cols, c0 + T);
                for (int r = r0; r < r1; r++)
                    for (int c = c0; c < c1; c++) dst[c * rows + r] = src[r * cols + c];
            }
    }

    private static void Columns(float[] at, int m, SparseWeights w, float[] bias, float[] ct, int c0, int c1)
    {
        var rows = w.Rows;
        var values = w.Values;
        var start = w.ColumnStart;
        var aspan = at.AsSpan();
        for (int j = c0; j < c1; j++)
        {
            float b0 = bias.Length > 0 ? bias[j] : 0f;
            var dst = ct.AsSpan(j * m, m);
            int i = 0;
            if (Vector256.IsHardwareAccelerated)
            {
                for (; i <= m - Block; i += Block)
                {
                    var s0 = Vector256.Create(b0); var s1 = s0; var s2 = s0; var s3 = s0;
                    for (int z = start[j]; z < start[j + 1]; z++)
                    {
                        var v = Vector256.Create(values[z]);
                        var col = aspan.Slice(rows[z] * m + i, Block);
                        s0 = Vector256.FusedMultiplyAdd(v, Vector256.Create(col), s0);
                        s1 = Vector256.FusedMultiplyAdd(v, Vector256.Create(col.Slice(8)), s1);
                        s2 = Vector256.FusedMultiplyAdd(v, Vector256.Create(col.Slice(16)), s2);
                        s3 = Vector256.FusedMultiplyAdd(v, Vector256.Create(col.Slice(24)), s3);
                    }
                    s0.CopyTo(dst.Slice(i)); s1.CopyTo(dst.Slice(i + 8)); s2.CopyTo(dst.Slice(i + 16)); s3.CopyTo(dst.Slice(i + 24));
                }
            }
            for (; i < m; i++)
            {
                float s = b0;
                for (int z = start[j]; z < start[j + 1]; z++) s += values[z] * aspan[rows[z] * m + i];
                dst[i] = s;
            }
        }
    }
}
