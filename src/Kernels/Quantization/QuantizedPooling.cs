using System.Runtime.Intrinsics;
using NetOnnx.Kernels.ConvPool;

namespace NetOnnx.Kernels.Quantization;

/// <summary>
/// 1-D/2-D max pooling of uint8 planes without indices (quantized CNNs pool their integers: max commutes with
/// the monotonic quantization). Per output row, the kernel rows inside the image are first reduced into one
/// row with vector max; each output then takes the max of its horizontal taps in that row. Padding never wins
/// (only taps inside the image are read), as in the float kernels.
/// </summary>
public static class QuantizedPooling
{
    /// <summary>Whether <see cref="MaxRows"/> handles this geometry (no depth dimension).</summary>
    public static bool Handles(ConvGeometry g) => g.In[0] == 1 && g.Kernel[0] == 1 && g.Out[0] == 1 && g.PadBegin[0] == 0;

    /// <summary>Pools planes [p0, p1).</summary>
    public static void MaxRows(ReadOnlySpan<byte> x, Span<byte> y, int p0, int p1, ConvGeometry g)
    {
        int ih = g.In[1], iw = g.In[2], oh = g.Out[1], ow = g.Out[2];
        int kh = g.Kernel[1], kw = g.Kernel[2], sh = g.Stride[1], sw = g.Stride[2], dh = g.Dilation[1], dw = g.Dilation[2];
        int ph = g.PadBegin[1], pw = g.PadBegin[2];
        if (x.Length < (long)p1 * ih * iw || y.Length < (long)p1 * oh * ow) throw new ArgumentException("pooling buffers are too small");
        Span<byte> row = iw <= 4096 ? stackalloc byte[iw] : new byte[iw];
        for (int p = p0; p < p1; p++)
        {
            var plane = x.Slice(p * ih * iw, ih * iw);
            var outPlane = y.Slice(p * oh * ow, oh * ow);
            for (int r = 0; r < oh; r++)
            {
                row.Clear();
                for (int ky = 0; ky < kh; ky++)
                {
                    int yy = r * sh - ph + ky * dh;
                    if ((uint)yy < (uint)ih) Max(row, plane.Slice(yy * iw, iw));
                }
                var dst = outPlane.Slice(r * ow, ow);
                for (int c = 0; c < ow; c++)
                {
                    int x0 = c * sw - pw;
                    byte best = 0;
                    for (int kx = 0; kx < kw; kx++)
                    {
                        int xx = x0 + kx * dw;
                        if ((uint)xx < (uint)iw && row[xx] > best) best = row[xx];
                    }
                    dst[c] = best;
                }
            }
        }
    }

    private static void Max(Span<byte> acc, ReadOnlySpan<byte> src)
    {
        int i = 0;
        if (Vector256.IsHardwareAccelerated)
            for (; i <= acc.Length - 32; i += 32)
                Vector256.Max(Vector256.Create((ReadOnlySpan<byte>)acc.Slice(i, 32)), Vector256.Create(src.Slice(i, 32))).CopyTo(acc.Slice(i));
        for (; i < acc.Length; i++) if (src[i] > acc[i]) acc[i] = src[i];
    }
}
