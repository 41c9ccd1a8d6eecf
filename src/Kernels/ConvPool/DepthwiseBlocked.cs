using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using NetOnnx.Kernels.Elementwise;

namespace NetOnnx.Kernels.ConvPool;

/// <summary>
/// Depthwise 2-D convolution (channel multiplier 1), AVX-512, sixteen channels at a time in a channel-interleaved
/// tile, the layout NCHWc runtimes keep between layers, built here per call from NCHW. A band of the sixteen input
/// planes is transposed into a zero-padded tile [row][column][16 channels]; then every output position of the band
/// is one vector of sixteen channels, sum over taps of tile vector times the tap's sixteen weights, with no lanes
/// lost to row ends or padding and no per-channel bookkeeping; the band's output vectors are transposed back into
/// the sixteen NCHW planes. On the small maps of late layers (7x7, 14x14) the per-channel kernel spends more on each
/// plane's setup and its row tails than on the arithmetic; this one does not.
/// </summary>
public static class DepthwiseBlocked
{
    [ThreadStatic] private static float[]? t_in;
    [ThreadStatic] private static float[]? t_out;

    /// <summary>Floats of the input tile (128 KiB: the band stays in L2 while its outputs are computed).</summary>
    private const int InTileFloats = 32 * 1024;

    /// <summary>Floats of the output tile (64 KiB).</summary>
    private const int OutTileFloats = 16 * 1024;

    /// <summary>Output positions computed together: eight accumulators, each weight vector loaded once for all.</summary>
    private const int Group = 8;

    /// <summary>Whether <see cref="Run"/> handles this geometry and channel multiplier on this machine.</summary>
    public static bool Supports(ConvGeometry g, int multiplier) =>
        Avx512F.IsSupported && multiplier == 1 && g.In[0] == 1 && g.Kernel[0] == 1 && g.Out[0] == 1 && g.PadBegin[0] == 0
        && g.KernelSize <= 256;

    /// <summary>
    /// Whether this kernel beats the per-channel one (<see cref="PhasedConv"/>) on the layer: measured on the
    /// depthwise layers of MobileNet v2/v3 (`conv --only dw`, 1 thread): 1.7-1.8x on 7x7 outputs (3x3 and 5x5),
    /// 1.2-1.4x on 14x14, parity on 28x28 and slower on 56x56 and larger, where the transposes cost what the
    /// per-channel kernel loses to row tails.
    /// </summary>
    public static bool Preferred(ConvGeometry g, int multiplier) => Supports(g, multiplier) && g.OutSize <= 400;

    /// <summary>
    /// y[c] = act(bias[c] + sum_k w[c, k] * x[c] shifted by tap k (+ residual[c])) for channels [c0, c1) of one image;
    /// w is [C, 1, KH, KW], residual (empty for none) has y's layout.
    /// </summary>
    public static unsafe void Run(ReadOnlySpan<float> x, ReadOnlySpan<float> w, ReadOnlySpan<float> bias, ConvGeometry g,
        Span<float> y, int c0, int c1, ReadOnlySpan<float> residual, FusedActivation activation)
    {
        if (!Supports(g, 1)) throw new ArgumentException("geometry not supported by the blocked depthwise kernel");
        int IH = g.In[1], IW = g.In[2], OH = g.Out[1], OW = g.Out[2], KH = g.Kernel[1], KW = g.Kernel[2];
        int sh = g.Stride[1], sw = g.Stride[2], dh = g.Dilation[1], dw = g.Dilation[2], pt = g.PadBegin[1], pl = g.PadBegin[2];
        int inSize = IH * IW, outSize = OH * OW, taps = KH * KW;
        if (c1 <= c0) return;
        if ((long)c1 * inSize > x.Length || (long)c1 * outSize > y.Length || (long)c1 * taps > w.Length)
            throw new ArgumentException("depthwise tensors are smaller than the geometry and channel range need");
        // Tile columns: every input column after the left padding, and every column a tap of an output reads.
        int tw = Math.Max(pl + IW, (OW - 1) * sw + (KW - 1) * dw + 1);
        int reach = (KH - 1) * dh + 1;
        int bandByOut = Math.Max(1, OutTileFloats / 16 / OW);
        int bandByIn = Math.Max(1, (InTileFloats / 16 / tw - reach) / sh + 1);
        int band = Math.Clamp(Math.Min(bandByOut, bandByIn), 1, OH);
        int rowsIn = (band - 1) * sh + reach;
        int inFloats = rowsIn * tw * 16;
        // Output positions of a band rounded up to whole transposes, plus a group of slack for the last group's stores.
        int outFloats = ((band * OW + 15) / 16 * 16 + Group) * 16;
        // 16 floats of slack so the tiles can start on a cache line (a tile vector split over two lines loads twice).
        var inTile = t_in is { } ib && ib.Length >= inFloats + 16 ? ib : t_in = new float[Math.Max(inFloats, InTileFloats) + 16];
        var outTile = t_out is { } ob && ob.Length >= outFloats + 16 ? ob : t_out = new float[Math.Max(outFloats, OutTileFloats + 32 * 16) + 16];
        int* tapOffset = stackalloc int[taps];
        for (int kh = 0; kh < KH; kh++)
            for (int kw = 0; kw < KW; kw++) tapOffset[kh * KW + kw] = (kh * dh * tw + kw * dw) * 16;
        float* wt = stackalloc float[taps * 16];
        float* scratchBuffer = stackalloc float[16 * 16 + 16];
        float* scratch = Align64(scratchBuffer);
        // Without a residual the activation is elementwise on the output tile, before its transpose (one call per band).
        bool tileAct = residual.IsEmpty;
        fixed (float* px = x, pw = w, pb = bias, py = y, pr = residual, inBuffer = inTile, outBuffer = outTile)
        {
            float* pin = Align64(inBuffer), pout = Align64(outBuffer);
            // Padding columns are never written by image data, so one clear per call keeps them zero for every band
            // and block; padding rows are cleared by the bands that have them.
            new Span<float>(pin, inFloats).Clear();
            for (int cb = c0; cb < c1; cb += 16)
            {
                int nc = Math.Min(16, c1 - cb);
                // The block's weights transposed: tap t's sixteen channel weights are one vector.
                if (nc < 16) new Span<float>(wt, taps * 16).Clear();
                for (int c = 0; c < nc; c++)
                {
                    float* wc = pw + (long)(cb + c) * taps;
                    for (int t = 0; t < taps; t++) wt[t * 16 + c] = wc[t];
                }
                var laneMask = Vector512.LessThan(Vector512<int>.Indices, Vector512.Create(nc)).AsSingle();
                var biasVector = pb == null ? Vector512<float>.Zero : Avx512F.MaskLoad(pb + cb, laneMask, Vector512<float>.Zero);
                for (int r0 = 0; r0 < OH; r0 += band)
                {
                    int r1 = Math.Min(OH, r0 + band);
                    int rows = (r1 - 1 - r0) * sh + reach;
                    FillTile(px + (long)cb * inSize, inSize, nc, IH, IW, pt, pl, r0 * sh, rows, tw, pin, scratch);
                    int positions = (r1 - r0) * OW;
                    Compute(pin, tw, sh, sw, OW, positions, tapOffset, taps, wt, biasVector, pout);
                    if (tileAct) activation.Apply(new Span<float>(pout, positions * 16));
                    StorePlanes(pout, positions, nc, py + (long)cb * outSize + (long)r0 * OW, outSize, scratch);
                    if (!tileAct)
                        for (int c = 0; c < nc; c++)
                        {
                            float* plane = py + (long)(cb + c) * outSize + (long)r0 * OW;
                            if (pr != null) AddInPlace(plane, pr + (long)(cb + c) * outSize + (long)r0 * OW, positions);
                            activation.Apply(new Span<float>(plane, positions));
                        }
                }
            }
        }
    }

    /// <summary>
    /// Tile rows [0, rows) = padded input rows [pr0, pr0 + rows) of the nc planes at src (plane pitch inSize),
    /// channel-interleaved: tile[(row * tw + column) * 16 + c]. Padding and missing channels are zero.
    /// </summary>
    private static unsafe void FillTile(float* src, int inSize, int nc, int IH, int IW, int pt, int pl, int pr0, int rows, int tw,
        float* tile, float* scratch)
    {
        // Padding rows above and below the image (the padding columns stay zero from the caller's clear).
        int ih0 = Math.Max(0, pr0 - pt), ih1 = Math.Min(IH, pr0 + rows - pt);
        for (int row = 0; row < rows; row++)
        {
            int r = pr0 + row - pt;
            if (r < 0 || r >= IH) new Span<float>(tile + (long)row * tw * 16, tw * 16).Clear();
        }
        if (ih1 <= ih0) return;
        // The image rows are contiguous in each plane, so they go through the transpose as one flat run of positions,
        // sixteen at a time; each transposed vector (one position, sixteen channels) is stored at its tile column.
        int f0 = ih0 * IW, f1 = ih1 * IW;
        int ih = ih0, iw = 0;
        float* rowBase = tile + (long)(ih0 + pt - pr0) * tw * 16 + pl * 16;
        for (int f = f0; f < f1; f += 16)
        {
            int n = Math.Min(16, f1 - f);
            if (n == 16 && nc == 16) Transpose16(src + f, inSize, scratch, 16);
            else
            {
                var mask = Vector512.LessThan(Vector512<int>.Indices, Vector512.Create(n)).AsSingle();
                for (int c = 0; c < 16; c++)
                    Vector512.Store(c < nc ? Avx512F.MaskLoad(src + (long)c * inSize + f, mask, Vector512<float>.Zero) : Vector512<float>.Zero,
                        scratch + c * 16);
                Transpose16(scratch, 16, scratch, 16);
            }
            for (int j = 0; j < n; j++)
            {
                Vector512.Store(Vector512.Load(scratch + j * 16), rowBase + iw * 16);
                if (++iw == IW) { iw = 0; ih++; rowBase += tw * 16; }
            }
        }
    }

    /// <summary>
    /// out[p] = bias + sum over taps of tile[position p + tap] * weights[tap] for the band's output positions
    /// p = 0..positions-1 (row-major over the band's rows of OW), Group positions at a time.
    /// </summary>
    private static unsafe void Compute(float* tile, int tw, int sh, int sw, int OW, int positions, int* tapOffset, int taps,
        float* wt, Vector512<float> bias, float* dst)
    {
        int qw = 0;
        long rowStep = (long)sh * tw * 16;
        float* rowBase = tile;
        for (int p = 0; p < positions; p += Group)
        {
            // Input anchors of the group's positions; past the band's end the last position repeats (its stores
            // land in the tile's slack).
            int left = positions - p;
            float* b0 = Next(ref rowBase, ref qw, ref left, OW, sw, rowStep);
            float* b1 = Next(ref rowBase, ref qw, ref left, OW, sw, rowStep);
            float* b2 = Next(ref rowBase, ref qw, ref left, OW, sw, rowStep);
            float* b3 = Next(ref rowBase, ref qw, ref left, OW, sw, rowStep);
            float* b4 = Next(ref rowBase, ref qw, ref left, OW, sw, rowStep);
            float* b5 = Next(ref rowBase, ref qw, ref left, OW, sw, rowStep);
            float* b6 = Next(ref rowBase, ref qw, ref left, OW, sw, rowStep);
            float* b7 = Next(ref rowBase, ref qw, ref left, OW, sw, rowStep);
            Vector512<float> a0 = bias, a1 = bias, a2 = bias, a3 = bias, a4 = bias, a5 = bias, a6 = bias, a7 = bias;
            for (int t = 0; t < taps; t++)
            {
                var wv = Vector512.Load(wt + t * 16);
                int o = tapOffset[t];
                a0 = Avx512F.FusedMultiplyAdd(Vector512.Load(b0 + o), wv, a0);
                a1 = Avx512F.FusedMultiplyAdd(Vector512.Load(b1 + o), wv, a1);
                a2 = Avx512F.FusedMultiplyAdd(Vector512.Load(b2 + o), wv, a2);
                a3 = Avx512F.FusedMultiplyAdd(Vector512.Load(b3 + o), wv, a3);
                a4 = Avx512F.FusedMultiplyAdd(Vector512.Load(b4 + o), wv, a4);
                a5 = Avx512F.FusedMultiplyAdd(Vector512.Load(b5 + o), wv, a5);
                a6 = Avx512F.FusedMultiplyAdd(Vector512.Load(b6 + o), wv, a6);
                a7 = Avx512F.FusedMultiplyAdd(Vector512.Load(b7 + o), wv, a7);
            }
            float* d = dst + (long)p * 16;
            Vector512.Store(a0, d); Vector512.Store(a1, d + 16); Vector512.Store(a2, d + 32); Vector512.Store(a3, d + 48);
            Vector512.Store(a4, d + 64); Vector512.Store(a5, d + 80); Vector512.Store(a6, d + 96); Vector512.Store(a7, d + 112);
        }
    }

    /// <summary>The current position's input anchor; steps to the next position unless this is the last one.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static unsafe float* Next(ref float* rowBase, ref int qw, ref int left, int OW, int sw, long rowStep)
    {
        float* b = rowBase + (long)qw * sw * 16;
        if (left > 1)
        {
            left--;
            if (++qw == OW) { qw = 0; rowBase += rowStep; }
        }
        return b;
    }

    /// <summary>Output vectors (one position, sixteen channels) back into the nc planes at dst (plane pitch outSize).</summary>
    private static unsafe void StorePlanes(float* tile, int positions, int nc, float* dst, int outSize, float* scratch)
    {
        for (int p = 0; p < positions; p += 16)
        {
            int n = Math.Min(16, positions - p);
            if (n == 16 && nc == 16) { Transpose16(tile + (long)p * 16, 16, dst + p, outSize); continue; }
            Transpose16(tile + (long)p * 16, 16, scratch, 16);
            var mask = Vector512.LessThan(Vector512<int>.Indices, Vector512.Create(n)).AsSingle();
            for (int c = 0; c < nc; c++) Avx512F.MaskStore(dst + (long)c * outSize + p, mask, Vector512.Load(scratch + c * 16));
        }
    }

    private static unsafe float* Align64(float* p) => (float*)(((nint)p + 63) & ~(nint)63);

    private static unsafe void AddInPlace(float* y, float* r, int n)
    {
        int j = 0;
        for (; j + 16 <= n; j += 16) Vector512.Store(Vector512.Load(y + j) + Vector512.Load(r + j), y + j);
        for (; j < n; j++) y[j] += r[j];
    }

    /// <summary>
    /// dst row i = column i of the 16x16 block whose row j is at src + j * srcPitch (in place allowed when the pitches
    /// match). Four butterfly stages: stage b swaps bit b of the row index with bit b of the column index.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static unsafe void Transpose16(float* src, long srcPitch, float* dst, long dstPitch)
    {
        var r0 = Vector512.Load(src); var r1 = Vector512.Load(src + srcPitch);
        var r2 = Vector512.Load(src + 2 * srcPitch); var r3 = Vector512.Load(src + 3 * srcPitch);
        var r4 = Vector512.Load(src + 4 * srcPitch); var r5 = Vector512.Load(src + 5 * srcPitch);
        var r6 = Vector512.Load(src + 6 * srcPitch); var r7 = Vector512.Load(src + 7 * srcPitch);
        var r8 = Vector512.Load(src + 8 * srcPitch); var r9 = Vector512.Load(src + 9 * srcPitch);
        var r10 = Vector512.Load(src + 10 * srcPitch); var r11 = Vector512.Load(src + 11 * srcPitch);
        var r12 = Vector512.Load(src + 12 * srcPitch); var r13 = Vector512.Load(src + 13 * srcPitch);
        var r14 = Vector512.Load(src + 14 * srcPitch); var r15 = Vector512.Load(src + 15 * srcPitch);
        Vector512<int> lo = Lo1, hi = Hi1;
        Swap(ref r0, ref r1, lo, hi); Swap(ref r2, ref r3, lo, hi); Swap(ref r4, ref r5, lo, hi); Swap(ref r6, ref r7, lo, hi);
        Swap(ref r8, ref r9, lo, hi); Swap(ref r10, ref r11, lo, hi); Swap(ref r12, ref r13, lo, hi); Swap(ref r14, ref r15, lo, hi);
        lo = Lo2; hi = Hi2;
        Swap(ref r0, ref r2, lo, hi); Swap(ref r1, ref r3, lo, hi); Swap(ref r4, ref r6, lo, hi); Swap(ref r5, ref r7, lo, hi);
        Swap(ref r8, ref r10, lo, hi); Swap(ref r9, ref r11, lo, hi); Swap(ref r12, ref r14, lo, hi); Swap(ref r13, ref r15, lo, hi);
        lo = Lo4; hi = Hi4;
        Swap(ref r0, ref r4, lo, hi); Swap(ref r1, ref r5, lo, hi); Swap(ref r2, ref r6, lo, hi); Swap(ref r3, ref r7, lo, hi);
        Swap(ref r8, ref r12, lo, hi); Swap(ref r9, ref r13, lo, hi); Swap(ref r10, ref r14, lo, hi); Swap(ref r11, ref r15, lo, hi);
        lo = Lo8; hi = Hi8;
        Swap(ref r0, ref r8, lo, hi); Swap(ref r1, ref r9, lo, hi); Swap(ref r2, ref r10, lo, hi); Swap(ref r3, ref r11, lo, hi);
        Swap(ref r4, ref r12, lo, hi); Swap(ref r5, ref r13, lo, hi); Swap(ref r6, ref r14, lo, hi); Swap(ref r7, ref r15, lo, hi);
        Vector512.Store(r0, dst); Vector512.Store(r1, dst + dstPitch);
        Vector512.Store(r2, dst + 2 * dstPitch); Vector512.Store(r3, dst + 3 * dstPitch);
        Vector512.Store(r4, dst + 4 * dstPitch); Vector512.Store(r5, dst + 5 * dstPitch);
        Vector512.Store(r6, dst + 6 * dstPitch); Vector512.Store(r7, dst + 7 * dstPitch);
        Vector512.Store(r8, dst + 8 * dstPitch); Vector512.Store(r9, dst + 9 * dstPitch);
        Vector512.Store(r10, dst + 10 * dstPitch); Vector512.Store(r11, dst + 11 * dstPitch);
        Vector512.Store(r12, dst + 12 * dstPitch); Vector512.Store(r13, dst + 13 * dstPitch);
        Vector512.Store(r14, dst + 14 * dstPitch); Vector512.Store(r15, dst + 15 * dstPitch);
    }

    // Stage b, rows i (bit b clear) and i + b: the low row keeps its columns with bit b clear and takes the high row's
    // columns shifted down by b; the high row keeps its columns with bit b set and takes the low row's shifted up.
    private static Vector512<int> Lo1 => Vector512.Create(0, 16, 2, 18, 4, 20, 6, 22, 8, 24, 10, 26, 12, 28, 14, 30);
    private static Vector512<int> Hi1 => Vector512.Create(1, 17, 3, 19, 5, 21, 7, 23, 9, 25, 11, 27, 13, 29, 15, 31);
    private static Vector512<int> Lo2 => Vector512.Create(0, 1, 16, 17, 4, 5, 20, 21, 8, 9, 24, 25, 12, 13, 28, 29);
    private static Vector512<int> Hi2 => Vector512.Create(2, 3, 18, 19, 6, 7, 22, 23, 10, 11, 26, 27, 14, 15, 30, 31);
    private static Vector512<int> Lo4 => Vector512.Create(0, 1, 2, 3, 16, 17, 18, 19, 8, 9, 10, 11, 24, 25, 26, 27);
    private static Vector512<int> Hi4 => Vector512.Create(4, 5, 6, 7, 20, 21, 22, 23, 12, 13, 14, 15, 28, 29, 30, 31);
    private static Vector512<int> Lo8 => Vector512.Create(0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23);
    private static Vector512<int> Hi8 => Vector512.Create(8, 9, 10, 11, 12, 13, 14, 15, 24, 25, 26, 27, 28, 29, 30, 31);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Swap(ref Vector512<float> a, ref Vector512<float> b, Vector512<int> lo, Vector512<int> hi)
    {
        var l = Avx512F.PermuteVar16x32x2(a, lo, b);
        b = Avx512F.PermuteVar16x32x2(a, hi, b);
        a = l;
    }
}
