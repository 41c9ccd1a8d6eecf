using System.Numerics;

namespace NetOnnx.Kernels.Recurrent;

public static class RotaryKernel
{
    /// <summary>
    /// Rotates the first <paramref name="rotDim"/> elements of one head vector by angles given as cos/sin rows of
    /// length rotDim/2; the rest is copied. Interleaved pairs are (2i, 2i+1), otherwise (i, i + rotDim/2).
    /// </summary>
    public static void RotateHead<T>(ReadOnlySpan<T> x, Span<T> y, ReadOnlySpan<T> cos, ReadOnlySpan<T> sin, int rotDim, bool interleaved)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int half = rotDim / 2;
        for (int i = 0; i < half; i++)
        {
            int i1 = interleaved ? 2 * i : i;
            int i2 = interleaved ? 2 * i + 1 : i + half;
            T x1 = x[i1], x2 = x[i2], c = cos[i], s = sin[i];
            y[i1] = c * x1 - s * x2;
            y[i2] = s * x1 + c * x2;
        }
        x.Slice(rotDim).CopyTo(y.Slice(rotDim));
    }
}
