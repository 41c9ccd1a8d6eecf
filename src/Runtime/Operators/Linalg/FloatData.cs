using NetOnnx.Kernels;

namespace NetOnnx.Runtime.Operators.Linalg;

/// <summary>
/// Float views of half-precision tensors: float16/bfloat16 math runs through the float kernels and
/// is rounded back once at the end, which is also more accurate than accumulating in 16 bits.
/// </summary>
internal static class FloatData
{
    public static bool IsHalfLike(DataType t) => t is DataType.Float16 or DataType.BFloat16;

    /// <summary>The tensor's elements as floats: the buffer itself for float, a converted copy otherwise.</summary>
    public static float[] Read(Tensor t)
    {
        switch (t.ElementType)
        {
            case DataType.Float: return (float[])t.Buffer;
            case DataType.Float16:
            {
                var s = t.ReadOnlySpan<Half>(); var r = new float[s.Length];
                for (int i = 0; i < r.Length; i++) r[i] = (float)s[i];
                return r;
            }
            case DataType.BFloat16:
            {
                var s = t.ReadOnlySpan<BFloat16>(); var r = new float[s.Length];
                for (int i = 0; i < r.Length; i++) r[i] = (float)s[i];
                return r;
            }
            case DataType.Double:
            {
                var s = t.ReadOnlySpan<double>(); var r = new float[s.Length];
                for (int i = 0; i < r.Length; i++) r[i] = (float)s[i];
                return r;
            }
            default: throw new NotSupportedException($"{t.ElementType.OnnxName()} has no float view");
        }
    }

    /// <summary>Writes floats into a float16/bfloat16/double/float tensor.</summary>
    public static void Write(ReadOnlySpan<float> src, Tensor dst)
    {
        switch (dst.ElementType)
        {
            case DataType.Float: src.CopyTo(dst.Span<float>()); break;
            case DataType.Float16: { var d = dst.Span<Half>(); for (int i = 0; i < d.Length; i++) d[i] = (Half)src[i]; break; }
            case DataType.BFloat16: { var d = dst.Span<BFloat16>(); for (int i = 0; i < d.Length; i++) d[i] = (BFloat16)src[i]; break; }
            case DataType.Double: { var d = dst.Span<double>(); for (int i = 0; i < d.Length; i++) d[i] = src[i]; break; }
            default: throw new NotSupportedException($"{dst.ElementType.OnnxName()} has no float view");
        }
    }
}
