namespace NetOnnx.Kernels.Vision;

public enum GridSampleMode { Nearest, Linear, Cubic }
public enum GridPadding { Zeros, Border, Reflection }

/// <summary>
/// GridSample over any number of spatial dims: input [N, C, D1..Dr], grid [N, O1..Or, r] holding normalised
/// coordinates in reversed order (x = innermost dim first), output [N, C, O1..Or].
/// </summary>
public static class GridSampleKernel
{
    public static double Denormalize(double v, int length, bool alignCorners) =>
        alignCorners ? (v + 1) / 2 * (length - 1) : ((v + 1) * length - 1) / 2;

    /// <summary>Reflects x into [lo, hi] as many times as needed.</summary>
    public static double Reflect(double x, double lo, double hi)
    {
        double range = hi - lo;
        if (range <= 0) return lo;
        if (x < lo)
        {
            double dx = lo - x;
            long n = (long)(dx / range);
            double r = dx - n * range;
            return n % 2 == 0 ? lo + r : hi - r;
        }
        if (x > hi)
        {
            double dx = x - hi;
            long n = (long)(dx / range);
            double r = dx - n * range;
            return n % 2 == 0 ? hi - r : lo + r;
        }
        return x;
    }

    private static void CubicCoeffs(double t, Span<double> c)
    {
        const double A = -0.75;
        double x = t + 1;
        c[0] = ((A * x - 5 * A) * x + 8 * A) * x - 4 * A;
        x = t;
        c[1] = ((A + 2) * x - (A + 3)) * x * x + 1;
        x = 1 - t;
        c[2] = ((A + 2) * x - (A + 3)) * x * x + 1;
        x = 2 - t;
        c[3] = ((A * x - 5 * A) * x + 8 * A) * x - 4 * A;
    }

    /// <summary>Computes the output points [start, end) of the flattened (batch, output position) range.</summary>
    public static void Run(ReadOnlySpan<float> x, ReadOnlySpan<float> grid, Span<float> y, int batch, int channels,
        int[] inDims, int[] outDims, GridSampleMode mode, GridPadding padding, bool alignCorners, int start = 0, int end = -1)
    {
        int r = inDims.Length;
        int inPlane = 1, outPlane = 1;
        foreach (int d in inDims) inPlane *= d;
        foreach (int d in outDims) outPlane *= d;
        var inStride = new int[r];
        for (int i = r - 1, s = 1; i >= 0; i--) { inStride[i] = s; s *= inDims[i]; }
        int tapsPerDim = mode switch { GridSampleMode.Nearest => 1, GridSampleMode.Linear => 2, _ => 4 };
        int combos = 1;
        for (int i = 0; i < r; i++) combos *= tapsPerDim;
        var lo = new double[r];
        var hi = new double[r];
        for (int i = 0; i < r; i++)
        {
            lo[i] = alignCorners ? 0 : -0.5;
            hi[i] = alignCorners ? inDims[i] - 1 : inDims[i] - 0.5;
        }
        var tapIdx = new int[r * tapsPerDim];
        var tapW = new double[r * tapsPerDim];
        var comboOff = new int[combos];
        var comboW = new double[combos];
        Span<double> cc = stackalloc double[4];

        if (end < 0) end = batch * outPlane;
        for (int point = start; point < end; point++)
        {
            int b = point / outPlane, p = point - b * outPlane;
            {
                int g = point * r;
                for (int i = 0; i < r; i++)
                {
                    double c = Denormalize(grid[g + r - 1 - i], inDims[i], alignCorners);
                    int len = inDims[i];
                    if (mode == GridSampleMode.Nearest)
                    {
                        // Round first (half to even), then the padding rule picks the pixel.
                        double rc = Math.Round(c, MidpointRounding.ToEven);
                        tapIdx[i] = PixelIndex(rc, len, padding, lo[i], hi[i]);
                        tapW[i] = 1;
                        continue;
                    }
                    if (c < lo[i] || c > hi[i])
                    {
                        if (padding == GridPadding.Border) c = Math.Clamp(c, 0, len - 1);
                        else if (padding == GridPadding.Reflection) c = Reflect(c, lo[i], hi[i]);
                    }
                    double f = Math.Floor(c);
                    double t = c - f;
                    int o = i * tapsPerDim;
                    if (mode == GridSampleMode.Linear)
                    {
                        tapIdx[o] = PixelIndex(f, len, padding, lo[i], hi[i]);
                        tapIdx[o + 1] = PixelIndex(f + 1, len, padding, lo[i], hi[i]);
                        tapW[o] = 1 - t;
                        tapW[o + 1] = t;
                    }
                    else
                    {
                        CubicCoeffs(t, cc);
                        for (int k = 0; k < 4; k++)
                        {
                            tapIdx[o + k] = PixelIndex(f - 1 + k, len, padding, lo[i], hi[i]);
                            tapW[o + k] = cc[k];
                        }
                    }
                }
                // Expand the per-dim taps into flat offsets; taps in the zero padding are dropped.
                int nc = 0;
                for (int k = 0; k < combos; k++)
                {
                    int rem = k, off = 0;
                    double w = 1;
                    bool valid = true;
                    for (int i = r - 1; i >= 0; i--)
                    {
                        int t = rem % tapsPerDim;
                        rem /= tapsPerDim;
                        int ix = tapIdx[i * tapsPerDim + t];
                        if (ix < 0) { valid = false; break; }
                        off += ix * inStride[i];
                        w *= tapW[i * tapsPerDim + t];
                    }
                    if (!valid || w == 0) continue;
                    comboOff[nc] = off;
                    comboW[nc] = w;
                    nc++;
                }
                for (int ch = 0; ch < channels; ch++)
                {
                    var plane = x.Slice((b * channels + ch) * inPlane, inPlane);
                    double acc = 0;
                    for (int k = 0; k < nc; k++) acc += comboW[k] * plane[comboOff[k]];
                    y[(b * channels + ch) * outPlane + p] = (float)acc;
                }
            }
        }
    }

    /// <summary>Index of pixel coordinate v (an integer value) on an axis of length len, or -1 for zero padding.</summary>
    private static int PixelIndex(double v, int len, GridPadding padding, double lo, double hi)
    {
        switch (padding)
        {
            case GridPadding.Zeros:
                return v >= 0 && v < len ? (int)v : -1;
            case GridPadding.Border:
                return (int)Math.Clamp(v, 0, len - 1);
            default:
                {
                    int i = (int)Reflect(v, lo, hi);
                    return Math.Clamp(i, 0, len - 1);
                }
        }
    }
}
