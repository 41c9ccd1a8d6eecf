using System.Runtime.Intrinsics;
using System.Numerics;

namespace NetOnnx.Kernels.ConvPool;

/// <summary>
/// Max, average and Lp pooling over planes (one per image and channel) with the window geometry of
/// <see cref="ConvGeometry"/>; padded positions never contribute a value.
/// </summary>
public static class Pooling
{
    [ThreadStatic] private static float[]? t_rowBuffer;

    /// <summary>
    /// Max pooling. When <paramref name="indices"/> is not empty it receives the flat index of each maximum in
    /// the whole input tensor, row-major or (columnMajor) with the spatial axes in column-major order.
    /// </summary>
    public static void Max<T>(ReadOnlySpan<T> x, Span<T> y, Span<long> indices, int planes, ConvGeometry g, bool columnMajor)
        where T : INumber<T>, IMinMaxValue<T>
    {
        int inSize = g.InSize, outSize = g.OutSize;
        int OD = g.Out[0], OH = g.Out[1], OW = g.Out[2], ID = g.In[0], IH = g.In[1], IW = g.In[2];
        int dd = g.Dilation[0], dh = g.Dilation[1], dw = g.Dilation[2];
        var td = Tables(g, 0); var th = Tables(g, 1); var tw = Tables(g, 2);
        bool wantIdx = !indices.IsEmpty;
        for (int p = 0; p < planes; p++)
        {
            var src = x.Slice(p * inSize, inSize);
            int o = p * outSize;
            for (int od = 0; od < OD; od++)
            {
                int d0 = td[od * 3], d1 = td[od * 3 + 1], dStart = td[od * 3 + 2];
                for (int oh = 0; oh < OH; oh++)
                {
                    int h0 = th[oh * 3], h1 = th[oh * 3 + 1], hStart = th[oh * 3 + 2];
                    for (int ow = 0; ow < OW; ow++, o++)
                    {
                        int w0 = tw[ow * 3], w1 = tw[ow * 3 + 1], wStart = tw[ow * 3 + 2];
                        T best = T.MinValue;
                        int bestAt = -1;
                        for (int kd = d0; kd < d1; kd++)
                        {
                            int id = dStart + kd * dd;
                            for (int kh = h0; kh < h1; kh++)
                            {
                                var row = src.Slice((id * IH + hStart + kh * dh) * IW);
                                for (int kw = w0; kw < w1; kw++)
                                {
                                    T v = row[wStart + kw * dw];
                                    if (v > best || bestAt < 0)
                                    {
                                        best = v;
                                        bestAt = inSize - row.Length + wStart + kw * dw;
                                    }
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

    /// <summary>Max pooling of floats without indices: the hot case in CNNs, with unchecked pointer loops.</summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveOptimization)]
    public static unsafe void MaxFloat(ReadOnlySpan<float> x, Span<float> y, int planes, ConvGeometry g)
    {
        int inSize = g.InSize, outSize = g.OutSize;
        int OD = g.Out[0], OH = g.Out[1], OW = g.Out[2], IH = g.In[1], IW = g.In[2];
        int dd = g.Dilation[0], dh = g.Dilation[1], dw = g.Dilation[2];
        if (x.Length < planes * inSize || y.Length < planes * outSize) throw new ArgumentException("pooling buffers are too small");
        if (HasRowKernel(g))
        {
            MaxRows512(x, y, 0, planes, g);
            return;
        }
        var td = Tables(g, 0); var th = Tables(g, 1); var tw = Tables(g, 2);
        fixed (float* px = x, py = y)
        fixed (int* ptd = td, pth = th, ptw = tw)
        {
            for (int p = 0; p < planes; p++)
            {
                float* src = px + (long)p * inSize;
                float* dst = py + (long)p * outSize;
                for (int od = 0; od < OD; od++)
                {
                    int d0 = ptd[od * 3], d1 = ptd[od * 3 + 1], dStart = ptd[od * 3 + 2];
                    for (int oh = 0; oh < OH; oh++)
                    {
                        int h0 = pth[oh * 3], h1 = pth[oh * 3 + 1], hStart = pth[oh * 3 + 2];
                        for (int ow = 0; ow < OW; ow++)
                        {
                            int w0 = ptw[ow * 3], w1 = ptw[ow * 3 + 1], wStart = ptw[ow * 3 + 2];
                            float best = float.MinValue;
                            for (int kd = d0; kd < d1; kd++)
                            {
                                float* plane = src + (long)(dStart + kd * dd) * IH * IW;
                                for (int kh = h0; kh < h1; kh++)
                                {
                                    float* row = plane + (long)(hStart + kh * dh) * IW + wStart;
                                    for (int kw = w0; kw < w1; kw++)
                                    {
                                        best = MaxNoNaN(row[kw * dw], best);
                                    }
                                }
                            }
                            *dst++ = best;
                        }
                    }
                }
            }
        }
    }

    /// <summary>Whether <see cref="MaxRows512"/> handles this geometry on this CPU.</summary>
    public static bool HasRowKernel(ConvGeometry g) =>
        System.Runtime.Intrinsics.X86.Avx512F.IsSupported && g.In[0] == 1 && g.Kernel[0] == 1 && g.Out[0] == 1 && g.PadBegin[0] == 0
        && (g.Stride[2] == 1 || (g.Stride[2] == 2 && g.Dilation[2] == 1));

    /// <summary>
    /// 1-D/2-D float max pooling of planes [p0, p1) with horizontal stride 1 or 2, AVX-512, separable: per output
    /// row, the max over the window's input rows first (contiguous vector loads straight from the plane; rows in
    /// the padding are skipped), into one row buffer bordered with float.MinValue (which no real value loses to,
    /// the scalar path's start value), then the max across the window's columns, 16 outputs per register (stride 2
    /// picks even lanes of two loads). A 3x3 window costs 3 + 3 vector maxes per output vector instead of 9, and
    /// the plane is never copied.
    /// </summary>
    public static unsafe void MaxRows512(ReadOnlySpan<float> x, Span<float> y, int p0, int p1, ConvGeometry g)
    {
        if (!HasRowKernel(g)) throw new ArgumentException("MaxRows512 needs AVX-512 and a 1-D/2-D window with horizontal stride 1 or 2");
        if (x.Length < (long)p1 * g.InSize || y.Length < (long)p1 * g.OutSize) throw new ArgumentException("pooling buffers are too small");
        int IH = g.In[1], IW = g.In[2], OH = g.Out[1], OW = g.Out[2], KH = g.Kernel[1], KW = g.Kernel[2];
        int sh = g.Stride[1], sw = g.Stride[2], dh = g.Dilation[1], dw = g.Dilation[2], pt = g.PadBegin[1], pl = g.PadBegin[2];
        int inSize = IH * IW, outSize = OH * OW;
        int owVec = (OW + 15) / 16 * 16;
        int PW = Math.Max(IW + pl, (owVec - 1) * sw + (KW - 1) * dw + 1 + (sw == 2 ? 16 : 0));
        int iwVec = IW & ~15;
        var remMask = Vector512.LessThan(Vector512.Create(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15), Vector512.Create(IW - iwVec)).AsSingle();
        // Reused per thread (no allocation per run); only [pl, pl + IW) is rewritten per output row.
        var rowBuf = t_rowBuffer is { } buf && buf.Length >= PW + 16 ? buf : t_rowBuffer = new float[PW + 16];
        Array.Fill(rowBuf, float.MinValue, 0, PW + 16);
        var even = Vector512.Create(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
        var floor = Vector512.Create(float.MinValue);
        float* tail = stackalloc float[16];
        float* rowTail = stackalloc float[16];
        fixed (float* prow = rowBuf, px = x, py = y)
        {
            float* vrow = prow + pl;
            for (int p = p0; p < p1; p++)
            {
                float* plane = px + (long)p * inSize;
                float* outPlane = py + (long)p * outSize;
                for (int oh = 0; oh < OH; oh++)
                {
                    // Vertical: vrow[iw] = max over the window's rows that lie inside the image.
                    int first = oh * sh - pt;
                    for (int iw = 0; iw < iwVec; iw += 16)
                    {
                        var best = floor;
                        for (int kh = 0; kh < KH; kh++)
                        {
                            int ih = first + kh * dh;
                            if ((uint)ih < (uint)IH) best = System.Runtime.Intrinsics.X86.Avx512F.Max(Vector512.Load(plane + (long)ih * IW + iw), best);
                        }
                        best.Store(vrow + iw);
                    }
                    if (iwVec < IW)
                    {
                        // The row's last columns: a full load, masked, reads into the next row; where that would
                        // pass the end of x (the last rows of the tensor), it loads a bordered copy instead.
                        var best = floor;
                        for (int kh = 0; kh < KH; kh++)
                        {
                            int ih = first + kh * dh;
                            if ((uint)ih >= (uint)IH) continue;
                            long at = (long)p * inSize + (long)ih * IW + iwVec;
                            float* src = px + at;
                            if (at + 16 > x.Length)
                            {
                                new Span<float>(rowTail, 16).Fill(float.MinValue);
                                Buffer.MemoryCopy(src, rowTail, 16 * sizeof(float), (IW - iwVec) * sizeof(float));
                                src = rowTail;
                            }
                            best = System.Runtime.Intrinsics.X86.Avx512F.Max(Vector512.ConditionalSelect(remMask, Vector512.Load(src), floor), best);
                        }
                        best.Store(tail);
                        for (int q = 0; q < IW - iwVec; q++) vrow[iwVec + q] = tail[q];
                    }
                    // Horizontal: the max across the window's columns of the combined row.
                    float* orow = outPlane + (long)oh * OW;
                    for (int ow0 = 0; ow0 < OW; ow0 += 16)
                    {
                        var best = floor;
                        if (sw == 1)
                            for (int kw = 0; kw < KW; kw++)
                                best = System.Runtime.Intrinsics.X86.Avx512F.Max(Vector512.Load(prow + ow0 + kw * dw), best);
                        else
                            for (int kw = 0; kw < KW; kw++)
                            {
                                float* q = prow + 2 * ow0 + kw;
                                var v = System.Runtime.Intrinsics.X86.Avx512F.PermuteVar16x32x2(Vector512.Load(q), even, Vector512.Load(q + 16));
                                best = System.Runtime.Intrinsics.X86.Avx512F.Max(v, best);
                            }
                        int rem = OW - ow0;
                        if (rem >= 16) Vector512.Store(best, orow + ow0);
                        else
                        {
                            Vector512.Store(best, tail);
                            for (int q = 0; q < rem; q++) orow[ow0 + q] = tail[q];
                        }
                    }
                }
            }
        }
    }

    /// <summary>v > best ? v : best without a branch (random data would mispredict half the time).</summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveInlining)]
    private static float MaxNoNaN(float v, float best) =>
        System.Runtime.Intrinsics.X86.Sse.IsSupported
            ? System.Runtime.Intrinsics.X86.Sse.MaxScalar(System.Runtime.Intrinsics.Vector128.CreateScalarUnsafe(v), System.Runtime.Intrinsics.Vector128.CreateScalarUnsafe(best)).ToScalar()
            : v > best ? v : best;

    /// <summary>Per output position along dim: first valid tap, end of valid taps, window start (o*s - pad).</summary>
    private static int[] Tables(ConvGeometry g, int dim)
    {
        int n = g.Out[dim];
        var t = new int[n * 3];
        for (int o = 0; o < n; o++)
        {
            Window(g, dim, o, out t[o * 3], out t[o * 3 + 1], out t[o * 3 + 2]);
        }
        return t;
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
        var td = Tables(g, 0); var th = Tables(g, 1); var tw = Tables(g, 2);
        for (int p = 0; p < planes; p++)
        {
            var src = x.Slice(p * inSize, inSize);
            int o = p * outSize;
            for (int od = 0; od < OD; od++)
            {
                int d0 = td[od * 3], d1 = td[od * 3 + 1], dStart = td[od * 3 + 2];
                int dPad = countIncludePad ? PaddedTaps(g, 0, dStart) : d1 - d0;
                for (int oh = 0; oh < OH; oh++)
                {
                    int h0 = th[oh * 3], h1 = th[oh * 3 + 1], hStart = th[oh * 3 + 2];
                    int hPad = countIncludePad ? PaddedTaps(g, 1, hStart) : h1 - h0;
                    for (int ow = 0; ow < OW; ow++, o++)
                    {
                        int w0 = tw[ow * 3], w1 = tw[ow * 3 + 1], wStart = tw[ow * 3 + 2];
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
