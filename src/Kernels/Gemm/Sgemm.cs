using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using NetOnnx.Kernels.Elementwise;
using NetOnnx.Kernels.Threading;

namespace NetOnnx.Kernels.Gemm;

/// <summary>
/// A left operand packed once (e.g. constant convolution weights) into the micro-panel layout the
/// SGEMM kernels read, so repeated products skip packing A.
/// </summary>
public sealed class PackedA
{
    internal readonly float[] Data;
    public int M { get; }
    public int K { get; }
    internal int MPadded { get; }

    internal PackedA(float[] data, int m, int k, int mPadded)
    {
        Data = data; M = m; K = k; MPadded = mPadded;
    }
}

/// <summary>
/// A right operand packed once (e.g. constant MatMul weights) into the KC x NR strips the SGEMM kernels read:
/// for each KC block of rows, all NR-column strips of the full width, so any NR-aligned column range is a
/// contiguous run of strips and threads splitting N can share it.
/// </summary>
public sealed class PackedB
{
    internal readonly float[] Data;
    public int K { get; }
    public int N { get; }
    internal int NPadded { get; }

    internal PackedB(float[] data, int k, int n, int nPadded)
    {
        Data = data; K = k; N = n; NPadded = nPadded;
    }
}

/// <summary>A right-hand GEMM operand computed on the fly, one row segment at a time.</summary>
public interface IPanelSource
{
    /// <summary>Writes B[row, col0 .. col0 + dst.Length) to dst. Called concurrently from several threads.</summary>
    void ReadRow(int row, int col0, Span<float> dst);

    /// <summary>
    /// Optionally writes rows [k0, k0+kc) x cols [col0, col0+nc) straight into the packed layout: strips of
    /// nr columns, each kc x nr row-major, zero past nc. Returns false to have the caller use ReadRow instead.
    /// </summary>
    unsafe bool PackPanel(int k0, int kc, int col0, int nc, float* dst, int nr) => false;
}

/// <summary>
/// Single-precision GEMM, C = alpha*op(A)*op(B) + beta*C, row-major with leading dimensions.
/// Goto-style blocking: B is packed into KC x NR strips, A into MR x KC strips, and a register-blocked
/// micro-kernel (AVX-512 8x32, AVX2 6x16 or portable 4x16, picked once from the CPU) computes each tile.
/// When beta is 0, C is never read, so garbage or NaN in C does not leak into the result.
/// </summary>
public static unsafe class Sgemm
{
    private enum Isa { Avx512, Avx2, Portable }

    // Measured on the project's Zen 4 host (benchmarks `gemm`): 8x32 ran at 96% of a register-only FMA loop;
    // 12x32, 14x32 and 6x64 tiles were no faster and pad more rows on the 64/128/256-channel shapes of CNNs.
    private static readonly Isa Kind =
        Avx512F.IsSupported ? Isa.Avx512 : Fma.IsSupported && Avx2.IsSupported ? Isa.Avx2 : Isa.Portable;

    /// <summary>Rows of a micro-tile.</summary>
    public static readonly int MR = Kind switch { Isa.Avx512 => 8, Isa.Avx2 => 6, _ => 4 };
    /// <summary>Columns of a micro-tile.</summary>
    public static readonly int NR = Kind switch { Isa.Avx512 => 32, _ => 16 };

    // An MR x KC strip of A stays in L1 while the KC x NC block of B (512 KB) sits in L2.
    private const int KC = 256;
    private const int NC = 512;
    /// <summary>Work (multiply-adds) below which an extra thread does not pay for itself.</summary>
    private const long MinWorkPerThread = 1 << 20;

    /// <summary>Most chunks a multi-threaded product is cut into per thread, so a late worker's share is taken over.</summary>
    private const int ChunksPerThread = 4;

    /// <summary>
    /// Smallest chunk of a threaded product (multiply-adds). Below a thread's minimum so that a product just over
    /// it still gets several chunks: with one chunk per thread a late worker made the caller wait for its whole half.
    /// </summary>
    private const long MinWorkPerChunk = MinWorkPerThread / 4;

    /// <summary>Fewest rows in a row chunk: each row chunk packs all of B again, which must stay small next to its product.</summary>
    private const int MinRowsPerChunk = 64;

    public static string IsaName => Kind.ToString();

    [ThreadStatic] private static float[]? t_packA;
    [ThreadStatic] private static float[]? t_onceA;

    /// <summary>Largest A (floats, 4 MB) packed whole for one product; larger ones are packed strip by strip.</summary>
    private const long MaxOncePackedA = 1 << 20;
    [ThreadStatic] private static float[]? t_packB;

    /// <summary>C = alpha*op(A)*op(B) + beta*C.</summary>
    public static void Multiply(bool transA, bool transB, int m, int n, int k, float alpha,
        ReadOnlySpan<float> a, int lda, ReadOnlySpan<float> b, int ldb, float beta, Span<float> c, int ldc, int threads = 1)
    {
        if (m == 0 || n == 0) return;
        CheckOperand("C", false, m, n, ldc, c.Length);
        if (k == 0 || alpha == 0) { ScaleC(m, n, beta, c, ldc); return; }
        CheckOperand("A", transA, m, k, lda, a.Length);
        CheckOperand("B", transB, k, n, ldb, b.Length);
        fixed (float* pa = a, pb = b, pc = c)
            Run(transA, transB, m, n, k, alpha, pa, lda, null, pb, ldb, beta, pc, ldc, threads, Epilogue.None, null);
    }

    /// <summary>C = alpha*A*op(B) + beta*C with A packed by <see cref="Pack"/>.</summary>
    public static void Multiply(PackedA a, bool transB, int n, float alpha, ReadOnlySpan<float> b, int ldb,
        float beta, Span<float> c, int ldc, int threads = 1)
    {
        int m = a.M, k = a.K;
        if (m == 0 || n == 0) return;
        CheckOperand("C", false, m, n, ldc, c.Length);
        if (k == 0 || alpha == 0) { ScaleC(m, n, beta, c, ldc); return; }
        CheckOperand("B", transB, k, n, ldb, b.Length);
        fixed (float* pb = b, pc = c)
            Run(false, transB, m, n, k, alpha, null, 0, a, pb, ldb, beta, pc, ldc, threads, Epilogue.None, null);
    }

    /// <summary>
    /// C = act(alpha*op(A)*op(B) + beta*C + rowBias[i] + residual), the epilogue applied to each output tile
    /// right after its last product, while the tile is still in cache. residual has C's shape with leading
    /// dimension ldr; empty spans mean no bias / no residual.
    /// </summary>
    public static void Multiply(bool transA, bool transB, int m, int n, int k, float alpha,
        ReadOnlySpan<float> a, int lda, ReadOnlySpan<float> b, int ldb, float beta, Span<float> c, int ldc,
        ReadOnlySpan<float> rowBias, ReadOnlySpan<float> residual, int ldr, FusedActivation activation, int threads = 1)
    {
        if (m == 0 || n == 0) return;
        CheckOperand("C", false, m, n, ldc, c.Length);
        CheckEpilogue(m, n, rowBias, residual, ldr);
        fixed (float* pa = a, pb = b, pc = c, pbias = rowBias, pres = residual)
        {
            var epi = new Epilogue(rowBias.IsEmpty ? null : pbias, residual.IsEmpty ? null : pres, ldr, activation);
            if (k == 0 || alpha == 0) { ScaleC(m, n, beta, c, ldc); epi.Apply(pc, ldc, m, n); return; }
            CheckOperand("A", transA, m, k, lda, a.Length);
            CheckOperand("B", transB, k, n, ldb, b.Length);
            Run(transA, transB, m, n, k, alpha, pa, lda, null, pb, ldb, beta, pc, ldc, threads, epi, null);
        }
    }

    /// <summary>The packed-A form of the epilogue product above.</summary>
    public static void Multiply(PackedA a, bool transB, int n, float alpha, ReadOnlySpan<float> b, int ldb,
        float beta, Span<float> c, int ldc, ReadOnlySpan<float> rowBias, ReadOnlySpan<float> residual, int ldr,
        FusedActivation activation, int threads = 1)
    {
        int m = a.M, k = a.K;
        if (m == 0 || n == 0) return;
        CheckOperand("C", false, m, n, ldc, c.Length);
        CheckEpilogue(m, n, rowBias, residual, ldr);
        fixed (float* pb = b, pc = c, pbias = rowBias, pres = residual)
        {
            var epi = new Epilogue(rowBias.IsEmpty ? null : pbias, residual.IsEmpty ? null : pres, ldr, activation);
            if (k == 0 || alpha == 0) { ScaleC(m, n, beta, c, ldc); epi.Apply(pc, ldc, m, n); return; }
            CheckOperand("B", transB, k, n, ldb, b.Length);
            Run(false, transB, m, n, k, alpha, null, 0, a, pb, ldb, beta, pc, ldc, threads, epi, null);
        }
    }

    /// <summary>
    /// C = act(A*B + rowBias[i] + residual) where B (k x n) is never stored: the source writes each row
    /// segment straight into the packing buffer (implicit GEMM, e.g. convolution patches read from the image).
    /// </summary>
    public static void Multiply(PackedA a, IPanelSource b, int n, Span<float> c, int ldc, ReadOnlySpan<float> rowBias,
        ReadOnlySpan<float> residual, int ldr, FusedActivation activation, int threads = 1)
    {
        int m = a.M, k = a.K;
        if (m == 0 || n == 0) return;
        CheckOperand("C", false, m, n, ldc, c.Length);
        CheckEpilogue(m, n, rowBias, residual, ldr);
        fixed (float* pc = c, pbias = rowBias, pres = residual)
        {
            var epi = new Epilogue(rowBias.IsEmpty ? null : pbias, residual.IsEmpty ? null : pres, ldr, activation);
            if (k == 0) { ScaleC(m, n, 0f, c, ldc); epi.Apply(pc, ldc, m, n); return; }
            Run(false, false, m, n, k, 1f, null, 0, a, null, 0, 0f, pc, ldc, threads, epi, b);
        }
    }

    /// <summary>
    /// C = act(A*B + colBias[j]) with A (m x k, leading dimension lda) and B packed by <see cref="PackB"/>; an
    /// empty colBias means no bias. The bias rides in the epilogue as a residual row repeated for every row.
    /// </summary>
    public static void Multiply(int m, ReadOnlySpan<float> a, int lda, PackedB b, Span<float> c, int ldc,
        ReadOnlySpan<float> colBias, FusedActivation activation, int threads = 1)
    {
        int n = b.N, k = b.K;
        if (m == 0 || n == 0) return;
        CheckOperand("C", false, m, n, ldc, c.Length);
        if (!colBias.IsEmpty && colBias.Length != n) throw new ArgumentException($"column bias holds {colBias.Length} elements, C has {n} columns");
        fixed (float* pa = a, pc = c, pbias = colBias)
        {
            var epi = new Epilogue(null, colBias.IsEmpty ? null : pbias, 0, activation);
            if (k == 0) { ScaleC(m, n, 0f, c, ldc); epi.Apply(pc, ldc, m, n); return; }
            CheckOperand("A", false, m, k, lda, a.Length);
            Run(false, false, m, n, k, 1f, pa, lda, null, null, 0, 0f, pc, ldc, threads, epi, null, b);
        }
    }

    /// <summary>C = op(A)*B with B packed by <see cref="PackB"/>; transA reads A stored k x m (leading dimension lda).</summary>
    public static void Multiply(bool transA, int m, ReadOnlySpan<float> a, int lda, PackedB b, Span<float> c, int ldc, int threads = 1)
    {
        int n = b.N, k = b.K;
        if (m == 0 || n == 0) return;
        CheckOperand("C", false, m, n, ldc, c.Length);
        if (k == 0) { ScaleC(m, n, 0f, c, ldc); return; }
        CheckOperand("A", transA, m, k, lda, a.Length);
        fixed (float* pa = a, pc = c)
            Run(transA, false, m, n, k, 1f, pa, lda, null, null, 0, 0f, pc, ldc, threads, Epilogue.None, null, b);
    }

    private static void CheckEpilogue(int m, int n, ReadOnlySpan<float> rowBias, ReadOnlySpan<float> residual, int ldr)
    {
        if (!rowBias.IsEmpty && rowBias.Length < m) throw new ArgumentException($"row bias holds {rowBias.Length} elements, C has {m} rows");
        if (!residual.IsEmpty) CheckOperand("residual", false, m, n, ldr, residual.Length);
    }

    /// <summary>Bias, residual and activation applied to finished C tiles; pointers are pinned by the caller.</summary>
    private readonly struct Epilogue
    {
        private readonly float* _rowBias, _residual;
        private readonly int _ldr;
        private readonly FusedActivation _activation;

        public Epilogue(float* rowBias, float* residual, int ldr, FusedActivation activation)
        {
            _rowBias = rowBias; _residual = residual; _ldr = ldr; _activation = activation;
        }

        public static readonly Epilogue None = new(null, null, 0, FusedActivation.None);
        public bool IsEmpty => _rowBias == null && _residual == null && _activation.IsNone;
        /// <summary>Relu and Clip are a clamp the AVX-512 kernel applies as it stores; others run over the stored tile.</summary>
        private bool IsClamp => _activation.Kind is ActivationKind.Relu or ActivationKind.Clip;

        /// <summary>The same epilogue for the sub-problem whose C starts at (row, col).</summary>
        public Epilogue At(int row, int col) =>
            new(_rowBias == null ? null : _rowBias + row, _residual == null ? null : _residual + (long)row * _ldr + col, _ldr, _activation);

        /// <summary>What the AVX-512 kernel applies itself to the tile whose top-left is (row, col).</summary>
        public TileEnd Tile(int row, int col) => new()
        {
            Bias = _rowBias == null ? null : _rowBias + row,
            Residual = _residual == null ? null : _residual + (long)row * _ldr + col,
            Ldr = _ldr,
            Clamp = IsClamp,
            Lo = _activation.Kind == ActivationKind.Relu ? 0f : _activation.A,
            Hi = _activation.Kind == ActivationKind.Relu ? float.PositiveInfinity : _activation.B,
        };

        /// <summary>The activation left after <see cref="Tile"/> (none for Relu and Clip).</summary>
        public void ApplyActivationOnly(float* c, int ldc, int rows, int cols)
        {
            if (_activation.IsNone || IsClamp) return;
            for (int i = 0; i < rows; i++) _activation.Apply(c + (long)i * ldc, cols);
        }

        /// <summary>Applies to the rows x cols block at c, whose top-left is (row, col) of this epilogue's C.</summary>
        public void Apply(float* c, int ldc, int rows, int cols, int row = 0, int col = 0)
        {
            if (IsEmpty) return;
            for (int i = 0; i < rows; i++)
            {
                float* dst = c + (long)i * ldc;
                if (_rowBias != null) AddScalar(dst, cols, _rowBias[row + i]);
                if (_residual != null) AddRow(dst, _residual + (long)(row + i) * _ldr + col, cols);
                _activation.Apply(dst, cols);
            }
        }

        private static void AddScalar(float* y, int n, float s)
        {
            if (s == 0) return;
            int j = 0;
            if (Vector256.IsHardwareAccelerated)
            {
                var vs = Vector256.Create(s);
                for (; j + 8 <= n; j += 8) Vector256.Store(Vector256.Load(y + j) + vs, y + j);
            }
            for (; j < n; j++) y[j] += s;
        }

        private static void AddRow(float* y, float* x, int n)
        {
            int j = 0;
            if (Vector256.IsHardwareAccelerated)
                for (; j + 8 <= n; j += 8) Vector256.Store(Vector256.Load(y + j) + Vector256.Load(x + j), y + j);
            for (; j < n; j++) y[j] += x[j];
        }
    }

    /// <summary>Per-tile epilogue for the AVX-512 kernel: row bias, residual rows (ldr apart), clamp to [Lo, Hi].</summary>
    private struct TileEnd
    {
        public float* Bias;
        public float* Residual;
        public int Ldr;
        public bool Clamp;
        public float Lo, Hi;
    }

    /// <summary>Packs op(A) (m x k) once for repeated use as the left operand.</summary>
    public static PackedA Pack(bool transA, int m, int k, ReadOnlySpan<float> a, int lda)
    {
        if (m > 0 && k > 0) CheckOperand("A", transA, m, k, lda, a.Length);
        int mr = MR;
        int mPad = (m + mr - 1) / mr * mr;
        var data = GC.AllocateUninitializedArray<float>(Math.Max(1, mPad * k) + 16, pinned: true);
        if (m == 0 || k == 0) return new PackedA(data, m, k, mPad);
        fixed (float* pa = a) PackAOnce(transA, m, k, pa, lda, Align(data), mPad, threads: 1);
        return new PackedA(data, m, k, mPad);
    }

    /// <summary>Packs op(B) (k x n) once for repeated use as the right operand.</summary>
    public static PackedB PackB(bool transB, int k, int n, ReadOnlySpan<float> b, int ldb)
    {
        if (k > 0 && n > 0) CheckOperand("B", transB, k, n, ldb, b.Length);
        int nr = NR;
        int nPad = (n + nr - 1) / nr * nr;
        var data = GC.AllocateUninitializedArray<float>(Math.Max(1, nPad * k) + 16, pinned: true);
        if (k == 0 || n == 0) return new PackedB(data, k, n, nPad);
        float* dst = Align(data);
        fixed (float* pb = b)
        {
            for (int k0 = 0; k0 < k; k0 += KC)
            {
                int kc = Math.Min(KC, k - k0);
                PackB(pb, ldb, transB, k0, kc, 0, n, dst + (long)k0 * nPad);
            }
        }
        return new PackedB(data, k, n, nPad);
    }

    private static void CheckOperand(string name, bool trans, int rows, int cols, int ld, int length)
    {
        int r = trans ? cols : rows, cl = trans ? rows : cols;
        if (ld < cl) throw new ArgumentException($"leading dimension {ld} of {name} is smaller than its row length {cl}");
        long need = (long)(r - 1) * ld + cl;
        if (length < need) throw new ArgumentException($"{name} holds {length} elements, a {rows}x{cols} operand needs {need}");
    }

    private static void ScaleC(int m, int n, float beta, Span<float> c, int ldc)
    {
        if (beta == 1) return;
        for (int i = 0; i < m; i++)
        {
            var row = c.Slice(i * ldc, n);
            if (beta == 0) row.Clear();
            else for (int j = 0; j < n; j++) row[j] *= beta;
        }
    }

    private static void Run(bool transA, bool transB, int m, int n, int k, float alpha, float* a, int lda, PackedA? pa,
        float* b, int ldb, float beta, float* c, int ldc, int threads, Epilogue epi, IPanelSource? src, PackedB? pbk = null)
    {
        // Thin products: packing would cost as much as the arithmetic, so use row-at-a-time vector loops.
        if (pa is null && src is null && pbk is null && (m < 4 || n < 8))
        {
            Small(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
            epi.Apply(c, ldc, m, n);
            return;
        }
        // One row against packed weights (a classifier's Gemm at batch 1): MR-row tiles would be all padding but one
        // row, so stream the packed strips as a matrix-vector product instead, split over strips.
        if (pbk is not null && m == 1 && !transA && alpha == 1f && beta == 0f && Kind == Isa.Avx512)
        {
            RowTimesPackedB(a, pbk, c, threads);
            epi.Apply(c, ldc, m, n);
            return;
        }
        // A few columns against packed weights (e.g. 1x1 convs on a 1x1 squeeze-excite map): a 32-wide tile
        // would be mostly padding, so walk the packed strips as matrix-vector products instead.
        if (pa is not null && src is null && n < 4)
        {
            PackedGemv(pa, n, alpha, b, ldb, transB, beta, c, ldc);
            epi.Apply(c, ldc, m, n);
            return;
        }
        long work = (long)m * n * k;
        int t = (int)Math.Clamp(work / MinWorkPerThread, 1, Math.Max(1, threads));
        int mr = MR, nr = NR;
        bool splitColumns = n >= m || m < 2 * mr;
        float* paData = pa is null ? null : Align(pa.Data);
        int paMPad = pa?.MPadded ?? 0;
        // Every NC column block, and every column chunk of a threaded product, would pack the same A strips again
        // (at M = 128 against a 1024-wide B, eight times): pack A once, and let all of them read the one copy.
        float[]? onceA = null;
        int mPad = (m + mr - 1) / mr * mr;
        if (paData == null && (n > NC || (t > 1 && splitColumns)) && (long)mPad * k <= MaxOncePackedA)
        {
            onceA = Rent(ref t_onceA, mPad * k);
            paData = Align(onceA);
            paMPad = mPad;
            PackAOnce(transA, m, k, a, lda, paData, mPad, t);
        }
        try
        {
            RunPacked(transA, transB, m, n, k, alpha, a, lda, paData, paMPad, b, ldb, beta, c, ldc, t, splitColumns, epi, src, pbk);
        }
        finally
        {
            if (onceA is not null) t_onceA = onceA;
            GC.KeepAlive(pa);
        }
    }

    /// <summary>Packs all of op(A) as <see cref="Pack"/> lays it out, cut into 8-strip pieces across threads.</summary>
    private static void PackAOnce(bool transA, int m, int k, float* a, int lda, float* dst, int mPad, int threads)
    {
        // Small ones (a 128 x 256 A packs in a few microseconds) are not worth a pool dispatch and its closure.
        if (threads <= 1 || (long)mPad * k < MinParallelPack)
        {
            for (int k0 = 0; k0 < k; k0 += KC) PackA(a, lda, transA, 0, m, k0, Math.Min(KC, k - k0), dst + (long)k0 * mPad);
            return;
        }
        PackAOnceParallel(transA, m, k, (nint)a, lda, (nint)dst, mPad, threads);
    }

    private const long MinParallelPack = 1 << 16;

    private static void PackAOnceParallel(bool transA, int m, int k, nint a, int lda, nint dst, int mPad, int threads)
    {
        int rows = 8 * MR; // whole strips, so no piece writes into the next one's rows
        int rowParts = (m + rows - 1) / rows, kParts = (k + KC - 1) / KC;
        IntraOpPool.For(rowParts * kParts, threads, q =>
        {
            int i0 = q % rowParts * rows, k0 = q / rowParts * KC, kc = Math.Min(KC, k - k0);
            PackA((float*)a, lda, transA, i0, Math.Min(rows, m - i0), k0, kc, (float*)dst + (long)k0 * mPad + (long)i0 * kc);
        });
    }

    /// <summary>Run after A is packed (paData non-null) or left for each thread to pack by strips (paData null).</summary>
    private static void RunPacked(bool transA, bool transB, int m, int n, int k, float alpha, float* a, int lda, float* paData, int paMPad,
        float* b, int ldb, float beta, float* c, int ldc, int t, bool splitColumns, Epilogue epi, IPanelSource? src, PackedB? pbk)
    {
        if (t <= 1)
        {
            Serial(transA, transB, m, n, k, alpha, a, lda, paData, paMPad, 0, b, ldb, beta, c, ldc, epi, src, 0, pbk);
            return;
        }
        RunThreaded(transA, transB, m, n, k, alpha, a, lda, paData, paMPad, b, ldb, beta, c, ldc, t, splitColumns, epi, src, pbk);
    }

    // Apart from Run so that the closures' captured state is only allocated when threads are used: the
    // compiler creates it on entry to the method that declares the captured parameters.
    private static void RunThreaded(bool transA, bool transB, int m, int n, int k, float alpha, float* a, int lda, float* paData, int paMPad,
        float* b, int ldb, float beta, float* c, int ldc, int t, bool splitColumns, Epilogue epi, IPanelSource? src, PackedB? pbk)
    {
        // Split the larger dimension into tile-aligned chunks, one serial GEMM per chunk. Several chunks per thread,
        // taken dynamically: on a busy host a worker often starts late or is descheduled, and with exactly one chunk
        // per thread the caller would then sit idle waiting for it instead of taking over the remaining chunks.
        nint ia = (nint)a, ib = (nint)b, ic = (nint)c, ipa = (nint)paData;
        int mr = MR, nr = NR;
        long work = (long)m * n * k;
        int want = (int)Math.Clamp(work / MinWorkPerChunk, t, (long)t * ChunksPerThread);
        if (splitColumns)
        {
            int chunk = ((n + want - 1) / want + nr - 1) / nr * nr;
            int parts = (n + chunk - 1) / chunk;
            IntraOpPool.For(parts, t, p =>
            {
                int j0 = p * chunk, nn = Math.Min(chunk, n - j0);
                float* bb = pbk is not null ? null : (float*)ib + (transB ? (long)j0 * ldb : j0);
                Serial(transA, transB, m, nn, k, alpha, (float*)ia, lda, (float*)ipa, paMPad, 0, bb, ldb, beta, (float*)ic + j0, ldc, epi.At(0, j0), src, j0, pbk);
            });
        }
        else
        {
            // Row chunks each pack all of B again, so keep them at least MinRowsPerChunk rows (B's repacking then
            // costs under 1/64 of the chunk's multiply-adds), but cut several per thread where rows allow.
            // B packed from image patches (implicit-GEMM conv) costs index math per element: one chunk per thread.
            int rowParts = src is not null ? t : Math.Clamp(m / MinRowsPerChunk, t, want);
            int chunk = ((m + rowParts - 1) / rowParts + mr - 1) / mr * mr;
            int parts = (m + chunk - 1) / chunk;
            IntraOpPool.For(parts, t, p =>
            {
                int i0 = p * chunk, mm = Math.Min(chunk, m - i0);
                float* aa = ipa != 0 ? null : (float*)ia + (transA ? i0 : (long)i0 * lda);
                Serial(transA, transB, mm, n, k, alpha, aa, lda, (float*)ipa, paMPad, i0, (float*)ib, ldb, beta, (float*)ic + (long)i0 * ldc, ldc, epi.At(i0, 0), src, 0, pbk);
            });
        }
    }

    /// <summary>C (m x n, n small) = alpha*A*op(B) + beta*C with A in its packed MR-row strips.</summary>
    private static void PackedGemv(PackedA pa, int n, float alpha, float* b, int ldb, bool transB, float beta, float* c, int ldc)
    {
        int m = pa.M, k = pa.K, mr = MR;
        float* data = Align(pa.Data);
        float* acc = stackalloc float[mr];
        for (int j = 0; j < n; j++)
        {
            for (int i0 = 0; i0 < m; i0 += mr)
            {
                var v = Vector256<float>.Zero;
                for (int r = 0; r < mr; r++) acc[r] = 0;
                for (int k0 = 0; k0 < k; k0 += KC)
                {
                    int kc = Math.Min(KC, k - k0);
                    float* strip = data + (long)k0 * pa.MPadded + (long)i0 * kc;
                    for (int p = 0; p < kc; p++)
                    {
                        float bv = transB ? b[(long)j * ldb + k0 + p] : b[(long)(k0 + p) * ldb + j];
                        if (mr == 8 && Fma.IsSupported) v = Fma.MultiplyAdd(Vector256.Load(strip + p * 8), Vector256.Create(bv), v);
                        else for (int r = 0; r < mr; r++) acc[r] += strip[p * mr + r] * bv;
                    }
                }
                if (mr == 8 && Fma.IsSupported) Vector256.Store(v, acc);
                int rows = Math.Min(mr, m - i0);
                for (int r = 0; r < rows; r++)
                {
                    float* dst = c + (long)(i0 + r) * ldc + j;
                    *dst = beta == 0 ? alpha * acc[r] : alpha * acc[r] + beta * *dst;
                }
            }
        }
    }

    /// <summary>
    /// c[0, j) = a . B[:, j) for packed B: four NR-column strips at a time, so eight independent accumulators hide
    /// the FMA latency while four contiguous streams read the strips. Bound by how fast B comes in (L3 or memory),
    /// so strip ranges go to threads.
    /// </summary>
    private static void RowTimesPackedB(float* a, PackedB b, float* c, int threads)
    {
        int strips = b.NPadded / 32;
        if (threads <= 1) RowTimesStrips(a, b, c, 0, strips);
        else RowTimesStripsThreaded((nint)a, b, (nint)c, strips, threads);
    }

    // Its own method: the closure's captures would otherwise be allocated on the single-thread path too.
    private static void RowTimesStripsThreaded(nint a, PackedB b, nint c, int strips, int threads) =>
        IntraOpPool.ForRanges((strips + 3) / 4, threads, (g0, g1) => RowTimesStrips((float*)a, b, (float*)c, g0 * 4, Math.Min(strips, g1 * 4)),
            work: (long)b.K * b.NPadded * sizeof(float));

    private static void RowTimesStrips(float* a, PackedB b, float* c, int s0, int s1)
    {
        int k = b.K, nPad = b.NPadded, n = b.N;
        float* data = Align(b.Data);
        float* tail = stackalloc float[32];
        for (int s = s0; s < s1; s += 4)
        {
            int count = Math.Min(4, s1 - s);
            Vector512<float> c0 = default, c1 = default, c2 = default, c3 = default, c4 = default, c5 = default, c6 = default, c7 = default;
            for (int k0 = 0; k0 < k; k0 += KC)
            {
                int kc = Math.Min(KC, k - k0);
                // Strip s of this K block: kc rows of 32, row-major (see PackB).
                float* q0 = data + (long)k0 * nPad + (long)s * kc * 32;
                float* q1 = q0 + kc * 32, q2 = q1 + kc * 32, q3 = q2 + kc * 32;
                if (count == 4)
                {
                    for (int p = 0; p < kc; p++)
                    {
                        var av = Vector512.Create(a[k0 + p]);
                        int o = p * 32;
                        c0 = Avx512F.FusedMultiplyAdd(av, Vector512.Load(q0 + o), c0);
                        c1 = Avx512F.FusedMultiplyAdd(av, Vector512.Load(q0 + o + 16), c1);
                        c2 = Avx512F.FusedMultiplyAdd(av, Vector512.Load(q1 + o), c2);
                        c3 = Avx512F.FusedMultiplyAdd(av, Vector512.Load(q1 + o + 16), c3);
                        c4 = Avx512F.FusedMultiplyAdd(av, Vector512.Load(q2 + o), c4);
                        c5 = Avx512F.FusedMultiplyAdd(av, Vector512.Load(q2 + o + 16), c5);
                        c6 = Avx512F.FusedMultiplyAdd(av, Vector512.Load(q3 + o), c6);
                        c7 = Avx512F.FusedMultiplyAdd(av, Vector512.Load(q3 + o + 16), c7);
                    }
                }
                else
                {
                    // Last strips of the range, one at a time: two accumulators per strip, split over even/odd rows.
                    for (int t = 0; t < count; t++)
                    {
                        float* q = q0 + (long)t * kc * 32;
                        Vector512<float> e0 = default, e1 = default, o0 = default, o1 = default;
                        int p = 0;
                        for (; p + 1 < kc; p += 2)
                        {
                            var av = Vector512.Create(a[k0 + p]);
                            var bv = Vector512.Create(a[k0 + p + 1]);
                            e0 = Avx512F.FusedMultiplyAdd(av, Vector512.Load(q + p * 32), e0);
                            e1 = Avx512F.FusedMultiplyAdd(av, Vector512.Load(q + p * 32 + 16), e1);
                            o0 = Avx512F.FusedMultiplyAdd(bv, Vector512.Load(q + p * 32 + 32), o0);
                            o1 = Avx512F.FusedMultiplyAdd(bv, Vector512.Load(q + p * 32 + 48), o1);
                        }
                        if (p < kc)
                        {
                            var av = Vector512.Create(a[k0 + p]);
                            e0 = Avx512F.FusedMultiplyAdd(av, Vector512.Load(q + p * 32), e0);
                            e1 = Avx512F.FusedMultiplyAdd(av, Vector512.Load(q + p * 32 + 16), e1);
                        }
                        switch (t)
                        {
                            case 0: c0 += e0 + o0; c1 += e1 + o1; break;
                            case 1: c2 += e0 + o0; c3 += e1 + o1; break;
                            default: c4 += e0 + o0; c5 += e1 + o1; break; // count < 4, so t <= 2
                        }
                    }
                }
            }
            for (int t = 0; t < count; t++)
            {
                var (lo, hi) = t switch { 0 => (c0, c1), 1 => (c2, c3), 2 => (c4, c5), _ => (c6, c7) };
                int col = (s + t) * 32;
                if (col + 32 <= n) { lo.Store(c + col); hi.Store(c + col + 16); }
                else
                {
                    lo.Store(tail); hi.Store(tail + 16);
                    for (int j = col; j < n; j++) c[j] = tail[j - col];
                }
            }
        }
    }

    private static float* Align(float[] buf)
    {
        float* p = (float*)Unsafe.AsPointer(ref MemoryMarshal.GetArrayDataReference(buf));
        nint mis = (nint)p & 63;
        return mis == 0 ? p : p + (64 - mis) / sizeof(float);
    }

    private static float[] Rent(ref float[]? slot, int n)
    {
        // Taken out of the thread-static slot while in use so a re-entrant call cannot share it.
        var buf = slot;
        slot = null;
        if (buf is null || buf.Length < n + 16) buf = GC.AllocateUninitializedArray<float>(n + 16, pinned: true);
        return buf;
    }

    /// <summary>
    /// One thread's GEMM over the whole sub-problem. A packed in full (paData, paMPad rows per KC block) is read
    /// from row paRow0 (a multiple of MR); with paData null each A strip is packed as it is needed.
    /// Loop order (BLIS with the roles of A and B swapped, as C is row-major and vectors run along N):
    /// a KC x NC block of B is packed to sit in L2, then for each MR-row strip of A (MR x KC, kept in L1)
    /// the micro-kernel walks all NR-column strips of that B block.
    /// </summary>
    private static void Serial(bool transA, bool transB, int m, int n, int k, float alpha, float* a, int lda, float* paData, int paMPad, int paRow0,
        float* b, int ldb, float beta, float* c, int ldc, Epilogue epi, IPanelSource? src, int srcCol0, PackedB? pbk = null)
    {
        int mr = MR, nr = NR;
        int ncMax = Math.Min(NC, (n + nr - 1) / nr * nr);
        int kcMax = Math.Min(KC, k);
        // srcCol0 is also where this sub-problem's columns start in a pre-packed B.
        var bufB = pbk is null ? Rent(ref t_packB, kcMax * ncMax) : null;
        var bufA = paData == null ? Rent(ref t_packA, kcMax * mr) : null;
        try
        {
            float* pb = bufB is null ? null : Align(bufB);
            float* prePacked = pbk is null ? null : Align(pbk.Data);
            float* pAbuf = bufA is null ? null : Align(bufA);
            float* tile = stackalloc float[mr * nr];
            for (int j0 = 0; j0 < n; j0 += NC)
            {
                int nc = Math.Min(NC, n - j0);
                for (int k0 = 0; k0 < k; k0 += KC)
                {
                    int kc = Math.Min(KC, k - k0);
                    float betaEff = k0 == 0 ? beta : 1f;
                    bool lastK = k0 + kc >= k;
                    if (pbk is not null) pb = prePacked + (long)k0 * pbk.NPadded + (long)(srcCol0 + j0) * kc;
                    else if (src is null) PackB(b, ldb, transB, k0, kc, j0, nc, pb);
                    else PackB(src, k0, kc, srcCol0 + j0, nc, pb);
                    for (int ir = 0; ir < m; ir += mr)
                    {
                        int mm = Math.Min(mr, m - ir);
                        float* astrip;
                        if (paData == null)
                        {
                            PackA(a, lda, transA, ir, mm, k0, kc, pAbuf);
                            astrip = pAbuf;
                        }
                        else
                        {
                            astrip = paData + (long)k0 * paMPad + (long)(paRow0 + ir) * kc;
                        }
                        for (int jr = 0; jr < nc; jr += nr)
                        {
                            int nn = Math.Min(nr, nc - jr);
                            float* bstrip = pb + (long)jr * kc;
                            float* cc = c + (long)ir * ldc + j0 + jr;
                            if (mm == mr && nn == nr && lastK && !epi.IsEmpty && Kind == Isa.Avx512)
                            {
                                // The tile is finished: bias, residual and clamp go into the store itself.
                                var te = epi.Tile(ir, j0 + jr);
                                Kernel8x32(kc, astrip, bstrip, cc, ldc, alpha, betaEff, &te);
                                epi.ApplyActivationOnly(cc, ldc, mm, nn);
                                continue;
                            }
                            if (mm == mr && nn == nr)
                            {
                                Micro(kc, astrip, bstrip, cc, ldc, alpha, betaEff);
                            }
                            else
                            {
                                Micro(kc, astrip, bstrip, tile, nr, alpha, 0f);
                                for (int i = 0; i < mm; i++)
                                {
                                    float* dst = cc + (long)i * ldc;
                                    float* tr = tile + i * nr;
                                    if (betaEff == 0) Buffer.MemoryCopy(tr, dst, nn * sizeof(float), nn * sizeof(float));
                                    else for (int j = 0; j < nn; j++) dst[j] = tr[j] + betaEff * dst[j];
                                }
                            }
                            if (lastK) epi.Apply(cc, ldc, mm, nn, ir, j0 + jr);
                        }
                    }
                }
            }
        }
        finally
        {
            if (bufB is not null) t_packB = bufB;
            if (bufA is not null) t_packA = bufA;
        }
    }

    /// <summary>Packs rows [i0, i0+mc) x cols [k0, k0+kc) of op(A) into MR-row strips, k-major, zero-padded.</summary>
    private static void PackA(float* a, int lda, bool transA, int i0, int mc, int k0, int kc, float* dst)
    {
        int mr = MR;
        for (int s = 0; s < mc; s += mr)
        {
            int rows = Math.Min(mr, mc - s);
            float* d = dst + (long)s * kc;
            if (!transA)
            {
                int p0 = 0;
                if (mr == 8 && rows == 8 && Avx.IsSupported)
                {
                    p0 = kc & ~7;
                    PackRows8(a + (long)(i0 + s) * lda + k0, lda, p0, d);
                }
                for (int r = 0; r < rows; r++)
                {
                    float* src = a + (long)(i0 + s + r) * lda + k0;
                    for (int p = p0; p < kc; p++) d[p * mr + r] = src[p];
                }
            }
            else if (mr == 8 && rows == 8 && Avx.IsSupported)
            {
                float* src = a + (long)k0 * lda + i0 + s;
                for (int p = 0; p < kc; p++, src += lda) Avx.Store(d + p * 8, Avx.LoadVector256(src));
            }
            else
            {
                for (int p = 0; p < kc; p++)
                {
                    float* src = a + (long)(k0 + p) * lda + i0 + s;
                    for (int r = 0; r < rows; r++) d[p * mr + r] = src[r];
                }
            }
            if (rows < mr)
                for (int p = 0; p < kc; p++)
                    for (int r = rows; r < mr; r++) d[p * mr + r] = 0;
        }
    }

    /// <summary>
    /// d[p*8 + r] = a[r*lda + p] for 8 rows and p below kc8 (a multiple of 8): an 8x8 in-register transpose per
    /// step, instead of 64 scalar stores 32 bytes apart.
    /// </summary>
    private static void PackRows8(float* a, int lda, int kc8, float* d)
    {
        float* a1 = a + lda, a2 = a1 + lda, a3 = a2 + lda, a4 = a3 + lda, a5 = a4 + lda, a6 = a5 + lda, a7 = a6 + lda;
        for (int p = 0; p < kc8; p += 8, d += 64)
        {
            // Rows interleaved in pairs, then in fours, then the 128-bit halves swapped into place.
            var t0 = Avx.UnpackLow(Avx.LoadVector256(a + p), Avx.LoadVector256(a1 + p));
            var t1 = Avx.UnpackHigh(Avx.LoadVector256(a + p), Avx.LoadVector256(a1 + p));
            var t2 = Avx.UnpackLow(Avx.LoadVector256(a2 + p), Avx.LoadVector256(a3 + p));
            var t3 = Avx.UnpackHigh(Avx.LoadVector256(a2 + p), Avx.LoadVector256(a3 + p));
            var t4 = Avx.UnpackLow(Avx.LoadVector256(a4 + p), Avx.LoadVector256(a5 + p));
            var t5 = Avx.UnpackHigh(Avx.LoadVector256(a4 + p), Avx.LoadVector256(a5 + p));
            var t6 = Avx.UnpackLow(Avx.LoadVector256(a6 + p), Avx.LoadVector256(a7 + p));
            var t7 = Avx.UnpackHigh(Avx.LoadVector256(a6 + p), Avx.LoadVector256(a7 + p));
            var u0 = Avx.Shuffle(t0, t2, 0x44); var u1 = Avx.Shuffle(t0, t2, 0xEE);
            var u2 = Avx.Shuffle(t1, t3, 0x44); var u3 = Avx.Shuffle(t1, t3, 0xEE);
            var u4 = Avx.Shuffle(t4, t6, 0x44); var u5 = Avx.Shuffle(t4, t6, 0xEE);
            var u6 = Avx.Shuffle(t5, t7, 0x44); var u7 = Avx.Shuffle(t5, t7, 0xEE);
            Avx.Store(d + 0, Avx.Permute2x128(u0, u4, 0x20));
            Avx.Store(d + 8, Avx.Permute2x128(u1, u5, 0x20));
            Avx.Store(d + 16, Avx.Permute2x128(u2, u6, 0x20));
            Avx.Store(d + 24, Avx.Permute2x128(u3, u7, 0x20));
            Avx.Store(d + 32, Avx.Permute2x128(u0, u4, 0x31));
            Avx.Store(d + 40, Avx.Permute2x128(u1, u5, 0x31));
            Avx.Store(d + 48, Avx.Permute2x128(u2, u6, 0x31));
            Avx.Store(d + 56, Avx.Permute2x128(u3, u7, 0x31));
        }
    }

    [ThreadStatic] private static float[]? t_row;
    [ThreadStatic] private static float[]? t_smallA, t_smallC;

    /// <summary>As the pointer form below, with B's rows produced by <paramref name="src"/>.</summary>
    private static void PackB(IPanelSource src, int k0, int kc, int j0, int nc, float* dst)
    {
        int nr = NR, strips = (nc + nr - 1) / nr;
        if (src.PackPanel(k0, kc, j0, nc, dst, nr)) return;
        var row = t_row ??= new float[NC + 16];
        fixed (float* r = row)
        {
            for (int p = 0; p < kc; p++)
            {
                src.ReadRow(k0 + p, j0, row.AsSpan(0, nc));
                // Zero the padding of the last strip, then scatter the row across the strips.
                for (int j = nc; j < strips * nr; j++) r[j] = 0;
                float* d = dst + (long)p * nr;
                for (int s = 0; s < strips; s++, d += (long)kc * nr)
                {
                    float* sr = r + s * nr;
                    if (nr % 16 == 0 && Vector512.IsHardwareAccelerated)
                        for (int q = 0; q < nr; q += 16) Vector512.Store(Vector512.Load(sr + q), d + q);
                    else Buffer.MemoryCopy(sr, d, nr * sizeof(float), nr * sizeof(float));
                }
            }
        }
    }

    /// <summary>Packs rows [k0, k0+kc) x cols [j0, j0+nc) of op(B) into NR-column strips, zero-padded.</summary>
    private static void PackB(float* b, int ldb, bool transB, int k0, int kc, int j0, int nc, float* dst)
    {
        int nr = NR;
        for (int s = 0; s < nc; s += nr)
        {
            int cols = Math.Min(nr, nc - s);
            float* d = dst + (long)s * kc;
            if (!transB)
            {
                float* src = b + (long)k0 * ldb + j0 + s;
                if (cols == nr)
                {
                    for (int p = 0; p < kc; p++, src += ldb, d += nr)
                    {
                        if (nr % 16 == 0 && Vector512.IsHardwareAccelerated)
                        {
                            for (int q = 0; q < nr; q += 16) Vector512.Store(Vector512.Load(src + q), d + q);
                        }
                        else Buffer.MemoryCopy(src, d, nr * sizeof(float), nr * sizeof(float));
                    }
                }
                else
                {
                    for (int p = 0; p < kc; p++, src += ldb, d += nr)
                    {
                        int j = 0;
                        for (; j < cols; j++) d[j] = src[j];
                        for (; j < nr; j++) d[j] = 0;
                    }
                }
            }
            else
            {
                for (int j = 0; j < cols; j++)
                {
                    float* src = b + (long)(j0 + s + j) * ldb + k0;
                    for (int p = 0; p < kc; p++) d[p * nr + j] = src[p];
                }
                for (int j = cols; j < nr; j++)
                    for (int p = 0; p < kc; p++) d[p * nr + j] = 0;
            }
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Micro(int kc, float* a, float* b, float* c, int ldc, float alpha, float beta)
    {
        switch (Kind)
        {
            case Isa.Avx512: Kernel8x32(kc, a, b, c, ldc, alpha, beta, null); break;
            case Isa.Avx2: Kernel6x16(kc, a, b, c, ldc, alpha, beta); break;
            default: Kernel4x16(kc, a, b, c, ldc, alpha, beta); break;
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Kernel8x32(int kc, float* a, float* b, float* c, int ldc, float alpha, float beta, TileEnd* e)
    {
        Vector512<float> c00 = default, c01 = default, c10 = default, c11 = default, c20 = default, c21 = default, c30 = default, c31 = default;
        Vector512<float> c40 = default, c41 = default, c50 = default, c51 = default, c60 = default, c61 = default, c70 = default, c71 = default;
        // Accumulating onto C (second and later KC blocks): its rows lie ldc apart, out of the hardware prefetcher's
        // reach once C outgrows L2 (1024^2 and up), so ask for them now and they arrive during the k loop instead
        // of stalling the loads after it (+3% by CPU time at 2048^3; a write-only C gained nothing).
        if (beta != 0 && ldc >= 1024)
            for (int r = 0; r < 8; r++)
            {
                float* row = c + (long)r * ldc;
                Sse.Prefetch0(row); Sse.Prefetch0(row + 16); Sse.Prefetch0(row + 31);
            }
        for (int p = 0; p < kc; p++, a += 8, b += 32)
        {
            var b0 = Vector512.Load(b + 0);
            var b1 = Vector512.Load(b + 16);
            var x0 = Vector512.Create(a[0]); c00 = Avx512F.FusedMultiplyAdd(x0, b0, c00); c01 = Avx512F.FusedMultiplyAdd(x0, b1, c01);
            var x1 = Vector512.Create(a[1]); c10 = Avx512F.FusedMultiplyAdd(x1, b0, c10); c11 = Avx512F.FusedMultiplyAdd(x1, b1, c11);
            var x2 = Vector512.Create(a[2]); c20 = Avx512F.FusedMultiplyAdd(x2, b0, c20); c21 = Avx512F.FusedMultiplyAdd(x2, b1, c21);
            var x3 = Vector512.Create(a[3]); c30 = Avx512F.FusedMultiplyAdd(x3, b0, c30); c31 = Avx512F.FusedMultiplyAdd(x3, b1, c31);
            var x4 = Vector512.Create(a[4]); c40 = Avx512F.FusedMultiplyAdd(x4, b0, c40); c41 = Avx512F.FusedMultiplyAdd(x4, b1, c41);
            var x5 = Vector512.Create(a[5]); c50 = Avx512F.FusedMultiplyAdd(x5, b0, c50); c51 = Avx512F.FusedMultiplyAdd(x5, b1, c51);
            var x6 = Vector512.Create(a[6]); c60 = Avx512F.FusedMultiplyAdd(x6, b0, c60); c61 = Avx512F.FusedMultiplyAdd(x6, b1, c61);
            var x7 = Vector512.Create(a[7]); c70 = Avx512F.FusedMultiplyAdd(x7, b0, c70); c71 = Avx512F.FusedMultiplyAdd(x7, b1, c71);
        }
        if (e == null)
        {
            Store512(c, alpha, beta, c00, c01); c += ldc;
            Store512(c, alpha, beta, c10, c11); c += ldc;
            Store512(c, alpha, beta, c20, c21); c += ldc;
            Store512(c, alpha, beta, c30, c31); c += ldc;
            Store512(c, alpha, beta, c40, c41); c += ldc;
            Store512(c, alpha, beta, c50, c51); c += ldc;
            Store512(c, alpha, beta, c60, c61); c += ldc;
            Store512(c, alpha, beta, c70, c71);
            return;
        }
        StoreEnd(c, alpha, beta, c00, c01, e, 0); c += ldc;
        StoreEnd(c, alpha, beta, c10, c11, e, 1); c += ldc;
        StoreEnd(c, alpha, beta, c20, c21, e, 2); c += ldc;
        StoreEnd(c, alpha, beta, c30, c31, e, 3); c += ldc;
        StoreEnd(c, alpha, beta, c40, c41, e, 4); c += ldc;
        StoreEnd(c, alpha, beta, c50, c51, e, 5); c += ldc;
        StoreEnd(c, alpha, beta, c60, c61, e, 6); c += ldc;
        StoreEnd(c, alpha, beta, c70, c71, e, 7);
    }

    /// <summary>Row r of a finished tile: alpha*acc + beta*C + bias[r] + residual row, clamped, stored once.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void StoreEnd(float* c, float alpha, float beta, Vector512<float> v0, Vector512<float> v1, TileEnd* e, int r)
    {
        var va = Vector512.Create(alpha);
        v0 *= va; v1 *= va;
        if (beta != 0)
        {
            var vb = Vector512.Create(beta);
            v0 = Avx512F.FusedMultiplyAdd(Vector512.Load(c), vb, v0);
            v1 = Avx512F.FusedMultiplyAdd(Vector512.Load(c + 16), vb, v1);
        }
        if (e->Bias != null)
        {
            var vb = Vector512.Create(e->Bias[r]);
            v0 += vb; v1 += vb;
        }
        if (e->Residual != null)
        {
            float* res = e->Residual + (long)r * e->Ldr;
            v0 += Vector512.Load(res); v1 += Vector512.Load(res + 16);
        }
        if (e->Clamp)
        {
            // max/min return their second operand when either is NaN, so NaN passes through as in the unfused graph.
            var lo = Vector512.Create(e->Lo);
            var hi = Vector512.Create(e->Hi);
            v0 = Avx512F.Min(hi, Avx512F.Max(lo, v0));
            v1 = Avx512F.Min(hi, Avx512F.Max(lo, v1));
        }
        Vector512.Store(v0, c);
        Vector512.Store(v1, c + 16);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Store512(float* c, float alpha, float beta, Vector512<float> v0, Vector512<float> v1)
    {
        var va = Vector512.Create(alpha);
        v0 *= va; v1 *= va;
        if (beta != 0)
        {
            var vb = Vector512.Create(beta);
            v0 = Avx512F.FusedMultiplyAdd(Vector512.Load(c), vb, v0);
            v1 = Avx512F.FusedMultiplyAdd(Vector512.Load(c + 16), vb, v1);
        }
        Vector512.Store(v0, c);
        Vector512.Store(v1, c + 16);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Kernel6x16(int kc, float* a, float* b, float* c, int ldc, float alpha, float beta)
    {
        Vector256<float> c00 = default, c01 = default, c10 = default, c11 = default, c20 = default, c21 = default;
        Vector256<float> c30 = default, c31 = default, c40 = default, c41 = default, c50 = default, c51 = default;
        for (int p = 0; p < kc; p++, a += 6, b += 16)
        {
            var b0 = Vector256.Load(b);
            var b1 = Vector256.Load(b + 8);
            var x = Vector256.Create(a[0]); c00 = Fma.MultiplyAdd(x, b0, c00); c01 = Fma.MultiplyAdd(x, b1, c01);
            x = Vector256.Create(a[1]); c10 = Fma.MultiplyAdd(x, b0, c10); c11 = Fma.MultiplyAdd(x, b1, c11);
            x = Vector256.Create(a[2]); c20 = Fma.MultiplyAdd(x, b0, c20); c21 = Fma.MultiplyAdd(x, b1, c21);
            x = Vector256.Create(a[3]); c30 = Fma.MultiplyAdd(x, b0, c30); c31 = Fma.MultiplyAdd(x, b1, c31);
            x = Vector256.Create(a[4]); c40 = Fma.MultiplyAdd(x, b0, c40); c41 = Fma.MultiplyAdd(x, b1, c41);
            x = Vector256.Create(a[5]); c50 = Fma.MultiplyAdd(x, b0, c50); c51 = Fma.MultiplyAdd(x, b1, c51);
        }
        Store256(c, alpha, beta, c00, c01); c += ldc;
        Store256(c, alpha, beta, c10, c11); c += ldc;
        Store256(c, alpha, beta, c20, c21); c += ldc;
        Store256(c, alpha, beta, c30, c31); c += ldc;
        Store256(c, alpha, beta, c40, c41); c += ldc;
        Store256(c, alpha, beta, c50, c51);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Store256(float* c, float alpha, float beta, Vector256<float> v0, Vector256<float> v1)
    {
        var va = Vector256.Create(alpha);
        v0 *= va; v1 *= va;
        if (beta != 0)
        {
            var vb = Vector256.Create(beta);
            v0 = Fma.MultiplyAdd(Vector256.Load(c), vb, v0);
            v1 = Fma.MultiplyAdd(Vector256.Load(c + 8), vb, v1);
        }
        Vector256.Store(v0, c);
        Vector256.Store(v1, c + 8);
    }

    /// <summary>Portable 4x16 tile with Vector128 (hardware or software).</summary>
    private static void Kernel4x16(int kc, float* a, float* b, float* c, int ldc, float alpha, float beta)
    {
        var acc = stackalloc Vector128<float>[16];
        for (int i = 0; i < 16; i++) acc[i] = default;
        for (int p = 0; p < kc; p++, a += 4, b += 16)
        {
            var b0 = Vector128.Load(b); var b1 = Vector128.Load(b + 4); var b2 = Vector128.Load(b + 8); var b3 = Vector128.Load(b + 12);
            for (int r = 0; r < 4; r++)
            {
                var x = Vector128.Create(a[r]);
                acc[r * 4] += x * b0; acc[r * 4 + 1] += x * b1; acc[r * 4 + 2] += x * b2; acc[r * 4 + 3] += x * b3;
            }
        }
        var va = Vector128.Create(alpha);
        for (int r = 0; r < 4; r++, c += ldc)
            for (int q = 0; q < 4; q++)
            {
                var v = acc[r * 4 + q] * va;
                if (beta != 0) v += Vector128.Load(c + q * 4) * Vector128.Create(beta);
                Vector128.Store(v, c + q * 4);
            }
    }

    /// <summary>Row-at-a-time product for thin shapes (few rows or few columns).</summary>
    private static void Small(bool transA, bool transB, int m, int n, int k, float alpha, float* a, int lda,
        float* b, int ldb, float beta, float* c, int ldc)
    {
        // Thread-static scratch: this path serves per-token products (M = 1), so it must not allocate per call.
        var arow = (t_smallA is { } sa && sa.Length >= k ? sa : t_smallA = new float[k]).AsSpan(0, k);
        var acc = (t_smallC is { } sc && sc.Length >= n ? sc : t_smallC = new float[n]).AsSpan(0, n);
        for (int i = 0; i < m; i++)
        {
            for (int p = 0; p < k; p++) arow[p] = transA ? a[(long)p * lda + i] : a[(long)i * lda + p];
            if (!transB)
            {
                acc.Clear();
                for (int p = 0; p < k; p++)
                {
                    float s = arow[p];
                    Axpy(s, new ReadOnlySpan<float>(b + (long)p * ldb, n), acc);
                }
            }
            else
            {
                for (int j = 0; j < n; j++) acc[j] = Dot(arow, new ReadOnlySpan<float>(b + (long)j * ldb, k));
            }
            float* crow = c + (long)i * ldc;
            for (int j = 0; j < n; j++) crow[j] = beta == 0 ? alpha * acc[j] : alpha * acc[j] + beta * crow[j];
        }
    }

    /// <summary>y += s*x.</summary>
    public static void Axpy(float s, ReadOnlySpan<float> x, Span<float> y)
    {
        int n = x.Length, i = 0;
        ref float rx = ref MemoryMarshal.GetReference(x);
        ref float ry = ref MemoryMarshal.GetReference(y);
        if (Vector512.IsHardwareAccelerated)
        {
            var vs = Vector512.Create(s);
            for (; i <= n - 16; i += 16)
                (Vector512.LoadUnsafe(ref ry, (nuint)i) + vs * Vector512.LoadUnsafe(ref rx, (nuint)i)).StoreUnsafe(ref ry, (nuint)i);
        }
        if (Vector256.IsHardwareAccelerated)
        {
            var vs = Vector256.Create(s);
            for (; i <= n - 8; i += 8)
                (Vector256.LoadUnsafe(ref ry, (nuint)i) + vs * Vector256.LoadUnsafe(ref rx, (nuint)i)).StoreUnsafe(ref ry, (nuint)i);
        }
        for (; i < n; i++) Unsafe.Add(ref ry, i) += s * Unsafe.Add(ref rx, i);
    }

    public static float Dot(ReadOnlySpan<float> x, ReadOnlySpan<float> y)
    {
        int n = x.Length, i = 0;
        ref float rx = ref MemoryMarshal.GetReference(x);
        ref float ry = ref MemoryMarshal.GetReference(y);
        float sum = 0;
        if (Vector512.IsHardwareAccelerated && n >= 16)
        {
            var acc = Vector512<float>.Zero;
            for (; i <= n - 16; i += 16) acc += Vector512.LoadUnsafe(ref rx, (nuint)i) * Vector512.LoadUnsafe(ref ry, (nuint)i);
            sum = Vector512.Sum(acc);
        }
        else if (Vector256.IsHardwareAccelerated && n >= 8)
        {
            var acc = Vector256<float>.Zero;
            for (; i <= n - 8; i += 8) acc += Vector256.LoadUnsafe(ref rx, (nuint)i) * Vector256.LoadUnsafe(ref ry, (nuint)i);
            sum = Vector256.Sum(acc);
        }
        for (; i < n; i++) sum += Unsafe.Add(ref rx, i) * Unsafe.Add(ref ry, i);
        return sum;
    }
}
