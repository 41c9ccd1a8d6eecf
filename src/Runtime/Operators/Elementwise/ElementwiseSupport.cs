using System.Numerics;
using NetOnnx.Kernels;
using NetOnnx.Kernels.Elementwise;
using NetOnnx.Kernels.Threading;

namespace NetOnnx.Runtime.Operators.Elementwise;

/// <summary>Shape and type helpers shared by the element-wise kernels.</summary>
internal static class Ew
{
    /// <summary>Smallest per-thread share of a large element-wise op (smaller ones are not worth a thread).</summary>
    public const int MinChunk = 32 * 1024;

    /// <summary>Threads <see cref="Chunked"/> would use for n items (1: the body runs once, on the caller).</summary>
    public static int Threads(KernelContext ctx, int n, int itemSize = 1) => (int)Math.Max(1, Math.Min(ctx.Threads, (long)n * itemSize / MinChunk));

    /// <summary>Runs body(start, length) over [0, n) split across up to ctx.Threads threads when n is large.</summary>
    public static void Chunked(KernelContext ctx, int n, Action<int, int> body, int itemSize = 1)
    {
        int threads = Threads(ctx, n, itemSize);
        if (threads <= 1) { body(0, n); return; }
        ChunkedParallel(n, body, itemSize, threads);
    }

    // Apart from Chunked so its closure is only allocated when threads are used.
    private static void ChunkedParallel(int n, Action<int, int> body, int itemSize, int threads)
    {
        // A few chunks per thread, taken dynamically, so a worker that starts late costs only its last chunk.
        int parts = (int)Math.Min(4L * threads, (long)n * itemSize / (MinChunk / 4));
        // Chunk boundaries on 64-element multiples keep every chunk's SIMD loop aligned alike.
        int chunk = (n + parts - 1) / parts;
        if (itemSize == 1) chunk = (chunk + 63) & ~63;
        IntraOpPool.For(parts, threads, t =>
        {
            int s = t * chunk;
            int len = Math.Min(chunk, n - s);
            if (len > 0) body(s, len);
        });
    }

    public static InferenceException Unsupported(KernelContext ctx, DataType t) =>
        ctx.Error($"element type {t.OnnxName()} is not supported by {ctx.Node.OpType}");

    public static int[] Broadcast(KernelContext ctx, int[] a, int[] b)
    {
        try { return ShapeMath.Broadcast(a, b); }
        catch (ArgumentException e) { throw ctx.Error(e.Message); }
    }

    public static void SameType(KernelContext ctx, Tensor a, Tensor b)
    {
        if (a.ElementType != b.ElementType)
            throw ctx.Error($"inputs have different element types {a.ElementType.OnnxName()} and {b.ElementType.OnnxName()}");
    }

    /// <summary>Half and bfloat16 tensors widened to float for computing.</summary>
    public static float[] ToFloat(Tensor t)
    {
        var r = new float[t.Length];
        switch (t.ElementType)
        {
            case DataType.Float: t.ReadOnlySpan<float>().CopyTo(r); break;
            case DataType.Float16: { var s = t.ReadOnlySpan<Half>(); for (int i = 0; i < r.Length; i++) r[i] = (float)s[i]; break; }
            case DataType.BFloat16: { var s = t.ReadOnlySpan<BFloat16>(); for (int i = 0; i < r.Length; i++) r[i] = (float)s[i]; break; }
            default: for (int i = 0; i < r.Length; i++) r[i] = (float)t.GetDouble(i); break;
        }
        return r;
    }

    /// <summary>Stores float results into a float, float16 or bfloat16 tensor.</summary>
    public static void FromFloat(ReadOnlySpan<float> src, Tensor dst)
    {
        switch (dst.ElementType)
        {
            case DataType.Float: src.CopyTo(dst.Span<float>()); break;
            case DataType.Float16: { var d = dst.Span<Half>(); for (int i = 0; i < d.Length; i++) d[i] = (Half)src[i]; break; }
            case DataType.BFloat16: { var d = dst.Span<BFloat16>(); for (int i = 0; i < d.Length; i++) d[i] = (BFloat16)src[i]; break; }
            default: throw new InvalidOperationException($"cannot store float results as {dst.ElementType.OnnxName()}");
        }
    }

    /// <summary>Any numeric tensor as doubles (Pow's mixed base/exponent types).</summary>
    public static double[] ToDouble(Tensor t)
    {
        var r = new double[t.Length];
        switch (t.ElementType)
        {
            case DataType.Float: { var s = t.ReadOnlySpan<float>(); for (int i = 0; i < r.Length; i++) r[i] = s[i]; break; }
            case DataType.Double: t.ReadOnlySpan<double>().CopyTo(r); break;
            case DataType.Int32: { var s = t.ReadOnlySpan<int>(); for (int i = 0; i < r.Length; i++) r[i] = s[i]; break; }
            case DataType.Int64: { var s = t.ReadOnlySpan<long>(); for (int i = 0; i < r.Length; i++) r[i] = s[i]; break; }
            default: for (int i = 0; i < r.Length; i++) r[i] = t.GetDouble(i); break;
        }
        return r;
    }

    /// <summary>
    /// Opset 1-6 binary ops with broadcast=1 broadcast B onto A starting at <c>axis</c> (suffix-aligned when
    /// axis is absent). Padding B's shape with trailing 1s turns that into a numpy broadcast.
    /// </summary>
    public static int[] LegacyShapeB(KernelContext ctx, Tensor a, Tensor b, long? axis)
    {
        if (axis is null) return b.Shape;
        int ra = a.Rank, rb = b.Rank;
        long ax = axis.Value < 0 ? axis.Value + ra : axis.Value;
        if (ax < 0 || ax + rb > ra)
            throw ctx.Error($"broadcast axis {axis.Value} does not fit B of shape {ShapeMath.Format(b.Shape)} into A of shape {ShapeMath.Format(a.Shape)}");
        var s = new int[ra - ax];
        for (int i = 0; i < s.Length; i++) s[i] = i < rb ? b.Shape[i] : 1;
        return s;
    }
}

/// <summary>
/// A binary op's broadcast output shape, reused while its input shapes repeat, so a warm run allocates no shape
/// array. Concurrent runs replace the entry whole; each reads a consistent one.
/// </summary>
internal sealed class BroadcastShapeCache
{
    private sealed record Entry(int[] A, int[] B, int[] Out);
    private Entry? _last;

    public int[] Get(KernelContext ctx, int[] a, int[] b)
    {
        var e = _last;
        if (e is not null && e.A.AsSpan().SequenceEqual(a) && e.B.AsSpan().SequenceEqual(b)) return e.Out;
        var o = Ew.Broadcast(ctx, a, b);
        _last = new Entry((int[])a.Clone(), (int[])b.Clone(), o);
        return o;
    }
}

/// <summary>Opset 1-6 "broadcast"/"axis" attributes of binary ops, read once per node.</summary>
internal readonly struct LegacyBroadcast
{
    public readonly bool Enabled;
    public readonly long? Axis;

    public LegacyBroadcast(KernelInfo info)
    {
        Enabled = info.OpsetVersion < 7 && info.GetInt("broadcast", 0) != 0;
        Axis = Enabled && info.Node.HasAttr("axis") ? info.GetInt("axis", 0) : null;
    }

    /// <summary>The shapes to broadcast: B reshaped for legacy broadcasting when enabled.</summary>
    public (int[] bShape, int[] outShape) Shapes(KernelContext ctx, Tensor a, Tensor b, BroadcastShapeCache? cache = null)
    {
        var bs = Enabled ? Ew.LegacyShapeB(ctx, a, b, Axis) : b.Shape;
        return (bs, cache is not null && !Enabled ? cache.Get(ctx, a.Shape, bs) : Ew.Broadcast(ctx, a.Shape, bs));
    }
}

/// <summary>A same-type arithmetic operation applied with broadcasting to one element type.</summary>
internal interface IArith
{
    static abstract void Run<T>(ReadOnlySpan<T> a, ReadOnlySpan<int> aShape, ReadOnlySpan<T> b, ReadOnlySpan<int> bShape,
        Span<T> dst, ReadOnlySpan<int> outShape) where T : struct, INumber<T>;
    /// <summary>Whether integer element types are allowed.</summary>
    static virtual bool Integers => true;
}

internal static class Arith
{
    /// <summary>dst = a op b with broadcasting, dispatched on the element type (bfloat16 through float).</summary>
    public static void Dispatch<TA>(KernelContext ctx, Tensor a, int[] aShape, Tensor b, int[] bShape, Tensor o) where TA : IArith
    {
        var t = o.ElementType;
        if (!TA.Integers && t.IsInteger()) throw Ew.Unsupported(ctx, t);
        int n = o.Length;
        if (t is DataType.Float or DataType.Double or DataType.Float16 && n >= 2 * Ew.MinChunk && ctx.Threads > 1
            && Threaded<TA>(ctx, a, aShape, b, bShape, o)) return;
        try
        {
            Typed<TA>(ctx, a, 0, a.Length, aShape, b, 0, b.Length, bShape, o, 0, n, o.Shape);
        }
        catch (DivideByZeroException) { throw ctx.Error("integer division by zero"); }
        catch (OverflowException) { throw ctx.Error("integer overflow (minimum value divided by -1)"); }
    }

    /// <summary>
    /// The threaded cases of <see cref="Dispatch"/> (large floating-point outputs); false when none applies. Apart so
    /// their closures are only allocated here: the compiler makes them on entry to the method that declares what they capture.
    /// </summary>
    private static bool Threaded<TA>(KernelContext ctx, Tensor a, int[] aShape, Tensor b, int[] bShape, Tensor o) where TA : IArith
    {
        int n = o.Length;
        // Large flat cases (same shape or a scalar side) of floating types split across threads; each chunk is
        // again a flat case. Integer types stay serial so a division by zero surfaces as itself.
        if ((a.Length == n || a.Length == 1) && (b.Length == n || b.Length == 1))
        {
            Ew.Chunked(ctx, n, (s, len) =>
            {
                bool af = a.Length == n, bf = b.Length == n;
                Typed<TA>(ctx, a, af ? s : 0, af ? len : 1, af ? [len] : [1], b, bf ? s : 0, bf ? len : 1, bf ? [len] : [1], o, s, len, [len]);
            });
            return true;
        }
        // A full-size side combined with a side that repeats along the leading dimensions (bias over [batch, seq, hidden]):
        // split whole repeats across threads, each chunk being [rows, repeat] against the repeating side.
        {
            bool aFull = a.Length == n && ShapeMath.SameShape(aShape, o.Shape), bFull = b.Length == n && ShapeMath.SameShape(bShape, o.Shape);
            int rep = aFull && !bFull && IsTrailing(bShape, o.Shape) ? b.Length : bFull && !aFull && IsTrailing(aShape, o.Shape) ? a.Length : 0;
            if (rep > 0)
            {
                int rows = n / rep;
                Ew.Chunked(ctx, rows, (r0, nr) =>
                {
                    int s = r0 * rep, len = nr * rep;
                    int[] full = [nr, rep], small = [rep];
                    if (aFull) Typed<TA>(ctx, a, s, len, full, b, 0, rep, small, o, s, len, full);
                    else Typed<TA>(ctx, a, 0, rep, small, b, s, len, full, o, s, len, full);
                }, rep);
                return true;
            }
        }
        return false;
    }

    /// <summary>Whether shape, without leading 1s, equals the trailing dimensions of outShape (so it repeats contiguously).</summary>
    private static bool IsTrailing(int[] shape, int[] outShape)
    {
        int k = 0;
        while (k < shape.Length && shape[k] == 1) k++;
        int len = shape.Length - k;
        if (len == 0 || len > outShape.Length) return false;
        for (int i = 0; i < len; i++) if (shape[k + i] != outShape[outShape.Length - len + i]) return false;
        return true;
    }

    private static void Typed<TA>(KernelContext ctx, Tensor a, int a0, int aN, int[] aShape, Tensor b, int b0, int bN, int[] bShape,
        Tensor o, int o0, int oN, int[] oShape) where TA : IArith
    {
        switch (o.ElementType)
        {
            case DataType.Float: Run<TA, float>(a, a0, aN, aShape, b, b0, bN, bShape, o, o0, oN, oShape); break;
            case DataType.Double: Run<TA, double>(a, a0, aN, aShape, b, b0, bN, bShape, o, o0, oN, oShape); break;
            case DataType.Float16: Run<TA, Half>(a, a0, aN, aShape, b, b0, bN, bShape, o, o0, oN, oShape); break;
            case DataType.Int8: Run<TA, sbyte>(a, a0, aN, aShape, b, b0, bN, bShape, o, o0, oN, oShape); break;
            case DataType.Int16: Run<TA, short>(a, a0, aN, aShape, b, b0, bN, bShape, o, o0, oN, oShape); break;
            case DataType.Int32: Run<TA, int>(a, a0, aN, aShape, b, b0, bN, bShape, o, o0, oN, oShape); break;
            case DataType.Int64: Run<TA, long>(a, a0, aN, aShape, b, b0, bN, bShape, o, o0, oN, oShape); break;
            case DataType.UInt8: Run<TA, byte>(a, a0, aN, aShape, b, b0, bN, bShape, o, o0, oN, oShape); break;
            case DataType.UInt16: Run<TA, ushort>(a, a0, aN, aShape, b, b0, bN, bShape, o, o0, oN, oShape); break;
            case DataType.UInt32: Run<TA, uint>(a, a0, aN, aShape, b, b0, bN, bShape, o, o0, oN, oShape); break;
            case DataType.UInt64: Run<TA, ulong>(a, a0, aN, aShape, b, b0, bN, bShape, o, o0, oN, oShape); break;
            case DataType.BFloat16:
            {
                var fo = new float[o.Length];
                TA.Run<float>(Ew.ToFloat(a), aShape, Ew.ToFloat(b), bShape, fo, o.Shape);
                Ew.FromFloat(fo, o);
                break;
            }
            default: throw Ew.Unsupported(ctx, o.ElementType);
        }
    }

    private static void Run<TA, T>(Tensor a, int a0, int aN, int[] aShape, Tensor b, int b0, int bN, int[] bShape,
        Tensor o, int o0, int oN, int[] oShape) where TA : IArith where T : struct, INumber<T> =>
        TA.Run(a.ReadOnlySpan<T>().Slice(a0, aN), aShape, b.ReadOnlySpan<T>().Slice(b0, bN), bShape, o.Span<T>().Slice(o0, oN), oShape);
}

internal readonly struct AddArith : IArith
{
    public static void Run<T>(ReadOnlySpan<T> a, ReadOnlySpan<int> aS, ReadOnlySpan<T> b, ReadOnlySpan<int> bS, Span<T> d, ReadOnlySpan<int> oS)
        where T : struct, INumber<T> => Broadcasting.BinaryVector<T, AddOperator<T>>(a, aS, b, bS, d, oS);
}

internal readonly struct SubArith : IArith
{
    public static void Run<T>(ReadOnlySpan<T> a, ReadOnlySpan<int> aS, ReadOnlySpan<T> b, ReadOnlySpan<int> bS, Span<T> d, ReadOnlySpan<int> oS)
        where T : struct, INumber<T> => Broadcasting.BinaryVector<T, SubtractOperator<T>>(a, aS, b, bS, d, oS);
}

internal readonly struct MulArith : IArith
{
    public static void Run<T>(ReadOnlySpan<T> a, ReadOnlySpan<int> aS, ReadOnlySpan<T> b, ReadOnlySpan<int> bS, Span<T> d, ReadOnlySpan<int> oS)
        where T : struct, INumber<T> => Broadcasting.BinaryVector<T, MultiplyOperator<T>>(a, aS, b, bS, d, oS);
}

internal readonly struct DivArith : IArith
{
    // Floating division vectorises; integer division truncates and must trap on zero, so it stays scalar.
    public static void Run<T>(ReadOnlySpan<T> a, ReadOnlySpan<int> aS, ReadOnlySpan<T> b, ReadOnlySpan<int> bS, Span<T> d, ReadOnlySpan<int> oS)
        where T : struct, INumber<T>
    {
        if (typeof(T) == typeof(float) || typeof(T) == typeof(double)) Broadcasting.BinaryVector<T, DivideOperator<T>>(a, aS, b, bS, d, oS);
        else Broadcasting.Binary<T, T, IntDivideOperator<T>>(a, aS, b, bS, d, oS);
    }
}

internal readonly struct MaxArith : IArith
{
    public static void Run<T>(ReadOnlySpan<T> a, ReadOnlySpan<int> aS, ReadOnlySpan<T> b, ReadOnlySpan<int> bS, Span<T> d, ReadOnlySpan<int> oS)
        where T : struct, INumber<T> => Broadcasting.BinaryVector<T, MaxOperator<T>>(a, aS, b, bS, d, oS);
}

internal readonly struct MinArith : IArith
{
    public static void Run<T>(ReadOnlySpan<T> a, ReadOnlySpan<int> aS, ReadOnlySpan<T> b, ReadOnlySpan<int> bS, Span<T> d, ReadOnlySpan<int> oS)
        where T : struct, INumber<T> => Broadcasting.BinaryVector<T, MinOperator<T>>(a, aS, b, bS, d, oS);
}

internal readonly struct FloorModArith : IArith
{
    public static void Run<T>(ReadOnlySpan<T> a, ReadOnlySpan<int> aS, ReadOnlySpan<T> b, ReadOnlySpan<int> bS, Span<T> d, ReadOnlySpan<int> oS)
        where T : struct, INumber<T> => Broadcasting.Binary<T, T, FloorModOperator<T>>(a, aS, b, bS, d, oS);
}

internal readonly struct TruncModArith : IArith
{
    public static void Run<T>(ReadOnlySpan<T> a, ReadOnlySpan<int> aS, ReadOnlySpan<T> b, ReadOnlySpan<int> bS, Span<T> d, ReadOnlySpan<int> oS)
        where T : struct, INumber<T> => Broadcasting.Binary<T, T, TruncModOperator<T>>(a, aS, b, bS, d, oS);
}

internal readonly struct PReluArith : IArith
{
    public static void Run<T>(ReadOnlySpan<T> a, ReadOnlySpan<int> aS, ReadOnlySpan<T> b, ReadOnlySpan<int> bS, Span<T> d, ReadOnlySpan<int> oS)
        where T : struct, INumber<T> => Broadcasting.Binary<T, T, PReluOperator<T>>(a, aS, b, bS, d, oS);
}
