using System.Runtime.Intrinsics;

namespace NetOnnx.Kernels.Quantization;

/// <summary>
/// uint8 element-wise kernels that give exactly what the float chain DequantizeLinear -> op -> QuantizeLinear
/// gives: the same float operations in the same order ((x - zero) * scale, then the op, then division by the
/// output scale and round-half-even), only without the float tensors in between.
/// </summary>
public static class QuantizedElementwise
{
    /// <summary>
    /// y = Q(DQ(a) + DQ(b)) with per-tensor parameters, optionally with a Relu on the sum before quantizing.
    /// Equal-length spans (no broadcasting).
    /// </summary>
    public static void Add(ReadOnlySpan<byte> a, float aScale, float aZero, ReadOnlySpan<byte> b, float bScale, float bZero,
        float yScale, float yZero, bool relu, Span<byte> y)
    {
        if (b.Length != a.Length || y.Length < a.Length) throw new ArgumentException($"QLinearAdd spans differ: a {a.Length}, b {b.Length}, y {y.Length}");
        int i = 0;
        if (Vector256.IsHardwareAccelerated)
        {
            var sa = Vector256.Create(aScale); var za = Vector256.Create(aZero);
            var sb = Vector256.Create(bScale); var zb = Vector256.Create(bZero);
            var sy = Vector256.Create(yScale); var zy = Vector256.Create(yZero);
            var hi = Vector256.Create(255f);
            for (; i <= a.Length - 32; i += 32)
            {
                // 32 bytes -> four 8-lane int vectors each (order-preserving widen), back by two narrows.
                var (a0, a1) = Vector256.Widen(Vector256.Create(a.Slice(i, 32)));
                var (b0, b1) = Vector256.Widen(Vector256.Create(b.Slice(i, 32)));
                var (a00, a01) = Vector256.Widen(a0); var (a10, a11) = Vector256.Widen(a1);
                var (b00, b01) = Vector256.Widen(b0); var (b10, b11) = Vector256.Widen(b1);
                var q0 = One(a00, b00, sa, za, sb, zb, relu, sy, zy, hi);
                var q1 = One(a01, b01, sa, za, sb, zb, relu, sy, zy, hi);
                var q2 = One(a10, b10, sa, za, sb, zb, relu, sy, zy, hi);
                var q3 = One(a11, b11, sa, za, sb, zb, relu, sy, zy, hi);
                Vector256.Narrow(Vector256.Narrow(q0, q1).AsUInt16(), Vector256.Narrow(q2, q3).AsUInt16()).CopyTo(y.Slice(i));
            }
        }
        for (; i < a.Length; i++)
        {
            float v = (a[i] - aZero) * aScale + (b[i] - bZero) * bScale;
            if (relu) v = MathF.Max(v, 0f);
            y[i] = (byte)QuantizeKernels.QuantizeOne(v, yScale, yZero, 0, 255);
        }
    }

    private static Vector256<int> One(Vector256<uint> a, Vector256<uint> b, Vector256<float> sa, Vector256<float> za,
        Vector256<float> sb, Vector256<float> zb, bool relu, Vector256<float> sy, Vector256<float> zy, Vector256<float> hi)
    {
        var v = (Vector256.ConvertToSingle(a.AsInt32()) - za) * sa + (Vector256.ConvertToSingle(b.AsInt32()) - zb) * sb;
        if (relu) v = Vector256.Max(v, Vector256<float>.Zero);
        var q = Vector256.Round(v / sy) + zy;
        return Vector256.ConvertToInt32(Vector256.Min(Vector256.Max(q, Vector256<float>.Zero), hi));
    }

    /// <summary>
    /// The 256-entry table t[v] = Q(DQ(v)) that moves uint8 values from one (scale, zero) to another,
    /// computed with the same float steps as the chain, so looking values up is exact.
    /// </summary>
    public static byte[] RequantizeTable(float inScale, float inZero, float outScale, float outZero)
    {
        var t = new byte[256];
        for (int v = 0; v < 256; v++) t[v] = (byte)QuantizeKernels.QuantizeOne((v - inZero) * inScale, outScale, outZero, 0, 255);
        return t;
    }

    /// <summary>Whether <paramref name="table"/> maps every value to itself (then a copy does).</summary>
    public static bool IsIdentity(ReadOnlySpan<byte> table)
    {
        for (int v = 0; v < 256; v++) if (table[v] != v) return false;
        return true;
    }

    /// <summary>y[i] = table[x[i]].</summary>
    public static void Lookup(ReadOnlySpan<byte> x, ReadOnlySpan<byte> table, Span<byte> y)
    {
        if (y.Length < x.Length) throw new ArgumentException($"output holds {y.Length} values, input {x.Length}");
        for (int i = 0; i < x.Length; i++) y[i] = table[x[i]];
    }
}
