namespace NetOnnx.Kernels.Conversions;

/// <summary>
/// Parameters of a small binary float format (float8 variants, float4 e2m1) stored as a byte code:
/// a sign bit, exponent bits with a bias, and <see cref="ManBits"/> mantissa bits.
/// </summary>
public sealed class MiniFloatFormat
{
    public int ManBits { get; }
    public int Bias { get; }
    /// <summary>Largest finite magnitude code (without the sign bit).</summary>
    public int MaxCode { get; }
    /// <summary>The sign bit (0x80 for float8, 0x8 for float4).</summary>
    public int SignMask { get; }
    /// <summary>IEEE-like infinity at MaxCode+1 (only E5M2).</summary>
    public bool HasInf { get; }
    /// <summary>"fnuz" formats: no negative zero, the single NaN is the negative-zero pattern 0x80.</summary>
    public bool Fnuz { get; }
    /// <summary>No NaN or infinity at all (float4 e2m1): everything saturates.</summary>
    public bool FiniteOnly { get; }

    private readonly float[] _decode;

    private MiniFloatFormat(int manBits, int bias, int maxCode, int signMask, bool hasInf, bool fnuz, bool finiteOnly)
    {
        ManBits = manBits; Bias = bias; MaxCode = maxCode; SignMask = signMask; HasInf = hasInf; Fnuz = fnuz; FiniteOnly = finiteOnly;
        _decode = new float[signMask * 2];
        for (int c = 0; c < _decode.Length; c++) _decode[c] = DecodeSlow(c);
    }

    public static readonly MiniFloatFormat E4M3FN = new(3, 7, 0x7E, 0x80, hasInf: false, fnuz: false, finiteOnly: false);
    public static readonly MiniFloatFormat E4M3FNUZ = new(3, 8, 0x7F, 0x80, hasInf: false, fnuz: true, finiteOnly: false);
    public static readonly MiniFloatFormat E5M2 = new(2, 15, 0x7B, 0x80, hasInf: true, fnuz: false, finiteOnly: false);
    public static readonly MiniFloatFormat E5M2FNUZ = new(2, 16, 0x7F, 0x80, hasInf: false, fnuz: true, finiteOnly: false);
    public static readonly MiniFloatFormat E2M1 = new(1, 1, 0x7, 0x8, hasInf: false, fnuz: false, finiteOnly: true);

    private float DecodeSlow(int code)
    {
        int mag = code & (SignMask - 1);
        bool neg = (code & SignMask) != 0;
        if (Fnuz && code == SignMask) return float.NaN;
        if (!Fnuz && !FiniteOnly)
        {
            if (HasInf && mag == MaxCode + 1) return neg ? float.NegativeInfinity : float.PositiveInfinity;
            if (mag > MaxCode) return float.NaN;
        }
        int exp = mag >> ManBits, man = mag & ((1 << ManBits) - 1);
        double v = exp == 0
            ? man * Math.Pow(2, 1 - Bias - ManBits)
            : (1 + man / (double)(1 << ManBits)) * Math.Pow(2, exp - Bias);
        return (float)(neg ? -v : v);
    }

    /// <summary>The value of a code (table lookup; exact in float32).</summary>
    public float Decode(byte code) => _decode[code & (_decode.Length - 1)];

    private byte NaNCode(int sign) => Fnuz ? (byte)SignMask : FiniteOnly ? (byte)SignMask : (byte)(sign | (HasInf ? MaxCode + 3 : MaxCode + 1));

    /// <summary>
    /// Rounds <paramref name="x"/> to nearest-even in this format. Out-of-range values and infinities become
    /// the largest finite value when <paramref name="saturate"/> (always for finite-only formats), else
    /// infinity where the format has one and NaN otherwise.
    /// </summary>
    public byte Encode(float x, bool saturate)
    {
        uint bits = BitConverter.SingleToUInt32Bits(x);
        int sign = (bits >> 31) != 0 ? SignMask : 0;
        uint abs = bits & 0x7FFFFFFF;
        if (abs > 0x7F800000) return NaNCode(sign);
        saturate |= FiniteOnly;
        if (abs == 0x7F800000) return Overflow(sign, saturate);
        int fexp = (int)(abs >> 23);
        int code;
        if (fexp == 0) code = 0; // float32 subnormals are far below every format's smallest subnormal
        else
        {
            int e = fexp - 127;
            int minNormal = 1 - Bias;
            uint mant = abs & 0x7FFFFF;
            uint rem, half;
            if (e >= minNormal)
            {
                int shift = 23 - ManBits;
                code = ((e + Bias) << ManBits) | (int)(mant >> shift);
                rem = mant & ((1u << shift) - 1);
                half = 1u << (shift - 1);
            }
            else
            {
                int shift = 23 - ManBits + (minNormal - e);
                uint sig = mant | 0x800000;
                if (shift >= 25) { code = 0; rem = 0; half = 1; }
                else
                {
                    code = (int)(sig >> shift);
                    rem = sig & ((1u << shift) - 1);
                    half = 1u << (shift - 1);
                }
            }
            // Round to nearest, ties to even; a carry out of the mantissa bumps the exponent, as it should.
            if (rem > half || (rem == half && (code & 1) != 0)) code++;
        }
        if (code > MaxCode) return Overflow(sign, saturate);
        if (code == 0 && Fnuz) return 0;
        return (byte)(code | sign);
    }

    private byte Overflow(int sign, bool saturate) =>
        saturate ? (byte)(MaxCode | sign) : HasInf ? (byte)((MaxCode + 1) | sign) : NaNCode(sign);

    public void Encode(ReadOnlySpan<float> src, Span<byte> dst, bool saturate)
    {
        for (int i = 0; i < src.Length; i++) dst[i] = Encode(src[i], saturate);
    }

    public void Decode(ReadOnlySpan<byte> src, Span<float> dst)
    {
        var table = _decode;
        int mask = table.Length - 1;
        for (int i = 0; i < src.Length; i++) dst[i] = table[src[i] & mask];
    }
}

/// <summary>How a value between two powers of two becomes float8 e8m0 (Cast's round_mode).</summary>
public enum E8M0Rounding { Up, Down, Nearest }

/// <summary>float8 e8m0: an unsigned power of two 2^(code-127); 0xFF is NaN; no zero, no sign.</summary>
public static class E8M0
{
    public static float Decode(byte code) => code == 0xFF ? float.NaN : MathF.ScaleB(1f, code - 127);

    public static byte Encode(float x, bool saturate, E8M0Rounding mode)
    {
        uint abs = BitConverter.SingleToUInt32Bits(x) & 0x7FFFFFFF;
        if (abs > 0x7F800000) return 0xFF;
        if (abs == 0x7F800000) return saturate ? (byte)0xFE : (byte)0xFF;
        uint fexp = abs >> 23, mant = abs & 0x7FFFFF;
        int code;
        if (fexp == 0)
        {
            // Zero and float32 subnormals (below 2^-126): only codes 0 (2^-127) and 1 (2^-126) are near.
            code = mode switch
            {
                E8M0Rounding.Up => mant > 0x400000 ? 1 : 0,
                E8M0Rounding.Nearest => mant >= 0x600000 ? 1 : 0,
                _ => 0,
            };
        }
        else
        {
            code = (int)fexp;
            if (mode == E8M0Rounding.Up && mant != 0) code++;
            else if (mode == E8M0Rounding.Nearest && mant >= 0x400000) code++;
        }
        if (code > 0xFE) return saturate ? (byte)0xFE : (byte)0xFF;
        return (byte)code;
    }
}
