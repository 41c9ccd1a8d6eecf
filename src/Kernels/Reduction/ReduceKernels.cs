using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using NetOnnx.Kernels.Threading;

namespace NetOnnx.Kernels.Reduction;

/// <summary>
/// A reduction as a struct: elements are mapped (identity, square, abs) then combined with an associative
/// operation that has SIMD forms, so one walker serves Sum, SumSquare, L1, Prod, Max and Min.
/// </summary>
public interface IReduceOperator<T> where T : struct, INumber<T>
{
    static abstract T Identity { get; }
    static abstract T Map(T x);
    static abstract T Combine(T acc, T x);
    static abstract Vector512<T> Map(Vector512<T> x);
    static abstract Vector512<T> Combine(Vector512<T> acc, Vector512<T> x);
    static abstract Vector256<T> Map(Vector256<T> x);
    static abstract Vector256<T> Combine(Vector256<T> acc, Vector256<T> x);
    static abstract Vector128<T> Map(Vector128<T> x);
    static abstract Vector128<T> Combine(Vector128<T> acc, Vector128<T> x);
}

/// <summary>Smallest and largest values of a numeric type (infinities for floating types).</summary>
public static class NumericLimits<T> where T : struct, INumber<T>
{
    public static readonly T Lowest = GetLowest();
    public static readonly T Highest = GetHighest();

    private static T GetLowest()
    {
        if (typeof(T) == typeof(float)) return (T)(object)float.NegativeInfinity;
        if (typeof(T) == typeof(double)) return (T)(object)double.NegativeInfinity;
        if (typeof(T) == typeof(Half)) return (T)(object)Half.NegativeInfinity;
        if (typeof(T) == typeof(sbyte)) return (T)(object)sbyte.MinValue;
        if (typeof(T) == typeof(short)) return (T)(object)short.MinValue;
        if (typeof(T) == typeof(int)) return (T)(object)int.MinValue;
        if (typeof(T) == typeof(long)) return (T)(object)long.MinValue;
        return T.Zero; // unsigned types
    }

    private static T GetHighest()
    {
        if (typeof(T) == typeof(float)) return (T)(object)float.PositiveInfinity;
        if (typeof(T) == typeof(double)) return (T)(object)double.PositiveInfinity;
        if (typeof(T) == typeof(Half)) return (T)(object)Half.PositiveInfinity;
        if (typeof(T) == typeof(sbyte)) return (T)(object)sbyte.MaxValue;
        if (typeof(T) == typeof(short)) return (T)(object)short.MaxValue;
        if (typeof(T) == typeof(int)) return (T)(object)int.MaxValue;
        if (typeof(T) == typeof(long)) return (T)(object)long.MaxValue;
        return MaxUnsigned();
    }

    private static T MaxUnsigned()
    {
        if (typeof(T) == typeof(byte)) return (T)(object)byte.MaxValue;
        if (typeof(T) == typeof(ushort)) return (T)(object)ushort.MaxValue;
        if (typeof(T) == typeof(uint)) return (T)(object)uint.MaxValue;
        if (typeof(T) == typeof(ulong)) return (T)(object)ulong.MaxValue;
        throw new NotSupportedException($"no limits for {typeof(T).Name}");
    }
}

public readonly struct SumReduce<T> : IReduceOperator<T> where T : struct, INumber<T>
{
    public static T Identity => T.Zero;
    public static T Map(T x) => x;
    public static T Combine(T a, T x) => a + x;
    public static Vector512<T> Map(Vector512<T> x) => x;
    public static Vector512<T> Combine(Vector512<T> a, Vector512<T> x) => a + x;
    public static Vector256<T> Map(Vector256<T> x) => x;
    public static Vector256<T> Combine(Vector256<T> a, Vector256<T> x) => a + x;
    public static Vector128<T> Map(Vector128<T> x) => x;
    public static Vector128<T> Combine(Vector128<T> a, Vector128<T> x) => a + x;
}

public readonly struct SumSquareReduce<T> : IReduceOperator<T> where T : struct, INumber<T>
{
    public static T Identity => T.Zero;
    public static T Map(T x) => x * x;
    public static T Combine(T a, T x) => a + x;
    public static Vector512<T> Map(Vector512<T> x) => x * x;
    public static Vector512<T> Combine(Vector512<T> a, Vector512<T> x) => a + x;
    public static Vector256<T> Map(Vector256<T> x) => x * x;
    public static Vector256<T> Combine(Vector256<T> a, Vector256<T> x) => a + x;
    public static Vector128<T> Map(Vector128<T> x) => x * x;
    public static Vector128<T> Combine(Vector128<T> a, Vector128<T> x) => a + x;
}

public readonly struct AbsSumReduce<T> : IReduceOperator<T> where T : struct, INumber<T>
{
    public static T Identity => T.Zero;
    public static T Map(T x) => T.Abs(x);
    public static T Combine(T a, T x) => a + x;
    public static Vector512<T> Map(Vector512<T> x) => Vector512.Abs(x);
    public static Vector512<T> Combine(Vector512<T> a, Vector512<T> x) => a + x;
    public static Vector256<T> Map(Vector256<T> x) => Vector256.Abs(x);
    public static Vector256<T> Combine(Vector256<T> a, Vector256<T> x) => a + x;
    public static Vector128<T> Map(Vector128<T> x) => Vector128.Abs(x);
    public static Vector128<T> Combine(Vector128<T> a, Vector128<T> x) => a + x;
}

public readonly struct ProdReduce<T> : IReduceOperator<T> where T : struct, INumber<T>
{
    public static T Identity => T.One;
    public static T Map(T x) => x;
    public static T Combine(T a, T x) => a * x;
    public static Vector512<T> Map(Vector512<T> x) => x;
    public static Vector512<T> Combine(Vector512<T> a, Vector512<T> x) => a * x;
    public static Vector256<T> Map(Vector256<T> x) => x;
    public static Vector256<T> Combine(Vector256<T> a, Vector256<T> x) => a * x;
    public static Vector128<T> Map(Vector128<T> x) => x;
    public static Vector128<T> Combine(Vector128<T> a, Vector128<T> x) => a * x;
}

/// <summary>Maximum; NaN propagates (T.Max and VectorN.Max follow IEEE 754:2019 maximum).</summary>
public readonly struct MaxReduce<T> : IReduceOperator<T> where T : struct, INumber<T>
{
    public static T Identity => NumericLimits<T>.Lowest;
    public static T Map(T x) => x;
    public static T Combine(T a, T x) => T.Max(a, x);
    public static Vector512<T> Map(Vector512<T> x) => x;
    public static Vector512<T> Combine(Vector512<T> a, Vector512<T> x) => Vector512.Max(a, x);
    public static Vector256<T> Map(Vector256<T> x) => x;
    public static Vector256<T> Combine(Vector256<T> a, Vector256<T> x) => Vector256.Max(a, x);
    public static Vector128<T> Map(Vector128<T> x) => x;
    public static Vector128<T> Combine(Vector128<T> a, Vector128<T> x) => Vector128.Max(a, x);
}

public readonly struct MinReduce<T> : IReduceOperator<T> where T : struct, INumber<T>
{
    public static T Identity => NumericLimits<T>.Highest;
    public static T Map(T x) => x;
    public static T Combine(T a, T x) => T.Min(a, x);
    public static Vector512<T> Map(Vector512<T> x) => x;
    public static Vector512<T> Combine(Vector512<T> a, Vector512<T> x) => Vector512.Min(a, x);
    public static Vector256<T> Map(Vector256<T> x) => x;
    public static Vector256<T> Combine(Vector256<T> a, Vector256<T> x) => Vector256.Min(a, x);
    public static Vector128<T> Map(Vector128<T> x) => x;
    public static Vector128<T> Combine(Vector128<T> a, Vector128<T> x) => Vector128.Min(a, x);
}

/// <summary>
/// The shape of a reduction after collapsing: size-1 dimensions are dropped and neighbouring dimensions that
/// are both reduced or both kept merge, so the input becomes rows of <see cref="RowLength"/> contiguous
/// elements whose innermost dimension is either reduced (fold a row into one output) or kept (accumulate a
/// row into an output row).
/// </summary>
public sealed class ReduceLayout
{
    public int[] Dims { get; }
    public bool[] Reduced { get; }
    /// <summary>Output stride of each collapsed dimension (0 where reduced).</summary>
    public int[] OutStrides { get; }
    public int InLength { get; }
    public int OutLength { get; }
    /// <summary>How many input elements fold into each output element.</summary>
    public int ReduceCount { get; }
    public int RowLength => Dims[^1];
    public bool InnerReduced => Reduced[^1];

    private ReduceLayout(int[] dims, bool[] reduced, int[] outStrides, int inLength, int outLength, int count)
    {
        Dims = dims; Reduced = reduced; OutStrides = outStrides; InLength = inLength; OutLength = outLength; ReduceCount = count;
    }

    /// <summary>
    /// The same layout restricted to <paramref name="size"/> indices of the outermost dimension, which must be
    /// kept: the piece of work one thread does on its own slab of input and output.
    /// </summary>
    public ReduceLayout WithOuter(int size)
    {
        if (Reduced[0]) throw new InvalidOperationException("the outermost dimension is reduced");
        var dims = (int[])Dims.Clone();
        dims[0] = size;
        int inLen = InLength / Dims[0] * size, outLen = OutLength / Dims[0] * size;
        return new ReduceLayout(dims, Reduced, OutStrides, inLen, outLen, ReduceCount);
    }

    /// <summary>Input elements per index of the outermost dimension.</summary>
    public int OuterInStride => InLength / Dims[0];
    /// <summary>Output elements per index of the outermost dimension (when it is kept).</summary>
    public int OuterOutStride => Reduced[0] ? 0 : OutLength / Dims[0];

    public ReduceLayout(ReadOnlySpan<int> shape, ReadOnlySpan<bool> reduceAxis)
    {
        var dims = new List<int>();
        var red = new List<bool>();
        int inLen = 1, outLen = 1, count = 1;
        for (int i = 0; i < shape.Length; i++)
        {
            int d = shape[i];
            inLen *= d;
            if (reduceAxis[i]) count *= d; else outLen *= d;
            if (d == 1) continue;
            if (dims.Count > 0 && red[^1] == reduceAxis[i]) dims[^1] *= d;
            else { dims.Add(d); red.Add(reduceAxis[i]); }
        }
        if (dims.Count == 0) { dims.Add(1); red.Add(false); }
        Dims = dims.ToArray();
        Reduced = red.ToArray();
        InLength = inLen;
        OutLength = outLen;
        ReduceCount = count;
        OutStrides = new int[Dims.Length];
        int acc = 1;
        for (int i = Dims.Length - 1; i >= 0; i--)
        {
            if (Reduced[i]) continue;
            OutStrides[i] = acc;
            acc *= Dims[i];
        }
    }
}

/// <summary>
/// Walks the rows of a <see cref="ReduceLayout"/>: each step gives the input offset of one contiguous row and
/// the output offset it folds into (a single element when the inner dimension is reduced, else a row).
/// </summary>
public ref struct ReduceRowWalker
{
    private readonly ReduceLayout _layout;
    private readonly Span<int> _idx;
    private readonly int _rows;
    private int _row;

    public int InOffset { get; private set; }
    public int OutOffset { get; private set; }

    public ReduceRowWalker(ReduceLayout layout, Span<int> scratch)
    {
        _layout = layout;
        _idx = scratch[..layout.Dims.Length];
        _idx.Clear();
        _rows = layout.InLength == 0 ? 0 : layout.InLength / layout.RowLength;
        _row = -1;
        InOffset = 0;
        OutOffset = 0;
    }

    public bool MoveNext()
    {
        if (++_row >= _rows) return false;
        if (_row == 0) return true;
        InOffset += _layout.RowLength;
        var dims = _layout.Dims;
        var str = _layout.OutStrides;
        for (int d = dims.Length - 2; d >= 0; d--)
        {
            OutOffset += str[d];
            if (++_idx[d] < dims[d]) break;
            OutOffset -= str[d] * dims[d];
            _idx[d] = 0;
        }
        return true;
    }
}

/// <summary>Reductions over any set of axes, vectorised along the contiguous inner dimension.</summary>
public static class ReduceKernels
{
    /// <summary>Folds <paramref name="x"/> into <paramref name="y"/> (OutLength elements) with TOp.</summary>
    public static void Reduce<T, TOp>(ReadOnlySpan<T> x, ReduceLayout layout, Span<T> y)
        where T : struct, INumber<T> where TOp : IReduceOperator<T>
    {
        y = y[..layout.OutLength];
        y.Fill(TOp.Identity);
        if (layout.InLength == 0) return;
        int n = layout.RowLength;
        Span<int> scratch = stackalloc int[layout.Dims.Length];
        var w = new ReduceRowWalker(layout, scratch);
        if (layout.InnerReduced)
        {
            while (w.MoveNext())
                y[w.OutOffset] = TOp.Combine(y[w.OutOffset], ReduceRow<T, TOp>(x.Slice(w.InOffset, n)));
        }
        else
        {
            while (w.MoveNext())
                AccumulateRow<T, TOp>(x.Slice(w.InOffset, n), y.Slice(w.OutOffset, n));
        }
    }

    /// <summary>
    /// <see cref="Reduce{T,TOp}"/> split across up to <paramref name="threads"/> threads when the work is large:
    /// by slabs of the outermost dimension when it is kept (each slab owns its outputs), or by column ranges
    /// when the input is [reduced, kept] rows.
    /// </summary>
    public static void Reduce<T, TOp>(ReadOnlyMemory<T> x, ReduceLayout layout, Memory<T> y, int threads)
        where T : struct, INumber<T> where TOp : IReduceOperator<T>
    {
        int outer = layout.Dims[0];
        int chunks = Chunks(layout.InLength, threads);
        if (chunks > 1 && !layout.Reduced[0] && outer >= 2)
        {
            chunks = Math.Min(chunks, outer);
            int inS = layout.OuterInStride, outS = layout.OuterOutStride;
            IntraOpPool.For(chunks, chunks, c =>
            {
                int s = (int)((long)outer * c / chunks), e = (int)((long)outer * (c + 1) / chunks);
                if (e > s) Reduce<T, TOp>(x.Span.Slice(s * inS, (e - s) * inS), layout.WithOuter(e - s), y.Span.Slice(s * outS, (e - s) * outS));
            });
            return;
        }
        if (chunks > 1 && layout.Dims.Length == 2 && layout.Reduced[0] && layout.RowLength >= 64 * chunks)
        {
            int rows = layout.Dims[0], n = layout.RowLength;
            IntraOpPool.For(chunks, chunks, c =>
            {
                int s = (int)((long)n * c / chunks), e = (int)((long)n * (c + 1) / chunks);
                var acc = y.Span.Slice(s, e - s);
                acc.Fill(TOp.Identity);
                var xs = x.Span;
                for (int r = 0; r < rows; r++) AccumulateRow<T, TOp>(xs.Slice(r * n + s, e - s), acc);
            });
            return;
        }
        Reduce<T, TOp>(x.Span, layout, y.Span);
    }

    /// <summary>How many threads a job over <paramref name="elements"/> elements deserves (about 32K elements each).</summary>
    public static int Chunks(long elements, int threads) => (int)Math.Clamp(elements / 32768, 1, Math.Max(1, threads));

    /// <summary>Folds one contiguous row into a single value.</summary>
    public static T ReduceRow<T, TOp>(ReadOnlySpan<T> row) where T : struct, INumber<T> where TOp : IReduceOperator<T>
    {
        int i = 0, n = row.Length;
        T acc = TOp.Identity;
        ref T r0 = ref MemoryMarshal.GetReference(row);
        if (Vector512.IsHardwareAccelerated && Vector512<T>.IsSupported && n >= Vector512<T>.Count)
        {
            var va = Vector512.Create(TOp.Identity);
            for (; i <= n - Vector512<T>.Count; i += Vector512<T>.Count)
                va = TOp.Combine(va, TOp.Map(Vector512.LoadUnsafe(ref r0, (nuint)i)));
            acc = Horizontal<T, TOp>(TOp.Combine(va.GetLower(), va.GetUpper()));
        }
        else if (Vector256.IsHardwareAccelerated && Vector256<T>.IsSupported && n >= Vector256<T>.Count)
        {
            var va = Vector256.Create(TOp.Identity);
            for (; i <= n - Vector256<T>.Count; i += Vector256<T>.Count)
                va = TOp.Combine(va, TOp.Map(Vector256.LoadUnsafe(ref r0, (nuint)i)));
            acc = Horizontal<T, TOp>(va);
        }
        for (; i < n; i++) acc = TOp.Combine(acc, TOp.Map(Unsafe.Add(ref r0, i)));
        return acc;
    }

    private static T Horizontal<T, TOp>(Vector256<T> v) where T : struct, INumber<T> where TOp : IReduceOperator<T>
    {
        var h = TOp.Combine(v.GetLower(), v.GetUpper());
        T acc = h.GetElement(0);
        for (int k = 1; k < Vector128<T>.Count; k++) acc = TOp.Combine(acc, h.GetElement(k));
        return acc;
    }

    /// <summary>acc[j] = Combine(acc[j], Map(row[j])): folds a row into a row of partial results.</summary>
    public static void AccumulateRow<T, TOp>(ReadOnlySpan<T> row, Span<T> acc) where T : struct, INumber<T> where TOp : IReduceOperator<T>
    {
        int i = 0, n = row.Length;
        ref T r0 = ref MemoryMarshal.GetReference(row);
        ref T a0 = ref MemoryMarshal.GetReference(acc);
        if (Vector512.IsHardwareAccelerated && Vector512<T>.IsSupported)
            for (; i <= n - Vector512<T>.Count; i += Vector512<T>.Count)
                TOp.Combine(Vector512.LoadUnsafe(ref a0, (nuint)i), TOp.Map(Vector512.LoadUnsafe(ref r0, (nuint)i))).StoreUnsafe(ref a0, (nuint)i);
        if (Vector256.IsHardwareAccelerated && Vector256<T>.IsSupported)
            for (; i <= n - Vector256<T>.Count; i += Vector256<T>.Count)
                TOp.Combine(Vector256.LoadUnsafe(ref a0, (nuint)i), TOp.Map(Vector256.LoadUnsafe(ref r0, (nuint)i))).StoreUnsafe(ref a0, (nuint)i);
        for (; i < n; i++) Unsafe.Add(ref a0, i) = TOp.Combine(Unsafe.Add(ref a0, i), TOp.Map(Unsafe.Add(ref r0, i)));
    }

    /// <summary>
    /// log(sum(exp(x))) over the reduced axes, shifted by the maximum so large inputs do not overflow.
    /// An empty reduction gives -inf.
    /// </summary>
    public static void LogSumExp<T>(ReadOnlySpan<T> x, ReduceLayout layout, Span<T> y) where T : struct, IFloatingPointIeee754<T>
    {
        Reduce<T, MaxReduce<T>>(x, layout, y);
        y = y[..layout.OutLength];
        // Infinite maxima (all -inf, or an +inf present) cannot shift: use 0 so exp gives the right limit.
        for (int i = 0; i < y.Length; i++) if (!T.IsFinite(y[i])) y[i] = T.Zero;
        var sums = new T[y.Length];
        int n = layout.RowLength;
        Span<int> scratch = stackalloc int[layout.Dims.Length];
        var w = new ReduceRowWalker(layout, scratch);
        while (w.MoveNext())
        {
            var row = x.Slice(w.InOffset, n);
            if (layout.InnerReduced)
            {
                T m = y[w.OutOffset], s = T.Zero;
                for (int j = 0; j < n; j++) s += T.Exp(row[j] - m);
                sums[w.OutOffset] += s;
            }
            else
            {
                var m = y.Slice(w.OutOffset, n);
                var s = sums.AsSpan(w.OutOffset, n);
                for (int j = 0; j < n; j++) s[j] += T.Exp(row[j] - m[j]);
            }
        }
        for (int i = 0; i < y.Length; i++) y[i] = T.Log(sums[i]) + y[i];
    }
}
