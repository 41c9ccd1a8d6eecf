using System.Numerics;
using NetOnnx.Kernels;

namespace NetOnnx.Runtime.Operators.DataMovement;

/// <summary>Index helpers shared by the gather/scatter family.</summary>
internal static class Indices
{
    /// <summary>Normalises a possibly negative index against a dimension, failing clearly when out of range.</summary>
    public static int Check(KernelContext ctx, long i, int dim, string what)
    {
        long j = i < 0 ? i + dim : i;
        if (j < 0 || j >= dim) throw ctx.Error($"{what} {i} is out of range for a dimension of size {dim}");
        return (int)j;
    }

    /// <summary>
    /// For an index tensor whose element addresses data along <paramref name="axis"/> (GatherElements,
    /// ScatterElements): the data offset of every element.
    /// </summary>
    public static int[] ElementOffsets(KernelContext ctx, Tensor indices, int[] dataShape, int axis)
    {
        var idx = indices.ToInt64Array();
        int r = dataShape.Length;
        if (indices.Rank != r) throw ctx.Error($"indices have rank {indices.Rank} but data has rank {r}");
        var dStrides = ShapeMath.Strides(dataShape);
        var shape = indices.Shape;
        for (int d = 0; d < r; d++)
            if (d != axis && shape[d] > dataShape[d])
                throw ctx.Error($"indices shape {ShapeMath.Format(shape)} exceeds data shape {ShapeMath.Format(dataShape)} at dimension {d}");
        var offs = new int[idx.Length];
        if (idx.Length == 0) return offs;
        var coord = new int[r];
        int baseOff = 0, dimAxis = dataShape[axis], sAxis = dStrides[axis];
        for (int i = 0; i < idx.Length; i++)
        {
            offs[i] = baseOff + Check(ctx, idx[i], dimAxis, "index") * sAxis;
            for (int d = r - 1; d >= 0; d--)
            {
                if (d != axis) baseOff += dStrides[d];
                if (++coord[d] < shape[d]) break;
                if (d != axis) baseOff -= dStrides[d] * shape[d];
                coord[d] = 0;
            }
        }
        return offs;
    }

    /// <summary>
    /// For GatherND/ScatterND: the data offset of the slice addressed by each index tuple of the last
    /// dimension of <paramref name="indices"/>, with <paramref name="batchDims"/> leading batch dimensions.
    /// </summary>
    public static int[] TupleOffsets(KernelContext ctx, Tensor indices, int[] dataShape, int batchDims, out int sliceSize)
    {
        int q = indices.Rank;
        if (q < 1) throw ctx.Error("indices must have rank at least 1");
        int k = indices.Shape[q - 1];
        if (batchDims + k > dataShape.Length)
            throw ctx.Error($"index tuples of length {k} with {batchDims} batch dimensions exceed data rank {dataShape.Length}");
        for (int b = 0; b < batchDims; b++)
            if (indices.Shape[b] != dataShape[b]) throw ctx.Error($"batch dimension {b} differs between data ({dataShape[b]}) and indices ({indices.Shape[b]})");
        var idx = indices.ToInt64Array();
        var strides = ShapeMath.Strides(dataShape);
        sliceSize = ShapeMath.SizeFrom(dataShape, batchDims + k);
        int batches = ShapeMath.SizeTo(dataShape, batchDims);
        int batchStride = ShapeMath.SizeFrom(dataShape, batchDims);
        int tuples = k == 0 ? ShapeMath.SizeTo(indices.Shape, q - 1) : idx.Length / k;
        int perBatch = batches == 0 ? 0 : tuples / batches;
        var offs = new int[tuples];
        for (int t = 0; t < tuples; t++)
        {
            int off = perBatch == 0 ? 0 : t / perBatch * batchStride;
            for (int j = 0; j < k; j++)
                off += Check(ctx, idx[t * k + j], dataShape[batchDims + j], "index") * strides[batchDims + j];
            offs[t] = off;
        }
        return offs;
    }
}

/// <summary>Gather: picks slices along an axis by (possibly negative) indices.</summary>
[OpKernel("Gather", 1)]
public sealed class Gather : OpKernel
{
    private readonly long _axis;
    public Gather(KernelInfo info) => _axis = info.GetInt("axis", 0);

    public override void Compute(KernelContext ctx)
    {
        var x = ctx.Input(0);
        var indices = ctx.Input(1);
        int axis = Elements.Axis(ctx, _axis, x.Rank);
        var idx = indices.ToInt64Array();
        int dim = x.Shape[axis];
        var pos = new int[idx.Length];
        for (int i = 0; i < idx.Length; i++) pos[i] = Indices.Check(ctx, idx[i], dim, "index");
        int[] shape = [.. x.Shape[..axis], .. indices.Shape, .. x.Shape[(axis + 1)..]];
        var y = ctx.OutputUninitialized(0, x.ElementType, shape);
        if (y.Length == 0) return;
        var a = new Action { X = x, Y = y, Pos = pos, Outer = ShapeMath.SizeTo(x.Shape, axis), Inner = ShapeMath.SizeFrom(x.Shape, axis + 1), Dim = dim };
        Elements.ByStorage(x.ElementType, ref a);
    }

    private struct Action : IElementAction
    {
        public Tensor X, Y;
        public int[] Pos;
        public int Outer, Inner, Dim;
        public void Invoke<T>()
        {
            var src = Elements.Data<T>(X);
            var dst = Elements.Data<T>(Y);
            int o = 0;
            for (int b = 0; b < Outer; b++)
            {
                int baseIn = b * Dim * Inner;
                if (Inner == 1)
                    foreach (int p in Pos) dst[o++] = src[baseIn + p];
                else
                    foreach (int p in Pos) { src.Slice(baseIn + p * Inner, Inner).CopyTo(dst.Slice(o, Inner)); o += Inner; }
            }
        }
    }
}

/// <summary>GatherElements: out[i..] = data[i.. with indices[i..] on the axis].</summary>
[OpKernel("GatherElements", 11)]
public sealed class GatherElements : OpKernel
{
    private readonly long _axis;
    public GatherElements(KernelInfo info) => _axis = info.GetInt("axis", 0);

    public override void Compute(KernelContext ctx)
    {
        var x = ctx.Input(0);
        var indices = ctx.Input(1);
        int axis = Elements.Axis(ctx, _axis, x.Rank);
        var offs = Indices.ElementOffsets(ctx, indices, x.Shape, axis);
        var y = ctx.OutputUninitialized(0, x.ElementType, indices.Shape);
        var a = new Picks { X = x, Y = y, Offsets = offs, Slice = 1 };
        Elements.ByStorage(x.ElementType, ref a);
    }
}

/// <summary>Copies slices of <c>Slice</c> elements from the given offsets of X into consecutive places of Y.</summary>
internal struct Picks : IElementAction
{
    public Tensor X, Y;
    public int[] Offsets;
    public int Slice;
    public void Invoke<T>()
    {
        var src = Elements.Data<T>(X);
        var dst = Elements.Data<T>(Y);
        if (Slice == 1) { for (int i = 0; i < Offsets.Length; i++) dst[i] = src[Offsets[i]]; return; }
        for (int i = 0; i < Offsets.Length; i++) src.Slice(Offsets[i], Slice).CopyTo(dst.Slice(i * Slice, Slice));
    }
}

/// <summary>GatherND: slices addressed by index tuples, with leading batch dimensions (opset 12).</summary>
[OpKernel("GatherND", 11)]
public sealed class GatherND : OpKernel
{
    private readonly int _batchDims;
    public GatherND(KernelInfo info) => _batchDims = (int)info.GetInt("batch_dims", 0);

    public override void Compute(KernelContext ctx)
    {
        var x = ctx.Input(0);
        var indices = ctx.Input(1);
        var offs = Indices.TupleOffsets(ctx, indices, x.Shape, _batchDims, out int slice);
        int k = indices.Shape[^1];
        int[] shape = [.. indices.Shape[..^1], .. x.Shape[(_batchDims + k)..]];
        var y = ctx.OutputUninitialized(0, x.ElementType, shape);
        if (y.Length == 0) return;
        var a = new Picks { X = x, Y = y, Offsets = offs, Slice = slice };
        Elements.ByStorage(x.ElementType, ref a);
    }
}

/// <summary>How a scatter combines an update with the existing element.</summary>
internal enum ScatterReduction { None, Add, Mul, Max, Min }

/// <summary>Shared scatter machinery: copy data, then write (or reduce) update slices at offsets.</summary>
internal static class Scatter
{
    public static ScatterReduction Parse(KernelInfo info)
    {
        string r = info.GetString("reduction", "none");
        return r switch
        {
            "none" => ScatterReduction.None,
            "add" => ScatterReduction.Add,
            "mul" => ScatterReduction.Mul,
            "max" => ScatterReduction.Max,
            "min" => ScatterReduction.Min,
            _ => throw info.Error($"unknown reduction '{r}'"),
        };
    }

    public static void Run(KernelContext ctx, Tensor data, Tensor updates, int[] offsets, int slice, ScatterReduction red)
    {
        if (updates.ElementType != data.ElementType) throw ctx.Error("updates and data have different element types");
        if (updates.Length != offsets.Length * slice)
            throw ctx.Error($"updates of shape {ShapeMath.Format(updates.Shape)} do not match the {offsets.Length} indexed slices of {slice} elements");
        var y = ctx.OutputUninitialized(0, data.ElementType, data.Shape);
        Elements.Copy(data, 0, [1], y, 0, [1], [data.Length]);
        if (red == ScatterReduction.None)
        {
            var a = new Put { U = updates, Y = y, Offsets = offsets, Slice = slice };
            Elements.ByStorage(data.ElementType, ref a);
        }
        else
        {
            bool bf16 = data.ElementType == DataType.BFloat16;
            var a = new Reduce
            {
                U = bf16 ? Elements.WidenBFloat16(updates) : updates, Y = bf16 ? Elements.WidenBFloat16(y) : y,
                Offsets = offsets, Slice = slice, Red = red,
            };
            Elements.ByNumber(a.Y.ElementType, ref a, "scatter with reduction");
            if (bf16) Elements.NarrowToBFloat16(a.Y, y);
        }
    }

    private struct Put : IElementAction
    {
        public Tensor U, Y;
        public int[] Offsets;
        public int Slice;
        public void Invoke<T>()
        {
            var u = Elements.Data<T>(U);
            var y = Elements.Data<T>(Y);
            for (int i = 0; i < Offsets.Length; i++) u.Slice(i * Slice, Slice).CopyTo(y.Slice(Offsets[i], Slice));
        }
    }

    private struct Reduce : INumericAction
    {
        public Tensor U, Y;
        public int[] Offsets;
        public int Slice;
        public ScatterReduction Red;
        public void Invoke<T>() where T : unmanaged, INumber<T>
        {
            var u = U.Span<T>();
            var y = Y.Span<T>();
            for (int i = 0; i < Offsets.Length; i++)
            {
                int o = Offsets[i], s = i * Slice;
                for (int j = 0; j < Slice; j++)
                {
                    ref T dst = ref y[o + j];
                    T v = u[s + j];
                    dst = Red switch
                    {
                        ScatterReduction.Add => dst + v,
                        ScatterReduction.Mul => dst * v,
                        ScatterReduction.Max => T.Max(dst, v),
                        _ => T.Min(dst, v),
                    };
                }
            }
        }
    }
}

/// <summary>ScatterElements (and the deprecated Scatter): element updates along an axis, with optional reduction.</summary>
[OpKernel("ScatterElements", 11)]
[OpKernel("Scatter", 9, 12)]
public sealed class ScatterElements : OpKernel
{
    private readonly long _axis;
    private readonly ScatterReduction _red;

    public ScatterElements(KernelInfo info)
    {
        _axis = info.GetInt("axis", 0);
        _red = Scatter.Parse(info);
    }

    public override void Compute(KernelContext ctx)
    {
        var data = ctx.Input(0);
        var indices = ctx.Input(1);
        var updates = ctx.Input(2);
        int axis = Elements.Axis(ctx, _axis, data.Rank);
        if (!ShapeMath.SameShape(indices.Shape, updates.Shape))
            throw ctx.Error($"indices {ShapeMath.Format(indices.Shape)} and updates {ShapeMath.Format(updates.Shape)} must have the same shape");
        var offs = Indices.ElementOffsets(ctx, indices, data.Shape, axis);
        Scatter.Run(ctx, data, updates, offs, 1, _red);
    }
}

/// <summary>ScatterND: slice updates addressed by index tuples, with optional reduction.</summary>
[OpKernel("ScatterND", 11)]
public sealed class ScatterND : OpKernel
{
    private readonly ScatterReduction _red;
    public ScatterND(KernelInfo info) => _red = Scatter.Parse(info);

    public override void Compute(KernelContext ctx)
    {
        var data = ctx.Input(0);
        var indices = ctx.Input(1);
        var updates = ctx.Input(2);
        var offs = Indices.TupleOffsets(ctx, indices, data.Shape, 0, out int slice);
        Scatter.Run(ctx, data, updates, offs, slice, _red);
    }
}

/// <summary>Compress: keeps the slices along an axis (or flattened elements) whose condition is true.</summary>
[OpKernel("Compress", 9)]
public sealed class Compress : OpKernel
{
    private readonly long? _axis;
    public Compress(KernelInfo info) => _axis = info.Node.HasAttr("axis") ? info.GetInt("axis", 0) : null;

    public override void Compute(KernelContext ctx)
    {
        var x = ctx.Input(0);
        var cond = ctx.Input(1);
        if (cond.Rank != 1) throw ctx.Error("condition must be 1-D");
        var c = cond.ElementType == DataType.Bool ? cond.ReadOnlySpan<bool>() : cond.ToInt64Array().Select(v => v != 0).ToArray();
        int axis = _axis is null ? 0 : Elements.Axis(ctx, _axis.Value, x.Rank);
        int[] dims = _axis is null ? [x.Length] : x.Shape;
        int dim = dims[axis];
        if (c.Length > dim) throw ctx.Error($"condition has {c.Length} entries but the axis has {dim}");
        var keep = new List<int>();
        for (int i = 0; i < c.Length; i++) if (c[i]) keep.Add(i);
        int outer = ShapeMath.SizeTo(dims, axis), inner = ShapeMath.SizeFrom(dims, axis + 1);
        var shape = (int[])dims.Clone();
        shape[axis] = keep.Count;
        var y = ctx.OutputUninitialized(0, x.ElementType, shape);
        var offs = new int[outer * keep.Count];
        for (int o = 0, n = 0; o < outer; o++)
            foreach (int k in keep) offs[n++] = (o * dim + k) * inner;
        var a = new Picks { X = x, Y = y, Offsets = offs, Slice = inner };
        if (y.Length > 0) Elements.ByStorage(x.ElementType, ref a);
    }
}

/// <summary>NonZero: the coordinates of the non-zero elements, as an int64 [rank, count] tensor.</summary>
[OpKernel("NonZero", 9)]
public sealed class NonZero : OpKernel
{
    public NonZero(KernelInfo info) { }

    public override void Compute(KernelContext ctx)
    {
        var x = ctx.Input(0);
        var mask = new bool[x.Length];
        switch (x.ElementType)
        {
            case DataType.Bool: x.ReadOnlySpan<bool>().CopyTo(mask); break;
            case DataType.String: { var s = x.ReadOnlySpan<string>(); for (int i = 0; i < s.Length; i++) mask[i] = s[i].Length > 0; break; }
            case DataType.BFloat16: { var s = x.ReadOnlySpan<BFloat16>(); for (int i = 0; i < s.Length; i++) mask[i] = (float)s[i] != 0; break; }
            default: { var a = new Mask { X = x, M = mask }; Elements.ByNumber(x.ElementType, ref a, "NonZero"); break; }
        }
        int count = 0;
        foreach (bool b in mask) if (b) count++;
        // A scalar behaves as a 1-element vector (numpy's treatment).
        int[] shape = x.Rank == 0 ? [1] : x.Shape;
        int r = shape.Length;
        var y = ctx.OutputUninitialized(0, DataType.Int64, [r, count]).Span<long>();
        var coord = new int[r];
        int n = 0;
        for (int i = 0; i < mask.Length; i++)
        {
            if (mask[i])
            {
                for (int d = 0; d < r; d++) y[d * count + n] = coord[d];
                n++;
            }
            for (int d = r - 1; d >= 0; d--) { if (++coord[d] < shape[d]) break; coord[d] = 0; }
        }
    }

    private struct Mask : INumericAction
    {
        public Tensor X;
        public bool[] M;
        public void Invoke<T>() where T : unmanaged, INumber<T>
        {
            var s = X.ReadOnlySpan<T>();
            for (int i = 0; i < s.Length; i++) M[i] = s[i] != T.Zero;
        }
    }
}

/// <summary>OneHot: values[1] where the index matches along a new axis, values[0] elsewhere; negative indices count from depth.</summary>
[OpKernel("OneHot", 9)]
public sealed class OneHot : OpKernel
{
    private readonly long _axis;
    public OneHot(KernelInfo info) => _axis = info.GetInt("axis", -1);

    public override void Compute(KernelContext ctx)
    {
        var indices = ctx.Input(0);
        var depthT = ctx.Input(1);
        var values = ctx.Input(2);
        if (depthT.Length != 1) throw ctx.Error("depth must be a scalar");
        if (values.Length != 2) throw ctx.Error("values must have two elements [off, on]");
        long depthL = (long)depthT.GetDouble(0);
        int depth = Elements.Dim(ctx, depthL, "depth");
        int r = indices.Rank + 1;
        int axis = Elements.Axis(ctx, _axis, r);
        int[] shape = [.. indices.Shape[..axis], depth, .. indices.Shape[axis..]];
        var y = ctx.OutputUninitialized(0, values.ElementType, shape);
        int outer = ShapeMath.SizeTo(indices.Shape, axis), inner = ShapeMath.SizeFrom(indices.Shape, axis);
        var idx = new long[indices.Length];
        if (indices.ElementType.IsInteger()) idx = indices.ToInt64Array();
        else for (int i = 0; i < idx.Length; i++) idx[i] = (long)indices.GetDouble(i);
        var a = new Action { Values = values, Y = y, Idx = idx, Outer = outer, Inner = inner, Depth = depth };
        if (y.Length > 0) Elements.ByStorage(values.ElementType, ref a);
    }

    private struct Action : IElementAction
    {
        public Tensor Values, Y;
        public long[] Idx;
        public int Outer, Inner, Depth;
        public void Invoke<T>()
        {
            var v = Elements.Data<T>(Values);
            var y = Elements.Data<T>(Y);
            // Fill with 'off', then set each 'on' position; out-of-range indices leave their column all 'off'.
            y.Fill(v[0]);
            T on = v[1];
            for (int o = 0; o < Outer; o++)
                for (int i = 0; i < Inner; i++)
                {
                    long k = Idx[o * Inner + i];
                    if (k < 0) k += Depth;
                    if (k >= 0 && k < Depth) y[(int)((o * Depth + k) * Inner + i)] = on;
                }
        }
    }
}
