using NetOnnx.Kernels.Elementwise;
using NetOnnx.Kernels.Threading;

namespace NetOnnx.Kernels.Gemm;

/// <summary>
/// Multi-threaded C = act(A·B + bias) against a pre-packed B, cut into row blocks of A instead of column blocks.
/// With B packed once, a row block costs nothing extra (every thread reads the same packed panels), while the
/// driver's column split packs all of A again for every column chunk: for transformer projections (M = 128,
/// N = 256..1024) that repacking made two threads no faster than one. Wide products (N above
/// <see cref="MaxColumns"/>, e.g. an lm_head) keep the column split, where each thread streams only its share of
/// a B too large for L2.
/// </summary>
public static unsafe class PackedBRowSplit
{
    /// <summary>Rows per block at least: fewer rows would reread each B panel from L3 for too little work.</summary>
    public const int MinRows = 32;

    /// <summary>Widest N cut by rows; wider products go to the SGEMM driver's column split.</summary>
    public const int MaxColumns = 1024;

    /// <summary>Blocks per thread, taken dynamically, so a worker that starts late costs only part of a block.</summary>
    private const int BlocksPerThread = 2;

    /// <summary>Below this many multiply-adds the product runs on one thread (as the driver decides).</summary>
    private const long MinWork = 1 << 21;

    /// <summary>Whether <see cref="Multiply"/> cuts this product by rows.</summary>
    public static bool SplitsRows(int m, int n, int k, int threads) =>
        threads > 1 && m >= 2 * MinRows && n <= MaxColumns && (long)m * n * k >= MinWork;

    /// <summary>Same contract as <see cref="Sgemm.Multiply(int, ReadOnlySpan{float}, int, PackedB, Span{float}, int, ReadOnlySpan{float}, FusedActivation, int)"/>.</summary>
    public static void Multiply(int m, ReadOnlySpan<float> a, int lda, PackedB b, Span<float> c, int ldc,
        ReadOnlySpan<float> colBias, FusedActivation activation, int threads)
    {
        if (!SplitsRows(m, b.N, b.K, threads))
        {
            Sgemm.Multiply(m, a, lda, b, c, ldc, colBias, activation, threads);
            return;
        }
        int n = b.N, k = b.K;
        // The checks the driver would make, before any pointer arithmetic below relies on them.
        if ((long)(m - 1) * lda + k > a.Length || lda < k) throw new ArgumentException($"A holds {a.Length} elements, too few for {m} rows of {k} at stride {lda}");
        if ((long)(m - 1) * ldc + n > c.Length || ldc < n) throw new ArgumentException($"C holds {c.Length} elements, too few for {m} rows of {n} at stride {ldc}");
        if (!colBias.IsEmpty && colBias.Length != n) throw new ArgumentException($"column bias holds {colBias.Length} elements, C has {n} columns");
        fixed (float* pa = a, pc = c, pbias = colBias)
            RunRows(m, n, k, (nint)pa, lda, b, (nint)pc, ldc, (nint)pbias, colBias.Length, activation, threads);
    }

    // Apart from Multiply so that the closure's captured state is only allocated when rows are really split: the
    // compiler creates it on entry to the method that declares the captured parameters.
    private static void RunRows(int m, int n, int k, nint ia, int lda, PackedB b, nint ic, int ldc, nint ibias, int biasLength,
        FusedActivation activation, int threads)
    {
        int mr = Sgemm.MR;
        int parts = Math.Min(threads * BlocksPerThread, m / MinRows);
        int rows = ((m + parts - 1) / parts + mr - 1) / mr * mr;
        parts = (m + rows - 1) / rows;
        IntraOpPool.For(parts, threads, p =>
        {
            int r0 = p * rows, mm = Math.Min(rows, m - r0);
            var ap = new ReadOnlySpan<float>((float*)ia + (long)r0 * lda, (mm - 1) * lda + k);
            var cp = new Span<float>((float*)ic + (long)r0 * ldc, (mm - 1) * ldc + n);
            var bias = new ReadOnlySpan<float>((float*)ibias, biasLength);
            Sgemm.Multiply(mm, ap, lda, b, cp, ldc, bias, activation, 1);
        });
    }
}
