namespace NetOnnx.Kernels.Vision;

/// <summary>Col2Im, RoiAlign and deformable-convolution sampling loops.</summary>
public static class RegionKernels
{
    /// <summary>
    /// Col2Im for one image: cols [C * prod(block), L] summed into image [C, dims...]. L enumerates the block
    /// positions over the padded image in row-major order.
    /// </summary>
    public static void Col2Im(ReadOnlySpan<float> cols, Span<float> image, int channels, int[] dims, int[] block,
        int[] dilations, int[] padsBegin, int[] strides, int[] blocksPerDim)
    {
        int r = dims.Length;
        int blockSize = 1, positions = 1, plane = 1;
        for (int i = 0; i < r; i++) { blockSize *= block[i]; positions *= blocksPerDim[i]; plane *= dims[i]; }
        var kIdx = new int[r];
        var pIdx = new int[r];
        for (int c = 0; c < channels; c++)
        {
            var img = image.Slice(c * plane, plane);
            for (int k = 0; k < blockSize; k++)
            {
                for (int i = r - 1, rem = k; i >= 0; i--) { kIdx[i] = rem % block[i]; rem /= block[i]; }
                var row = cols.Slice((c * blockSize + k) * positions, positions);
                for (int l = 0; l < positions; l++)
                {
                    int off = 0;
                    bool inside = true;
                    for (int i = r - 1, rem = l; i >= 0; i--)
                    {
                        pIdx[i] = rem % blocksPerDim[i];
                        rem /= blocksPerDim[i];
                    }
                    for (int i = 0; i < r; i++)
                    {
                        int pos = pIdx[i] * strides[i] - padsBegin[i] + kIdx[i] * dilations[i];
                        if (pos < 0 || pos >= dims[i]) { inside = false; break; }
                        off = off * dims[i] + pos;
                    }
                    if (inside) img[off] += row[l];
                }
            }
        }
    }

    /// <summary>Bilinear sample of a plane as RoiAlign defines it (clamped at the far edge, zero beyond one pixel out).</summary>
    private static bool RoiSample(double y, double x, int h, int w, out int y0, out int x0, out int y1, out int x1,
        out double w00, out double w01, out double w10, out double w11)
    {
        y0 = x0 = y1 = x1 = 0;
        w00 = w01 = w10 = w11 = 0;
        if (y < -1.0 || y > h || x < -1.0 || x > w) return false;
        if (y <= 0) y = 0;
        if (x <= 0) x = 0;
        y0 = (int)y;
        x0 = (int)x;
        if (y0 >= h - 1) { y1 = y0 = h - 1; y = y0; } else y1 = y0 + 1;
        if (x0 >= w - 1) { x1 = x0 = w - 1; x = x0; } else x1 = x0 + 1;
        double ly = y - y0, lx = x - x0, hy = 1 - ly, hx = 1 - lx;
        w00 = hy * hx; w01 = hy * lx; w10 = ly * hx; w11 = ly * lx;
        return true;
    }

    /// <summary>RoiAlign of one roi over all channels of its image [C, H, W] into out [C, ph, pw].</summary>
    public static void RoiAlign(ReadOnlySpan<float> image, Span<float> output, int channels, int h, int w,
        double x1, double y1, double x2, double y2, double spatialScale, bool halfPixel, int pooledH, int pooledW,
        int samplingRatio, bool maxMode)
    {
        double offset = halfPixel ? 0.5 : 0;
        double startW = x1 * spatialScale - offset, startH = y1 * spatialScale - offset;
        double endW = x2 * spatialScale - offset, endH = y2 * spatialScale - offset;
        double roiW = endW - startW, roiH = endH - startH;
        if (!halfPixel) { roiW = Math.Max(roiW, 1); roiH = Math.Max(roiH, 1); }
        double binH = roiH / pooledH, binW = roiW / pooledW;
        double gh = samplingRatio > 0 ? samplingRatio : Math.Ceiling(roiH / pooledH);
        double gw = samplingRatio > 0 ? samplingRatio : Math.Ceiling(roiW / pooledW);
        // A degenerate or absurd roi (NaN, infinite, millions of samples per bin) is rejected, not sampled.
        if (!(gh >= 0 && gw >= 0 && gh * gw <= 1 << 20))
            throw new ArgumentException($"roi ({x1}, {y1}, {x2}, {y2}) needs an invalid number of samples per bin");
        int gridH = (int)gh, gridW = (int)gw;
        int count = Math.Max(gridH * gridW, 1);
        int plane = h * w;
        int ns = gridH * gridW;
        var pos = new int[ns * 4];
        var wt = new double[ns * 4];
        for (int ph = 0; ph < pooledH; ph++)
            for (int pw = 0; pw < pooledW; pw++)
            {
                // Precompute the samples of this bin once; they are shared by all channels.
                int s = 0;
                for (int iy = 0; iy < gridH; iy++)
                {
                    double yy = startH + ph * binH + (iy + 0.5) * binH / gridH;
                    for (int ix = 0; ix < gridW; ix++, s++)
                    {
                        double xx = startW + pw * binW + (ix + 0.5) * binW / gridW;
                        RoiSample(yy, xx, h, w, out int ya, out int xa, out int yb, out int xb, out double a, out double b, out double c, out double d);
                        pos[s * 4] = ya * w + xa; pos[s * 4 + 1] = ya * w + xb; pos[s * 4 + 2] = yb * w + xa; pos[s * 4 + 3] = yb * w + xb;
                        wt[s * 4] = a; wt[s * 4 + 1] = b; wt[s * 4 + 2] = c; wt[s * 4 + 3] = d;
                    }
                }
                for (int ch = 0; ch < channels; ch++)
                {
                    var img = image.Slice(ch * plane, plane);
                    double acc = 0;
                    for (int k = 0; k < ns; k++)
                    {
                        double v0 = wt[k * 4] * img[pos[k * 4]], v1 = wt[k * 4 + 1] * img[pos[k * 4 + 1]];
                        double v2 = wt[k * 4 + 2] * img[pos[k * 4 + 2]], v3 = wt[k * 4 + 3] * img[pos[k * 4 + 3]];
                        if (maxMode)
                        {
                            // ONNX's max mode takes the largest weighted corner of each sample.
                            double m = Math.Max(Math.Max(v0, v1), Math.Max(v2, v3));
                            acc = k == 0 ? m : Math.Max(acc, m);
                        }
                        else acc += v0 + v1 + v2 + v3;
                    }
                    output[(ch * pooledH + ph) * pooledW + pw] = (float)(maxMode ? acc : acc / count);
                }
            }
    }

    /// <summary>Bilinear sample with zero padding (deformable convolution).</summary>
    public static float Bilinear(ReadOnlySpan<float> plane, int h, int w, double y, double x)
    {
        if (y <= -1 || y >= h || x <= -1 || x >= w) return 0;
        int y0 = (int)Math.Floor(y), x0 = (int)Math.Floor(x);
        double ly = y - y0, lx = x - x0;
        double v = 0;
        if (y0 >= 0 && x0 >= 0) v += (1 - ly) * (1 - lx) * plane[y0 * w + x0];
        if (y0 >= 0 && x0 + 1 < w) v += (1 - ly) * lx * plane[y0 * w + x0 + 1];
        if (y0 + 1 < h && x0 >= 0) v += ly * (1 - lx) * plane[(y0 + 1) * w + x0];
        if (y0 + 1 < h && x0 + 1 < w) v += ly * lx * plane[(y0 + 1) * w + x0 + 1];
        return (float)v;
    }

    /// <summary>c[m, n] += a[m, k] * b[k, n] (row-major, small GEMM for deformable convolution).</summary>
    public static void Gemm(ReadOnlySpan<float> a, ReadOnlySpan<float> b, Span<float> c, int m, int k, int n)
    {
        for (int i = 0; i < m; i++)
        {
            var ci = c.Slice(i * n, n);
            for (int p = 0; p < k; p++)
            {
                float av = a[i * k + p];
                if (av == 0) continue;
                ResizeKernels.Axpy(av, b.Slice(p * n, n), ci);
            }
        }
    }
}
