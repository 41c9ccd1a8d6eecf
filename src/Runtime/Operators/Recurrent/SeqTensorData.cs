using System.Numerics;

namespace NetOnnx.Runtime.Operators.Recurrent;

/// <summary>
/// Moves floating tensors in and out of the compute type of the sequence-model kernels: double stays double,
/// float/float16/bfloat16 compute in float.
/// </summary>
internal static class SeqTensorData
{
    public static bool UsesDouble(DataType t) => t == DataType.Double;

    public static bool IsSupported(DataType t) => t is DataType.Float or DataType.Double or DataType.Float16 or DataType.BFloat16;

    /// <summary>
    /// The tensor's elements as T for reading only: its own buffer when it already holds T (no copy; the buffer
    /// may be longer than the tensor), else a converted copy. Callers must never write to the result.
    /// </summary>
    public static T[] ReadShared<T>(Tensor t) where T : unmanaged, IFloatingPointIeee754<T> =>
        t.Buffer is T[] own ? own : Read<T>(t);

    /// <summary>A copy of the tensor's elements as T (float or double).</summary>
    public static T[] Read<T>(Tensor t) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var r = new T[t.Length];
        switch (t.ElementType)
        {
            case DataType.Float:
                if (typeof(T) == typeof(float)) { t.ReadOnlySpan<float>().CopyTo((float[])(object)r); break; }
                { var s = t.ReadOnlySpan<float>(); for (int i = 0; i < r.Length; i++) r[i] = T.CreateTruncating(s[i]); }
                break;
            case DataType.Double:
                if (typeof(T) == typeof(double)) { t.ReadOnlySpan<double>().CopyTo((double[])(object)r); break; }
                { var s = t.ReadOnlySpan<double>(); for (int i = 0; i < r.Length; i++) r[i] = T.CreateTruncating(s[i]); }
                break;
            case DataType.Float16:
                { var s = t.ReadOnlySpan<Half>(); for (int i = 0; i < r.Length; i++) r[i] = T.CreateTruncating((float)s[i]); }
                break;
            case DataType.BFloat16:
                { var s = t.ReadOnlySpan<BFloat16>(); for (int i = 0; i < r.Length; i++) r[i] = T.CreateTruncating((float)s[i]); }
                break;
            default:
                for (int i = 0; i < r.Length; i++) r[i] = T.CreateTruncating(t.GetDouble(i));
                break;
        }
        return r;
    }

    /// <summary>Writes src into dst (same element count), converting to dst's element type.</summary>
    public static void Write<T>(Tensor dst, ReadOnlySpan<T> src) where T : unmanaged, IFloatingPointIeee754<T>
    {
        int n = dst.Length;
        switch (dst.ElementType)
        {
            case DataType.Float:
                { var d = dst.Span<float>(); for (int i = 0; i < n; i++) d[i] = float.CreateTruncating(src[i]); }
                break;
            case DataType.Double:
                { var d = dst.Span<double>(); for (int i = 0; i < n; i++) d[i] = double.CreateTruncating(src[i]); }
                break;
            case DataType.Float16:
                { var d = dst.Span<Half>(); for (int i = 0; i < n; i++) d[i] = (Half)float.CreateTruncating(src[i]); }
                break;
            case DataType.BFloat16:
                { var d = dst.Span<BFloat16>(); for (int i = 0; i < n; i++) d[i] = (BFloat16)float.CreateTruncating(src[i]); }
                break;
            default:
                throw new NotSupportedException($"cannot write {dst.ElementType.OnnxName()} from a floating kernel");
        }
    }

    /// <summary>Reads an integer tensor as int[] (sequence lengths, positions).</summary>
    public static int[] ReadInts(Tensor t)
    {
        var l = t.ToInt64Array();
        var r = new int[l.Length];
        for (int i = 0; i < l.Length; i++) r[i] = (int)Math.Clamp(l[i], int.MinValue, int.MaxValue);
        return r;
    }
}
