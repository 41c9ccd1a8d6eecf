using System.Numerics;
using NetOnnx.Kernels;
using NetOnnx.Kernels.Reduction;
using NetOnnx.Kernels.Threading;
using NetOnnx.Runtime.Operators.Reduction;

namespace NetOnnx.Runtime.Operators.Normalization;

/// <summary>Parameter reading and type dispatch shared by the normalisation kernels.</summary>
internal static class NormalizationHelpers
{
    /// <summary>Whether the node computes in double (double input) rather than float (float, float16, bfloat16).</summary>
    public static bool UsesDouble(KernelContext ctx, Tensor x) => x.ElementType switch
    {
        DataType.Double => true,
        DataType.Float or DataType.Float16 or DataType.BFloat16 => false,
        _ => throw ctx.Error($"does not support element type {x.ElementType.OnnxName()}"),
    };

    /// <summary>A per-channel parameter as T, checked to hold exactly <paramref name="count"/> elements.</summary>
    public static T[] Param<T>(KernelContext ctx, Tensor p, int count, string name) where T : struct, INumber<T>
    {
        if (p.Length != count) throw ctx.Error($"{name} has shape {ShapeMath.Format(p.Shape)} ({p.Length} elements), expected {count}");
        if (!FloatingBridge.IsFloating(p.ElementType)) throw ctx.Error($"{name} has element type {p.ElementType.OnnxName()}, expected a floating type");
        return FloatingBridge.ToArray<T>(p);
    }

    /// <summary>
    /// Parameter <paramref name="p"/> broadcast (numpy rules, from the right) to <paramref name="shape"/> and
    /// returned flat, e.g. a LayerNormalization scale over the normalised dimensions.
    /// </summary>
    public static T[] Expand<T>(KernelContext ctx, Tensor p, ReadOnlySpan<int> shape, string name) where T : struct, INumber<T>
    {
        if (!FloatingBridge.IsFloating(p.ElementType)) throw ctx.Error($"{name} has element type {p.ElementType.OnnxName()}, expected a floating type");
        var src = FloatingBridge.ToArray<T>(p);
        int n = ShapeMath.Size(shape);
        if (ShapeMath.SameShape(p.Shape, shape) || (p.Length == n && p.Rank <= shape.Length)) return src;
        if (p.Rank > shape.Length) throw ctx.Error($"{name} of shape {ShapeMath.Format(p.Shape)} cannot broadcast to {ShapeMath.Format(shape)}");
        int off = shape.Length - p.Rank;
        for (int i = 0; i < p.Rank; i++)
            if (p.Shape[i] != 1 && p.Shape[i] != shape[i + off])
                throw ctx.Error($"{name} of shape {ShapeMath.Format(p.Shape)} cannot broadcast to {ShapeMath.Format(shape)}");
        var strides = ShapeMath.BroadcastStrides(p.Shape, shape);
        var r = new T[n];
        Span<int> idx = stackalloc int[shape.Length];
        for (int i = 0; i < n; i++)
        {
            int o = 0;
            for (int d = 0; d < shape.Length; d++) o += idx[d] * strides[d];
            r[i] = src[o];
            for (int d = shape.Length - 1; d >= 0; d--) { if (++idx[d] < shape[d]) break; idx[d] = 0; }
        }
        return r;
    }

    /// <summary>Runs body(start, end) over [0, rows) in contiguous pieces on up to <paramref name="threads"/> threads when the work is large.</summary>
    public static void ForRows(int rows, int rowLength, int threads, Action<int, int> body)
    {
        int chunks = Math.Min(ReduceKernels.Chunks((long)rows * rowLength, threads), Math.Max(rows, 1));
        if (chunks <= 1) { body(0, rows); return; }
        IntraOpPool.ForRanges(rows, chunks, body);
    }

    /// <summary>The element type of declared output i, or <paramref name="fallback"/> when unknown.</summary>
    public static DataType OutputType(KernelInfo info, int i, DataType fallback) =>
        i < info.OutputTypes.Count && info.OutputTypes[i] is TensorType t && t.ElementType != DataType.Undefined ? t.ElementType : fallback;

    /// <summary>The type named by a stash_type attribute (1 float, 11 double, 10 float16, 16 bfloat16).</summary>
    public static DataType StashType(KernelInfo info)
    {
        long s = info.GetInt("stash_type", 1);
        var t = (DataType)s;
        if (!FloatingBridge.IsFloating(t)) throw info.Error($"stash_type {s} is not a floating element type");
        return t;
    }
}
