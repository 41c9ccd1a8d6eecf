using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace NetOnnx.Kernels.Conversions;

/// <summary>
/// float32 &lt;-&gt; float16 over spans with Vector256 integer bit manipulation (round to nearest even,
/// subnormals, infinities and NaN handled), scalar tails through System.Half.
/// </summary>
public static class HalfConversion
{
    public static void FloatToHalf(ReadOnlySpan<float> src, Span<Half> dst)
    {
        int i = 0;
        if (Vector256.IsHardwareAccelerated)
        {
            var s = MemoryMarshal.Cast<float, uint>(src);
            var d = MemoryMarshal.Cast<Half, ushort>(dst);
            int step = 2 * Vector256<uint>.Count;
            for (; i <= s.Length - step; i += step)
            {
                var lo = ToHalfBits(Vector256.Create(s.Slice(i, Vector256<uint>.Count)));
                var hi = ToHalfBits(Vector256.Create(s.Slice(i + Vector256<uint>.Count, Vector256<uint>.Count)));
                Vector256.Narrow(lo, hi).CopyTo(d.Slice(i));
            }
        }
        for (; i < src.Length; i++) dst[i] = (Half)src[i];
    }

    public static void HalfToFloat(ReadOnlySpan<Half> src, Span<float> dst)
    {
        int i = 0;
        if (Vector256.IsHardwareAccelerated)
        {
            var s = MemoryMarshal.Cast<Half, ushort>(src);
            var d = MemoryMarshal.Cast<float, uint>(dst);
            int step = Vector256<ushort>.Count;
            for (; i <= s.Length - step; i += step)
            {
                var (lo, hi) = Vector256.Widen(Vector256.Create(s.Slice(i, step)));
                FromHalfBits(lo).CopyTo(d.Slice(i));
                FromHalfBits(hi).CopyTo(d.Slice(i + Vector256<uint>.Count));
            }
        }
        for (; i < src.Length; i++) dst[i] = (float)src[i];
    }

    /// <summary>float bits to half bits (in the low 16 bits of each lane).</summary>
    private static Vector256<uint> ToHalfBits(Vector256<uint> f)
    {
        var sign = (f >> 16) & Vector256.Create(0x8000u);
        var a = f & Vector256.Create(0x7FFFFFFFu);
        // Normal range: rebias the exponent and round the 13 dropped bits to nearest even.
        var normal = (a - Vector256.Create(0x38000000u) + Vector256.Create(0xFFFu) + ((a >> 13) & Vector256.Create(1u))) >> 13;
        // Below 2^-14: adding 0.5 lines the value up with half's subnormal step (2^-24), so the FPU rounds for us.
        var sub = (a.AsSingle() + Vector256.Create(0.5f)).AsUInt32() - Vector256.Create(0x3F000000u);
        var isSub = Vector256.LessThan(a, Vector256.Create(0x38800000u));
        var overflow = Vector256.GreaterThanOrEqual(a, Vector256.Create(0x47800000u));
        var isNaN = Vector256.GreaterThan(a, Vector256.Create(0x7F800000u));
        var special = Vector256.ConditionalSelect(isNaN, Vector256.Create(0x7E00u) | ((a >> 13) & Vector256.Create(0x3FFu)), Vector256.Create(0x7C00u));
        var h = Vector256.ConditionalSelect(isSub, sub, Vector256.ConditionalSelect(overflow, special, normal));
        return h | sign;
    }

    private static Vector256<uint> FromHalfBits(Vector256<uint> h)
    {
        var sign = (h & Vector256.Create(0x8000u)) << 16;
        var e = h & Vector256.Create(0x7C00u);
        var r = (h & Vector256.Create(0x7FFFu)) << 13;
        var normal = r + Vector256.Create(0x38000000u);
        var special = r + Vector256.Create(0x70000000u);
        // Subnormal: (1 + m/1024) * 2^-14 minus 2^-14 leaves m * 2^-24 exactly.
        var sub = ((r + Vector256.Create(0x38800000u)).AsSingle() - Vector256.Create(6.103515625e-05f)).AsUInt32();
        var res = Vector256.ConditionalSelect(Vector256.Equals(e, Vector256<uint>.Zero), sub,
            Vector256.ConditionalSelect(Vector256.Equals(e, Vector256.Create(0x7C00u)), special, normal));
        return res | sign;
    }
}
