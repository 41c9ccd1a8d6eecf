using System.Numerics;

namespace NetOnnx.Kernels.ConvPool;

/// <summary>
/// Max, average and Lp pooling over planes (one per image and channel) with the window geometry of
/// <see cref="ConvGeometry"/>; padded positions never contribute a value.
/// </summary>
public static class Pooling
{
    /// <summary>
    /// Max pooling. When <paramref name="indices"/> is not empty it receives the flat index of each maximum in
    /// the whole input tensor, row-major or (columnMajor) with the spatial axes in column-major order.
    /// </summary>
    public static void Max<T>(ReadOnlySpan<T> x, Span<T> y, Span<long> indices, int planes, ConvGeometry g, bool columnMajor)
        where T : INumber<T>, IMinMaxValue<T>
    {
        int inSize = g.InSize, outSize = g.OutSize;
        int OD = g.Out[0], OH = g.Out[1], OW = g.Out[2], ID = g.In[0], IH = g.In[1], IW = g.In[2];
        bool wantIdx = !indices.IsEmpty;
        for (int p = 0; p < planes; p++)
        {
            var src = x.Slice(p * inSize, inSize);
            int o = p * outSize;
            for (int od = 0; od < OD; od++)
            {
                Window(g, 0, od, out int d0, out int d1, out int dStart);
                for (int oh = 0; oh < OH; oh++)
                {
                    Window(g, 1, oh, out int h0, out int h1, out int hStart);
                    for (int ow = 0; ow < OW; ow++, o++)
                    {
                        Window(g, 2, ow, out int w0, out int w1, out int wStart);
                        T best = T.MinValue;
                        int bestAt = -1;
                        for (int kd = d0; kd < d1; kd++)
                        {
                            int id = dStart + kd * g.Dilation[0];
                            for (int kh = h0; kh < h1; kh++)
                            {
                                int ih = hStart + kh * g.Dilation[1];
                                int rowBase = (id * IH + ih) * IW;
                                for (int kw = w0; kw < w1; kw++)
                                {
                                    int iw = wStart + kw * g.Dilation[2];
                                    T v = src[rowBase + iw];
                                    if (bestAt < 0 || v > best) { best = v; bestAt = rowBase + iw; }
                                }
                            }
                        }
                        y[o] = best;
                        if (wantIdx)
                        {
                            long idx = bestAt;
                            if (columnMajor && bestAt >= 0)
                            {
                                int iw = bestAt % IW, ih = bestAt / IW % IH, id = bestAt / (IW * IH);
                                idx = ((long)iw * IH + ih) * ID + id;
                            }
                            indices[o] = bestAt < 0 ? -1 : (long)p * inSize + idx;
                        }
                    }
                }
            }
        }
    }

    /// <summary>
    /// Average (lp == 0) or Lp pooling. Average divides by the taps inside the image, or with
    /// countIncludePad by the taps inside the padded image (never beyond the end padding that ceil mode adds).
    /// </summary>
    public static void AverageOrLp<T>(ReadOnlySpan<T> x, Span<T> y, int planes, ConvGeometry g, bool countIncludePad, double lp)
        where T : INumber<T>
    {
        int inSize = g.InSize, outSize = g.OutSize;
        int OD = g.Out[0], OH = g.Out[1], OW = g.Out[2], IH = g.In[1], IW = g.In[2];
        for (int p = 0; p < planes; p++)
        {
            var src = x.Slice(p * inSize, inSize);
            int o = p * outSize;
            for (int od = 0; od < OD; od++)
            {
                Window(g, 0, od, out int d0, out int d1, out int dStart);
                int dPad = countIncludePad ? PaddedTaps(g, 0, dStart) : d1 - d0;
                for (int oh = 0; oh < OH; oh++)
                {
                    Window(g, 1, oh, out int h0, out int h1, out int hStart);
                    int hPad = countIncludePad ? PaddedTaps(g, 1, hStart) : h1 - h0;
                    for (int ow = 0; ow < OW; ow++, o++)
                    {
                        Window(g, 2, ow, out int w0, out int w1, out int wStart);
                        int wPad = countIncludePad ? PaddedTaps(g, 2, wStart) : w1 - w0;
                        double sum = 0;
                        for (int kd = d0; kd < d1; kd++)
                        {
                            int id = dStart + kd * g.Dilation[0];
                            for (int kh = h0; kh < h1; kh++)
                            {
                                int rowBase = (id * IH + hStart + kh * g.Dilation[1]) * IW;
                                for (int kw = w0; kw < w1; kw++)
                                {
                                    double v = double.CreateTruncating(src[rowBase + wStart + kw * g.Dilation[2]]);
                                    sum += lp == 0 ? v : lp == 2 ? v * v : lp == 1 ? Math.Abs(v) : Math.Pow(Math.Abs(v), lp);
                                }
                            }
                        }
                        double r;
                        if (lp == 0)
                        {
                            int count = dPad * hPad * wPad;
                            r = count > 0 ? sum / count : 0;
                        }
                        else r = lp == 2 ? Math.Sqrt(sum) : lp == 1 ? sum : Math.Pow(sum, 1 / lp);
                        y[o] = T.CreateTruncating(r);
                    }
                }
            }
        }
    }

    /// <summary>The taps [k0, k1) of output position o along dim that fall inside the input; start = o*s - pad.</summary>
    private static void Window(ConvGeometry g, int dim, int o, out int k0, out int k1, out int start)
    {
        int d = g.Dilation[dim], k = g.Kernel[dim], inD = g.In[dim];
        start = o * g.Stride[dim] - g.PadBegin[dim];
        k0 = start >= 0 ? 0 : (-start + d - 1) / d;
        int lastOk = inD - 1 - start;
        k1 = lastOk < 0 ? 0 : Math.Min(k, lastOk / d + 1);
        if (k1 < k0) k1 = k0;
    }

    /// <summary>Taps of a window starting at start that lie inside the padded extent [-padBegin, in+padEnd).</summary>
    private static int PaddedTaps(ConvGeometry g, int dim, int start)
    {
        int d = g.Dilation[dim], k = g.Kernel[dim];
        int lo = -g.PadBegin[dim], hi = g.In[dim] + g.PadEnd[dim];
        int n = 0;
        for (int t = 0; t < k; t++)
        {
            int pos = start + t * d;
            if (pos >= lo && pos < hi) n++;
        }
        return n;
    }
}
