using System.Globalization;
using System.Numerics;
using NetOnnx.Kernels.Conversions;
using NetOnnx.Kernels.Threading;

namespace NetOnnx.Runtime.Operators.Conversion;

/// <summary>
/// Converts a tensor's elements to another element type with ONNX Cast semantics: floats to integers
/// truncate toward zero and then wrap (as C/numpy casts do), floats round to nearest even when narrowing,
/// float8 encodings honour <c>saturate</c>, sub-byte integers wrap to their width, strings parse and format.
/// Common primitive pairs use a direct generic loop; the rest go through a double or int64 staging buffer.
/// </summary>
public static class ElementConverter
{
    private const int Chunk = 512;

    /// <summary>Below this many elements a conversion runs on the calling thread only.</summary>
    private const int ParallelThreshold = 1 << 17;

    public static void Convert(Tensor src, Tensor dst, bool saturate = true, E8M0Rounding rounding = E8M0Rounding.Up, int threads = 1)
    {
        var s = src.ElementType;
        var d = dst.ElementType;
        if (src.Length != dst.Length) throw new ArgumentException("source and destination sizes differ");
        if (s is DataType.Complex64 or DataType.Complex128 || d is DataType.Complex64 or DataType.Complex128)
            throw new NotSupportedException($"Cast between {s.OnnxName()} and {d.OnnxName()} is not supported");
        if (s == d)
        {
            Array.Copy(src.Buffer, dst.Buffer, src.Length);
            return;
        }
        if (d == DataType.String) { ToStrings(src, dst.Span<string>()); return; }
        if (s == DataType.String) { FromStrings(src.ReadOnlySpan<string>(), dst, saturate, rounding); return; }
        int n = src.Length;
        if (threads > 1 && n >= ParallelThreshold)
        {
            // Element-wise, so independent contiguous ranges; ranges are Chunk-aligned.
            int parts = Math.Min(threads, n / (ParallelThreshold / 2));
            int per = (n / parts + Chunk - 1) / Chunk * Chunk;
            IntraOpPool.For(parts, threads, p =>
            {
                int start = p * per;
                if (start < n) ConvertRange(src, dst, start, Math.Min(per, n - start), saturate, rounding);
            });
            return;
        }
        ConvertRange(src, dst, 0, n, saturate, rounding);
    }

    private static void ConvertRange(Tensor src, Tensor dst, int offset, int count, bool saturate, E8M0Rounding rounding)
    {
        if (TryDirect(src, dst, offset, count)) return;
        int end = offset + count;
        if (IsIntLike(src.ElementType) && IsIntLike(dst.ElementType))
        {
            Span<long> buf = stackalloc long[Chunk];
            for (int start = offset; start < end; start += Chunk)
            {
                int len = Math.Min(Chunk, end - start);
                ReadLong(src, start, buf[..len]);
                WriteLong(dst, start, buf[..len]);
            }
        }
        else
        {
            Span<double> buf = stackalloc double[Chunk];
            for (int start = offset; start < end; start += Chunk)
            {
                int len = Math.Min(Chunk, end - start);
                ReadDouble(src, start, buf[..len]);
                WriteDouble(dst, start, buf[..len], saturate, rounding);
            }
        }
    }

    private static bool IsIntLike(DataType t) => t.IsInteger() || t == DataType.Bool;

    public static MiniFloatFormat? MiniFloat(DataType t) => t switch
    {
        DataType.Float8E4M3FN => MiniFloatFormat.E4M3FN,
        DataType.Float8E4M3FNUZ => MiniFloatFormat.E4M3FNUZ,
        DataType.Float8E5M2 => MiniFloatFormat.E5M2,
        DataType.Float8E5M2FNUZ => MiniFloatFormat.E5M2FNUZ,
        DataType.Float4E2M1 => MiniFloatFormat.E2M1,
        _ => null,
    };

    // ---- direct generic path for primitive numeric pairs ----

    private static bool TryDirect(Tensor src, Tensor dst, int o, int n) => src.ElementType switch
    {
        DataType.Float => From<float>(src, dst, o, n),
        DataType.Double => From<double>(src, dst, o, n),
        DataType.Float16 => From<Half>(src, dst, o, n),
        DataType.Int8 => From<sbyte>(src, dst, o, n),
        DataType.Int16 => From<short>(src, dst, o, n),
        DataType.Int32 => From<int>(src, dst, o, n),
        DataType.Int64 => From<long>(src, dst, o, n),
        DataType.UInt8 => From<byte>(src, dst, o, n),
        DataType.UInt16 => From<ushort>(src, dst, o, n),
        DataType.UInt32 => From<uint>(src, dst, o, n),
        DataType.UInt64 => From<ulong>(src, dst, o, n),
        // bool arrays hold only 0/1 bytes (the loader and every kernel normalise them), so read them as bytes.
        DataType.Bool => From(System.Runtime.InteropServices.MemoryMarshal.Cast<bool, byte>(src.ReadOnlySpan<bool>()).Slice(o, n), dst, o, n),
        _ => false,
    };

    private static bool From<TS>(Tensor src, Tensor dst, int o, int n) where TS : unmanaged, INumberBase<TS> =>
        From(src.ReadOnlySpan<TS>().Slice(o, n), dst, o, n);

    private static bool From<TS>(ReadOnlySpan<TS> s, Tensor dst, int o, int n) where TS : unmanaged, INumberBase<TS>
    {
        switch (dst.ElementType)
        {
            case DataType.Float: Run(s, dst.Span<float>().Slice(o, n)); return true;
            case DataType.Double: Run(s, dst.Span<double>().Slice(o, n)); return true;
            case DataType.Float16: Run(s, dst.Span<Half>().Slice(o, n)); return true;
            case DataType.Int8: Run(s, dst.Span<sbyte>().Slice(o, n)); return true;
            case DataType.Int16: Run(s, dst.Span<short>().Slice(o, n)); return true;
            case DataType.Int32: Run(s, dst.Span<int>().Slice(o, n)); return true;
            case DataType.Int64: Run(s, dst.Span<long>().Slice(o, n)); return true;
            case DataType.UInt8: Run(s, dst.Span<byte>().Slice(o, n)); return true;
            case DataType.UInt16: Run(s, dst.Span<ushort>().Slice(o, n)); return true;
            case DataType.UInt32: Run(s, dst.Span<uint>().Slice(o, n)); return true;
            case DataType.UInt64: Run(s, dst.Span<ulong>().Slice(o, n)); return true;
            case DataType.Bool:
            {
                var d = dst.Span<bool>().Slice(o, n);
                for (int i = 0; i < s.Length; i++) d[i] = !TS.IsZero(s[i]);
                return true;
            }
            default: return false;
        }
    }

    private static bool IsFloating<T>() => typeof(T) == typeof(float) || typeof(T) == typeof(double) || typeof(T) == typeof(Half);

    private static void Run<TS, TD>(ReadOnlySpan<TS> s, Span<TD> d)
        where TS : unmanaged, INumberBase<TS> where TD : unmanaged, INumberBase<TD>
    {
        if (IsFloating<TS>() && !IsFloating<TD>())
        {
            // Float to integer: truncate toward zero into int64, then wrap to the narrower width.
            if (typeof(TD) == typeof(ulong))
                for (int i = 0; i < s.Length; i++) d[i] = TD.CreateTruncating(ToUInt64(double.CreateTruncating(s[i])));
            else
                for (int i = 0; i < s.Length; i++) d[i] = TD.CreateTruncating(long.CreateSaturating(s[i]));
            return;
        }
        if (typeof(TS) == typeof(float) && typeof(TD) == typeof(Half))
        {
            HalfConversion.FloatToHalf(System.Runtime.InteropServices.MemoryMarshal.Cast<TS, float>(s), System.Runtime.InteropServices.MemoryMarshal.Cast<TD, Half>(d));
            return;
        }
        if (typeof(TS) == typeof(Half) && typeof(TD) == typeof(float))
        {
            HalfConversion.HalfToFloat(System.Runtime.InteropServices.MemoryMarshal.Cast<TS, Half>(s), System.Runtime.InteropServices.MemoryMarshal.Cast<TD, float>(d));
            return;
        }
        if (typeof(TS) == typeof(float) && typeof(TD) == typeof(double))
        {
            var sf = System.Runtime.InteropServices.MemoryMarshal.Cast<TS, float>(s);
            var dd = System.Runtime.InteropServices.MemoryMarshal.Cast<TD, double>(d);
            for (int i = 0; i < sf.Length; i++) dd[i] = sf[i];
            return;
        }
        for (int i = 0; i < s.Length; i++) d[i] = TD.CreateTruncating(s[i]);
    }

    private static ulong ToUInt64(double v) => v >= 9223372036854775808.0 ? (ulong)v : (ulong)(long)v;

    private static long ToInt64(double v) => (long)v; // truncates; NaN gives 0 and out-of-range saturates (.NET semantics)

    // ---- staged path ----

    private static void ReadDouble(Tensor t, int start, Span<double> buf)
    {
        int n = buf.Length;
        switch (t.ElementType)
        {
            case DataType.Float: { var s = t.ReadOnlySpan<float>().Slice(start, n); for (int i = 0; i < n; i++) buf[i] = s[i]; break; }
            case DataType.Double: t.ReadOnlySpan<double>().Slice(start, n).CopyTo(buf); break;
            case DataType.Float16: { var s = t.ReadOnlySpan<Half>().Slice(start, n); for (int i = 0; i < n; i++) buf[i] = (double)s[i]; break; }
            case DataType.BFloat16: { var s = t.ReadOnlySpan<BFloat16>().Slice(start, n); for (int i = 0; i < n; i++) buf[i] = (float)s[i]; break; }
            case DataType.Bool: { var s = t.ReadOnlySpan<bool>().Slice(start, n); for (int i = 0; i < n; i++) buf[i] = s[i] ? 1 : 0; break; }
            case DataType.Float8E8M0: { var s = t.ReadOnlySpan<byte>().Slice(start, n); for (int i = 0; i < n; i++) buf[i] = E8M0.Decode(s[i]); break; }
            case var ft when MiniFloat(ft) is { } f: { var s = t.ReadOnlySpan<byte>().Slice(start, n); for (int i = 0; i < n; i++) buf[i] = f.Decode(s[i]); break; }
            default:
            {
                if (t.ElementType == DataType.UInt64) { var s = t.ReadOnlySpan<ulong>().Slice(start, n); for (int i = 0; i < n; i++) buf[i] = s[i]; break; }
                Span<long> tmp = stackalloc long[n];
                ReadLong(t, start, tmp);
                for (int i = 0; i < n; i++) buf[i] = tmp[i];
                break;
            }
        }
    }

    private static void ReadLong(Tensor t, int start, Span<long> buf)
    {
        int n = buf.Length;
        switch (t.ElementType)
        {
            case DataType.Int8 or DataType.Int4 or DataType.Int2: { var s = t.ReadOnlySpan<sbyte>().Slice(start, n); for (int i = 0; i < n; i++) buf[i] = s[i]; break; }
            case DataType.UInt8 or DataType.UInt4 or DataType.UInt2: { var s = t.ReadOnlySpan<byte>().Slice(start, n); for (int i = 0; i < n; i++) buf[i] = s[i]; break; }
            case DataType.Int16: { var s = t.ReadOnlySpan<short>().Slice(start, n); for (int i = 0; i < n; i++) buf[i] = s[i]; break; }
            case DataType.UInt16: { var s = t.ReadOnlySpan<ushort>().Slice(start, n); for (int i = 0; i < n; i++) buf[i] = s[i]; break; }
            case DataType.Int32: { var s = t.ReadOnlySpan<int>().Slice(start, n); for (int i = 0; i < n; i++) buf[i] = s[i]; break; }
            case DataType.UInt32: { var s = t.ReadOnlySpan<uint>().Slice(start, n); for (int i = 0; i < n; i++) buf[i] = s[i]; break; }
            case DataType.Int64: t.ReadOnlySpan<long>().Slice(start, n).CopyTo(buf); break;
            case DataType.UInt64: { var s = t.ReadOnlySpan<ulong>().Slice(start, n); for (int i = 0; i < n; i++) buf[i] = (long)s[i]; break; }
            case DataType.Bool: { var s = t.ReadOnlySpan<bool>().Slice(start, n); for (int i = 0; i < n; i++) buf[i] = s[i] ? 1 : 0; break; }
            default: throw new NotSupportedException($"cannot read {t.ElementType.OnnxName()} as integers");
        }
    }

    private static void WriteLong(Tensor t, int start, ReadOnlySpan<long> v)
    {
        int n = v.Length;
        switch (t.ElementType)
        {
            case DataType.Int8: { var d = t.Span<sbyte>().Slice(start, n); for (int i = 0; i < n; i++) d[i] = (sbyte)v[i]; break; }
            case DataType.UInt8: { var d = t.Span<byte>().Slice(start, n); for (int i = 0; i < n; i++) d[i] = (byte)v[i]; break; }
            case DataType.Int16: { var d = t.Span<short>().Slice(start, n); for (int i = 0; i < n; i++) d[i] = (short)v[i]; break; }
            case DataType.UInt16: { var d = t.Span<ushort>().Slice(start, n); for (int i = 0; i < n; i++) d[i] = (ushort)v[i]; break; }
            case DataType.Int32: { var d = t.Span<int>().Slice(start, n); for (int i = 0; i < n; i++) d[i] = (int)v[i]; break; }
            case DataType.UInt32: { var d = t.Span<uint>().Slice(start, n); for (int i = 0; i < n; i++) d[i] = (uint)v[i]; break; }
            case DataType.Int64: v.CopyTo(t.Span<long>().Slice(start, n)); break;
            case DataType.UInt64: { var d = t.Span<ulong>().Slice(start, n); for (int i = 0; i < n; i++) d[i] = (ulong)v[i]; break; }
            case DataType.Bool: { var d = t.Span<bool>().Slice(start, n); for (int i = 0; i < n; i++) d[i] = v[i] != 0; break; }
            // Sub-byte integers wrap to their width (two's complement for the signed ones).
            case DataType.Int4: { var d = t.Span<sbyte>().Slice(start, n); for (int i = 0; i < n; i++) d[i] = (sbyte)((int)(v[i] << 28) >> 28); break; }
            case DataType.UInt4: { var d = t.Span<byte>().Slice(start, n); for (int i = 0; i < n; i++) d[i] = (byte)(v[i] & 0xF); break; }
            case DataType.Int2: { var d = t.Span<sbyte>().Slice(start, n); for (int i = 0; i < n; i++) d[i] = (sbyte)((int)(v[i] << 30) >> 30); break; }
            case DataType.UInt2: { var d = t.Span<byte>().Slice(start, n); for (int i = 0; i < n; i++) d[i] = (byte)(v[i] & 0x3); break; }
            default: throw new NotSupportedException($"cannot write integers as {t.ElementType.OnnxName()}");
        }
    }

    private static void WriteDouble(Tensor t, int start, ReadOnlySpan<double> v, bool saturate, E8M0Rounding rounding)
    {
        int n = v.Length;
        switch (t.ElementType)
        {
            case DataType.Float: { var d = t.Span<float>().Slice(start, n); for (int i = 0; i < n; i++) d[i] = (float)v[i]; break; }
            case DataType.Double: v.CopyTo(t.Span<double>().Slice(start, n)); break;
            case DataType.Float16: { var d = t.Span<Half>().Slice(start, n); for (int i = 0; i < n; i++) d[i] = (Half)v[i]; break; }
            case DataType.BFloat16: { var d = t.Span<BFloat16>().Slice(start, n); for (int i = 0; i < n; i++) d[i] = (BFloat16)(float)v[i]; break; }
            case DataType.Bool: { var d = t.Span<bool>().Slice(start, n); for (int i = 0; i < n; i++) d[i] = v[i] != 0; break; }
            case DataType.Float8E8M0: { var d = t.Span<byte>().Slice(start, n); for (int i = 0; i < n; i++) d[i] = E8M0.Encode((float)v[i], saturate, rounding); break; }
            case var ft when MiniFloat(ft) is { } f: { var d = t.Span<byte>().Slice(start, n); for (int i = 0; i < n; i++) d[i] = f.Encode((float)v[i], saturate); break; }
            case DataType.UInt64: { var d = t.Span<ulong>().Slice(start, n); for (int i = 0; i < n; i++) d[i] = ToUInt64(v[i]); break; }
            default:
            {
                Span<long> tmp = stackalloc long[n];
                for (int i = 0; i < n; i++) tmp[i] = ToInt64(v[i]);
                WriteLong(t, start, tmp);
                break;
            }
        }
    }

    // ---- strings ----

    private static void ToStrings(Tensor src, Span<string> dst)
    {
        int n = src.Length;
        switch (src.ElementType)
        {
            case DataType.Float: { var s = src.ReadOnlySpan<float>(); for (int i = 0; i < n; i++) dst[i] = FormatFloat(s[i]); break; }
            case DataType.Double: { var s = src.ReadOnlySpan<double>(); for (int i = 0; i < n; i++) dst[i] = FormatDouble(s[i]); break; }
            case DataType.Float16: { var s = src.ReadOnlySpan<Half>(); for (int i = 0; i < n; i++) dst[i] = FormatSpecial((double)s[i]) ?? Numpyish(s[i].ToString("R", CultureInfo.InvariantCulture)); break; }
            case DataType.Bool: { var s = src.ReadOnlySpan<bool>(); for (int i = 0; i < n; i++) dst[i] = s[i] ? "True" : "False"; break; }
            case var t when t.IsInteger():
            {
                Span<long> buf = stackalloc long[1];
                for (int i = 0; i < n; i++)
                {
                    if (t == DataType.UInt64) { dst[i] = src.ReadOnlySpan<ulong>()[i].ToString(CultureInfo.InvariantCulture); continue; }
                    ReadLong(src, i, buf);
                    dst[i] = buf[0].ToString(CultureInfo.InvariantCulture);
                }
                break;
            }
            default:
            {
                // bfloat16, float8, float4, e8m0: every value is exact in float32, so format that.
                Span<double> buf = stackalloc double[1];
                for (int i = 0; i < n; i++) { ReadDouble(src, i, buf); dst[i] = FormatFloat((float)buf[0]); }
                break;
            }
        }
    }

    private static string? FormatSpecial(double v) =>
        double.IsNaN(v) ? "NaN" : double.IsPositiveInfinity(v) ? "INF" : double.IsNegativeInfinity(v) ? "-INF" : null;

    /// <summary>Shortest round-trip text, exponent written as numpy does ("1e-07", "1e+20").</summary>
    public static string FormatFloat(float v) => FormatSpecial(v) ?? Numpyish(v.ToString("R", CultureInfo.InvariantCulture));
    public static string FormatDouble(double v) => FormatSpecial(v) ?? Numpyish(v.ToString("R", CultureInfo.InvariantCulture));

    private static string Numpyish(string s)
    {
        int e = s.IndexOf('E');
        if (e < 0) return s;
        string mant = s[..e], exp = s[(e + 1)..];
        char sign = exp[0] == '-' ? '-' : '+';
        exp = exp.TrimStart('+', '-');
        if (exp.Length < 2) exp = "0" + exp;
        return mant + "e" + sign + exp;
    }

    private static void FromStrings(ReadOnlySpan<string> src, Tensor dst, bool saturate, E8M0Rounding rounding)
    {
        bool intTarget = IsIntLike(dst.ElementType);
        Span<long> lb = stackalloc long[1];
        Span<double> db = stackalloc double[1];
        for (int i = 0; i < src.Length; i++)
        {
            string s = (src[i] ?? "").Trim();
            if (intTarget && long.TryParse(s, NumberStyles.Integer, CultureInfo.InvariantCulture, out long l))
            {
                lb[0] = l;
                WriteLong(dst, i, lb);
                continue;
            }
            if (dst.ElementType == DataType.UInt64 && ulong.TryParse(s, NumberStyles.Integer, CultureInfo.InvariantCulture, out ulong ul))
            {
                dst.Span<ulong>()[i] = ul;
                continue;
            }
            if (dst.ElementType == DataType.Bool && bool.TryParse(s, out bool b))
            {
                dst.Span<bool>()[i] = b;
                continue;
            }
            db[0] = ParseDouble(s);
            WriteDouble(dst, i, db, saturate, rounding);
        }
    }

    /// <summary>Parses ONNX's numeric string forms: plain and scientific notation, INF/+INF/-INF/NaN in any case.</summary>
    public static double ParseDouble(string s)
    {
        if (s.Equals("INF", StringComparison.OrdinalIgnoreCase) || s.Equals("+INF", StringComparison.OrdinalIgnoreCase)
            || s.Equals("INFINITY", StringComparison.OrdinalIgnoreCase) || s.Equals("+INFINITY", StringComparison.OrdinalIgnoreCase))
            return double.PositiveInfinity;
        if (s.Equals("-INF", StringComparison.OrdinalIgnoreCase) || s.Equals("-INFINITY", StringComparison.OrdinalIgnoreCase))
            return double.NegativeInfinity;
        if (s.Equals("NAN", StringComparison.OrdinalIgnoreCase) || s.Equals("+NAN", StringComparison.OrdinalIgnoreCase) || s.Equals("-NAN", StringComparison.OrdinalIgnoreCase))
            return double.NaN;
        if (double.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture, out double d)) return d;
        throw new FormatException($"the string \"{s}\" is not a number");
    }
}
