using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using NetOnnx.Kernels.Elementwise;

namespace NetOnnx.Kernels.ConvPool;

/// <summary>
/// 1-D/2-D depthwise convolution, AVX-512, any stride and dilation. The zero-padded input plane is split into
/// stride x stride phase planes (rows and columns by their remainder mod the stride), all with one row pitch Q.
/// Output (oh, ow) then reads phase plane ((kh*d) % s, (kw*d) % s) at (oh + kh*d/s, ow + kw*d/s), so every tap is
/// one contiguous shift of the "flat" output index oh*Q + ow. The flat range is computed in blocks of up to eight
/// 16-lane accumulators held in registers across all taps (independent FMA chains, each input vector loaded
/// once per tap, no accumulator traffic to memory), then bias and activation are applied in registers and each
/// output row's lanes are written once with a masked store. The Q - OW lanes per row that fall in the padding
/// are wasted, fewer than a per-row 16-lane vector wastes on the 7- and 14-wide planes of late layers.
/// </summary>
public static class DepthwisePhased
{
    [ThreadStatic] private static float[]? t_planes;
    [ThreadStatic] private static float[]? t_flat;

    /// <summary>Whether <see cref="Run"/> handles this geometry on this machine.</summary>
    public static bool Supports(ConvGeometry g) =>
        Avx512F.IsSupported && g.In[0] == 1 && g.Kernel[0] == 1 && g.Out[0] == 1 && g.PadBegin[0] == 0;

    /// <summary>
    /// y[oc] = act(bias[oc] + sum_k w[oc, k] * x[oc / multiplier] shifted by tap k (+ residual[oc])) for output
    /// channels [oc0, oc1) of one image; residual (empty for none) has y's layout.
    /// </summary>
    public static unsafe void Run(ReadOnlySpan<float> x, ReadOnlySpan<float> w, ReadOnlySpan<float> bias, int multiplier,
        ConvGeometry g, Span<float> y, int oc0, int oc1, ReadOnlySpan<float> residual, FusedActivation activation)
    {
        if (!Supports(g)) throw new ArgumentException("geometry not supported by the phased depthwise kernel");
        int IH = g.In[1], IW = g.In[2], OH = g.Out[1], OW = g.Out[2], KH = g.Kernel[1], KW = g.Kernel[2];
        int sh = g.Stride[1], sw = g.Stride[2], dh = g.Dilation[1], dw = g.Dilation[2], pt = g.PadBegin[1], pl = g.PadBegin[2];
        int inSize = IH * IW, outSize = OH * OW, kSize = KH * KW;
        // Phase plane rows/columns: enough for every tap of every output and for every input element.
        int qh = Math.Max(OH + (KH - 1) * dh / sh, (pt + IH + sh - 1) / sh);
        int qw = Math.Max(OW + (KW - 1) * dw / sw, (pl + IW + sw - 1) / sw);
        int planeSize = qh * qw, phases = sh * sw;
        int len = (OH - 1) * qw + OW;
        int vectors = (len + 15) / 16;
        // Slack after the last plane: blocks read whole vectors past the flat range (lanes that are never stored).
        int total = phases * planeSize + 16 * 8 + 16;
        var planes = t_planes is { } buf && buf.Length >= total ? buf : t_planes = new float[total];
        // Cleared once per call; rebuilding a plane rewrites only the input positions, the padding stays zero.
        Array.Clear(planes, 0, total);
        Span<int> tapOffset = kSize <= 256 ? stackalloc int[kSize] : new int[kSize];
        for (int kh = 0; kh < KH; kh++)
            for (int kw = 0; kw < KW; kw++)
            {
                int r = kh * dh, c = kw * dw;
                tapOffset[kh * KW + kw] = ((r % sh) * sw + c % sw) * planeSize + r / sh * qw + c / sw;
            }
        // Large planes go in chunks of rows, each copied out while its accumulators are still in L1.
        int rowsPerChunk = Math.Max(1, 2048 / qw);
        int chunkVectors = Math.Min(vectors, (rowsPerChunk * qw + 15) / 16 + 1);
        var flat = t_flat is { } fb && fb.Length >= chunkVectors * 16 + 16 ? fb : t_flat = new float[chunkVectors * 16 + 16];
        int lastIc = -1;
        fixed (float* pp = planes, px = x, pw = w, py = y, pr = residual, pf = flat)
        fixed (int* taps = tapOffset)
        {
            for (int oc = oc0; oc < oc1; oc++)
            {
                int ic = oc / multiplier;
                if (ic != lastIc)
                {
                    Scatter(px + (long)ic * inSize, IH, IW, pt, pl, sh, sw, qw, planeSize, pp);
                    lastIc = ic;
                }
                float* wk = pw + (long)oc * kSize;
                var b = Vector512.Create(bias.IsEmpty ? 0f : bias[oc]);
                float* outPlane = py + (long)oc * outSize;
                float* resPlane = residual.IsEmpty ? null : pr + (long)oc * outSize;
                for (int r0 = 0; r0 < OH; r0 += rowsPerChunk)
                {
                    int r1 = Math.Min(OH, r0 + rowsPerChunk);
                    int v0 = r0 * qw / 16, v1 = ((r1 - 1) * qw + OW + 15) / 16;
                    // Accumulators hold flat vectors [v0, v1); flatBase + f addresses flat index f.
                    int v = v0;
                    for (; v + 8 <= v1; v += 8) Block8(pp + v * 16, taps, wk, kSize, b, pf + (v - v0) * 16);
                    if (v + 4 <= v1) { Block4(pp + v * 16, taps, wk, kSize, b, pf + (v - v0) * 16); v += 4; }
                    if (v + 2 <= v1) { Block2(pp + v * 16, taps, wk, kSize, b, pf + (v - v0) * 16); v += 2; }
                    if (v < v1) Block1(pp + v * 16, taps, wk, kSize, b, pf + (v - v0) * 16);
                    float* flatBase = pf - v0 * 16;
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
            }
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
