using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using NetOnnx.Kernels.Elementwise;
using NetOnnx.Kernels.Gemm;

namespace NetOnnx.Kernels.ConvPool;

/// <summary>
/// Direct convolution for groups with one input channel each (depthwise): a GEMM per channel would have a
/// single row, so instead each kernel tap adds a scaled, shifted input row into the output rows.
/// </summary>
public static class Depthwise
{
    /// <summary>
    /// y[oc] = bias[oc] + sum_k w[oc, k] * x[oc / multiplier] shifted by tap k, for output channels
    /// [oc0, oc1) of one image. x holds the image's input channels, y its output channels.
    /// </summary>
    public static void Run(ReadOnlySpan<float> x, ReadOnlySpan<float> w, ReadOnlySpan<float> bias, int multiplier,
        ConvGeometry g, Span<float> y, int oc0, int oc1) =>
        Run(x, w, bias, multiplier, g, y, oc0, oc1, default, FusedActivation.None);

    /// <summary>
    /// As above, then y[oc] = act(y[oc] + residual[oc]) for each channel as soon as it is complete, while it is
    /// still in cache. residual (empty for none) has y's layout.
    /// </summary>
    public static void Run(ReadOnlySpan<float> x, ReadOnlySpan<float> w, ReadOnlySpan<float> bias, int multiplier,
        ConvGeometry g, Span<float> y, int oc0, int oc1, ReadOnlySpan<float> residual, FusedActivation activation)
    {
        if (DepthwiseBlocked.Preferred(g, multiplier))
        {
            DepthwiseBlocked.Run(x, w, bias, g, y, oc0, oc1, residual, activation);
            return;
        }
        if (PhasedConv.Supports(g))
        {
            PhasedConv.Run(x, w, bias, 1, multiplier, g, y, oc0, oc1, residual, activation);
            return;
        }
        bool planar2d = g.In[0] == 1 && g.Kernel[0] == 1 && g.Out[0] == 1 && g.PadBegin[0] == 0;
        if (planar2d && g.Stride[1] == 1)
        {
            RunPlanar(x, w, bias, multiplier, g, y, oc0, oc1, residual, activation);
            return;
        }
        int inSize = g.InSize, outSize = g.OutSize, kSize = g.KernelSize;
        int OH = g.Out[1], OW = g.Out[2], IH = g.In[1], IW = g.In[2];
        int sd = g.Stride[0], sh = g.Stride[1], sw = g.Stride[2];
        // With a horizontal stride, each input row is first split into its stride phases (x[0], x[s], ...;
        // x[1], x[1+s], ...), which turns every tap into a contiguous vector AXPY.
        float[]? phased = sw > 1 ? new float[inSize] : null;
        var phaseStart = new int[sw + 1];
        for (int ph = 0; ph < sw; ph++) phaseStart[ph + 1] = phaseStart[ph] + (IW - ph + sw - 1) / sw;
        int lastIc = -1;
        for (int oc = oc0; oc < oc1; oc++)
        {
            int ic = oc / multiplier;
            var plane = x.Slice(ic * inSize, inSize);
            if (phased is not null)
            {
                if (ic != lastIc)
                {
                    for (int r = 0; r < inSize / IW; r++)
                    {
                        var srcRow = plane.Slice(r * IW, IW);
                        var dstRow = phased.AsSpan(r * IW, IW);
                        for (int ph = 0; ph < sw; ph++)
                        {
                            int o = phaseStart[ph];
                            for (int i = ph; i < IW; i += sw) dstRow[o++] = srcRow[i];
                        }
                    }
                    lastIc = ic;
                }
                plane = phased;
            }
            var dst = y.Slice(oc * outSize, outSize);
            dst.Fill(bias.IsEmpty ? 0f : bias[oc]);
            var wk = w.Slice(oc * kSize, kSize);
            int tap = 0;
            for (int kd = 0; kd < g.Kernel[0]; kd++)
            for (int kh = 0; kh < g.Kernel[1]; kh++)
            for (int kw = 0; kw < g.Kernel[2]; kw++, tap++)
            {
                float wv = wk[tap];
                var (d0, d1, h0, h1, w0, w1, dShift, hShift, wShift) = g.Tap(kd, kh, kw);
                for (int od = d0; od < d1; od++)
                {
                    int id = od * sd + dShift;
                    for (int oh = h0; oh < h1; oh++)
                    {
                        int ih = oh * sh + hShift;
                        var srow = plane.Slice((id * IH + ih) * IW, IW);
                        var drow = dst.Slice((od * OH + oh) * OW, OW);
                        // An empty column range may start outside the row (a tap that only ever meets padding).
                        if (w1 <= w0) continue;
                        if (sw == 1) Sgemm.Axpy(wv, srow.Slice(w0 + wShift, w1 - w0), drow[w0..w1]);
                        else
                        {
                            int ph = ((wShift % sw) + sw) % sw;
                            int baseIdx = (wShift - ph) / sw;
                            Sgemm.Axpy(wv, srow.Slice(phaseStart[ph] + w0 + baseIdx, w1 - w0), drow[w0..w1]);
                        }
                    }
                }
            }
            Finish(dst, residual, oc * outSize, activation);
        }
    }

    private static void Finish(Span<float> plane, ReadOnlySpan<float> residual, int offset, FusedActivation activation)
    {
        if (!residual.IsEmpty)
        {
            var r = residual.Slice(offset, plane.Length);
            if (Vector256.IsHardwareAccelerated)
            {
                int j = 0;
                var pv = MemoryMarshal.Cast<float, Vector256<float>>(plane);
                var rv = MemoryMarshal.Cast<float, Vector256<float>>(r);
                for (; j < pv.Length; j++) pv[j] += rv[j];
                for (j *= 8; j < plane.Length; j++) plane[j] += r[j];
            }
            else for (int j = 0; j < plane.Length; j++) plane[j] += r[j];
        }
        activation.Apply(plane);
    }

    /// <summary>
    /// 1-D/2-D depthwise convolution over a zero-padded copy of each input plane: with padding materialised
    /// every tap is valid everywhere, so a tap is one AXPY over the whole plane (output rows laid out with
    /// the input's row pitch, horizontal stride handled by phase-split rows). With a vertical stride the
    /// whole-plane AXPY would compute stride-times too many rows, so callers use it for stride 1 only.
    /// This avoids per-row call overhead, which dominates on the small planes of late layers.
    /// </summary>
    private static void RunPlanar(ReadOnlySpan<float> x, ReadOnlySpan<float> w, ReadOnlySpan<float> bias, int multiplier,
        ConvGeometry g, Span<float> y, int oc0, int oc1, ReadOnlySpan<float> residual, FusedActivation activation)
    {
        int IH = g.In[1], IW = g.In[2], OH = g.Out[1], OW = g.Out[2], KH = g.Kernel[1], KW = g.Kernel[2];
        int sh = g.Stride[1], sw = g.Stride[2], dh = g.Dilation[1], dw = g.Dilation[2], pt = g.PadBegin[1], pl = g.PadBegin[2];
        int inSize = IH * IW, outSize = OH * OW, kSize = KH * KW;
        int PH = Math.Max(IH + pt, (OH - 1) * sh + (KH - 1) * dh + 1);
        int PW = Math.Max(IW + pl, (OW - 1) * sw + (KW - 1) * dw + 1);
        var phaseStart = new int[sw + 1];
        for (int ph = 0; ph < sw; ph++) phaseStart[ph + 1] = phaseStart[ph] + (PW - ph + sw - 1) / sw;
        int pitch = sh * PW;
        int len = (OH - 1) * pitch + OW;
        var padded = new float[PH * PW];
        var acc = new float[len];
        int lastIc = -1;
        for (int oc = oc0; oc < oc1; oc++)
        {
            int ic = oc / multiplier;
            if (ic != lastIc)
            {
                Array.Clear(padded);
                var plane = x.Slice(ic * inSize, inSize);
                for (int ih = 0; ih < IH; ih++)
                {
                    var src = plane.Slice(ih * IW, IW);
                    var dst = padded.AsSpan((ih + pt) * PW, PW);
                    if (sw == 1) src.CopyTo(dst[pl..]);
                    else
                        for (int iw = 0; iw < IW; iw++)
                        {
                            int c = iw + pl;
                            dst[phaseStart[c % sw] + c / sw] = src[iw];
                        }
                }
                lastIc = ic;
            }
            Array.Clear(acc);
            var wk = w.Slice(oc * kSize, kSize);
            for (int kh = 0; kh < KH; kh++)
                for (int kw = 0; kw < KW; kw++)
                {
                    int col = kw * dw;
                    int start = kh * dh * PW + phaseStart[col % sw] + col / sw;
                    Sgemm.Axpy(wk[kh * KW + kw], padded.AsSpan(start, len), acc);
                }
            var outPlane = y.Slice(oc * outSize, outSize);
            float b = bias.IsEmpty ? 0f : bias[oc];
            for (int oh = 0; oh < OH; oh++)
            {
                var srow = acc.AsSpan(oh * pitch, OW);
                var drow = outPlane.Slice(oh * OW, OW);
                if (b == 0) srow.CopyTo(drow);
                else for (int ow = 0; ow < OW; ow++) drow[ow] = srow[ow] + b;
            }
            Finish(outPlane, residual, oc * outSize, activation);
        }
    }
}
