using System.Buffers;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using NetOnnx.Kernels.Threading;

namespace NetOnnx.Kernels.Quantization;

/// <summary>Shape of a 2-D depthwise convolution (one filter per channel).</summary>
public readonly record struct DepthwiseGeometry(int Channels, int InH, int InW, int KernelH, int KernelW,
    int StrideH, int StrideW, int DilationH, int DilationW, int PadTop, int PadLeft, int OutH, int OutW);

/// <summary>
/// Depthwise QLinearConv on uint8 NCHW planes with int8 filters: per channel
/// y = clamp(round_half_even((acc + bias) * multiplier) + yZero, 0, 255) where acc = sum (x - xZero)(w - wZero).
/// The products are summed in float, which is exact: every partial sum is an integer of magnitude at most
/// taps * 255 * 255 (below 2^24 for up to 258 taps, checked), so acc is the integer sum. Each channel's input is
/// first copied, padded with its zero point (real zero), into one byte plane per horizontal stride phase
/// (phase r holds padded columns r, r + s, ...), so every tap reads a contiguous run for any stride; the zero
/// point's share of the sum joins the bias. The requantization runs in double, as the unfused QLinearConv does.
/// </summary>
public static class QuantizedDepthwise
{
    public const int MaxTaps = 258;

    /// <param name="weights">[C, kh * kw] int8 filters.</param>
    /// <param name="weightZero">One zero point per channel (or one for all).</param>
    /// <param name="bias">Per channel int32 bias, or empty.</param>
    /// <param name="multiplier">Per channel x_scale * w_scale / y_scale.</param>
    public static void Run(ReadOnlySpan<byte> x, int batch, in DepthwiseGeometry g, int xZero, ReadOnlySpan<sbyte> weights,
        ReadOnlySpan<int> weightZero, ReadOnlySpan<int> bias, ReadOnlySpan<double> multiplier, int yZero, Span<byte> y, int threads)
    {
        int taps = g.KernelH * g.KernelW, c = g.Channels;
        if (taps > MaxTaps) throw new ArgumentException($"depthwise kernel has {taps} taps; float accumulation is exact only up to {MaxTaps}");
        if (weights.Length < c * taps) throw new ArgumentException($"weights hold {weights.Length} values, {c} channels x {taps} taps need more");
        if (multiplier.Length != c || (bias.Length != 0 && bias.Length != c) || (weightZero.Length != 1 && weightZero.Length != c))
            throw new ArgumentException("depthwise per-channel parameters do not match the channel count");
        int inPlane = g.InH * g.InW, outPlane = g.OutH * g.OutW;
        if (x.Length < (long)batch * c * inPlane || y.Length < (long)batch * c * outPlane) throw new ArgumentException("depthwise buffers are too small");
        // Filters minus their zero point, as floats, once per call.
        var wf = new float[c * taps];
        for (int ch = 0; ch < c; ch++)
        {
            int z = weightZero[weightZero.Length == 1 ? 0 : ch];
            for (int t = 0; t < taps; t++) wf[ch * taps + t] = weights[ch * taps + t] - z;
        }
        var bv = bias.ToArray();
        var mv = multiplier.ToArray();
        var geo = g;
        unsafe
        {
            fixed (byte* px = x, py = y)
            {
                nint ix = (nint)px, iy = (nint)py;
                IntraOpPool.ForRanges(batch * c, threads, (t0, t1) =>
                {
                    // One scratch buffer per range: per-channel set-up dominates small planes (960 channels of 7x7).
                    byte[] planes = ArrayPool<byte>.Shared.Rent(ScratchSize(geo));
                    try
                    {
                        for (int task = t0; task < t1; task++)
                        {
                            int ch = task % c;
                            var src = new ReadOnlySpan<byte>((byte*)ix + (long)task * inPlane, inPlane);
                            var dst = new Span<byte>((byte*)iy + (long)task * outPlane, outPlane);
                            Channel(src, geo, xZero, wf.AsSpan(ch * taps, taps), bv.Length == 0 ? 0 : bv[ch], mv[ch], yZero, dst, planes);
                        }
                    }
                    finally { ArrayPool<byte>.Shared.Return(planes); }
                }, (long)batch * c * outPlane * taps * 2);
            }
        }
    }

    /// <summary>Padded height, phase row width and plane size of one channel's phase planes.</summary>
    private static (int Ph, int PhaseW, int PlaneSize) Planes(in DepthwiseGeometry g)
    {
        int ph = (g.OutH - 1) * g.StrideH + (g.KernelH - 1) * g.DilationH + 1;
        int pw = (g.OutW - 1) * g.StrideW + (g.KernelW - 1) * g.DilationW + 1;
        int phaseW = (pw + g.StrideW - 1) / g.StrideW + 16;
        return (ph, phaseW, ph * phaseW);
    }

    /// <summary>Bytes of scratch <see cref="Channel"/> needs: the phase planes, one padded row, slack for the last vector.</summary>
    private static int ScratchSize(in DepthwiseGeometry g)
    {
        var (_, phaseW, planeSize) = Planes(g);
        return planeSize * g.StrideW + phaseW * g.StrideW + 32;
    }

    private static unsafe void Channel(ReadOnlySpan<byte> x, in DepthwiseGeometry g, int xZero, ReadOnlySpan<float> w, int bias,
        double multiplier, int yZero, Span<byte> y, byte[] planes)
    {
        int sh = g.StrideH, sw = g.StrideW, dh = g.DilationH, dw = g.DilationW, kw = g.KernelW, taps = g.KernelH * kw;
        // The padded input rectangle the outputs read: rows [-PadTop, ph - PadTop), columns [-PadLeft, pw - PadLeft).
        var (ph, phaseW, planeSize) = Planes(g);
        // Raw bytes are multiplied (padding holds xZero); sum w (x - xZero) = sum w x - xZero sum w, so the
        // zero point's term joins the bias. Both stay exact integers (in float: |sum w x| < 2^24; in double).
        float sumW = 0;
        for (int t = 0; t < taps; t++) sumW += w[t];
        double shifted = (double)bias - (double)xZero * sumW;
        {
            fixed (byte* px = x)
            fixed (byte* pp = planes)
            fixed (byte* py = y)
            {
                BuildPhases(px, g, (byte)xZero, ph, phaseW, planeSize, pp, pp + planeSize * sw);
                // Per tap: its phase plane and column offset; the row offset is added per output row.
                byte** src = stackalloc byte*[taps];
                float* wv = stackalloc float[taps];
                int ow = g.OutW;
                Vector512<float> w0 = default, w1 = default, w2 = default, w3 = default, w4 = default, w5 = default, w6 = default, w7 = default, w8 = default;
                if (taps == 9)
                {
                    w0 = Vector512.Create(w[0]); w1 = Vector512.Create(w[1]); w2 = Vector512.Create(w[2]);
                    w3 = Vector512.Create(w[3]); w4 = Vector512.Create(w[4]); w5 = Vector512.Create(w[5]);
                    w6 = Vector512.Create(w[6]); w7 = Vector512.Create(w[7]); w8 = Vector512.Create(w[8]);
                }
                var vbias = Vector512.Create(shifted);
                var vmult = Vector512.Create(multiplier);
                var vzero = Vector256.Create(yZero);
                // Tap offsets once per channel (the divisions are too slow to repeat per row).
                int* offset = stackalloc int[taps];
                for (int ky = 0; ky < g.KernelH; ky++)
                    for (int kx = 0; kx < kw; kx++)
                    {
                        int col = kx * dw, t = ky * kw + kx;
                        offset[t] = (col % sw) * planeSize + ky * dh * phaseW + col / sw;
                        wv[t] = w[t];
                    }
                for (int oy = 0; oy < g.OutH; oy++)
                {
                    byte* rowBase = pp + (long)oy * sh * phaseW;
                    for (int t = 0; t < taps; t++) src[t] = rowBase + offset[t];
                    byte* dst = py + oy * ow;
                    int ox = 0;
                    if (taps == 9 && Avx512F.IsSupported)
                    {
                        // 3x3, the common case: 16 outputs per step with the nine weights in registers.
                        byte* s0 = src[0], s1 = src[1], s2 = src[2], s3 = src[3], s4 = src[4], s5 = src[5], s6 = src[6], s7 = src[7], s8 = src[8];
                        for (; ox < ow; ox += 16)
                        {
                            var acc = F(s0 + ox) * w0 + F(s1 + ox) * w1 + F(s2 + ox) * w2 + F(s3 + ox) * w3 + F(s4 + ox) * w4
                                + F(s5 + ox) * w5 + F(s6 + ox) * w6 + F(s7 + ox) * w7 + F(s8 + ox) * w8;
                            Store16(acc, vbias, vmult, vzero, dst + ox, ow - ox);
                        }
                    }
                    if (Avx512F.IsSupported)
                    {
                        for (; ox < ow; ox += 16)
                        {
                            var acc = Vector512<float>.Zero;
                            for (int t = 0; t < taps; t++) acc += F(src[t] + ox) * Vector512.Create(wv[t]);
                            Store16(acc, vbias, vmult, vzero, dst + ox, ow - ox);
                        }
                    }
                    for (; ox < ow; ox++)
                    {
                        float acc = 0;
                        for (int t = 0; t < taps; t++) acc += src[t][ox] * wv[t];
                        double v = Math.Round(((double)acc + shifted) * multiplier, MidpointRounding.ToEven) + yZero;
                        dst[ox] = (byte)(v >= 255 ? 255 : v >= 0 ? v : 0);
                    }
                }
            }
        }
    }

    /// <summary>
    /// The last vector of a row may cover columns past its end (narrow planes such as 14x14 have no full one): its
    /// loads stay inside the plane buffer, which has 16 bytes of slack, and only the row's outputs are stored.
    /// </summary>
    private static unsafe void Store16(Vector512<float> acc, Vector512<double> bias, Vector512<double> multiplier, Vector256<int> zero, byte* dst, int left)
    {
        if (left >= 16) { Requantize16(acc, bias, multiplier, zero, dst); return; }
        byte* tmp = stackalloc byte[16];
        Requantize16(acc, bias, multiplier, zero, tmp);
        Buffer.MemoryCopy(tmp, dst, left, left);
    }

    /// <summary>16 bytes widened to floats.</summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveInlining)]
    private static unsafe Vector512<float> F(byte* p) => Avx512F.ConvertToVector512Single(Avx512F.ConvertToVector512Int32(Vector128.Load(p)));

    /// <summary>The padded plane (zeros outside the image are xZero bytes) split into stride phases: phase q, row r, index j holds padded column j * sw + q.</summary>
    private static unsafe void BuildPhases(byte* x, in DepthwiseGeometry g, byte xZero, int ph, int phaseW, int planeSize, byte* planes, byte* tmp)
    {
        int sw = g.StrideW, iw = g.InW;
        var evenOdd = Vector128.Create((byte)0, 2, 4, 6, 8, 10, 12, 14, 1, 3, 5, 7, 9, 11, 13, 15);
        for (int r = 0; r < ph; r++)
        {
            int yy = r - g.PadTop;
            if ((uint)yy >= (uint)g.InH)
            {
                for (int q = 0; q < sw; q++) new Span<byte>(planes + q * planeSize + r * phaseW, phaseW).Fill(xZero);
                continue;
            }
            // The padded row, straight into phase 0 when sw = 1.
            byte* padded = sw == 1 ? planes + r * phaseW : tmp;
            int width = phaseW * sw;
            new Span<byte>(padded, width).Fill(xZero);
            int n = Math.Min(iw, width - g.PadLeft);
            if (n > 0) Buffer.MemoryCopy(x + (long)yy * iw, padded + g.PadLeft, n, n);
            if (sw == 1) continue;
            byte* d0 = planes + r * phaseW, d1 = planes + planeSize + r * phaseW;
            int j = 0;
            if (sw == 2 && Ssse3.IsSupported)
                for (; j <= phaseW - 8; j += 8)
                {
                    var v = Ssse3.Shuffle(Vector128.Load(tmp + 2 * j), evenOdd).AsUInt64();
                    *(ulong*)(d0 + j) = v.GetElement(0);
                    *(ulong*)(d1 + j) = v.GetElement(1);
                }
            for (; j < phaseW; j++)
                for (int q = 0; q < sw; q++) planes[q * planeSize + r * phaseW + j] = tmp[j * sw + q];
        }
    }

    /// <summary>
    /// 16 exact integer sums to bytes: (acc + bias) * multiplier in double, vcvtpd2dq rounds half to even (the default
    /// rounding mode); the clamp to +-2^30 first keeps huge values from converting to int.MinValue.
    /// </summary>
    private static unsafe void Requantize16(Vector512<float> acc, Vector512<double> bias, Vector512<double> multiplier, Vector256<int> zero, byte* dst)
    {
        var big = Vector512.Create(1073741824.0);
        var lo = Vector512.Min(Vector512.Max((Avx512F.ConvertToVector512Double(acc.GetLower()) + bias) * multiplier, -big), big);
        var hi = Vector512.Min(Vector512.Max((Avx512F.ConvertToVector512Double(acc.GetUpper()) + bias) * multiplier, -big), big);
        var top = Vector256.Create(255);
        var il = Vector256.Min(Vector256.Max(Avx512F.ConvertToVector256Int32(lo) + zero, Vector256<int>.Zero), top);
        var ih = Vector256.Min(Vector256.Max(Avx512F.ConvertToVector256Int32(hi) + zero, Vector256<int>.Zero), top);
        var words = Vector256.Narrow(il, ih).AsUInt16();
        Vector256.Narrow(words, words).GetLower().Store(dst);
    }
}
