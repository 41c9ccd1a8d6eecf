using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using NetOnnx.Kernels.Elementwise;

namespace NetOnnx.Kernels.ConvPool;

/// <summary>
/// Direct 1-D/2-D convolution, AVX-512, any stride and dilation, for depthwise convolutions and for dense ones
/// with few input channels (a network's first layer): there a GEMM packs a large B (the image's patches) for only
/// a few rows of weights, so packing costs more than the arithmetic. The zero-padded input planes are split into
/// stride x stride phase planes (rows and columns by their remainder mod the stride), all with one row pitch Q.
/// Output (oh, ow) then reads phase plane ((kh*d) % s, (kw*d) % s) at (oh + kh*d/s, ow + kw*d/s), so every
/// (input channel, tap) is one contiguous shift of the "flat" output index oh*Q + ow. The flat range is computed
/// in blocks of up to eight 16-lane accumulators held in registers across all taps (independent FMA chains, each
/// input vector loaded once per tap, no accumulator traffic to memory), then bias, residual and activation are
/// applied in registers as each output row is written once (masked store for its tail). The Q - OW lanes per
/// row that fall in the padding are wasted, fewer than a per-row 16-lane vector wastes on 7- and 14-wide planes.
/// </summary>
public static class PhasedConv
{
    [ThreadStatic] private static float[]? t_planes;
    [ThreadStatic] private static float[]? t_flat;

    /// <summary>Whether <see cref="Run"/> handles this geometry on this machine.</summary>
    public static bool Supports(ConvGeometry g) =>
        Avx512F.IsSupported && g.In[0] == 1 && g.Kernel[0] == 1 && g.Out[0] == 1 && g.PadBegin[0] == 0;

    /// <summary>
    /// Whether a dense or grouped convolution with <paramref name="inputsPerGroup"/> input channels and
    /// <paramref name="outputsPerGroup"/> output channels per group runs faster here than as an implicit GEMM.
    /// Measured (old/new in one process, 1 thread): 1.3-2x for up to ~300 weights per output channel (first layers
    /// 3x3/2 and 7x7/2 on 3 channels, mnist's 5x5 convs, 16-32 channel 3x3 layers), even at 576 weights with 16
    /// output channels, but only parity from 48-64 channels on 3x3 layers and slower at 256. The phase planes
    /// of the group's inputs are cached per thread, so large images are left to the GEMM.
    /// </summary>
    public static bool PreferredOverGemm(ConvGeometry g, int inputsPerGroup, int outputsPerGroup)
    {
        if (!Supports(g)) return false;
        long taps = (long)inputsPerGroup * g.KernelSize;
        // 1x1 layers: since the GEMM's packing and edge tiles were tightened, it wins (1.05-1.5x, `conv --only 1x1`) on
        // every MobileNet/SqueezeNet expansion, even 16 -> 64 and 16 -> 96; this kernel keeps only few-input,
        // few-output layers (16 -> 16 on 56x56: 1.1x).
        bool fits = g.KernelSize == 1
            ? taps <= 48 && outputsPerGroup <= 32
            : taps <= 160 || (taps <= 600 && outputsPerGroup <= 32);
        if (!fits) return false;
        int sh = g.Stride[1], sw = g.Stride[2];
        long qh = Math.Max(g.Out[1] + (g.Kernel[1] - 1) * g.Dilation[1] / sh, (g.PadBegin[1] + g.In[1] + sh - 1) / sh);
        long qw = Math.Max(g.Out[2] + (g.Kernel[2] - 1) * g.Dilation[2] / sw, (g.PadBegin[2] + g.In[2] + sw - 1) / sw);
        return inputsPerGroup * sh * sw * qh * qw <= MaxPlaneFloats;
    }

    /// <summary>Most floats of phase planes (all input channels of a group) a thread keeps: 4 MiB.</summary>
    public const long MaxPlaneFloats = 1 << 20;

    /// <summary>
    /// y[oc] = act(bias[oc] + sum over ic in oc's group, k of w[oc, ic, k] * x[ic] shifted by tap k (+ residual[oc]))
    /// for output channels [oc0, oc1) of one image, groups of <paramref name="inputsPerGroup"/> input and
    /// <paramref name="outputsPerGroup"/> output channels (depthwise: 1 and the channel multiplier); w is
    /// [M, inputsPerGroup, KH, KW] and residual (empty for none) has y's layout.
    /// </summary>
    public static unsafe void Run(ReadOnlySpan<float> x, ReadOnlySpan<float> w, ReadOnlySpan<float> bias, int inputsPerGroup,
        int outputsPerGroup, ConvGeometry g, Span<float> y, int oc0, int oc1, ReadOnlySpan<float> residual, FusedActivation activation)
    {
        if (!Supports(g)) throw new ArgumentException("geometry not supported by the phased direct convolution kernel");
        if (inputsPerGroup < 1 || outputsPerGroup < 1) throw new ArgumentException("channels per group must be positive");
        int IH = g.In[1], IW = g.In[2], OH = g.Out[1], OW = g.Out[2], KH = g.Kernel[1], KW = g.Kernel[2];
        int sh = g.Stride[1], sw = g.Stride[2], dh = g.Dilation[1], dw = g.Dilation[2], pt = g.PadBegin[1], pl = g.PadBegin[2];
        int inSize = IH * IW, outSize = OH * OW, cg = inputsPerGroup, mg = outputsPerGroup;
        int kSize = KH * KW, taps = cg * kSize;
        // Phase plane rows/columns: enough for every tap of every output and for every input element.
        int qh = Math.Max(OH + (KH - 1) * dh / sh, (pt + IH + sh - 1) / sh);
        int qw = Math.Max(OW + (KW - 1) * dw / sw, (pl + IW + sw - 1) / sw);
        int planeSize = qh * qw, phases = sh * sw, channelPlanes = phases * planeSize;
        // Slack after the last plane: blocks read whole vectors past the flat range (lanes that are never stored).
        // Unpadded 1x1 stride-1 convs read the input itself: it is its own phase plane. Only where planes are whole
        // vectors, since blocks read whole vectors and the last channel's plane may end the array.
        bool inPlace = kSize == 1 && phases == 1 && pt == 0 && pl == 0 && planeSize == inSize && inSize % 16 == 0;
        int total = inPlace ? 0 : cg * channelPlanes + 16 * 8 + 16;
        var planes = t_planes is { } buf && buf.Length >= total ? buf : t_planes = new float[total];
        // Cleared once per call; rebuilding a plane rewrites only the input positions, the padding stays zero.
        Array.Clear(planes, 0, total);
        Span<int> tapOffset = taps <= 1024 ? stackalloc int[taps] : new int[taps];
        for (int ic = 0; ic < cg; ic++)
            for (int kh = 0; kh < KH; kh++)
                for (int kw = 0; kw < KW; kw++)
                {
                    int r = kh * dh, c = kw * dw;
                    tapOffset[(ic * KH + kh) * KW + kw] = ic * channelPlanes + ((r % sh) * sw + c % sw) * planeSize + r / sh * qw + c / sw;
                }
        // Large planes go in chunks of rows, each copied out while its accumulators are still in L1; within a
        // group the output channels run chunk by chunk, so the chunk's input rows stay in cache between them.
        int rowsPerChunk = Math.Max(1, 2048 / qw);
        int chunkVectors = ((rowsPerChunk - 1) * qw + OW + 15) / 16 + 1;
        // Four channels' accumulators (the 4-channel blocks), each with a vector of slack for the row tails' reads.
        int flatSize = 4 * (chunkVectors + 1) * 16;
        var flat = t_flat is { } fb && fb.Length >= flatSize ? fb : t_flat = new float[flatSize];
        fixed (float* pb = planes, px = x, pw = w, py = y, pr = residual, pf = flat)
        fixed (int* tp = tapOffset)
        {
            for (int g0 = oc0; g0 < oc1;)
            {
                int gi = g0 / mg, g1 = Math.Min(oc1, (gi + 1) * mg);
                float* pp = inPlace ? px + (long)gi * cg * inSize : pb;
                if (!inPlace)
                    for (int ic = 0; ic < cg; ic++)
                        Scatter(px + (long)(gi * cg + ic) * inSize, IH, IW, pt, pl, sh, sw, qw, planeSize, pp + (long)ic * channelPlanes);
                for (int r0 = 0; r0 < OH; r0 += rowsPerChunk)
                {
                    int r1 = Math.Min(OH, r0 + rowsPerChunk);
                    int v0 = r0 * qw / 16, v1 = ((r1 - 1) * qw + OW + 15) / 16;
                    for (int oc = g0; oc < g1; oc++)
                    {
                        float* wk = pw + (long)oc * taps;
                        var b = Vector512.Create(bias.IsEmpty ? 0f : bias[oc]);
                        // Accumulators hold flat vectors [v0, v1); flatBase + f addresses flat index f.
                        int v = v0;
                        if (oc + 4 <= g1 && v1 - v0 >= 4)
                        {
                            // Dense layers: four output channels at once share each input vector load.
                            for (; v + 4 <= v1; v += 4)
                                Block4x4(pp + v * 16, tp, wk, taps, bias.IsEmpty ? default : bias.Slice(oc, 4), pf + (v - v0) * 16, (chunkVectors + 1) * 16);
                            float* flatBase4 = pf - v0 * 16;
                            for (int q = 0; q < 4; q++)
                            {
                                int o = oc + q;
                                float* fq = flatBase4 + (long)q * (chunkVectors + 1) * 16;
                                if (v < v1)
                                {
                                    // Tail vectors of this chunk, one channel at a time.
                                    var bq = Vector512.Create(bias.IsEmpty ? 0f : bias[o]);
                                    float* wq = pw + (long)o * taps;
                                    int u = v;
                                    if (u + 2 <= v1) { Block2(pp + u * 16, tp, wq, taps, bq, fq + u * 16); u += 2; }
                                    if (u < v1) Block1(pp + u * 16, tp, wq, taps, bq, fq + u * 16);
                                }
                                Finish(activation, fq, qw, py + (long)o * outSize, OW, r0, r1, residual.IsEmpty ? null : pr + (long)o * outSize);
                            }
                            oc += 3;
                            continue;
                        }
                        for (; v + 8 <= v1; v += 8) Block8(pp + v * 16, tp, wk, taps, b, pf + (v - v0) * 16);
                        if (v + 4 <= v1) { Block4(pp + v * 16, tp, wk, taps, b, pf + (v - v0) * 16); v += 4; }
                        if (v + 2 <= v1) { Block2(pp + v * 16, tp, wk, taps, b, pf + (v - v0) * 16); v += 2; }
                        if (v < v1) Block1(pp + v * 16, tp, wk, taps, b, pf + (v - v0) * 16);
                        Finish(activation, pf - v0 * 16, qw, py + (long)oc * outSize, OW, r0, r1, residual.IsEmpty ? null : pr + (long)oc * outSize);
                    }
                }
                g0 = g1;
            }
        }
    }

    /// <summary>Bias is in the accumulators already; adds the residual, applies the activation, writes rows [r0, r1).</summary>
    private static unsafe void Finish(FusedActivation activation, float* flatBase, int qw, float* outPlane, int OW, int r0, int r1, float* resPlane)
    {
        switch (activation.Kind)
        {
            case ActivationKind.None: CopyOut(new NoActivation(), flatBase, qw, outPlane, OW, r0, r1, resPlane); break;
            case ActivationKind.Relu: CopyOut(new ClampActivation(0f, float.PositiveInfinity), flatBase, qw, outPlane, OW, r0, r1, resPlane); break;
            case ActivationKind.Clip: CopyOut(new ClampActivation(activation.A, activation.B), flatBase, qw, outPlane, OW, r0, r1, resPlane); break;
            case ActivationKind.HardSwish: CopyOut(new HardSwishActivation(), flatBase, qw, outPlane, OW, r0, r1, resPlane); break;
            default:
                CopyOut(new NoActivation(), flatBase, qw, outPlane, OW, r0, r1, resPlane);
                activation.Apply(outPlane + (long)r0 * OW, (r1 - r0) * OW);
                break;
        }
    }

    private interface IVectorActivation
    {
        Vector512<float> Apply(Vector512<float> x);
    }

    private readonly struct NoActivation : IVectorActivation
    {
        public Vector512<float> Apply(Vector512<float> x) => x;
    }

    private readonly struct ClampActivation(float lo, float hi) : IVectorActivation
    {
        private readonly Vector512<float> _lo = Vector512.Create(lo), _hi = Vector512.Create(hi);
        public Vector512<float> Apply(Vector512<float> x) => Avx512F.Min(_hi, Avx512F.Max(_lo, x));
    }

    private readonly struct HardSwishActivation : IVectorActivation
    {
        // The formula of FusedActivation (x / 6, not x * (1/6)), so fused and unfused results agree bit for bit.
        public Vector512<float> Apply(Vector512<float> x) =>
            x * Vector512.Max(Vector512<float>.Zero, Vector512.Min(Vector512<float>.One, x / Vector512.Create(6f) + Vector512.Create(0.5f)));
    }

    /// <summary>
    /// Output rows [r0, r1): row oh = act(flat[oh*Q, oh*Q + OW) (+ residual row)): full vectors, then one masked vector for the
    /// row's tail (the same mask for every row).
    /// </summary>
    private static unsafe void CopyOut<TAct>(TAct act, float* flat, int qw, float* outPlane, int OW, int r0, int r1, float* resPlane)
        where TAct : struct, IVectorActivation
    {
        var lane = Vector512.Create(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
        int full = OW & ~15, rem = OW - full;
        var tailMask = Vector512.LessThan(lane, Vector512.Create(rem)).AsSingle();
        for (int oh = r0; oh < r1; oh++)
        {
            float* src = flat + (long)oh * qw, dst = outPlane + (long)oh * OW;
            float* res = resPlane == null ? null : resPlane + (long)oh * OW;
            int j = 0;
            for (; j < full; j += 16)
            {
                var v = Vector512.Load(src + j);
                if (res != null) v += Vector512.Load(res + j);
                Vector512.Store(act.Apply(v), dst + j);
            }
            if (rem > 0)
            {
                var v = Vector512.Load(src + j);
                if (res != null) v += Avx512F.MaskLoad(res + j, tailMask, Vector512<float>.Zero);
                Avx512F.MaskStore(dst + j, tailMask, act.Apply(v));
            }
        }
    }

    /// <summary>Copies one input plane into the phase planes (padding positions are left as they are: zero).</summary>
    private static unsafe void Scatter(float* src, int IH, int IW, int pt, int pl, int sh, int sw, int qw, int planeSize, float* planes)
    {
        for (int ih = 0; ih < IH; ih++)
        {
            int r = ih + pt;
            float* dstRow = planes + (r % sh) * sw * planeSize + (long)(r / sh) * qw;
            float* srow = src + (long)ih * IW;
            if (sw == 1) CopyRow(srow, dstRow + pl, IW);
            else if (sw == 2) Deinterleave(srow, IW, pl, dstRow, planeSize);
            else
                for (int iw = 0; iw < IW; iw++)
                {
                    int c = iw + pl;
                    dstRow[(c % sw) * planeSize + c / sw] = srow[iw];
                }
        }
    }

    /// <summary>A short row copy inline (a memcpy call per 7- or 14-float row costs more than the copy).</summary>
    private static unsafe void CopyRow(float* src, float* dst, int n)
    {
        int j = 0;
        for (; j + 16 <= n; j += 16) Vector512.Store(Vector512.Load(src + j), dst + j);
        if (j < n)
        {
            var mask = Vector512.LessThan(Vector512.Create(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15), Vector512.Create(n - j)).AsSingle();
            Avx512F.MaskStore(dst + j, mask, Avx512F.MaskLoad(src + j, mask, Vector512<float>.Zero));
        }
    }

    /// <summary>
    /// Row split into even and odd padded columns, 32 inputs at a time: the even-index inputs go to phase pl % 2
    /// from column pl / 2, the odd-index ones to the other phase from column (pl + 1) / 2.
    /// </summary>
    private static unsafe void Deinterleave(float* srow, int IW, int pl, float* dstRow, int planeSize)
    {
        var evenIdx = Vector512.Create(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
        var oddIdx = Vector512.Create(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
        float* evenDst = dstRow + (pl & 1) * planeSize + pl / 2;
        float* oddDst = dstRow + ((pl + 1) & 1) * planeSize + (pl + 1) / 2;
        var lane = Vector512.Create(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
        for (int iw = 0; iw < IW; iw += 32)
        {
            int n = IW - iw;
            Vector512<float> lo, hi;
            if (n >= 32) { lo = Vector512.Load(srow + iw); hi = Vector512.Load(srow + iw + 16); }
            else
            {
                lo = Avx512F.MaskLoad(srow + iw, Vector512.LessThan(lane, Vector512.Create(n)).AsSingle(), Vector512<float>.Zero);
                hi = Avx512F.MaskLoad(srow + iw + 16, Vector512.LessThan(lane, Vector512.Create(n - 16)).AsSingle(), Vector512<float>.Zero);
            }
            var evens = Avx512F.PermuteVar16x32x2(lo, evenIdx, hi);
            var odds = Avx512F.PermuteVar16x32x2(lo, oddIdx, hi);
            if (n >= 32)
            {
                Vector512.Store(evens, evenDst + iw / 2);
                Vector512.Store(odds, oddDst + iw / 2);
            }
            else
            {
                Avx512F.MaskStore(evenDst + iw / 2, Vector512.LessThan(lane, Vector512.Create((n + 1) / 2)).AsSingle(), evens);
                Avx512F.MaskStore(oddDst + iw / 2, Vector512.LessThan(lane, Vector512.Create(n / 2)).AsSingle(), odds);
            }
        }
    }

    /// <summary>Four output channels (weights wk, wk + taps, ...) times four flat vectors; channel q's sums go to dst + q*pitch.</summary>
    private static unsafe void Block4x4(float* src, int* taps, float* wk, int kSize, ReadOnlySpan<float> bias, float* dst, int pitch)
    {
        Vector512<float> b0 = Vector512.Create(bias.IsEmpty ? 0f : bias[0]), b1 = Vector512.Create(bias.IsEmpty ? 0f : bias[1]);
        Vector512<float> b2 = Vector512.Create(bias.IsEmpty ? 0f : bias[2]), b3 = Vector512.Create(bias.IsEmpty ? 0f : bias[3]);
        Vector512<float> a00 = b0, a01 = b0, a02 = b0, a03 = b0, a10 = b1, a11 = b1, a12 = b1, a13 = b1;
        Vector512<float> a20 = b2, a21 = b2, a22 = b2, a23 = b2, a30 = b3, a31 = b3, a32 = b3, a33 = b3;
        float* w1 = wk + kSize, w2 = w1 + kSize, w3 = w2 + kSize;
        for (int t = 0; t < kSize; t++)
        {
            float* p = src + taps[t];
            var x0 = Vector512.Load(p); var x1 = Vector512.Load(p + 16); var x2 = Vector512.Load(p + 32); var x3 = Vector512.Load(p + 48);
            var w = Vector512.Create(wk[t]);
            a00 = Avx512F.FusedMultiplyAdd(x0, w, a00); a01 = Avx512F.FusedMultiplyAdd(x1, w, a01);
            a02 = Avx512F.FusedMultiplyAdd(x2, w, a02); a03 = Avx512F.FusedMultiplyAdd(x3, w, a03);
            w = Vector512.Create(w1[t]);
            a10 = Avx512F.FusedMultiplyAdd(x0, w, a10); a11 = Avx512F.FusedMultiplyAdd(x1, w, a11);
            a12 = Avx512F.FusedMultiplyAdd(x2, w, a12); a13 = Avx512F.FusedMultiplyAdd(x3, w, a13);
            w = Vector512.Create(w2[t]);
            a20 = Avx512F.FusedMultiplyAdd(x0, w, a20); a21 = Avx512F.FusedMultiplyAdd(x1, w, a21);
            a22 = Avx512F.FusedMultiplyAdd(x2, w, a22); a23 = Avx512F.FusedMultiplyAdd(x3, w, a23);
            w = Vector512.Create(w3[t]);
            a30 = Avx512F.FusedMultiplyAdd(x0, w, a30); a31 = Avx512F.FusedMultiplyAdd(x1, w, a31);
            a32 = Avx512F.FusedMultiplyAdd(x2, w, a32); a33 = Avx512F.FusedMultiplyAdd(x3, w, a33);
        }
        Vector512.Store(a00, dst); Vector512.Store(a01, dst + 16); Vector512.Store(a02, dst + 32); Vector512.Store(a03, dst + 48);
        dst += pitch;
        Vector512.Store(a10, dst); Vector512.Store(a11, dst + 16); Vector512.Store(a12, dst + 32); Vector512.Store(a13, dst + 48);
        dst += pitch;
        Vector512.Store(a20, dst); Vector512.Store(a21, dst + 16); Vector512.Store(a22, dst + 32); Vector512.Store(a23, dst + 48);
        dst += pitch;
        Vector512.Store(a30, dst); Vector512.Store(a31, dst + 16); Vector512.Store(a32, dst + 32); Vector512.Store(a33, dst + 48);
    }

    private static unsafe void Block8(float* src, int* taps, float* wk, int kSize, Vector512<float> b, float* dst)
    {
        Vector512<float> a0 = b, a1 = b, a2 = b, a3 = b, a4 = b, a5 = b, a6 = b, a7 = b;
        for (int t = 0; t < kSize; t++)
        {
            float* p = src + taps[t];
            var wv = Vector512.Create(wk[t]);
            a0 = Avx512F.FusedMultiplyAdd(Vector512.Load(p), wv, a0);
            a1 = Avx512F.FusedMultiplyAdd(Vector512.Load(p + 16), wv, a1);
            a2 = Avx512F.FusedMultiplyAdd(Vector512.Load(p + 32), wv, a2);
            a3 = Avx512F.FusedMultiplyAdd(Vector512.Load(p + 48), wv, a3);
            a4 = Avx512F.FusedMultiplyAdd(Vector512.Load(p + 64), wv, a4);
            a5 = Avx512F.FusedMultiplyAdd(Vector512.Load(p + 80), wv, a5);
            a6 = Avx512F.FusedMultiplyAdd(Vector512.Load(p + 96), wv, a6);
            a7 = Avx512F.FusedMultiplyAdd(Vector512.Load(p + 112), wv, a7);
        }
        Vector512.Store(a0, dst);
        Vector512.Store(a1, dst + 16);
        Vector512.Store(a2, dst + 32);
        Vector512.Store(a3, dst + 48);
        Vector512.Store(a4, dst + 64);
        Vector512.Store(a5, dst + 80);
        Vector512.Store(a6, dst + 96);
        Vector512.Store(a7, dst + 112);
    }

    private static unsafe void Block4(float* src, int* taps, float* wk, int kSize, Vector512<float> b, float* dst)
    {
        Vector512<float> a0 = b, a1 = b, a2 = b, a3 = b;
        for (int t = 0; t < kSize; t++)
        {
            float* p = src + taps[t];
            var wv = Vector512.Create(wk[t]);
            a0 = Avx512F.FusedMultiplyAdd(Vector512.Load(p), wv, a0);
            a1 = Avx512F.FusedMultiplyAdd(Vector512.Load(p + 16), wv, a1);
            a2 = Avx512F.FusedMultiplyAdd(Vector512.Load(p + 32), wv, a2);
            a3 = Avx512F.FusedMultiplyAdd(Vector512.Load(p + 48), wv, a3);
        }
        Vector512.Store(a0, dst);
        Vector512.Store(a1, dst + 16);
        Vector512.Store(a2, dst + 32);
        Vector512.Store(a3, dst + 48);
    }

    private static unsafe void Block2(float* src, int* taps, float* wk, int kSize, Vector512<float> b, float* dst)
    {
        Vector512<float> a0 = b, a1 = b;
        for (int t = 0; t < kSize; t++)
        {
            float* p = src + taps[t];
            var wv = Vector512.Create(wk[t]);
            a0 = Avx512F.FusedMultiplyAdd(Vector512.Load(p), wv, a0);
            a1 = Avx512F.FusedMultiplyAdd(Vector512.Load(p + 16), wv, a1);
        }
        Vector512.Store(a0, dst);
        Vector512.Store(a1, dst + 16);
    }

    private static unsafe void Block1(float* src, int* taps, float* wk, int kSize, Vector512<float> b, float* dst)
    {
        // One chain: split it in two over the taps so consecutive FMAs do not wait on each other.
        Vector512<float> a0 = b, a1 = Vector512<float>.Zero;
        int t = 0;
        for (; t + 2 <= kSize; t += 2)
        {
            a0 = Avx512F.FusedMultiplyAdd(Vector512.Load(src + taps[t]), Vector512.Create(wk[t]), a0);
            a1 = Avx512F.FusedMultiplyAdd(Vector512.Load(src + taps[t + 1]), Vector512.Create(wk[t + 1]), a1);
        }
        if (t < kSize) a0 = Avx512F.FusedMultiplyAdd(Vector512.Load(src + taps[t]), Vector512.Create(wk[t]), a0);
        Vector512.Store(a0 + a1, dst);
    }
}
