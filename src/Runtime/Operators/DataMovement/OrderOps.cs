using System.Numerics;
using NetOnnx.Kernels;

namespace NetOnnx.Runtime.Operators.DataMovement;

/// <summary>An operation generic over an element type with a total order (numbers, bool, strings).</summary>
internal interface IComparableAction
{
    void Invoke<T>(IComparer<T> comparer);
}

internal static class Ordered
{
    private sealed class BoolComparer : IComparer<bool> { public int Compare(bool a, bool b) => a.CompareTo(b); }
    private sealed class BF16Comparer : IComparer<BFloat16> { public int Compare(BFloat16 a, BFloat16 b) => ((float)a).CompareTo((float)b); }

    public static void Dispatch<TA>(DataType type, ref TA a, string op) where TA : struct, IComparableAction
    {
        switch (type)
        {
            case DataType.Float: a.Invoke(Comparer<float>.Default); break;
            case DataType.Double: a.Invoke(Comparer<double>.Default); break;
            case DataType.Float16: a.Invoke(Comparer<Half>.Default); break;
            case DataType.BFloat16: a.Invoke(new BF16Comparer()); break;
            case DataType.Int8: a.Invoke(Comparer<sbyte>.Default); break;
            case DataType.Int16: a.Invoke(Comparer<short>.Default); break;
            case DataType.Int32: a.Invoke(Comparer<int>.Default); break;
            case DataType.Int64: a.Invoke(Comparer<long>.Default); break;
            case DataType.UInt8: a.Invoke(Comparer<byte>.Default); break;
            case DataType.UInt16: a.Invoke(Comparer<ushort>.Default); break;
            case DataType.UInt32: a.Invoke(Comparer<uint>.Default); break;
            case DataType.UInt64: a.Invoke(Comparer<ulong>.Default); break;
            case DataType.Bool: a.Invoke(new BoolComparer()); break;
            case DataType.String: a.Invoke(StringComparer.Ordinal); break;
            default: throw new NotSupportedException($"{op} does not support element type {type.OnnxName()}");
        }
    }
}

/// <summary>
/// TopK: the k largest (or smallest) elements along an axis and their int64 indices; ties keep the lower index
/// first. k is an attribute in opset 1 and an input from opset 10.
/// </summary>
[OpKernel("TopK", 1)]
public sealed class TopK : OpKernel
{
    private readonly long _axis, _kAttr;
    private readonly bool _largest, _kInput;

    public TopK(KernelInfo info)
    {
        _axis = info.GetInt("axis", -1);
        _largest = info.GetInt("largest", 1) != 0;
        _kInput = info.OpsetVersion >= 10;
        _kAttr = info.GetInt("k", -1);
        if (!_kInput && _kAttr < 0) throw info.Error("attribute 'k' is required before opset 10");
    }

    public override void Compute(KernelContext ctx)
    {
        var x = ctx.Input(0);
        long k = _kInput ? ctx.Input(1).ToInt64Array() is [var kk] ? kk : throw ctx.Error("K must have one element") : _kAttr;
        int axis = Elements.Axis(ctx, _axis, x.Rank);
        int dim = x.Shape[axis];
        if (k < 0 || k > dim) throw ctx.Error($"k = {k} is outside [0, {dim}] for axis {axis}");
        var shape = (int[])x.Shape.Clone();
        shape[axis] = (int)k;
        var values = ctx.OutputUninitialized(0, x.ElementType, shape);
        // Indices are needed to pick the values even when nobody consumes them; then they need not come from the pool.
        var indices = ctx.IsOutputRequested(1) ? ctx.OutputUninitialized(1, DataType.Int64, shape)
            : new Tensor(DataType.Int64, shape, new long[values.Length]);
        var a = new Action
        {
            X = x, Values = values, Indices = indices, K = (int)k, Largest = _largest, Dim = dim,
            Outer = ShapeMath.SizeTo(x.Shape, axis), Inner = ShapeMath.SizeFrom(x.Shape, axis + 1),
        };
        if (values.Length > 0) Ordered.Dispatch(x.ElementType, ref a, "TopK");
    }

    /// <summary>
    /// Puts the k best positions (by <paramref name="cmp"/>, best first) in order[0..k): a heap holding the worst
    /// kept element at its root, so each candidate costs O(log k) instead of sorting the whole line.
    /// </summary>
    private static void SelectWithHeap(int[] order, int k, int n, Comparison<int> cmp)
    {
        if (k == 0) return;
        var heap = order.AsSpan(0, k);
        for (int i = 0; i < k; i++)
        {
            heap[i] = i;
            for (int c = i; c > 0;)
            {
                int p = (c - 1) / 2;
                if (cmp(heap[c], heap[p]) <= 0) break;
                (heap[c], heap[p]) = (heap[p], heap[c]);
                c = p;
            }
        }
        for (int i = k; i < n; i++)
        {
            if (cmp(i, heap[0]) >= 0) continue;
            heap[0] = i;
            for (int p = 0; ;)
            {
                int l = 2 * p + 1, worst = p;
                if (l < k && cmp(heap[l], heap[worst]) > 0) worst = l;
                if (l + 1 < k && cmp(heap[l + 1], heap[worst]) > 0) worst = l + 1;
                if (worst == p) break;
                (heap[p], heap[worst]) = (heap[worst], heap[p]);
                p = worst;
            }
        }
        heap.Sort(cmp);
    }

    private struct Action : IComparableAction
    {
        public Tensor X, Values, Indices;
        public int K, Dim, Outer, Inner;
        public bool Largest;

        public void Invoke<T>(IComparer<T> comparer)
        {
            var src = X.ReadOnlySpan<T>();
            var vals = Values.Span<T>();
            var idxs = Indices.Span<long>();
            var line = new T[Dim];
            var order = new int[Dim];
            bool largest = Largest;
            // Sort by value (descending for largest), then by index so equal values keep their original order.
            Comparison<int> cmp = (i, j) =>
            {
                int c = comparer.Compare(line[i], line[j]);
                if (largest) c = -c;
                return c != 0 ? c : i.CompareTo(j);
            };
            for (int o = 0; o < Outer; o++)
                for (int inner = 0; inner < Inner; inner++)
                {
                    int b = o * Dim * Inner + inner;
                    for (int i = 0; i < Dim; i++) line[i] = src[b + i * Inner];
                    if ((long)K * 8 < Dim) SelectWithHeap(order, K, Dim, cmp);
                    else
                    {
                        for (int i = 0; i < Dim; i++) order[i] = i;
                        order.AsSpan().Sort(cmp);
                    }
                    int ob = o * K * Inner + inner;
                    for (int i = 0; i < K; i++)
                    {
                        vals[ob + i * Inner] = line[order[i]];
                        idxs[ob + i * Inner] = order[i];
                    }
                }
        }
    }
}

/// <summary>
/// Unique: the distinct elements (or slices along an axis), sorted or in order of first occurrence, with the
/// first-occurrence indices, the inverse mapping and the counts.
/// </summary>
[OpKernel("Unique", 11)]
public sealed class Unique : OpKernel
{
    private readonly bool _sorted;
    private readonly long? _axis;

    public Unique(KernelInfo info)
    {
        _sorted = info.GetInt("sorted", 1) != 0;
        _axis = info.Node.HasAttr("axis") ? info.GetInt("axis", 0) : null;
    }

    public override void Compute(KernelContext ctx)
    {
        var x = ctx.Input(0);
        int[] dims = _axis is null ? [x.Length] : x.Shape;
        int axis = _axis is null ? 0 : Elements.Axis(ctx, _axis.Value, x.Rank);
        var a = new Action
        {
            Ctx = ctx, X = x, Dims = dims, Axis = axis, Sorted = _sorted, Flat = _axis is null,
            Outer = ShapeMath.SizeTo(dims, axis), Inner = ShapeMath.SizeFrom(dims, axis + 1), N = dims[axis],
        };
        Ordered.Dispatch(x.ElementType, ref a, "Unique");
    }

    private struct Action : IComparableAction
    {
        public KernelContext Ctx;
        public Tensor X;
        public int[] Dims;
        public int Axis, Outer, Inner, N;
        public bool Sorted, Flat;

        public void Invoke<T>(IComparer<T> comparer)
        {
            var data = X.ReadOnlySpan<T>().ToArray();
            int n = N, outer = Outer, inner = Inner;
            // Slice i is data[o, i, j] over (o, j) in row-major order; compare slices lexicographically.
            Comparison<int> cmpSlices = (p, q) =>
            {
                for (int o = 0; o < outer; o++)
                {
                    int bp = (o * n + p) * inner, bq = (o * n + q) * inner;
                    for (int j = 0; j < inner; j++)
                    {
                        int c = comparer.Compare(data[bp + j], data[bq + j]);
                        if (c != 0) return c;
                    }
                }
                return 0;
            };
            var order = new int[n];
            for (int i = 0; i < n; i++) order[i] = i;
            order.AsSpan().Sort((p, q) => { int c = cmpSlices(p, q); return c != 0 ? c : p.CompareTo(q); });
            // Group equal slices; the first of each group (lowest index) is the occurrence kept.
            var groupOf = new int[n];
            var firsts = new List<int>();
            var counts = new List<long>();
            for (int s = 0; s < n; s++)
            {
                if (s == 0 || cmpSlices(order[s - 1], order[s]) != 0) { firsts.Add(order[s]); counts.Add(0); }
                groupOf[order[s]] = firsts.Count - 1;
                counts[^1]++;
            }
            int u = firsts.Count;
            // Output position of each group: sorted order, or order of first occurrence.
            var rank = new int[u];
            var byPos = new int[u];
            for (int g = 0; g < u; g++) byPos[g] = g;
            if (!Sorted)
            {
                var f = firsts;
                Array.Sort(byPos, (g, h) => f[g].CompareTo(f[h]));
            }
            for (int p = 0; p < u; p++) rank[byPos[p]] = p;

            int[] shape = Flat ? [u] : [.. Dims];
            if (!Flat) shape[Axis] = u;
            var y = Ctx.OutputUninitialized(0, X.ElementType, shape).Span<T>();
            for (int p = 0; p < u; p++)
            {
                int first = firsts[byPos[p]];
                for (int o = 0; o < outer; o++)
                    data.AsSpan((o * n + first) * inner, inner).CopyTo(y.Slice((o * u + p) * inner, inner));
            }
            if (Ctx.IsOutputRequested(1))
            {
                var idx = Ctx.OutputUninitialized(1, DataType.Int64, [u]).Span<long>();
                for (int p = 0; p < u; p++) idx[p] = firsts[byPos[p]];
            }
            if (Ctx.IsOutputRequested(2))
            {
                var inv = Ctx.OutputUninitialized(2, DataType.Int64, [n]).Span<long>();
                for (int i = 0; i < n; i++) inv[i] = rank[groupOf[i]];
            }
            if (Ctx.IsOutputRequested(3))
            {
                var cnt = Ctx.OutputUninitialized(3, DataType.Int64, [u]).Span<long>();
                for (int p = 0; p < u; p++) cnt[p] = counts[byPos[p]];
            }
        }
    }
}

/// <summary>Trilu: keeps the upper (j - i &gt;= k) or lower (j - i &lt;= k) triangle of the last two dimensions.</summary>
[OpKernel("Trilu", 14)]
public sealed class Trilu : OpKernel
{
    private readonly bool _upper;
    public Trilu(KernelInfo info) => _upper = info.GetInt("upper", 1) != 0;

    public override void Compute(KernelContext ctx)
    {
        var x = ctx.Input(0);
        if (x.Rank < 2) throw ctx.Error("input must have rank at least 2");
        long k = ctx.OptionalInput(1) is { } kt ? kt.ToInt64Array()[0] : 0;
        var y = ctx.OutputUninitialized(0, x.ElementType, x.Shape);
        int rows = x.Shape[^2], cols = x.Shape[^1];
        var a = new Action { X = x, Y = y, Rows = rows, Cols = cols, K = k, Upper = _upper };
        if (y.Length > 0) Elements.ByStorage(x.ElementType, ref a);
    }

    private struct Action : IElementAction
    {
        public Tensor X, Y;
        public int Rows, Cols;
        public long K;
        public bool Upper;
        public void Invoke<T>()
        {
            var src = Elements.Data<T>(X);
            var dst = Elements.Data<T>(Y);
            int cols = Cols;
            for (int m = 0; m < dst.Length; m += Rows * cols)
                for (int i = 0; i < Rows; i++)
                {
                    var s = src.Slice(m + i * cols, cols);
                    var d = dst.Slice(m + i * cols, cols);
                    // Columns j with j - i >= k (upper) or <= k (lower) are kept; the rest are zero bits.
                    int split = (int)Math.Clamp(Upper ? i + K : i + K + 1, 0, cols);
                    if (Upper) { d[..split].Clear(); s[split..].CopyTo(d[split..]); }
                    else { s[..split].CopyTo(d[..split]); d[split..].Clear(); }
                }
        }
    }
}

/// <summary>CumSum / CumProd: running sum or product along an axis (axis is an input), optionally exclusive and reversed.</summary>
[OpKernel("CumSum", 11)]
[OpKernel("CumProd", 26)]
public sealed class Cumulative : OpKernel
{
    private readonly bool _exclusive, _reverse, _product;

    public Cumulative(KernelInfo info)
    {
        _exclusive = info.GetInt("exclusive", 0) != 0;
        _reverse = info.GetInt("reverse", 0) != 0;
        _product = info.Node.OpType == "CumProd";
    }

    public override void Compute(KernelContext ctx)
    {
        var x = ctx.Input(0);
        var axisT = ctx.Input(1);
        if (axisT.Length != 1) throw ctx.Error("axis must be a scalar");
        int axis = Elements.Axis(ctx, axisT.ToInt64Array()[0], x.Rank);
        var y = ctx.OutputUninitialized(0, x.ElementType, x.Shape);
        if (y.Length == 0) return;
        bool bf16 = x.ElementType == DataType.BFloat16;
        var a = new Action
        {
            X = bf16 ? Elements.WidenBFloat16(x) : x, Y = bf16 ? Tensor.Zeros(DataType.Float, x.Shape) : y,
            Exclusive = _exclusive, Reverse = _reverse, Product = _product,
            Outer = ShapeMath.SizeTo(x.Shape, axis), N = x.Shape[axis], Inner = ShapeMath.SizeFrom(x.Shape, axis + 1),
        };
        Elements.ByNumber(a.X.ElementType, ref a, ctx.Node.OpType);
        if (bf16) Elements.NarrowToBFloat16(a.Y, y);
    }

    private struct Action : INumericAction
    {
        public Tensor X, Y;
        public bool Exclusive, Reverse, Product;
        public int Outer, N, Inner;

        public void Invoke<T>() where T : unmanaged, INumber<T>
        {
            var src = X.ReadOnlySpan<T>();
            var dst = Y.Span<T>();
            int inner = Inner, n = N;
            T identity = Product ? T.One : T.Zero;
            for (int o = 0; o < Outer; o++)
            {
                int b = o * n * inner;
                // Rows along the axis, each 'inner' long: out_row(i) = out_row(prev) (+|*) in_row(i or prev).
                for (int step = 0; step < n; step++)
                {
                    int i = Reverse ? n - 1 - step : step;
                    int prev = Reverse ? i + 1 : i - 1;
                    var d = dst.Slice(b + i * inner, inner);
                    if (step == 0)
                    {
                        if (Exclusive) d.Fill(identity);
                        else src.Slice(b + i * inner, inner).CopyTo(d);
                        continue;
                    }
                    var p = dst.Slice(b + prev * inner, inner);
                    var s = src.Slice(b + (Exclusive ? prev : i) * inner, inner);
                    if (Product) for (int j = 0; j < inner; j++) d[j] = p[j] * s[j];
                    else for (int j = 0; j < inner; j++) d[j] = p[j] + s[j];
                }
            }
        }
    }
}
