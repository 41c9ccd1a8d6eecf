using System.Buffers;
using System.Runtime.Intrinsics;
using NetOnnx.Kernels.Threading;

namespace NetOnnx.Kernels.Quantization;

/// <summary>Shape of a 2-D depthwise convolution (one filter per channel).</summary>
public readonly record struct DepthwiseGeometry(int Channels, int InH, int InW, int KernelH, int KernelW,
    int StrideH, int StrideW, int DilationH, int DilationW, int PadTop, int PadLeft, int OutH, int OutW);

/// <summary>
/// Depthwise QLinearConv on uint8 NCHW planes with int8 filters: per channel
/// y = clamp(round_half_even((acc + bias) * multiplier) + yZero, 0, 255) where acc = sum (x - xZero)(w - wZero).
/// The products are summed in float, which is exact: every partial sum is an integer of magnitude at most
/// taps * 255 * 255 (below 2^24 for up to 258 taps, checked), so acc is the integer sum. Each channel's input is
/// first copied, minus its zero point and with zero padding, into one float plane per horizontal stride phase
/// (phase r holds padded columns r, r + s, ...), so every tap reads a contiguous run for any stride. The
/// requantization runs in double, as the unfused QLinearConv does.
/// </summary>
public static class QuantizedDepthwise
{
    public const int MaxTaps = 258;

    /// <param name="weights">[C, kh * kw] int8 filters.</param>
    /// <param name="weightZero">One zero point per channel (or one for all).</param>
    /// <param name="bias">Per channel int32 bias, or empty.</param>
    /// <param name="multiplier">Per channel x_scale * w_scale / y_scale.</param>
    public static void Run(ReadOnlySpan<byte> x, int batch, in DepthwiseGeometry g, int xZero, ReadOnlySpan<sbyte> weights,
        ReadOnlySpan<int> weightZero, ReadOnlySpan<int> bias, ReadOnlySpan<double> multiplier, int yZero, Span<byte> y, int threads)
    {
        int taps = g.KernelH * g.KernelW, c = g.Channels;
        if (taps > MaxTaps) throw new ArgumentException($"depthwise kernel has {taps} taps; float accumulation is exact only up to {MaxTaps}");
        if (weights.Length < c * taps) throw new ArgumentException($"weights hold {weights.Length} values, {c} channels x {taps} taps need more");
        if (multiplier.Length != c || (bias.Length != 0 && bias.Length != c) || (weightZero.Length != 1 && weightZero.Length != c))
            throw new ArgumentException("depthwise per-channel parameters do not match the channel count");
        int inPlane = g.InH * g.InW, outPlane = g.OutH * g.OutW;
        if (x.Length < (long)batch * c * inPlane || y.Length < (long)batch * c * outPlane) throw new ArgumentException("depthwise buffers are too small");
        // Filters minus their zero point, as floats, once per call.
        var wf = new float[c * taps];
        for (int ch = 0; ch < c; ch++)
        {
            int z = weightZero[weightZero.Length == 1 ? 0 : ch];
            for (int t = 0; t < taps; t++) wf[ch * taps + t] = weights[ch * taps + t] - z;
        }
        var bv = bias.ToArray();
        var mv = multiplier.ToArray();
        var geo = g;
        unsafe
        {
            fixed (byte* px = x, py = y)
            {
                nint ix = (nint)px, iy = (nint)py;
                IntraOpPool.For(batch * c, threads, task =>
                {
                    int ch = task % c;
                    var src = new ReadOnlySpan<byte>((byte*)ix + (long)task * inPlane, inPlane);
                    var dst = new Span<byte>((byte*)iy + (long)task * outPlane, outPlane);
                    Channel(src, geo, xZero, wf.AsSpan(ch * taps, taps), bv.Length == 0 ? 0 : bv[ch], mv[ch], yZero, dst);
                }, (long)batch * c * outPlane * taps * 2);
            }
        }
    }

    private static void Channel(ReadOnlySpan<byte> x, in DepthwiseGeometry g, int xZero, ReadOnlySpan<float> w, int bias,
        double multiplier, int yZero, Span<byte> y)
    {
        int sh = g.StrideH, sw = g.StrideW, dh = g.DilationH, dw = g.DilationW;
        // The padded input rectangle the outputs read: rows [-PadTop, ph - PadTop), columns [-PadLeft, pw - PadLeft).
        int ph = (g.OutH - 1) * sh + (g.KernelH - 1) * dh + 1;
        int pw = (g.OutW - 1) * sw + (g.KernelW - 1) * dw + 1;
        int phaseW = (pw + sw - 1) / sw;
        int planeSize = ph * phaseW;
        float[] planes = ArrayPool<float>.Shared.Rent(planeSize * sw + g.OutW);
        float[] acc = ArrayPool<float>.Shared.Rent(g.OutW);
        try
        {
            for (int r = 0; r < ph; r++)
            {
                int yy = r - g.PadTop;
                bool rowInside = (uint)yy < (uint)g.InH;
                for (int col = 0; col < pw; col++)
                {
                    int xx = col - g.PadLeft;
                    planes[(col % sw) * planeSize + r * phaseW + col / sw] = rowInside && (uint)xx < (uint)g.InW ? x[yy * g.InW + xx] - xZero : 0f;
                }
            }
            int ow = g.OutW;
            for (int oy = 0; oy < g.OutH; oy++)
            {
                var a = acc.AsSpan(0, ow);
                a.Clear();
                for (int ky = 0; ky < g.KernelH; ky++)
                {
                    int row = oy * sh + ky * dh;
                    for (int kx = 0; kx < g.KernelW; kx++)
                    {
                        int col = kx * dw;
                        var src = planes.AsSpan((col % sw) * planeSize + row * phaseW + col / sw, ow);
                        MultiplyAdd(src, w[ky * g.KernelW + kx], a);
                    }
                }
                Requantize(a, bias, multiplier, yZero, y.Slice(oy * ow, ow));
            }
        }
        finally
        {
            ArrayPool<float>.Shared.Return(planes);
            ArrayPool<float>.Shared.Return(acc);
        }
    }

    private static void MultiplyAdd(ReadOnlySpan<float> src, float w, Span<float> acc)
    {
        int i = 0;
        if (Vector256.IsHardwareAccelerated)
        {
            var vw = Vector256.Create(w);
            for (; i <= acc.Length - 8; i += 8)
                (Vector256.Create(acc.Slice(i, 8)) + Vector256.Create(src.Slice(i, 8)) * vw).CopyTo(acc.Slice(i));
        }
        for (; i < acc.Length; i++) acc[i] += src[i] * w;
    }

    private static void Requantize(ReadOnlySpan<float> acc, int bias, double multiplier, int yZero, Span<byte> y)
    {
        int i = 0;
        if (Vector256.IsHardwareAccelerated)
        {
            var vb = Vector256.Create((double)bias);
            var vm = Vector256.Create(multiplier);
            var vz = Vector256.Create((double)yZero);
            var hi = Vector256.Create(255.0);
            for (; i <= acc.Length - 4; i += 4)
            {
                // acc is an exact integer: widening to double and adding the bias stays exact, as in int arithmetic.
                var v = Vector256.Round((Vector256.Create(acc[i], acc[i + 1], acc[i + 2], acc[i + 3]) + vb) * vm) + vz;
                v = Vector256.Min(Vector256.Max(v, Vector256<double>.Zero), hi);
                y[i] = (byte)v[0]; y[i + 1] = (byte)v[1]; y[i + 2] = (byte)v[2]; y[i + 3] = (byte)v[3];
            }
        }
        for (; i < acc.Length; i++)
        {
            double v = Math.Round(((double)acc[i] + bias) * multiplier, MidpointRounding.ToEven) + yZero;
            y[i] = (byte)(v >= 255 ? 255 : v >= 0 ? v : 0);
        }
    }
}
