using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace NetOnnx.Kernels.Quantization;

/// <summary>Linear quantization and dequantization of float spans with one scale and zero point per call.</summary>
public static class QuantizeKernels
{
    /// <summary>
    /// y = clamp(round_half_even(x / scale) + zeroPoint, qmin, qmax). Division (not multiplication by the
    /// reciprocal) so results match the ONNX reference bit for bit.
    /// </summary>
    public static void Quantize<TOut>(ReadOnlySpan<float> x, float scale, float zeroPoint, float qmin, float qmax, Span<TOut> y)
        where TOut : unmanaged, INumberBase<TOut>
    {
        int i = 0;
        if (Vector256.IsHardwareAccelerated && x.Length >= Vector256<float>.Count)
        {
            Span<int> tmp = stackalloc int[Vector256<int>.Count];
            var vs = Vector256.Create(scale);
            var vz = Vector256.Create(zeroPoint);
            var vlo = Vector256.Create(qmin);
            var vhi = Vector256.Create(qmax);
            for (; i <= x.Length - Vector256<float>.Count; i += Vector256<float>.Count)
            {
                var q = Vector256.Round(Vector256.Create(x.Slice(i, Vector256<float>.Count)) / vs) + vz;
                // Max/Min with NaN: NaN quotients (0/0) land on qmin, a defined value for undefined input.
                q = Vector256.Min(Vector256.Max(q, vlo), vhi);
                var qi = Vector256.ConvertToInt32(q);
                if (typeof(TOut) == typeof(int)) qi.CopyTo(System.Runtime.InteropServices.MemoryMarshal.Cast<TOut, int>(y.Slice(i)));
                else
                {
                    qi.CopyTo(tmp);
                    for (int k = 0; k < tmp.Length; k++) y[i + k] = TOut.CreateTruncating(tmp[k]);
                }
            }
        }
        for (; i < x.Length; i++) y[i] = TOut.CreateTruncating(QuantizeOne(x[i], scale, zeroPoint, qmin, qmax));
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static int QuantizeOne(float x, float scale, float zeroPoint, float qmin, float qmax)
    {
        float q = MathF.Round(x / scale, MidpointRounding.ToEven) + zeroPoint;
        if (!(q >= qmin)) q = qmin;
        if (q > qmax) q = qmax;
        return (int)q;
    }

    /// <summary>Rounds half to even and clamps an already-divided value (for callers that round the quotient themselves).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static int RoundClamp(float quotient, float zeroPoint, float qmin, float qmax)
    {
        float q = MathF.Round(quotient, MidpointRounding.ToEven) + zeroPoint;
        if (!(q >= qmin)) q = qmin;
        if (q > qmax) q = qmax;
        return (int)q;
    }

    /// <summary>y = (x - zeroPoint) * scale with x already widened to float.</summary>
    public static void Dequantize(ReadOnlySpan<float> x, float scale, float zeroPoint, Span<float> y)
    {
        int i = 0;
        if (Vector256.IsHardwareAccelerated)
        {
            var vs = Vector256.Create(scale);
            var vz = Vector256.Create(zeroPoint);
            for (; i <= x.Length - Vector256<float>.Count; i += Vector256<float>.Count)
                ((Vector256.Create(x.Slice(i, Vector256<float>.Count)) - vz) * vs).CopyTo(y.Slice(i));
        }
        for (; i < x.Length; i++) y[i] = (x[i] - zeroPoint) * scale;
    }

    /// <summary>Min and max of a span (NaN-ignoring scalar tail, vectorized body).</summary>
    public static (float Min, float Max) MinMax(ReadOnlySpan<float> x)
    {
        float mn = float.PositiveInfinity, mx = float.NegativeInfinity;
        int i = 0;
        if (Vector256.IsHardwareAccelerated && x.Length >= Vector256<float>.Count)
        {
            var vmn = Vector256.Create(float.PositiveInfinity);
            var vmx = Vector256.Create(float.NegativeInfinity);
            for (; i <= x.Length - Vector256<float>.Count; i += Vector256<float>.Count)
            {
                var v = Vector256.Create(x.Slice(i, Vector256<float>.Count));
                vmn = Vector256.Min(vmn, v);
                vmx = Vector256.Max(vmx, v);
            }
            for (int k = 0; k < Vector256<float>.Count; k++) { mn = MathF.Min(mn, vmn[k]); mx = MathF.Max(mx, vmx[k]); }
        }
        for (; i < x.Length; i++) { mn = MathF.Min(mn, x[i]); mx = MathF.Max(mx, x[i]); }
        return (mn, mx);
    }
}
