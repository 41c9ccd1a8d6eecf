using System.Numerics;

namespace NetOnnx.Kernels.Vision;

/// <summary>How an output coordinate maps back to an input coordinate (ONNX Resize coordinate_transformation_mode).</summary>
public enum CoordinateMode { HalfPixel, HalfPixelSymmetric, PytorchHalfPixel, AlignCorners, Asymmetric, TfHalfPixelForNN, TfCropAndResize }

/// <summary>How a fractional coordinate picks a pixel in nearest mode.</summary>
public enum NearestMode { RoundPreferFloor, RoundPreferCeil, Floor, Ceil, /// <summary>Opset &lt;= 10: floor when upsampling, ceil when downsampling.</summary>
    Simple }

public enum InterpolationMode { Nearest, Linear, Cubic }

/// <summary>
/// The taps of a separable 1-D resampling along one axis: for output position j, <see cref="Taps"/> input
/// indices (already clamped to the axis) and weights. Positions outside the crop (tf_crop_and_resize) are
/// flagged so they take the extrapolation value.
/// </summary>
public sealed class AxisTaps
{
    public required int OutLength { get; init; }
    public required int Taps { get; init; }
    public required int[] Index { get; init; }
    public required double[] Weight { get; init; }
    public bool[]? Outside { get; init; }

    /// <summary>True when the mapping copies the axis unchanged, so the pass can be skipped.</summary>
    public bool IsIdentity(int inLength)
    {
        if (OutLength != inLength || Outside is not null) return false;
        for (int j = 0; j < OutLength; j++)
        {
            double w = 0;
            for (int k = 0; k < Taps; k++)
            {
                double wk = Weight[j * Taps + k];
                if (wk == 0) continue;
                if (Index[j * Taps + k] != j) return false;
                w += wk;
            }
            if (w != 1) return false;
        }
        return true;
    }
}

public static class ResizeKernels
{
    /// <summary>Maps output coordinate x back to the input axis (the ONNX formulas; roi used by tf_crop_and_resize).</summary>
    public static double ToInput(CoordinateMode mode, int x, double scale, int inLen, int outLen, double roiStart, double roiEnd)
    {
        switch (mode)
        {
            case CoordinateMode.HalfPixel: return (x + 0.5) / scale - 0.5;
            case CoordinateMode.HalfPixelSymmetric:
                {
                    double adjustment = outLen / (scale * inLen);
                    double center = inLen / 2.0;
                    double offset = center * (1 - adjustment);
                    return offset + (x + 0.5) / scale - 0.5;
                }
            case CoordinateMode.PytorchHalfPixel: return outLen > 1 ? (x + 0.5) / scale - 0.5 : 0;
            case CoordinateMode.AlignCorners:
                {
                    // The reference uses the unrounded resized length (input * scale), which differs from the
                    // output length when scales do not divide evenly.
                    double lr = ResizedLength(scale, inLen, outLen);
                    return lr == 1 ? 0 : x * (double)(inLen - 1) / (lr - 1);
                }
            case CoordinateMode.Asymmetric: return x / scale;
            case CoordinateMode.TfHalfPixelForNN: return (x + 0.5) / scale;
            case CoordinateMode.TfCropAndResize:
                {
                    double lr = ResizedLength(scale, inLen, outLen);
                    return lr != 1 && outLen > 1
                        ? roiStart * (inLen - 1) + x * (roiEnd - roiStart) * (inLen - 1) / (lr - 1)
                        : 0.5 * (roiStart + roiEnd) * (inLen - 1);
                }
            default: throw new ArgumentOutOfRangeException(nameof(mode));
        }
    }

    private static double ResizedLength(double scale, int inLen, int outLen)
    {
        double lr = scale * inLen;
        return Math.Abs(lr - outLen) < 1e-6 ? outLen : lr;
    }

    /// <summary>Nearest-mode index for each output position; -1 marks a position to extrapolate.</summary>
    public static int[] NearestIndices(CoordinateMode cmode, NearestMode nmode, double scale, int inLen, int outLen, double roiStart, double roiEnd)
    {
        var idx = new int[outLen];
        for (int j = 0; j < outLen; j++)
        {
            double x = ToInput(cmode, j, scale, inLen, outLen, roiStart, roiEnd);
            if (cmode == CoordinateMode.TfCropAndResize && (x < 0 || x > inLen - 1)) { idx[j] = -1; continue; }
            double f = Math.Floor(x);
            double r = x - f;
            double v = nmode switch
            {
                NearestMode.RoundPreferFloor => r <= 0.5 ? f : f + 1,
                NearestMode.RoundPreferCeil => r < 0.5 ? f : f + 1,
                NearestMode.Floor => f,
                NearestMode.Ceil => Math.Ceiling(x),
                _ => scale < 1 ? Math.Ceiling(x) : f,
            };
            idx[j] = (int)Math.Clamp(v, 0, inLen - 1);
        }
        return idx;
    }

    private static double CubicWeight(double x, double a)
    {
        x = Math.Abs(x);
        if (x <= 1) return ((a + 2) * x - (a + 3)) * x * x + 1;
        if (x < 2) return ((a * x - 5 * a) * x + 8 * a) * x - 4 * a;
        return 0;
    }

    /// <summary>
    /// Linear or cubic taps for one axis. With antialias and a downscale, the kernel is stretched by 1/scale
    /// so every input pixel under the output footprint contributes (the ONNX reference filter).
    /// </summary>
    public static AxisTaps InterpolationTaps(InterpolationMode mode, CoordinateMode cmode, double scale, int inLen, int outLen,
        double roiStart, double roiEnd, bool antialias, double cubicA, bool excludeOutside)
    {
        double s = antialias ? Math.Min(scale, 1.0) : 1.0;
        int start = mode == InterpolationMode.Linear ? (int)Math.Floor(-1 / s) + 1 : (int)Math.Floor(-2 / s) + 1;
        int taps = 2 - 2 * start;
        var index = new int[outLen * taps];
        var weight = new double[outLen * taps];
        bool[]? outside = null;
        for (int j = 0; j < outLen; j++)
        {
            double x = ToInput(cmode, j, scale, inLen, outLen, roiStart, roiEnd);
            if (cmode == CoordinateMode.TfCropAndResize && (x < 0 || x > inLen - 1))
            {
                outside ??= new bool[outLen];
                outside[j] = true;
                continue;
            }
            double f = Math.Floor(x);
            int b = (int)f;
            double ratio = x - f;
            // The reference treats an integral coordinate as ratio 1 from the pixel below; same result, same window.
            if (ratio == 0 && taps > 0) { ratio = 1; b -= 1; }
            double sum = 0;
            for (int k = 0; k < taps; k++)
            {
                int off = start + k;
                double arg = (off - ratio) * s;
                double w = mode == InterpolationMode.Linear ? Math.Max(0, 1 - Math.Abs(arg)) : CubicWeight(arg, cubicA);
                int ii = b + off;
                if (excludeOutside && (ii < 0 || ii >= inLen)) w = 0;
                index[j * taps + k] = Math.Clamp(ii, 0, inLen - 1);
                weight[j * taps + k] = w;
                sum += w;
            }
            if (sum != 0 && (antialias || excludeOutside))
                for (int k = 0; k < taps; k++) weight[j * taps + k] /= sum;
        }
        return new AxisTaps { OutLength = outLen, Taps = taps, Index = index, Weight = weight, Outside = outside };
    }

    /// <summary>
    /// Resamples one axis of a tensor viewed as [outer, inLen, inner] into [outer, outLen, inner].
    /// The inner block is contiguous, so each output row is a weighted sum of input rows (vectorised).
    /// </summary>
    public static void ResizeAxis<T>(ReadOnlySpan<T> src, Span<T> dst, int outer, int inLen, int inner, AxisTaps taps, T extrapolation)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int outLen = taps.OutLength, n = taps.Taps;
        var w = new T[taps.Weight.Length];
        for (int i = 0; i < w.Length; i++) w[i] = T.CreateTruncating(taps.Weight[i]);
        for (int o = 0; o < outer; o++)
        {
            var s = src.Slice(o * inLen * inner, inLen * inner);
            var d = dst.Slice(o * outLen * inner, outLen * inner);
            if (inner == 1)
            {
                for (int j = 0; j < outLen; j++)
                {
                    if (taps.Outside is { } outs && outs[j]) { d[j] = extrapolation; continue; }
                    T acc = T.Zero;
                    int bse = j * n;
                    for (int k = 0; k < n; k++) acc += w[bse + k] * s[taps.Index[bse + k]];
                    d[j] = acc;
                }
                continue;
            }
            for (int j = 0; j < outLen; j++)
            {
                var row = d.Slice(j * inner, inner);
                if (taps.Outside is { } outs && outs[j]) { row.Fill(extrapolation); continue; }
                row.Clear();
                int bse = j * n;
                for (int k = 0; k < n; k++)
                {
                    T wk = w[bse + k];
                    if (wk == T.Zero) continue;
                    Axpy(wk, s.Slice(taps.Index[bse + k] * inner, inner), row);
                }
            }
        }
    }

    /// <summary>y += a * x.</summary>
    public static void Axpy<T>(T a, ReadOnlySpan<T> x, Span<T> y) where T : unmanaged, INumber<T>
    {
        int i = 0;
        if (Vector.IsHardwareAccelerated && x.Length >= Vector<T>.Count)
        {
            var va = new Vector<T>(a);
            for (; i <= x.Length - Vector<T>.Count; i += Vector<T>.Count)
            {
                var vy = new Vector<T>(y.Slice(i));
                (vy + va * new Vector<T>(x.Slice(i))).CopyTo(y.Slice(i));
            }
        }
        for (; i < x.Length; i++) y[i] += a * x[i];
    }

    /// <summary>
    /// Nearest-neighbour gather over all axes: out[i0..ir] = in[idx0[i0]..idxr[ir]]; an index of -1 on any
    /// axis gives the extrapolation value.
    /// </summary>
    public static void NearestGather<T>(ReadOnlySpan<T> src, Span<T> dst, int[] inShape, int[][] indices, T extrapolation)
    {
        int rank = inShape.Length;
        if (rank == 0) { dst[0] = src[0]; return; }
        var inStrides = new int[rank];
        int st = 1;
        for (int a = rank - 1; a >= 0; a--) { inStrides[a] = st; st *= inShape[a]; }
        int last = rank - 1;
        var lastIdx = indices[last];
        int outLast = lastIdx.Length;
        int rows = dst.Length / Math.Max(1, outLast);
        var counter = new int[rank];
        for (int r = 0; r < rows; r++)
        {
            // Base offset of this output row and whether any outer axis is extrapolated.
            int bse = 0;
            bool outside = false;
            for (int a = 0; a < last; a++)
            {
                int ix = indices[a][counter[a]];
                if (ix < 0) { outside = true; break; }
                bse += ix * inStrides[a];
            }
            var d = dst.Slice(r * outLast, outLast);
            if (outside) d.Fill(extrapolation);
            else
                for (int j = 0; j < outLast; j++)
                {
                    int ix = lastIdx[j];
                    d[j] = ix < 0 ? extrapolation : src[bse + ix];
                }
            for (int a = last - 1; a >= 0; a--)
            {
                if (++counter[a] < indices[a].Length) break;
                counter[a] = 0;
            }
        }
    }
}
