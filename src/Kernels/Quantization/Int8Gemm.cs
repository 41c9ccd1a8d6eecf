using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using NetOnnx.Kernels.Threading;

namespace NetOnnx.Kernels.Quantization;

/// <summary>
/// Constant int8 weights B [K, N] repacked once for <see cref="Int8Gemm"/>: panels of 16 columns, and inside a
/// panel groups of 4 consecutive k, each group stored as 16 columns x 4 bytes (64 bytes, one zmm). K is padded
/// to a multiple of 4 and N to a multiple of 16 with zero weights, so kernels never need a k or column tail.
/// </summary>
public sealed class PackedInt8Weights
{
    public int K { get; }
    public int N { get; }
    /// <summary>K rounded up to a multiple of 4: the row stride the quantized activations must use.</summary>
    public int PaddedK { get; }
    public int Panels { get; }
    internal readonly sbyte[] Data;
    /// <summary>Sum over k of the raw weights of each column, for the activation zero-point correction.</summary>
    public int[] ColumnSums { get; }
    /// <summary>
    /// Whether every weight lies in [-64, 64]. Then u8 x s8 pair sums (vpmaddubsw) stay within int16
    /// (2 * 255 * 64 = 32640), so the one-instruction path is exact; otherwise activations are split into
    /// their high 7 bits and low bit (two vpmaddubsw per step, both exact).
    /// </summary>
    public bool SevenBit { get; }

    private PackedInt8Weights(int k, int n, int paddedK, int panels, sbyte[] data, int[] colSums, bool sevenBit)
    {
        K = k; N = n; PaddedK = paddedK; Panels = panels; Data = data; ColumnSums = colSums; SevenBit = sevenBit;
    }

    /// <summary>Packs row-major B [K, N].</summary>
    public static PackedInt8Weights Pack(ReadOnlySpan<sbyte> b, int k, int n)
    {
        if (k <= 0 || n <= 0) throw new ArgumentException($"weight shape [{k}, {n}] must be positive");
        if (b.Length < (long)k * n) throw new ArgumentException($"weights hold {b.Length} values, [{k}, {n}] needs {(long)k * n}");
        int kp = (k + 3) & ~3, panels = (n + 15) / 16, groups = kp / 4;
        var data = new sbyte[(long)panels * groups * 64];
        var sums = new int[n];
        bool seven = true;
        for (int r = 0; r < k; r++)
        {
            var row = b.Slice(r * n, n);
            int g = r >> 2, t = r & 3;
            for (int c = 0; c < n; c++)
            {
                sbyte v = row[c];
                sums[c] += v;
                if (v < -64 || v > 64) seven = false;
                data[((c >> 4) * groups + g) * 64 + (c & 15) * 4 + t] = v;
            }
        }
        return new PackedInt8Weights(k, n, kp, panels, data, sums, seven);
    }
}

/// <summary>What the GEMM epilogue writes: float (dynamic quantization), requantized uint8 (static) or the exact int32 sums (MatMulInteger).</summary>
public enum Int8GemmOutput { Float, UInt8, Int32 }

/// <summary>
/// Per-call parameters of the epilogue. Each output is
/// real = ColumnScale[j] * (sum_k (a - aZero)(b - bZero[j])) + Bias[j]; for uint8 output that value is then
/// requantized: clamp(round_half_even(real / OutputScale) + OutputZero, 0, 255). With <see cref="Requant"/>
/// set, uint8 output is instead clamp(round_half_even((acc + IntBias[j]) * Requant[j]) + OutputZero, 0, 255)
/// in double, QLinearConv/QLinearMatMul's exact formula. TransposedStride = M writes C transposed
/// (C[j * M + i]), e.g. [pixels, channels] products into NCHW.
/// </summary>
public readonly record struct Int8GemmEpilogue(float[] ColumnScale, float[]? Bias, int[]? WeightZero,
    Int8GemmOutput Output = Int8GemmOutput.Float, float OutputScale = 1f, int OutputZero = 0,
    double[]? Requant = null, int[]? IntBias = null, int TransposedStride = 0);

/// <summary>Which inner kernel runs: chosen once from the CPU, overridable by tests.</summary>
public enum Int8GemmPath { Portable, Avx2, Avx512 }

/// <summary>
/// C[M, N] = epilogue(A[M, K] (uint8, one zero point) x B[K, N] (int8 packed, per-column zero points)) with int32
/// accumulation. A rows are read with stride <see cref="PackedInt8Weights.PaddedK"/>; bytes past K in each row
/// are multiplied by zero weights, so any value there is harmless.
/// </summary>
/// <remarks>
/// AVX-512BW: vpmaddubsw (u8 x s8 pairs -> int16) then vpmaddwd by ones (-> int32) then add, 4 rows x 32 columns
/// per step. A VNNI vpdpbusd would replace the three with one, but .NET 10 exposes no Avx512Vnni class and AvxVnni
/// is hidden on this host; <see cref="SelectPath"/> is the place to add it.
/// </remarks>
public static unsafe class Int8Gemm
{
    public static Int8GemmPath BestPath { get; } = Avx512BW.IsSupported ? Int8GemmPath.Avx512
        : Avx2.IsSupported ? Int8GemmPath.Avx2 : Int8GemmPath.Portable;

    /// <summary>The path to run: the one asked for (tests), else the best; one the CPU lacks falls back to portable.</summary>
    private static Int8GemmPath SelectPath(Int8GemmPath? requested)
    {
        // A VNNI (vpdpbusd) kernel would be chosen here once .NET exposes it.
        var p = requested ?? BestPath;
        if (p == Int8GemmPath.Avx512 && !Avx512BW.IsSupported) p = Int8GemmPath.Portable;
        if (p == Int8GemmPath.Avx2 && !Avx2.IsSupported) p = Int8GemmPath.Portable;
        return p;
    }

    private const int MR = 4, NRPanels = 2;

    /// <summary>
    /// Multiplies <paramref name="m"/> rows of quantized A (row stride PaddedK; <paramref name="rowSums"/>[i] =
    /// sum of the first K bytes of row i, needed only when some weight zero point is non-zero) by packed B.
    /// Float output goes to <paramref name="cFloat"/>, uint8 to <paramref name="cBytes"/>, row stride N.
    /// </summary>
    public static void Multiply(ReadOnlySpan<byte> a, int m, int aZero, ReadOnlySpan<int> rowSums, PackedInt8Weights w,
        in Int8GemmEpilogue ep, Span<float> cFloat, Span<byte> cBytes, int threads, Int8GemmPath? path = null)
    {
        int n = w.N, kp = w.PaddedK;
        if (m == 0) return;
        if (a.Length < (long)(m - 1) * kp + w.K) throw new ArgumentException($"A holds {a.Length} bytes, {m} rows of stride {kp} need more");
        if (ep.Requant is not null && ep.Requant.Length != n) throw new ArgumentException($"requant multipliers have {ep.Requant.Length} values, N is {n}");
        if (ep.IntBias is not null && ep.IntBias.Length != n) throw new ArgumentException($"int bias has {ep.IntBias.Length} values, N is {n}");
        if (ep.TransposedStride != 0 && ep.TransposedStride != m) throw new ArgumentException($"transposed stride {ep.TransposedStride} must equal M = {m}");
        if (ep.ColumnScale.Length != n) throw new ArgumentException($"column scale has {ep.ColumnScale.Length} values, N is {n}");
        if (ep.Bias is not null && ep.Bias.Length != n) throw new ArgumentException($"bias has {ep.Bias.Length} values, N is {n}");
        if (ep.WeightZero is not null && ep.WeightZero.Length != n) throw new ArgumentException($"weight zero points have {ep.WeightZero.Length} values, N is {n}");
        bool anyZb = ep.WeightZero is not null && Array.Exists(ep.WeightZero, z => z != 0);
        if (anyZb && rowSums.Length < m) throw new ArgumentException("row sums are needed when weight zero points are non-zero");
        if (ep.Output != Int8GemmOutput.UInt8 ? cFloat.Length < (long)m * n : cBytes.Length < (long)m * n)
            throw new ArgumentException($"output holds too few values for [{m}, {n}]");

        // Column term of the zero-point expansion: sum (a-za)(b-zb) = sum ab - za*colsum - zb*rowsum + K*za*zb.
        var colTerm = new int[n];
        for (int j = 0; j < n; j++)
        {
            int zb = ep.WeightZero?[j] ?? 0;
            colTerm[j] = -aZero * w.ColumnSums[j] + w.K * aZero * zb;
        }
        var kernel = SelectPath(path);
        int rowBlocks = (m + MR - 1) / MR, colBlocks = (w.Panels + NRPanels - 1) / NRPanels;
        // Tasks are column blocks x row strips, so threads split both a wide N and a tall M.
        int strips = Math.Max(1, Math.Min(rowBlocks, (threads * 4 + colBlocks - 1) / colBlocks));
        int rowsPerStrip = (rowBlocks + strips - 1) / strips * MR;
        strips = (m + rowsPerStrip - 1) / rowsPerStrip;
        long work = 2L * m * n * w.K;
        fixed (byte* pa = a)
        fixed (float* pcf = cFloat)
        fixed (byte* pcb = cBytes)
        fixed (int* prs = rowSums)
        {
            // Pointers cross into the delegate as integers (they stay pinned for the whole call).
            nint ia = (nint)pa, icf = (nint)pcf, icb = (nint)pcb, irs = (nint)prs;
            var epCopy = ep;
            IntraOpPool.For(strips * colBlocks, threads, task =>
            {
                int strip = task / colBlocks, cb = task % colBlocks;
                int r0 = strip * rowsPerStrip, r1 = Math.Min(m, r0 + rowsPerStrip);
                RunBlock(kernel, (byte*)ia, r0, r1, cb * NRPanels, Math.Min(w.Panels, cb * NRPanels + NRPanels), w, colTerm,
                    anyZb ? (int*)irs : null, epCopy, (float*)icf, (byte*)icb);
            }, work);
        }
    }

    /// <summary>
    /// C[M, N] = sum_k (A - aZero)(B - weightZero[j]) exactly in int32 (MatMulInteger's result; wraps like int32
    /// arithmetic when it overflows); arguments as in the other overload.
    /// </summary>
    public static void Multiply(ReadOnlySpan<byte> a, int m, int aZero, ReadOnlySpan<int> rowSums, PackedInt8Weights w, int[]? weightZero,
        Span<int> c, int threads, Int8GemmPath? path = null) =>
        Multiply(a, m, aZero, rowSums, w, new Int8GemmEpilogue(new float[w.N], null, weightZero, Int8GemmOutput.Int32),
            System.Runtime.InteropServices.MemoryMarshal.Cast<int, float>(c), default, threads, path);

    private static void RunBlock(Int8GemmPath path, byte* a, int r0, int r1, int p0, int p1, PackedInt8Weights w,
        int[] colTerm, int* rowSums, in Int8GemmEpilogue ep, float* cf, byte* cb)
    {
        int kp = w.PaddedK, groups = kp / 4;
        int* acc = stackalloc int[MR * NRPanels * 16];
        fixed (sbyte* pb = w.Data)
        {
            for (int i = r0; i < r1; i += MR)
            {
                int rows = Math.Min(MR, r1 - i);
                // Missing rows of a short block re-read the last row; their results are dropped.
                byte* a0 = a + (long)i * kp;
                byte* a1 = a + (long)(i + Math.Min(1, rows - 1)) * kp;
                byte* a2 = a + (long)(i + Math.Min(2, rows - 1)) * kp;
                byte* a3 = a + (long)(i + Math.Min(3, rows - 1)) * kp;
                for (int p = p0; p < p1; p += NRPanels)
                {
                    int panels = Math.Min(NRPanels, p1 - p);
                    sbyte* b0 = pb + (long)p * groups * 64;
                    sbyte* b1 = panels > 1 ? b0 + (long)groups * 64 : b0;
                    switch (path)
                    {
                        case Int8GemmPath.Avx512:
                            if (w.SevenBit) Kernel512(a0, a1, a2, a3, b0, b1, groups, acc);
                            else Kernel512Split(a0, a1, a2, a3, b0, b1, groups, acc);
                            break;
                        case Int8GemmPath.Avx2:
                            if (w.SevenBit) Kernel256(a0, a1, a2, a3, b0, b1, groups, acc);
                            else KernelPortable(a0, a1, a2, a3, b0, b1, groups, acc);
                            break;
                        default:
                            KernelPortable(a0, a1, a2, a3, b0, b1, groups, acc);
                            break;
                    }
                    Store(acc, i, rows, p * 16, Math.Min(w.N, (p + panels) * 16), w.N, colTerm, rowSums, ep, cf, cb);
                }
            }
        }
    }

    /// <summary>Applies the epilogue to one accumulator tile (MR x 32, row stride 32).</summary>
    private static void Store(int* acc, int i0, int rows, int j0, int j1, int n, int[] colTerm, int* rowSums,
        in Int8GemmEpilogue ep, float* cf, byte* cb)
    {
        int cols = j1 - j0;
        if (ep.Output == Int8GemmOutput.UInt8 && ep.Requant is not null && Avx2.IsSupported)
        {
            StoreRequantized(acc, i0, rows, j0, cols, n, colTerm, rowSums, ep, cb);
            return;
        }
        var scale = ep.ColumnScale;
        var bias = ep.Bias;
        var zb = ep.WeightZero;
        for (int r = 0; r < rows; r++)
        {
            int* ar = acc + r * NRPanels * 16;
            int rs = rowSums != null ? rowSums[i0 + r] : 0;
            if (ep.Output == Int8GemmOutput.Int32)
            {
                int* dst = (int*)cf + (long)(i0 + r) * n + j0;
                for (int j = 0; j < cols; j++) dst[j] = ar[j] + colTerm[j0 + j] - (zb != null ? zb[j0 + j] * rs : 0);
            }
            else if (ep.Output == Int8GemmOutput.Float)
            {
                float* dst = cf + (long)(i0 + r) * n + j0;
                int j = 0;
                if (Vector256.IsHardwareAccelerated && rowSums == null)
                {
                    fixed (int* pt = &colTerm[j0])
                    fixed (float* ps = &scale[j0])
                    {
                        for (; j <= cols - 8; j += 8)
                        {
                            var v = Vector256.ConvertToSingle(Vector256.Load(ar + j) + Vector256.Load(pt + j)) * Vector256.Load(ps + j);
                            if (bias != null) fixed (float* pbias = &bias[j0 + j]) v += Vector256.Load(pbias);
                            v.Store(dst + j);
                        }
                    }
                }
                for (; j < cols; j++)
                {
                    int q = ar[j] + colTerm[j0 + j] - (zb != null ? zb[j0 + j] * rs : 0);
                    float v = q * scale[j0 + j];
                    if (bias != null) v += bias[j0 + j];
                    dst[j] = v;
                }
            }
            else
            {
                long step = ep.TransposedStride > 0 ? ep.TransposedStride : 1;
                byte* dst = ep.TransposedStride > 0 ? cb + (long)j0 * ep.TransposedStride + i0 + r : cb + (long)(i0 + r) * n + j0;
                var requant = ep.Requant;
                var intBias = ep.IntBias;
                for (int j = 0; j < cols; j++)
                {
                    int q = ar[j] + colTerm[j0 + j] - (zb != null ? zb[j0 + j] * rs : 0);
                    int yq;
                    if (requant != null)
                    {
                        double y = Math.Round((double)(q + (intBias?[j0 + j] ?? 0)) * requant[j0 + j], MidpointRounding.ToEven) + ep.OutputZero;
                        yq = y >= 255 ? 255 : y >= 0 ? (int)y : 0;
                    }
                    else
                    {
                        float v = q * scale[j0 + j];
                        if (bias != null) v += bias[j0 + j];
                        float y = MathF.Round(v / ep.OutputScale, MidpointRounding.ToEven) + ep.OutputZero;
                        yq = y >= 255f ? 255 : y >= 0f ? (int)y : 0;
                    }
                    dst[j * step] = (byte)yq;
                }
            }
        }
    }

    /// <summary>
    /// The <see cref="Int8GemmEpilogue.Requant"/> store, 4 columns per step: the int32 sums plus corrections and
    /// bias, times the double multipliers, rounded half to even, plus the zero point, clamped: the scalar formula's
    /// exact steps (int32 to double is exact). Transposed output writes each column's 4 rows as one 32-bit store.
    /// </summary>
    private static void StoreRequantized(int* acc, int i0, int rows, int j0, int cols, int n, int[] colTerm, int* rowSums,
        in Int8GemmEpilogue ep, byte* cb)
    {
        int* q = stackalloc int[MR * NRPanels * 16];
        var zb = ep.WeightZero;
        var intBias = ep.IntBias;
        var vz = Vector256.Create((double)ep.OutputZero);
        var vhi = Vector256.Create(255.0);
        fixed (int* pt = colTerm)
        fixed (double* pm = ep.Requant)
        fixed (int* pb = intBias)
        fixed (int* pz = zb)
        {
            for (int r = 0; r < rows; r++)
            {
                int* ar = acc + r * NRPanels * 16;
                int* qr = q + r * NRPanels * 16;
                int rs = rowSums != null ? rowSums[i0 + r] : 0;
                var vrs = Vector128.Create(rs);
                int j = 0;
                if (Avx512F.IsSupported)
                {
                    // 8 columns per step. vcvtpd2dq rounds half to even (the default MXCSR mode), as Math.Round(ToEven);
                    // the clamp to +-2^30 first keeps huge values from converting to int.MinValue.
                    var vrs8 = Vector256.Create(rs);
                    var big = Vector512.Create(1073741824.0);
                    var z8 = Vector256.Create(ep.OutputZero);
                    var top = Vector256.Create(255);
                    for (; j <= cols - 8; j += 8)
                    {
                        var v = Vector256.Load(ar + j) + Vector256.Load(pt + j0 + j);
                        if (pz != null) v -= Vector256.Load(pz + j0 + j) * vrs8;
                        if (pb != null) v += Vector256.Load(pb + j0 + j);
                        var d = Avx512F.ConvertToVector512Double(v) * Vector512.Load(pm + j0 + j);
                        d = Vector512.Min(Vector512.Max(d, -big), big);
                        var iq = Avx512F.ConvertToVector256Int32(d) + z8;
                        Vector256.Min(Vector256.Max(iq, Vector256<int>.Zero), top).Store(qr + j);
                    }
                }
                for (; j <= cols - 4; j += 4)
                {
                    var v = Vector128.Load(ar + j) + Vector128.Load(pt + j0 + j);
                    if (pz != null) v -= Vector128.Load(pz + j0 + j) * vrs;
                    if (pb != null) v += Vector128.Load(pb + j0 + j);
                    var d = Avx.RoundToNearestInteger(Avx.ConvertToVector256Double(v) * Vector256.Load(pm + j0 + j)) + vz;
                    Avx.ConvertToVector128Int32WithTruncation(Vector256.Min(Vector256.Max(d, Vector256<double>.Zero), vhi)).Store(qr + j);
                }
                for (; j < cols; j++)
                {
                    int t = ar[j] + colTerm[j0 + j] - (zb != null ? zb[j0 + j] * rs : 0);
                    double y = Math.Round((double)(t + (intBias?[j0 + j] ?? 0)) * ep.Requant![j0 + j], MidpointRounding.ToEven) + ep.OutputZero;
                    qr[j] = y >= 255 ? 255 : y >= 0 ? (int)y : 0;
                }
            }
        }
        const int S = NRPanels * 16;
        if (ep.TransposedStride > 0)
        {
            long stride = ep.TransposedStride;
            byte* dst = cb + (long)j0 * stride + i0;
            if (rows == MR)
                for (int j = 0; j < cols; j++)
                    *(uint*)(dst + j * stride) = (uint)q[j] | (uint)q[S + j] << 8 | (uint)q[2 * S + j] << 16 | (uint)q[3 * S + j] << 24;
            else
                for (int j = 0; j < cols; j++)
                    for (int r = 0; r < rows; r++) dst[j * stride + r] = (byte)q[r * S + j];
        }
        else
            for (int r = 0; r < rows; r++)
            {
                byte* dst = cb + (long)(i0 + r) * n + j0;
                for (int j = 0; j < cols; j++) dst[j] = (byte)q[r * S + j];
            }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<int> Dot512(Vector512<int> acc, Vector512<byte> a, Vector512<sbyte> b, Vector512<short> ones) =>
        acc + Avx512BW.MultiplyAddAdjacent(Avx512BW.MultiplyAddAdjacent(a, b), ones);

    /// <summary>4 rows x 32 columns, weights in [-64, 64] (no int16 saturation).</summary>
    private static void Kernel512(byte* a0, byte* a1, byte* a2, byte* a3, sbyte* b0, sbyte* b1, int groups, int* acc)
    {
        var ones = Vector512.Create((short)1);
        Vector512<int> c00 = default, c01 = default, c10 = default, c11 = default, c20 = default, c21 = default, c30 = default, c31 = default;
        for (int g = 0; g < groups; g++)
        {
            var w0 = Vector512.Load(b0 + g * 64);
            var w1 = Vector512.Load(b1 + g * 64);
            var x = Vector512.Create(*(int*)(a0 + g * 4)).AsByte();
            c00 = Dot512(c00, x, w0, ones); c01 = Dot512(c01, x, w1, ones);
            x = Vector512.Create(*(int*)(a1 + g * 4)).AsByte();
            c10 = Dot512(c10, x, w0, ones); c11 = Dot512(c11, x, w1, ones);
            x = Vector512.Create(*(int*)(a2 + g * 4)).AsByte();
            c20 = Dot512(c20, x, w0, ones); c21 = Dot512(c21, x, w1, ones);
            x = Vector512.Create(*(int*)(a3 + g * 4)).AsByte();
            c30 = Dot512(c30, x, w0, ones); c31 = Dot512(c31, x, w1, ones);
        }
        c00.Store(acc); c01.Store(acc + 16);
        c10.Store(acc + 32); c11.Store(acc + 48);
        c20.Store(acc + 64); c21.Store(acc + 80);
        c30.Store(acc + 96); c31.Store(acc + 112);
    }

    /// <summary>
    /// Full-range weights: a = 2 * (a >> 1) + (a &amp; 1). The high part is u7, so its pair sums stay within int16
    /// (2 * 127 * 128 = 32512); the low part is 0/1. vpmaddwd weighs the high sum by 2 and the low by 1.
    /// </summary>
    private static void Kernel512Split(byte* a0, byte* a1, byte* a2, byte* a3, sbyte* b0, sbyte* b1, int groups, int* acc)
    {
        var ones = Vector512.Create((short)1);
        var twos = Vector512.Create((short)2);
        var lowBit = Vector512.Create((byte)1);
        byte** rows = stackalloc byte*[4] { a0, a1, a2, a3 };
        for (int r = 0; r < 4; r++)
        {
            Vector512<int> c0 = default, c1 = default;
            byte* ar = rows[r];
            for (int g = 0; g < groups; g++)
            {
                var w0 = Vector512.Load(b0 + g * 64);
                var w1 = Vector512.Load(b1 + g * 64);
                var x = Vector512.Create(*(int*)(ar + g * 4)).AsByte();
                var hi = Avx512BW.ShiftRightLogical(x.AsUInt16(), 1).AsByte() & Vector512.Create((byte)0x7F);
                var lo = x & lowBit;
                c0 += Avx512BW.MultiplyAddAdjacent(Avx512BW.MultiplyAddAdjacent(hi, w0), twos) + Avx512BW.MultiplyAddAdjacent(Avx512BW.MultiplyAddAdjacent(lo, w0), ones);
                c1 += Avx512BW.MultiplyAddAdjacent(Avx512BW.MultiplyAddAdjacent(hi, w1), twos) + Avx512BW.MultiplyAddAdjacent(Avx512BW.MultiplyAddAdjacent(lo, w1), ones);
            }
            c0.Store(acc + r * 32); c1.Store(acc + r * 32 + 16);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<int> Dot256(Vector256<int> acc, Vector256<byte> a, Vector256<sbyte> b, Vector256<short> ones) =>
        acc + Avx2.MultiplyAddAdjacent(Avx2.MultiplyAddAdjacent(a, b), ones);

    /// <summary>AVX2: the same 4 x 32 tile as four 8-column halves per row; weights in [-64, 64].</summary>
    private static void Kernel256(byte* a0, byte* a1, byte* a2, byte* a3, sbyte* b0, sbyte* b1, int groups, int* acc)
    {
        var ones = Vector256.Create((short)1);
        byte** rows = stackalloc byte*[4] { a0, a1, a2, a3 };
        for (int r = 0; r < 4; r += 2)
        {
            byte* ra = rows[r], rb = rows[r + 1];
            Vector256<int> x0 = default, x1 = default, x2 = default, x3 = default, y0 = default, y1 = default, y2 = default, y3 = default;
            for (int g = 0; g < groups; g++)
            {
                var w0 = Vector256.Load(b0 + g * 64); var w1 = Vector256.Load(b0 + g * 64 + 32);
                var w2 = Vector256.Load(b1 + g * 64); var w3 = Vector256.Load(b1 + g * 64 + 32);
                var xa = Vector256.Create(*(int*)(ra + g * 4)).AsByte();
                var xb = Vector256.Create(*(int*)(rb + g * 4)).AsByte();
                x0 = Dot256(x0, xa, w0, ones); x1 = Dot256(x1, xa, w1, ones); x2 = Dot256(x2, xa, w2, ones); x3 = Dot256(x3, xa, w3, ones);
                y0 = Dot256(y0, xb, w0, ones); y1 = Dot256(y1, xb, w1, ones); y2 = Dot256(y2, xb, w2, ones); y3 = Dot256(y3, xb, w3, ones);
            }
            // Panel bytes 0..31 hold columns 0..7, bytes 32..63 columns 8..15 (4 k-bytes per column).
            int* o = acc + r * 32;
            x0.Store(o); x1.Store(o + 8); x2.Store(o + 16); x3.Store(o + 24);
            y0.Store(o + 32); y1.Store(o + 40); y2.Store(o + 48); y3.Store(o + 56);
        }
    }

    /// <summary>Scalar reference over the packed layout (any weight range).</summary>
    private static void KernelPortable(byte* a0, byte* a1, byte* a2, byte* a3, sbyte* b0, sbyte* b1, int groups, int* acc)
    {
        byte** rows = stackalloc byte*[4] { a0, a1, a2, a3 };
        for (int r = 0; r < 4; r++)
        {
            byte* ar = rows[r];
            for (int half = 0; half < 2; half++)
            {
                sbyte* b = half == 0 ? b0 : b1;
                for (int c = 0; c < 16; c++)
                {
                    int s = 0;
                    for (int g = 0; g < groups; g++)
                    {
                        sbyte* bg = b + g * 64 + c * 4;
                        byte* ag = ar + g * 4;
                        s += ag[0] * bg[0] + ag[1] * bg[1] + ag[2] * bg[2] + ag[3] * bg[3];
                    }
                    acc[r * 32 + half * 16 + c] = s;
                }
            }
        }
    }
}
