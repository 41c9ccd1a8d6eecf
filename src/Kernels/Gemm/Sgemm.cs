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
/// Single-precision GEMM, C = alpha*op(A)*op(B) + beta*C, row-major with leading dimensions.
/// Goto-style blocking: B is packed into KC x NR strips, A into MR x KC strips, and a register-blocked
/// micro-kernel (AVX-512 8x32, AVX2 6x16 or portable 4x16, picked once from the CPU) computes each tile.
/// When beta is 0, C is never read, so garbage or NaN in C does not leak into the result.
/// </summary>
public static unsafe class Sgemm
{
    private enum Isa { Avx512, Avx2, Portable }

    private static readonly Isa Kind =
        Avx512F.IsSupported ? Isa.Avx512 : Fma.IsSupported && Avx2.IsSupported ? Isa.Avx2 : Isa.Portable;

    /// <summary>Rows of a micro-tile.</summary>
    public static readonly int MR = Kind switch { Isa.Avx512 => 8, Isa.Avx2 => 6, _ => 4 };
    /// <summary>Columns of a micro-tile.</summary>
    public static readonly int NR = Kind switch { Isa.Avx512 => 32, _ => 16 };

    // KC x NR of B (32 KB for AVX-512) stays in L1 while the MC x KC block of A sits in L2.
    private const int KC = 256;
    private const int MC = 96;
    private const int NC = 2048;
    /// <summary>Work (multiply-adds) below which an extra thread does not pay for itself.</summary>
    private const long MinWorkPerThread = 1 << 20;

    public static string IsaName => Kind.ToString();

    [ThreadStatic] private static float[]? t_packA;
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
            Run(transA, transB, m, n, k, alpha, pa, lda, null, pb, ldb, beta, pc, ldc, threads, Epilogue.None);
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
            Run(false, transB, m, n, k, alpha, null, 0, a, pb, ldb, beta, pc, ldc, threads, Epilogue.None);
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
            Run(transA, transB, m, n, k, alpha, pa, lda, null, pb, ldb, beta, pc, ldc, threads, epi);
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
            Run(false, transB, m, n, k, alpha, null, 0, a, pb, ldb, beta, pc, ldc, threads, epi);
        }
    }

    private static void CheckEpilogue(int m, int n, ReadOnlySpan<float> rowBias, ReadOnlySpan<float> residual, int ldr)
    {
        if (!rowBias.IsEmpty && rowBias.Length < m) throw new ArgumentException($"row bias holds {rowBias.Length} elements, C has {m} rows");
        if (!residual.IsEmpty) CheckOperand("residual", false, m, n, ldr, residual.Length);
    }

    /// <summary>Bias, residual and activation applied to finished C tiles; pointers are pinned by the caller.</summary>
    private readonly struct Epilogue(float* rowBias, float* residual, int ldr, FusedActivation activation)
    {
        public static readonly Epilogue None = new(null, null, 0, FusedActivation.None);
        public bool IsEmpty => rowBias == null && residual == null && activation.IsNone;

        /// <summary>The same epilogue for the sub-problem whose C starts at (row, col).</summary>
        public Epilogue At(int row, int col) =>
            new(rowBias == null ? null : rowBias + row, residual == null ? null : residual + (long)row * ldr + col, ldr, activation);

        /// <summary>Applies to the rows x cols block at c, whose top-left is (row, col) of this epilogue's C.</summary>
        public void Apply(float* c, int ldc, int rows, int cols, int row = 0, int col = 0)
        {
            if (IsEmpty) return;
            for (int i = 0; i < rows; i++)
            {
                float* dst = c + (long)i * ldc;
                if (rowBias != null) AddScalar(dst, cols, rowBias[row + i]);
                if (residual != null) AddRow(dst, residual + (long)(row + i) * ldr + col, cols);
                activation.Apply(dst, cols);
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

    /// <summary>Packs op(A) (m x k) once for repeated use as the left operand.</summary>
    public static PackedA Pack(bool transA, int m, int k, ReadOnlySpan<float> a, int lda)
    {
        if (m > 0 && k > 0) CheckOperand("A", transA, m, k, lda, a.Length);
        int mr = MR;
        int mPad = (m + mr - 1) / mr * mr;
        var data = GC.AllocateUninitializedArray<float>(Math.Max(1, mPad * k) + 16, pinned: true);
        if (m == 0 || k == 0) return new PackedA(data, m, k, mPad);
        float* dst = Align(data);
        fixed (float* pa = a)
        {
            for (int k0 = 0; k0 < k; k0 += KC)
            {
                int kc = Math.Min(KC, k - k0);
                PackA(pa, lda, transA, 0, m, k0, kc, dst + (long)k0 * mPad);
            }
        }
        return new PackedA(data, m, k, mPad);
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
        float* b, int ldb, float beta, float* c, int ldc, int threads, Epilogue epi)
    {
        // Thin products: packing would cost as much as the arithmetic, so use row-at-a-time vector loops.
        if (pa is null && (m < 4 || n < 8))
        {
            Small(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
            epi.Apply(c, ldc, m, n);
            return;
        }
        long work = (long)m * n * k;
        int t = (int)Math.Clamp(work / MinWorkPerThread, 1, Math.Max(1, threads));
        if (t <= 1)
        {
            Serial(transA, transB, m, n, k, alpha, a, lda, pa, 0, b, ldb, beta, c, ldc, epi);
            return;
        }
        // Split the larger dimension into tile-aligned chunks, one serial GEMM per chunk.
        nint ia = (nint)a, ib = (nint)b, ic = (nint)c;
        int mr = MR, nr = NR;
        if (n >= m || m < 2 * mr)
        {
            int chunk = ((n + t - 1) / t + nr - 1) / nr * nr;
            int parts = (n + chunk - 1) / chunk;
            IntraOpPool.For(parts, t, p =>
            {
                int j0 = p * chunk, nn = Math.Min(chunk, n - j0);
                float* bb = (float*)ib + (transB ? (long)j0 * ldb : j0);
                Serial(transA, transB, m, nn, k, alpha, (float*)ia, lda, pa, 0, bb, ldb, beta, (float*)ic + j0, ldc, epi.At(0, j0));
            });
        }
        else
        {
            int chunk = ((m + t - 1) / t + mr - 1) / mr * mr;
            int parts = (m + chunk - 1) / chunk;
            IntraOpPool.For(parts, t, p =>
            {
                int i0 = p * chunk, mm = Math.Min(chunk, m - i0);
                float* aa = pa is not null ? null : (float*)ia + (transA ? i0 : (long)i0 * lda);
                Serial(transA, transB, mm, n, k, alpha, aa, lda, pa, i0, (float*)ib, ldb, beta, (float*)ic + (long)i0 * ldc, ldc, epi.At(i0, 0));
            });
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

    /// <summary>One thread's GEMM over the whole sub-problem. pa rows start at paRow0 (a multiple of MR).</summary>
    private static void Serial(bool transA, bool transB, int m, int n, int k, float alpha, float* a, int lda, PackedA? pa, int paRow0,
        float* b, int ldb, float beta, float* c, int ldc, Epilogue epi)
    {
        int mr = MR, nr = NR;
        int ncMax = Math.Min(NC, (n + nr - 1) / nr * nr);
        int kcMax = Math.Min(KC, k);
        var bufB = Rent(ref t_packB, kcMax * ncMax);
        var bufA = pa is null ? Rent(ref t_packA, kcMax * Math.Min(MC, (m + mr - 1) / mr * mr)) : null;
        try
        {
            float* pb = Align(bufB);
            float* pAbuf = bufA is null ? null : Align(bufA);
            float* packedBase = pa is null ? null : Align(pa.Data);
            float* tile = stackalloc float[mr * nr];
            for (int j0 = 0; j0 < n; j0 += NC)
            {
                int nc = Math.Min(NC, n - j0);
                for (int k0 = 0; k0 < k; k0 += KC)
                {
                    int kc = Math.Min(KC, k - k0);
                    float betaEff = k0 == 0 ? beta : 1f;
                    bool lastK = k0 + kc >= k;
                    PackB(b, ldb, transB, k0, kc, j0, nc, pb);
                    for (int i0 = 0; i0 < m; i0 += MC)
                    {
                        int mc = Math.Min(MC, m - i0);
                        float* ablock;
                        if (pa is null)
                        {
                            PackA(a, lda, transA, i0, mc, k0, kc, pAbuf);
                            ablock = pAbuf;
                        }
                        else
                        {
                            ablock = packedBase + (long)k0 * pa.MPadded + (long)(paRow0 + i0) * kc;
                        }
                        for (int jr = 0; jr < nc; jr += nr)
                        {
                            int nn = Math.Min(nr, nc - jr);
                            float* bstrip = pb + (long)jr * kc;
                            for (int ir = 0; ir < mc; ir += mr)
                            {
                                int mm = Math.Min(mr, mc - ir);
                                float* astrip = ablock + (long)ir * kc;
                                float* cc = c + (long)(i0 + ir) * ldc + j0 + jr;
                                if (mm == mr && nn == nr)
                                {
                                    Micro(kc, astrip, bstrip, cc, ldc, alpha, betaEff);
                                    if (lastK) epi.Apply(cc, ldc, mm, nn, i0 + ir, j0 + jr);
                                }
                                else
                                {
                                    Micro(kc, astrip, bstrip, tile, nr, alpha, 0f);
                                    for (int i = 0; i < mm; i++)
                                        for (int j = 0; j < nn; j++)
                                        {
                                            float* dst = cc + (long)i * ldc + j;
                                            *dst = betaEff == 0 ? tile[i * nr + j] : tile[i * nr + j] + betaEff * *dst;
                                        }
                                    if (lastK) epi.Apply(cc, ldc, mm, nn, i0 + ir, j0 + jr);
                                }
                            }
                        }
                    }
                }
            }
        }
        finally
        {
            t_packB = bufB;
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
                for (int r = 0; r < rows; r++)
                {
                    float* src = a + (long)(i0 + s + r) * lda + k0;
                    for (int p = 0; p < kc; p++) d[p * mr + r] = src[p];
                }
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
                        if (nr == 32 && Vector512.IsHardwareAccelerated)
                        {
                            Vector512.Store(Vector512.Load(src), d);
                            Vector512.Store(Vector512.Load(src + 16), d + 16);
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
            case Isa.Avx512: Kernel8x32(kc, a, b, c, ldc, alpha, beta); break;
            case Isa.Avx2: Kernel6x16(kc, a, b, c, ldc, alpha, beta); break;
            default: Kernel4x16(kc, a, b, c, ldc, alpha, beta); break;
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Kernel8x32(int kc, float* a, float* b, float* c, int ldc, float alpha, float beta)
    {
        Vector512<float> c00 = default, c01 = default, c10 = default, c11 = default, c20 = default, c21 = default, c30 = default, c31 = default;
        Vector512<float> c40 = default, c41 = default, c50 = default, c51 = default, c60 = default, c61 = default, c70 = default, c71 = default;
        for (int p = 0; p < kc; p++, a += 8, b += 32)
        {
            var b0 = Vector512.Load(b);
            var b1 = Vector512.Load(b + 16);
            var x = Vector512.Create(a[0]); c00 = Avx512F.FusedMultiplyAdd(x, b0, c00); c01 = Avx512F.FusedMultiplyAdd(x, b1, c01);
            x = Vector512.Create(a[1]); c10 = Avx512F.FusedMultiplyAdd(x, b0, c10); c11 = Avx512F.FusedMultiplyAdd(x, b1, c11);
            x = Vector512.Create(a[2]); c20 = Avx512F.FusedMultiplyAdd(x, b0, c20); c21 = Avx512F.FusedMultiplyAdd(x, b1, c21);
            x = Vector512.Create(a[3]); c30 = Avx512F.FusedMultiplyAdd(x, b0, c30); c31 = Avx512F.FusedMultiplyAdd(x, b1, c31);
            x = Vector512.Create(a[4]); c40 = Avx512F.FusedMultiplyAdd(x, b0, c40); c41 = Avx512F.FusedMultiplyAdd(x, b1, c41);
            x = Vector512.Create(a[5]); c50 = Avx512F.FusedMultiplyAdd(x, b0, c50); c51 = Avx512F.FusedMultiplyAdd(x, b1, c51);
            x = Vector512.Create(a[6]); c60 = Avx512F.FusedMultiplyAdd(x, b0, c60); c61 = Avx512F.FusedMultiplyAdd(x, b1, c61);
            x = Vector512.Create(a[7]); c70 = Avx512F.FusedMultiplyAdd(x, b0, c70); c71 = Avx512F.FusedMultiplyAdd(x, b1, c71);
        }
        Store512(c, alpha, beta, c00, c01); c += ldc;
        Store512(c, alpha, beta, c10, c11); c += ldc;
        Store512(c, alpha, beta, c20, c21); c += ldc;
        Store512(c, alpha, beta, c30, c31); c += ldc;
        Store512(c, alpha, beta, c40, c41); c += ldc;
        Store512(c, alpha, beta, c50, c51); c += ldc;
        Store512(c, alpha, beta, c60, c61); c += ldc;
        Store512(c, alpha, beta, c70, c71);
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
        var arow = new float[k];
        var acc = new float[n];
        for (int i = 0; i < m; i++)
        {
            for (int p = 0; p < k; p++) arow[p] = transA ? a[(long)p * lda + i] : a[(long)i * lda + p];
            if (!transB)
            {
                Array.Clear(acc);
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
