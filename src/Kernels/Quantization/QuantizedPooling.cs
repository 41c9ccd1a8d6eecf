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
    public static unsafe void MaxRows(ReadOnlySpan<byte> x, Span<byte> y, int p0, int p1, ConvGeometry g)
    {
        int ih = g.In[1], iw = g.In[2], oh = g.Out[1], ow = g.Out[2];
        int kh = g.Kernel[1], kw = g.Kernel[2], sh = g.Stride[1], sw = g.Stride[2], dh = g.Dilation[1], dw = g.Dilation[2];
        int ph = g.PadBegin[1], pw = g.PadBegin[2];
        if (x.Length < (long)p1 * ih * iw || y.Length < (long)p1 * oh * ow) throw new ArgumentException("pooling buffers are too small");
        // One padded row: pw zeros, the reduced image row, zeros up to the last tap any output reads. Zero never
        // beats a tap inside the image (uint8 >= 0), so padding needs no bounds test.
        int span = (ow - 1) * sw + 1;
        int padded = Math.Max(pw + iw, span + (kw - 1) * dw) + 32;
        var rowBuf = new byte[padded];
        var maxBuf = new byte[span + 32];
        fixed (byte* px = x, py = y, row = rowBuf, m = maxBuf)
        {
            for (int p = p0; p < p1; p++)
            {
                byte* plane = px + (long)p * ih * iw;
                byte* outPlane = py + (long)p * oh * ow;
                for (int r = 0; r < oh; r++)
                {
                    new Span<byte>(row, padded).Clear();
                    for (int ky = 0; ky < kh; ky++)
                    {
                        int yy = r * sh - ph + ky * dh;
                        if ((uint)yy < (uint)ih) Max(row + pw, plane + (long)yy * iw, iw);
                    }
                    // m[i] = max over the taps of the window starting at padded column i.
                    Buffer.MemoryCopy(row, m, span, span);
                    for (int kx = 1; kx < kw; kx++) Max(m, row + kx * dw, span);
                    byte* dst = outPlane + (long)r * ow;
                    if (sw == 1) Buffer.MemoryCopy(m, dst, ow, ow);
                    else for (int c = 0; c < ow; c++) dst[c] = m[c * sw];
                }
            }
        }
    }

    /// <summary>acc[i] = max(acc[i], src[i]) for i in [0, n).</summary>
    private static unsafe void Max(byte* acc, byte* src, int n)
    {
        int i = 0;
        if (Vector256.IsHardwareAccelerated)
            for (; i <= n - 32; i += 32)
                Vector256.Max(Vector256.Load(acc + i), Vector256.Load(src + i)).Store(acc + i);
        for (; i < n; i++) if (src[i] > acc[i]) acc[i] = src[i];
    }
}
