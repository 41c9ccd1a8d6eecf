using System.Runtime.Intrinsics;
using NetOnnx.Kernels.Threading;

namespace NetOnnx.Kernels.Quantization;

/// <summary>Integer matrix products for the quantized operators: int32 accumulation of zero-point-adjusted values.</summary>
public static class IntegerGemm
{
    /// <summary>
    /// C[M,N] = A[M,K] x B[K,N] over int32 (inputs already have their zero points subtracted).
    /// C is overwritten. Loop order m,k,n keeps the inner loop contiguous in B and C, so it vectorizes.
    /// </summary>
    public static void Multiply(ReadOnlySpan<int> a, ReadOnlySpan<int> b, Span<int> c, int m, int k, int n)
    {
        c.Slice(0, m * n).Clear();
        for (int i = 0; i < m; i++)
        {
            var crow = c.Slice(i * n, n);
            var arow = a.Slice(i * k, k);
            for (int p = 0; p < k; p++)
            {
                int av = arow[p];
                if (av == 0) continue;
                var brow = b.Slice(p * n, n);
                int j = 0;
                if (Vector256.IsHardwareAccelerated)
                {
                    var va = Vector256.Create(av);
                    for (; j <= n - Vector256<int>.Count; j += Vector256<int>.Count)
                        (Vector256.Create(crow.Slice(j, Vector256<int>.Count)) + va * Vector256.Create(brow.Slice(j, Vector256<int>.Count))).CopyTo(crow.Slice(j));
                }
                for (; j < n; j++) crow[j] += av * brow[j];
            }
        }
    }

    /// <summary>
    /// <see cref="Multiply"/> over arrays with offsets, splitting the rows of A across up to
    /// <paramref name="threads"/> threads when the product is large enough to pay for it.
    /// </summary>
    public static void Multiply(int[] a, int aOffset, int[] b, int bOffset, int[] c, int cOffset, int m, int k, int n, int threads)
    {
        long work = (long)m * k * n;
        int parts = (int)Math.Min(Math.Min(threads, m), Math.Max(1, work / (1 << 20)));
        if (parts <= 1)
        {
            Multiply(a.AsSpan(aOffset, m * k), b.AsSpan(bOffset, k * n), c.AsSpan(cOffset, m * n), m, k, n);
            return;
        }
        int per = (m + parts - 1) / parts;
        IntraOpPool.For(parts, threads, p =>
        {
            int r0 = p * per, rows = Math.Min(per, m - r0);
            if (rows > 0)
                Multiply(a.AsSpan(aOffset + r0 * k, rows * k), b.AsSpan(bOffset, k * n), c.AsSpan(cOffset + r0 * n, rows * n), rows, k, n);
        });
    }

    /// <summary>
    /// Unfolds one image [C, spatial...] into columns [C * prod(kernel), prod(outSpatial)] for convolution,
    /// with padding filled by <paramref name="padValue"/> (0 after zero-point subtraction).
    /// </summary>
    public static void Im2Col(ReadOnlySpan<int> image, int channels, int[] inShape, int[] kernel, int[] outShape,
        int[] strides, int[] dilations, int[] padsBegin, Span<int> cols, int padValue = 0)
    {
        int nd = inShape.Length;
        int kernelSize = 1, outSize = 1, inSize = 1;
        for (int d = 0; d < nd; d++) { kernelSize *= kernel[d]; outSize *= outShape[d]; inSize *= inShape[d]; }
        Span<int> kidx = stackalloc int[nd];
        Span<int> oidx = stackalloc int[nd];
        for (int c = 0; c < channels; c++)
        {
            var img = image.Slice(c * inSize, inSize);
            for (int kk = 0; kk < kernelSize; kk++)
            {
                // Kernel offset for this row.
                int rem = kk;
                for (int d = nd - 1; d >= 0; d--) { kidx[d] = rem % kernel[d]; rem /= kernel[d]; }
                var row = cols.Slice((c * kernelSize + kk) * outSize, outSize);
                oidx.Clear();
                for (int o = 0; o < outSize; o++)
                {
                    int offset = 0;
                    bool inside = true;
                    for (int d = 0; d < nd; d++)
                    {
                        int pos = oidx[d] * strides[d] - padsBegin[d] + kidx[d] * dilations[d];
                        if ((uint)pos >= (uint)inShape[d]) { inside = false; break; }
                        offset = offset * inShape[d] + pos;
                    }
                    row[o] = inside ? img[offset] : padValue;
                    for (int d = nd - 1; d >= 0; d--)
                    {
                        if (++oidx[d] < outShape[d]) break;
                        oidx[d] = 0;
                    }
                }
            }
        }
    }
}
