namespace NetOnnx.Kernels.Quantization;

/// <summary>uint8 layout change for the integer convolutions: one image [C, P] (NCHW) to [P, C] (NHWC).</summary>
public static class ChannelLast
{
    private const int Block = 64;

    /// <summary>
    /// dst[p * c + ch] = src[ch * pixels + p]. Blocks of 64 pixels: the block's c source runs of 64 bytes and its
    /// 64 * c destination bytes stay in L1 while every channel is copied (a whole-plane pass per channel would
    /// stream the destination through the cache once per channel).
    /// </summary>
    public static unsafe void Transpose(ReadOnlySpan<byte> src, int c, int pixels, Span<byte> dst)
    {
        if (src.Length < (long)c * pixels || dst.Length < (long)c * pixels) throw new ArgumentException($"layout buffers hold {src.Length} / {dst.Length} bytes, [{c}, {pixels}] needs {(long)c * pixels}");
        fixed (byte* ps = src, pd = dst)
        {
            for (int p0 = 0; p0 < pixels; p0 += Block)
            {
                int n = Math.Min(Block, pixels - p0);
                for (int ch = 0; ch < c; ch++)
                {
                    byte* s = ps + (long)ch * pixels + p0;
                    byte* d = pd + (long)p0 * c + ch;
                    int p = 0;
                    for (; p <= n - 4; p += 4)
                    {
                        d[0] = s[p]; d[c] = s[p + 1]; d[2 * c] = s[p + 2]; d[3 * c] = s[p + 3];
                        d += 4 * c;
                    }
                    for (; p < n; p++, d += c) *d = s[p];
                }
            }
        }
    }
}
