using NetOnnx.Kernels.Threading;

namespace NetOnnx.Runtime.Operators.Vision;

/// <summary>Conversions between tensors of any real element type and float/double working buffers.</summary>
internal static class VisionTensors
{
    public static float[] ToFloat(Tensor t)
    {
        if (t.ElementType == DataType.Float) return t.ReadOnlySpan<float>().ToArray();
        var r = new float[t.Length];
        switch (t.ElementType)
        {
            case DataType.Float16: { var s = t.ReadOnlySpan<Half>(); for (int i = 0; i < r.Length; i++) r[i] = (float)s[i]; break; }
            case DataType.BFloat16: { var s = t.ReadOnlySpan<BFloat16>(); for (int i = 0; i < r.Length; i++) r[i] = (float)s[i]; break; }
            default: for (int i = 0; i < r.Length; i++) r[i] = (float)t.GetDouble(i); break;
        }
        return r;
    }

    public static double[] ToDouble(Tensor t)
    {
        if (t.ElementType == DataType.Double) return t.ReadOnlySpan<double>().ToArray();
        var r = new double[t.Length];
        if (t.ElementType == DataType.Float) { var s = t.ReadOnlySpan<float>(); for (int i = 0; i < r.Length; i++) r[i] = s[i]; }
        else for (int i = 0; i < r.Length; i++) r[i] = t.GetDouble(i);
        return r;
    }

    /// <summary>Writes values into a tensor of any real type; integers are rounded and saturated.</summary>
    public static void Store(Tensor t, float[] v)
    {
        switch (t.ElementType)
        {
            case DataType.Float: v.AsSpan(0, t.Length).CopyTo(t.Span<float>()); break;
            case DataType.Double: { var d = t.Span<double>(); for (int i = 0; i < d.Length; i++) d[i] = v[i]; break; }
            case DataType.Float16: { var d = t.Span<Half>(); for (int i = 0; i < d.Length; i++) d[i] = (Half)v[i]; break; }
            case DataType.BFloat16: { var d = t.Span<BFloat16>(); for (int i = 0; i < d.Length; i++) d[i] = (BFloat16)v[i]; break; }
            default: StoreInteger(t, i => v[i]); break;
        }
    }

    public static void Store(Tensor t, double[] v)
    {
        switch (t.ElementType)
        {
            case DataType.Double: v.AsSpan(0, t.Length).CopyTo(t.Span<double>()); break;
            case DataType.Float: { var d = t.Span<float>(); for (int i = 0; i < d.Length; i++) d[i] = (float)v[i]; break; }
            case DataType.Float16: { var d = t.Span<Half>(); for (int i = 0; i < d.Length; i++) d[i] = (Half)v[i]; break; }
            case DataType.BFloat16: { var d = t.Span<BFloat16>(); for (int i = 0; i < d.Length; i++) d[i] = (BFloat16)(float)v[i]; break; }
            default: StoreInteger(t, i => v[i]); break;
        }
    }

    private static void StoreInteger(Tensor t, Func<int, double> get)
    {
        int n = t.Length;
        switch (t.ElementType)
        {
            case DataType.UInt8: { var d = t.Span<byte>(); for (int i = 0; i < n; i++) d[i] = (byte)Math.Clamp(Math.Round(get(i)), 0, 255); break; }
            case DataType.Int8: { var d = t.Span<sbyte>(); for (int i = 0; i < n; i++) d[i] = (sbyte)Math.Clamp(Math.Round(get(i)), -128, 127); break; }
            case DataType.UInt16: { var d = t.Span<ushort>(); for (int i = 0; i < n; i++) d[i] = (ushort)Math.Clamp(Math.Round(get(i)), 0, ushort.MaxValue); break; }
            case DataType.Int16: { var d = t.Span<short>(); for (int i = 0; i < n; i++) d[i] = (short)Math.Clamp(Math.Round(get(i)), short.MinValue, short.MaxValue); break; }
            case DataType.Int32: { var d = t.Span<int>(); for (int i = 0; i < n; i++) d[i] = (int)Math.Clamp(Math.Round(get(i)), int.MinValue, int.MaxValue); break; }
            case DataType.UInt32: { var d = t.Span<uint>(); for (int i = 0; i < n; i++) d[i] = (uint)Math.Clamp(Math.Round(get(i)), 0, uint.MaxValue); break; }
            case DataType.Int64: { var d = t.Span<long>(); for (int i = 0; i < n; i++) d[i] = (long)Math.Round(get(i)); break; }
            case DataType.UInt64: { var d = t.Span<ulong>(); for (int i = 0; i < n; i++) d[i] = (ulong)Math.Max(0, Math.Round(get(i))); break; }
            default: throw new NotSupportedException($"element type {t.ElementType.OnnxName()} is not supported here");
        }
    }

    /// <summary>
    /// Splits [0, count) into one contiguous range per thread and runs body on each; runs inline when the work
    /// (count * workPerItem) is too small to be worth the hand-off.
    /// </summary>
    public static void ParallelRanges(int count, long workPerItem, int threads, Action<int, int> body)
    {
        if (threads <= 1 || count < 2 || count * workPerItem < (1 << 15)) { body(0, count); return; }
        IntraOpPool.ForRanges(count, threads, body);
    }

    public static bool IsReal(DataType t) => (t.IsFloat() || t.IsInteger()) && !t.IsEncoded();
}
