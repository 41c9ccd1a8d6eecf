using System.Buffers;
using NetOnnx.Kernels.ConvPool;
using NetOnnx.Kernels.Elementwise;
using NetOnnx.Kernels.Recurrent;
using NetOnnx.Kernels.Threading;

namespace NetOnnx.Kernels.SmallShapes;

/// <summary>
/// Convolution whose output has only a few spatial positions (silero_vad's STFT and encoder: 1 to 3 per
/// channel). A blocked GEMM computes whole register tiles of columns (16-32 wide), so with 3 columns over 90%
/// of its work is padding; here each position's input patch is gathered once and every output channel is one
/// dot product with its weight row, four rows at a time (<see cref="SeqMath.MatVecTransB{T}"/>).
/// </summary>
public static class NarrowConv
{
    /// <summary>Output positions per image up to which this beats the blocked GEMM.</summary>
    public const int MaxPositions = 8;

    public static bool Fits(ConvGeometry geo) => geo.OutSize <= MaxPositions;

    /// <summary>
    /// y[img, m, pos] = act(sum over the patch of W[m] * x + bias[m] + residual[img, m, pos]).
    /// x: [n, c, in...], w: [m, c/groups, kernel...], y and residual: [n, m, out...].
    /// </summary>
    public static void Run(float[] x, float[] w, float[]? bias, float[] y, int n, int c, int m, int groups, ConvGeometry geo,
        float[]? residual, FusedActivation act, int threads = 1)
    {
        int cg = c / groups, mg = m / groups, inSize = geo.InSize, outSize = geo.OutSize, kSize = geo.KernelSize, kg = cg * kSize;
        if (x.Length < (long)n * c * inSize || w.Length < (long)m * kg || y.Length < (long)n * m * outSize
            || (bias is not null && bias.Length < m) || (residual is not null && residual.Length < (long)n * m * outSize))
            throw new ArgumentException("NarrowConv: an operand is shorter than the geometry requires");
        var patches = ArrayPool<float>.Shared.Rent(outSize * kg);
        try
        {
            for (int img = 0; img < n; img++)
                for (int gi = 0; gi < groups; gi++)
                {
                    Gather(x.AsSpan((img * c + gi * cg) * inSize, cg * inSize), cg, geo, patches);
                    int wBase = gi * mg * kg, yBase = (img * m + gi * mg) * outSize, bBase = gi * mg;
                    // Output channels are independent: split them when there is enough work to pay for a wake-up.
                    IntraOpPool.ForRanges(mg, threads, (j0, j1) =>
                        Channels(patches, w, wBase, bias, bBase, y, residual, yBase, j0, j1, outSize, kg, act),
                        work: (long)mg * kg * outSize * 2 * sizeof(float));
                }
        }
        finally
        {
            ArrayPool<float>.Shared.Return(patches);
        }
    }

    private static void Channels(float[] patches, float[] w, int wBase, float[]? bias, int bBase, float[] y, float[]? residual,
        int yBase, int j0, int j1, int outSize, int kg, FusedActivation act)
    {
        int rows = j1 - j0;
        var dots = ArrayPool<float>.Shared.Rent(2 * rows);
        var d0 = dots.AsSpan(0, rows);
        var d1 = dots.AsSpan(rows, rows);
        var wr = w.AsSpan(wBase + j0 * kg, rows * kg);
        for (int pos = 0; pos < outSize; pos += 2)
        {
            // Positions in pairs: each weight row is read once for two patches.
            bool pair = pos + 1 < outSize;
            if (pair) SeqMath.MatVec2TransB(patches.AsSpan(pos * kg, kg), patches.AsSpan((pos + 1) * kg, kg), wr, kg, d0, d1, rows, kg);
            else SeqMath.MatVecTransB<float>(patches.AsSpan(pos * kg, kg), wr, kg, d0, rows, kg, false);
            Finish(d0, pos);
            if (pair) Finish(d1, pos + 1);
        }
        ArrayPool<float>.Shared.Return(dots);

        void Finish(Span<float> d, int pos)
        {
            for (int r = 0; r < d.Length; r++)
            {
                int at = yBase + (j0 + r) * outSize + pos;
                float v = d[r];
                if (bias is not null) v += bias[bBase + j0 + r];
                if (residual is not null) v += residual[at];
                y[at] = act.IsNone ? v : act.Scalar(v);
            }
        }
    }

    /// <summary>
    /// patches[pos*kg + (ch*kSize + tap)]: the input under each output position's window in W's element order,
    /// zero where the window hangs over the padding.
    /// </summary>
    private static void Gather(ReadOnlySpan<float> x, int cg, ConvGeometry geo, Span<float> patches)
    {
        int inSize = geo.InSize, kSize = geo.KernelSize, kg = cg * kSize;
        int pos = 0;
        for (int od = 0; od < geo.Out[0]; od++)
            for (int oh = 0; oh < geo.Out[1]; oh++)
                for (int ow = 0; ow < geo.Out[2]; ow++, pos++)
                {
                    var p = patches.Slice(pos * kg, kg);
                    int tap = 0;
                    for (int kd = 0; kd < geo.Kernel[0]; kd++)
                    {
                        int id = od * geo.Stride[0] - geo.PadBegin[0] + kd * geo.Dilation[0];
                        for (int kh = 0; kh < geo.Kernel[1]; kh++)
                        {
                            int ih = oh * geo.Stride[1] - geo.PadBegin[1] + kh * geo.Dilation[1];
                            for (int kw = 0; kw < geo.Kernel[2]; kw++, tap++)
                            {
                                int iw = ow * geo.Stride[2] - geo.PadBegin[2] + kw * geo.Dilation[2];
                                bool inside = (uint)id < (uint)geo.In[0] && (uint)ih < (uint)geo.In[1] && (uint)iw < (uint)geo.In[2];
                                int src = (id * geo.In[1] + ih) * geo.In[2] + iw;
                                for (int ch = 0; ch < cg; ch++)
                                    p[ch * kSize + tap] = inside ? x[ch * inSize + src] : 0f;
                            }
                        }
                    }
                }
    }
}
