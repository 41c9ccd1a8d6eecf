using System.Numerics;

namespace NetOnnx.Runtime.Operators.Reduction;

/// <summary>
/// Moves tensors in and out of a compute type: float/double tensors are used in place, float16/bfloat16 (and
/// other numerics) are converted, so each numeric kernel is written once for float and double.
/// </summary>
internal static class FloatingBridge
{
    public static bool IsFloating(DataType t) => t is DataType.Float or DataType.Double or DataType.Float16 or DataType.BFloat16;

    /// <summary>The tensor's elements as T: the tensor's own span when it already holds T, else a converted copy.</summary>
    public static ReadOnlySpan<T> Read<T>(Tensor t) where T : struct, INumber<T>
    {
        if (t.Buffer is T[]) return t.ReadOnlySpan<T>();
        return ToArray<T>(t);
    }

    public static T[] ToArray<T>(Tensor t) where T : struct, INumber<T>
    {
        var r = new T[t.Length];
        switch (t.ElementType)
        {
            case DataType.Float: { var s = t.ReadOnlySpan<float>(); for (int i = 0; i < r.Length; i++) r[i] = T.CreateTruncating(s[i]); break; }
            case DataType.Double: { var s = t.ReadOnlySpan<double>(); for (int i = 0; i < r.Length; i++) r[i] = T.CreateTruncating(s[i]); break; }
            case DataType.Float16: { var s = t.ReadOnlySpan<Half>(); for (int i = 0; i < r.Length; i++) r[i] = T.CreateTruncating((float)s[i]); break; }
            case DataType.BFloat16: { var s = t.ReadOnlySpan<BFloat16>(); for (int i = 0; i < r.Length; i++) r[i] = T.CreateTruncating((float)s[i]); break; }
            case DataType.Int64: { var s = t.ReadOnlySpan<long>(); for (int i = 0; i < r.Length; i++) r[i] = T.CreateTruncating(s[i]); break; }
            case DataType.Int32: { var s = t.ReadOnlySpan<int>(); for (int i = 0; i < r.Length; i++) r[i] = T.CreateTruncating(s[i]); break; }
            default:
                if (t.ElementType == DataType.String || t.ElementType.IsEncoded())
                    throw new InvalidOperationException($"cannot convert {t.ElementType.OnnxName()} to a number");
                for (int i = 0; i < r.Length; i++) r[i] = T.CreateTruncating(t.GetDouble(i));
                break;
        }
        return r;
    }

    /// <summary>Where a kernel writes its T results for <paramref name="dst"/>: the tensor itself, or a scratch array to <see cref="Commit"/>.</summary>
    public static Span<T> Target<T>(Tensor dst) where T : struct => dst.Buffer is T[] ? dst.Span<T>() : new T[dst.Length];

    /// <summary>Stores T results into <paramref name="dst"/> unless they were written there directly.</summary>
    public static void Commit<T>(ReadOnlySpan<T> src, Tensor dst) where T : struct, INumber<T>
    {
        if (dst.Buffer is T[] arr && src.Overlaps(arr)) return;
        switch (dst.ElementType)
        {
            case DataType.Float: { var d = dst.Span<float>(); for (int i = 0; i < d.Length; i++) d[i] = float.CreateTruncating(src[i]); break; }
            case DataType.Double: { var d = dst.Span<double>(); for (int i = 0; i < d.Length; i++) d[i] = double.CreateTruncating(src[i]); break; }
            case DataType.Float16: { var d = dst.Span<Half>(); for (int i = 0; i < d.Length; i++) d[i] = (Half)float.CreateTruncating(src[i]); break; }
            case DataType.BFloat16: { var d = dst.Span<BFloat16>(); for (int i = 0; i < d.Length; i++) d[i] = (BFloat16)float.CreateTruncating(src[i]); break; }
            case DataType.Int64: { var d = dst.Span<long>(); for (int i = 0; i < d.Length; i++) d[i] = long.CreateSaturating(src[i]); break; }
            case DataType.Int32: { var d = dst.Span<int>(); for (int i = 0; i < d.Length; i++) d[i] = int.CreateSaturating(src[i]); break; }
            case DataType.UInt64: { var d = dst.Span<ulong>(); for (int i = 0; i < d.Length; i++) d[i] = ulong.CreateSaturating(src[i]); break; }
            case DataType.UInt32: { var d = dst.Span<uint>(); for (int i = 0; i < d.Length; i++) d[i] = uint.CreateSaturating(src[i]); break; }
            case DataType.Int16: { var d = dst.Span<short>(); for (int i = 0; i < d.Length; i++) d[i] = short.CreateSaturating(src[i]); break; }
            case DataType.UInt16: { var d = dst.Span<ushort>(); for (int i = 0; i < d.Length; i++) d[i] = ushort.CreateSaturating(src[i]); break; }
            case DataType.Int8: { var d = dst.Span<sbyte>(); for (int i = 0; i < d.Length; i++) d[i] = sbyte.CreateSaturating(src[i]); break; }
            case DataType.UInt8: { var d = dst.Span<byte>(); for (int i = 0; i < d.Length; i++) d[i] = byte.CreateSaturating(src[i]); break; }
            default: throw new InvalidOperationException($"cannot store numbers as {dst.ElementType.OnnxName()}");
        }
    }

    /// <summary>The ONNX element type whose storage is T.</summary>
    public static DataType TypeOf<T>() => DataTypes.FromClr<T>();

    /// <summary>Writes one value (given as double) into element i of a floating tensor.</summary>
    public static void SetOne(Tensor t, int i)
    {
        switch (t.ElementType)
        {
            case DataType.Float: t.Span<float>()[i] = 1f; break;
            case DataType.Double: t.Span<double>()[i] = 1d; break;
            case DataType.Float16: t.Span<Half>()[i] = Half.One; break;
            case DataType.BFloat16: t.Span<BFloat16>()[i] = (BFloat16)1f; break;
            default: throw new InvalidOperationException($"{t.ElementType.OnnxName()} is not a floating type");
        }
    }
}
