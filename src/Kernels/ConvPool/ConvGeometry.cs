namespace NetOnnx.Kernels.ConvPool;

/// <summary>
/// Sliding-window geometry of a convolution or pooling, normalised to three spatial dimensions (D, H, W):
/// 1-D and 2-D problems get leading dimensions of size 1, so one set of loops serves every rank.
/// </summary>
public sealed class ConvGeometry
{
    public const int Rank = 3;
    /// <summary>Spatial dimensions of the original problem (1 to 3).</summary>
    public int SpatialDims { get; init; }
    public int[] In { get; } = [1, 1, 1];
    public int[] Out { get; } = [1, 1, 1];
    public int[] Kernel { get; } = [1, 1, 1];
    public int[] Stride { get; } = [1, 1, 1];
    public int[] Dilation { get; } = [1, 1, 1];
    public int[] PadBegin { get; } = [0, 0, 0];
    public int[] PadEnd { get; } = [0, 0, 0];

    public int InSize => In[0] * In[1] * In[2];
    public int OutSize => Out[0] * Out[1] * Out[2];
    public int KernelSize => Kernel[0] * Kernel[1] * Kernel[2];

    /// <summary>The output spatial shape in the original rank.</summary>
    public int[] OutShape => Out[(Rank - SpatialDims)..];
    /// <summary><see cref="OutShape"/> without a copy.</summary>
    public ReadOnlySpan<int> OutDims => Out.AsSpan(Rank - SpatialDims);

    /// <summary>
    /// Output sizes and pads of a window sliding over <paramref name="input"/>. autoPad is NOTSET, VALID,
    /// SAME_UPPER or SAME_LOWER; pads (begins then ends) apply to NOTSET only. ceilMode rounds the output
    /// size up but drops a last window that would start inside the end padding.
    /// </summary>
    public static ConvGeometry Create(ReadOnlySpan<int> input, ReadOnlySpan<int> kernel, long[]? strides, long[]? dilations,
        long[]? pads, string autoPad, bool ceilMode)
    {
        int nd = input.Length;
        if (nd < 1 || nd > Rank) throw new ArgumentException($"{nd} spatial dimensions are not supported (1 to {Rank})");
        if (kernel.Length != nd) throw new ArgumentException($"kernel has {kernel.Length} dimensions, input has {nd} spatial dimensions");
        if (strides is { Length: > 0 } && strides.Length != nd) throw new ArgumentException($"strides has {strides.Length} values, expected {nd}");
        if (dilations is { Length: > 0 } && dilations.Length != nd) throw new ArgumentException($"dilations has {dilations.Length} values, expected {nd}");
        if (pads is { Length: > 0 } && pads.Length != 2 * nd) throw new ArgumentException($"pads has {pads.Length} values, expected {2 * nd}");
        var g = new ConvGeometry { SpatialDims = nd };
        int off = Rank - nd;
        for (int i = 0; i < nd; i++)
        {
            int inD = input[i], k = kernel[i];
            int s = strides is { Length: > 0 } ? checked((int)strides[i]) : 1;
            int d = dilations is { Length: > 0 } ? checked((int)dilations[i]) : 1;
            if (k < 1) throw new ArgumentException($"kernel size {k} must be positive");
            if (s < 1) throw new ArgumentException($"stride {s} must be positive");
            if (d < 1) throw new ArgumentException($"dilation {d} must be positive");
            int ke = d * (k - 1) + 1;
            int pb = 0, pe = 0, o;
            switch (autoPad)
            {
                case "SAME_UPPER" or "SAME_LOWER":
                {
                    o = (inD + s - 1) / s;
                    int total = Math.Max(0, (o - 1) * s + ke - inD);
                    if (autoPad == "SAME_UPPER") { pb = total / 2; pe = total - pb; }
                    else { pe = total / 2; pb = total - pe; }
                    break;
                }
                case "VALID":
                    o = inD >= ke ? (inD - ke) / s + 1 : 0;
                    break;
                case "NOTSET" or "":
                {
                    if (pads is { Length: > 0 }) { pb = checked((int)pads[i]); pe = checked((int)pads[i + nd]); }
                    if (pb < 0 || pe < 0) throw new ArgumentException("pads must be non-negative");
                    int span = inD + pb + pe - ke;
                    if (span < 0) o = 0;
                    else if (ceilMode)
                    {
                        o = (span + s - 1) / s + 1;
                        if ((o - 1) * s >= inD + pb) o--;
                    }
                    else o = span / s + 1;
                    break;
                }
                default: throw new ArgumentException($"auto_pad '{autoPad}' is not one of NOTSET, VALID, SAME_UPPER, SAME_LOWER");
            }
            g.In[off + i] = inD; g.Kernel[off + i] = k; g.Stride[off + i] = s; g.Dilation[off + i] = d;
            g.PadBegin[off + i] = pb; g.PadEnd[off + i] = pe; g.Out[off + i] = o;
        }
        return g;
    }

    /// <summary>
    /// For the tap (kd, kh, kw): per dimension the range [lo, hi) of output positions it lands inside the input
    /// for (see <see cref="ValidRange"/>), and the input offset of output position 0 (tap * dilation - pad).
    /// </summary>
    public TapWindow Tap(int kd, int kh, int kw)
    {
        ValidRange(0, kd, out int d0, out int d1);
        ValidRange(1, kh, out int h0, out int h1);
        ValidRange(2, kw, out int w0, out int w1);
        return new TapWindow(d0, d1, h0, h1, w0, w1,
            kd * Dilation[0] - PadBegin[0], kh * Dilation[1] - PadBegin[1], kw * Dilation[2] - PadBegin[2]);
    }

    /// <summary>
    /// The range [lo, hi) of output positions along <paramref name="dim"/> whose tap <paramref name="k"/>
    /// lands inside the input.
    /// </summary>
    public void ValidRange(int dim, int k, out int lo, out int hi)
    {
        int s = Stride[dim], shift = k * Dilation[dim] - PadBegin[dim];
        // position = o*s + shift must satisfy 0 <= position < In.
        lo = shift >= 0 ? 0 : (-shift + s - 1) / s;
        int last = In[dim] - 1 - shift;
        hi = last < 0 ? 0 : last / s + 1;
        lo = Math.Min(lo, Out[dim]);
        hi = Math.Clamp(hi, lo, Out[dim]);
    }
}

/// <summary>Where one kernel tap reads: valid output ranges per dimension and the input shift of output 0.</summary>
public readonly record struct TapWindow(int D0, int D1, int H0, int H1, int W0, int W1, int DShift, int HShift, int WShift);
