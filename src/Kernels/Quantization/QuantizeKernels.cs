using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
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
        if (Vector256.IsHardwareAccelerated && (typeof(TOut) == typeof(byte) || typeof(TOut) == typeof(sbyte)))
        {
            // 32 floats -> four int vectors -> two short vectors -> one byte vector. Values are already
            // clamped to the output range, so the truncating narrows are exact.
            var vs = Vector256.Create(scale);
            var vz = Vector256.Create(zeroPoint);
            var vlo = Vector256.Create(qmin);
            var vhi = Vector256.Create(qmax);
            var yb = MemoryMarshal.Cast<TOut, byte>(y);
            int n = Vector256<float>.Count;
            for (; i <= x.Length - 4 * n; i += 4 * n)
            {
                var q0 = Vector256.ConvertToInt32(Clamp(Vector256.Round(Vector256.Create(x.Slice(i, n)) / vs) + vz, vlo, vhi));
                var q1 = Vector256.ConvertToInt32(Clamp(Vector256.Round(Vector256.Create(x.Slice(i + n, n)) / vs) + vz, vlo, vhi));
                var q2 = Vector256.ConvertToInt32(Clamp(Vector256.Round(Vector256.Create(x.Slice(i + 2 * n, n)) / vs) + vz, vlo, vhi));
                var q3 = Vector256.ConvertToInt32(Clamp(Vector256.Round(Vector256.Create(x.Slice(i + 3 * n, n)) / vs) + vz, vlo, vhi));
                var s01 = Vector256.Narrow(q0, q1).AsUInt16();
                var s23 = Vector256.Narrow(q2, q3).AsUInt16();
                Vector256.Narrow(s01, s23).CopyTo(yb.Slice(i));
            }
        }
        if (Vector256.IsHardwareAccelerated && x.Length - i >= Vector256<float>.Count)
        {
            Span<int> tmp = stackalloc int[Vector256<int>.Count];
            var vs = Vector256.Create(scale);
            var vz = Vector256.Create(zeroPoint);
            var vlo = Vector256.Create(qmin);
            var vhi = Vector256.Create(qmax);
            for (; i <= x.Length - Vector256<float>.Count; i += Vector256<float>.Count)
            {
                var qi = Vector256.ConvertToInt32(Clamp(Vector256.Round(Vector256.Create(x.Slice(i, Vector256<float>.Count)) / vs) + vz, vlo, vhi));
                if (typeof(TOut) == typeof(int)) qi.CopyTo(MemoryMarshal.Cast<TOut, int>(y.Slice(i)));
                else
                {
                    qi.CopyTo(tmp);
                    for (int k = 0; k < tmp.Length; k++) y[i + k] = TOut.CreateTruncating(tmp[k]);
                }
            }
        }
        for (; i < x.Length; i++) y[i] = TOut.CreateTruncating(QuantizeOne(x[i], scale, zeroPoint, qmin, qmax));
    }

    /// <summary>Clamps to [lo, hi]; NaN (from 0/0 or NaN input) becomes lo, as in the scalar path.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> Clamp(Vector256<float> q, Vector256<float> lo, Vector256<float> hi) =>
        Vector256.ConditionalSelect(Vector256.Equals(q, q), Vector256.Min(Vector256.Max(q, lo), hi), lo);

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

    /// <summary>y = (x - zeroPoint) * scale for uint8 x, 32 values per step (widened u8 -> i32 -> float).</summary>
    public static void Dequantize(ReadOnlySpan<byte> x, float scale, float zeroPoint, Span<float> y)
    {
        if (y.Length < x.Length) throw new ArgumentException($"output holds {y.Length} values, input {x.Length}");
        int i = 0;
        if (Vector256.IsHardwareAccelerated)
        {
            var vs = Vector256.Create(scale);
            var vz = Vector256.Create(zeroPoint);
            for (; i <= x.Length - 32; i += 32)
            {
                var (lo, hi) = Vector256.Widen(Vector256.Create(x.Slice(i, 32)));
                var (a, b) = Vector256.Widen(lo);
                var (c, d) = Vector256.Widen(hi);
                ((Vector256.ConvertToSingle(a.AsInt32()) - vz) * vs).CopyTo(y.Slice(i));
                ((Vector256.ConvertToSingle(b.AsInt32()) - vz) * vs).CopyTo(y.Slice(i + 8));
                ((Vector256.ConvertToSingle(c.AsInt32()) - vz) * vs).CopyTo(y.Slice(i + 16));
                ((Vector256.ConvertToSingle(d.AsInt32()) - vz) * vs).CopyTo(y.Slice(i + 24));
            }
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
