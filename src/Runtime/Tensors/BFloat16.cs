using System.Runtime.CompilerServices;

namespace NetOnnx.Runtime;

/// <summary>bfloat16: the upper 16 bits of an IEEE float32.</summary>
public readonly struct BFloat16 : IEquatable<BFloat16>
{
    public readonly ushort Bits;
    public BFloat16(ushort bits) => Bits = bits;

    public static BFloat16 FromBits(ushort bits) => new(bits);

    /// <summary>Rounds to nearest even, as ONNX Cast does; NaN stays NaN.</summary>
    public static explicit operator BFloat16(float f)
    {
        uint u = BitConverter.SingleToUInt32Bits(f);
        if ((u & 0x7FFFFFFF) > 0x7F800000) return new BFloat16((ushort)((u >> 16) | 0x40));
        uint rounding = 0x7FFF + ((u >> 16) & 1);
        return new BFloat16((ushort)((u + rounding) >> 16));
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static explicit operator float(BFloat16 b) => BitConverter.UInt32BitsToSingle((uint)b.Bits << 16);

    public bool Equals(BFloat16 other) => Bits == other.Bits;
    public override bool Equals(object? obj) => obj is BFloat16 b && Equals(b);
    public override int GetHashCode() => Bits;
    public override string ToString() => ((float)this).ToString(System.Globalization.CultureInfo.InvariantCulture);
}
