using NetOnnx.Kernels;

namespace NetOnnx.Runtime.Operators.DataMovement;

/// <summary>Shape: the input's shape as int64, optionally the dimensions [start, end) (opset 15).</summary>
[OpKernel("Shape", 1)]
public sealed class Shape : OpKernel
{
    private readonly long _start, _end;
    private readonly bool _hasEnd;

    public Shape(KernelInfo info)
    {
        _start = info.GetInt("start", 0);
        _hasEnd = info.Node.HasAttr("end");
        _end = info.GetInt("end", 0);
    }

    public override void Compute(KernelContext ctx)
    {
        var x = ctx.Input(0);
        int r = x.Rank;
        long s = _start < 0 ? _start + r : _start, e = _hasEnd ? (_end < 0 ? _end + r : _end) : r;
        s = Math.Clamp(s, 0, r);
        e = Math.Clamp(e, 0, r);
        int n = (int)Math.Max(0, e - s);
        var o = ctx.OutputUninitialized(0, DataType.Int64, [n]).Span<long>();
        for (int i = 0; i < n; i++) o[i] = x.Shape[s + i];
    }
}

/// <summary>Size: the number of elements as an int64 scalar.</summary>
[OpKernel("Size", 1)]
public sealed class Size : OpKernel
{
    public Size(KernelInfo info) { }
    public override void Compute(KernelContext ctx) =>
        ctx.OutputUninitialized(0, DataType.Int64, []).Span<long>()[0] = ctx.Input(0).Length;
}

/// <summary>Reshape: a view with a new shape; 0 copies the input dimension (unless allowzero), -1 is inferred.</summary>
[OpKernel("Reshape", 1)]
public sealed class Reshape : OpKernel
{
    private readonly long[]? _shapeAttr;
    private readonly bool _allowZero;

    public Reshape(KernelInfo info)
    {
        if (info.OpsetVersion < 5)
            _shapeAttr = info.GetInts("shape") ?? throw info.Error("attribute 'shape' is required before opset 5");
        _allowZero = info.GetInt("allowzero", 0) != 0;
    }

    public override void Compute(KernelContext ctx)
    {
        var x = ctx.Input(0);
        var target = _shapeAttr ?? ctx.Input(1).ToInt64Array();
        ctx.SetOutput(0, Elements.View(x, Resolve(ctx, x.Shape, target, _allowZero)));
    }

    internal static int[] Resolve(KernelContext ctx, int[] src, long[] target, bool allowZero)
    {
        var dims = new int[target.Length];
        int minus = -1;
        long known = 1;
        for (int i = 0; i < target.Length; i++)
        {
            long t = target[i];
            if (t == -1)
            {
                if (minus >= 0) throw ctx.Error($"shape {Fmt(target)} has more than one -1");
                minus = i;
                continue;
            }
            if (t == 0 && !allowZero)
            {
                if (i >= src.Length) throw ctx.Error($"shape {Fmt(target)} copies dimension {i} (0) but the input has rank {src.Length}");
                t = src[i];
            }
            if (t < 0) throw ctx.Error($"shape {Fmt(target)} has invalid dimension {target[i]}");
            dims[i] = Elements.Dim(ctx, t, "dimension");
            known *= t;
        }
        int total = ShapeMath.Size(src);
        if (minus >= 0)
        {
            if (known == 0 || total % known != 0)
                throw ctx.Error($"cannot reshape {ShapeMath.Format(src)} to {Fmt(target)}");
            dims[minus] = (int)(total / known);
        }
        else if (known != total)
            throw ctx.Error($"cannot reshape {ShapeMath.Format(src)} ({total} elements) to {Fmt(target)} ({known} elements)");
        return dims;
    }

    private static string Fmt(long[] s) => "[" + string.Join(",", s) + "]";
}

/// <summary>Flatten: a 2-D view [prod(dims before axis), prod(dims from axis)]; axis may be negative.</summary>
[OpKernel("Flatten", 1)]
public sealed class Flatten : OpKernel
{
    private readonly long _axis;
    public Flatten(KernelInfo info) => _axis = info.GetInt("axis", 1);

    public override void Compute(KernelContext ctx)
    {
        var x = ctx.Input(0);
        int r = x.Rank;
        long a = _axis < 0 ? _axis + r : _axis;
        if (a < 0 || a > r) throw ctx.Error($"axis {_axis} is out of range for an input of rank {r}");
        ctx.SetOutputView(0, x, [ShapeMath.SizeTo(x.Shape, (int)a), ShapeMath.SizeFrom(x.Shape, (int)a)]);
    }
}

/// <summary>Squeeze: removes the given unit axes (attribute before opset 13, input from 13), or all unit axes.</summary>
[OpKernel("Squeeze", 1)]
public sealed class Squeeze : OpKernel
{
    private readonly long[]? _axesAttr;
    private readonly bool _axesInput;

    public Squeeze(KernelInfo info)
    {
        _axesInput = info.OpsetVersion >= 13;
        if (!_axesInput) _axesAttr = info.GetInts("axes");
    }

    public override void Compute(KernelContext ctx)
    {
        var x = ctx.Input(0);
        var axes = _axesInput ? Elements.OptionalInts(ctx, 1) : _axesAttr;
        int r = x.Rank;
        var drop = new bool[r];
        if (axes is null || axes.Length == 0)
        {
            for (int i = 0; i < r; i++) drop[i] = x.Shape[i] == 1;
        }
        else
        {
            foreach (long a in axes)
            {
                int ax = Elements.Axis(ctx, a, r);
                if (x.Shape[ax] != 1) throw ctx.Error($"cannot squeeze axis {a}: its dimension is {x.Shape[ax]}, not 1");
                drop[ax] = true;
            }
        }
        var dims = new List<int>(r);
        for (int i = 0; i < r; i++) if (!drop[i]) dims.Add(x.Shape[i]);
        ctx.SetOutput(0, Elements.View(x, dims.ToArray()));
    }
}

/// <summary>Unsqueeze: inserts unit axes at the given output positions (attribute before opset 13, input from 13).</summary>
[OpKernel("Unsqueeze", 1)]
public sealed class Unsqueeze : OpKernel
{
    private readonly long[]? _axesAttr;

    public Unsqueeze(KernelInfo info)
    {
        if (info.OpsetVersion < 13)
            _axesAttr = info.GetInts("axes") ?? throw info.Error("attribute 'axes' is required before opset 13");
    }

    public override void Compute(KernelContext ctx)
    {
        var x = ctx.Input(0);
        var axes = _axesAttr ?? ctx.Input(1).ToInt64Array();
        int r = x.Rank + axes.Length;
        var unit = new bool[r];
        foreach (long a in axes)
        {
            int ax = Elements.Axis(ctx, a, r);
            if (unit[ax]) throw ctx.Error($"axis {a} is repeated");
            unit[ax] = true;
        }
        var dims = new int[r];
        for (int i = 0, j = 0; i < r; i++) dims[i] = unit[i] ? 1 : x.Shape[j++];
        ctx.SetOutput(0, Elements.View(x, dims));
    }
}

/// <summary>Transpose: permutes axes (default: reversed), copying through the tiled strided copy.</summary>
[OpKernel("Transpose", 1)]
public sealed class Transpose : OpKernel
{
    private readonly long[]? _perm;
    public Transpose(KernelInfo info) => _perm = info.GetInts("perm") is { Length: > 0 } p ? p : null;

    public override void Compute(KernelContext ctx)
    {
        var x = ctx.Input(0);
        int r = x.Rank;
        var perm = new int[r];
        if (_perm is null) for (int i = 0; i < r; i++) perm[i] = r - 1 - i;
        else
        {
            if (_perm.Length != r) throw ctx.Error($"perm has {_perm.Length} entries but the input has rank {r}");
            var seen = new bool[r];
            for (int i = 0; i < r; i++)
            {
                int p = Elements.Axis(ctx, _perm[i], r);
                if (seen[p]) throw ctx.Error($"perm [{string.Join(",", _perm)}] is not a permutation");
                seen[p] = true;
                perm[i] = p;
            }
        }
        var inStrides = ShapeMath.Strides(x.Shape);
        var shape = new int[r];
        var strides = new int[r];
        for (int i = 0; i < r; i++) { shape[i] = x.Shape[perm[i]]; strides[i] = inStrides[perm[i]]; }
        var y = ctx.OutputUninitialized(0, x.ElementType, shape);
        Elements.Gather(x, 0, strides, y);
    }
}

/// <summary>Concat: joins tensors along an axis; empty inputs contribute nothing.</summary>
[OpKernel("Concat", 1)]
public sealed class Concat : OpKernel
{
    private readonly long _axis;
    public Concat(KernelInfo info)
    {
        if (info.OpsetVersion >= 4 && !info.Node.HasAttr("axis")) throw info.Error("attribute 'axis' is required");
        _axis = info.GetInt("axis", 1);
    }

    public override void Compute(KernelContext ctx)
    {
        int n = ctx.InputCount;
        var xs = new Tensor[n];
        for (int i = 0; i < n; i++) xs[i] = ctx.Input(i);
        var first = xs[0];
        int r = first.Rank;
        int axis = Elements.Axis(ctx, _axis, r);
        int total = 0;
        foreach (var x in xs)
        {
            if (x.ElementType != first.ElementType) throw ctx.Error("inputs have different element types");
            if (x.Rank != r) throw ctx.Error($"inputs have different ranks ({ShapeMath.Format(first.Shape)} vs {ShapeMath.Format(x.Shape)})");
            for (int d = 0; d < r; d++)
                if (d != axis && x.Shape[d] != first.Shape[d])
                    throw ctx.Error($"input shapes {ShapeMath.Format(first.Shape)} and {ShapeMath.Format(x.Shape)} differ outside axis {axis}");
            total += x.Shape[axis];
        }
        var shape = (int[])first.Shape.Clone();
        shape[axis] = total;
        var y = ctx.OutputUninitialized(0, first.ElementType, shape);
        if (y.Length == 0) return;
        int outer = ShapeMath.SizeTo(shape, axis), inner = ShapeMath.SizeFrom(shape, axis + 1);
        int outRow = total * inner, at = 0;
        foreach (var x in xs)
        {
            int row = x.Shape[axis] * inner;
            if (row > 0) Elements.Copy(x, 0, [row, 1], y, at, [outRow, 1], [outer, row]);
            at += row;
        }
    }
}

/// <summary>Split: cuts a tensor along an axis into parts given by 'split' (attribute or input), equal parts or num_outputs.</summary>
[OpKernel("Split", 1)]
public sealed class Split : OpKernel
{
    private readonly long _axis;
    private readonly long[]? _splitAttr;
    private readonly bool _splitInput;
    private readonly long _numOutputs;

    public Split(KernelInfo info)
    {
        _axis = info.GetInt("axis", 0);
        _splitAttr = info.GetInts("split") is { Length: > 0 } s ? s : null;
        _splitInput = info.OpsetVersion >= 13 || info.OpsetVersion == 1;
        _numOutputs = info.GetInt("num_outputs", 0);
    }

    public override void Compute(KernelContext ctx)
    {
        var x = ctx.Input(0);
        int axis = Elements.Axis(ctx, _axis, x.Rank);
        int dim = x.Shape[axis];
        int outs = ctx.OutputCount;
        long[]? split = _splitAttr;
        if (split is null && _splitInput && Elements.OptionalInts(ctx, 1) is { Length: > 0 } si) split = si;
        if (split is null)
        {
            split = new long[outs];
            if (_numOutputs > 0 || dim % outs != 0)
            {
                // Opset 18 num_outputs: parts of ceil(dim/n), the last one smaller.
                long chunk = (dim + outs - 1) / outs;
                long left = dim;
                for (int i = 0; i < outs; i++) { split[i] = Math.Min(chunk, left); left -= split[i]; }
                if (_numOutputs == 0) throw ctx.Error($"dimension {dim} of axis {axis} does not split into {outs} equal parts");
            }
            else Array.Fill(split, dim / outs);
        }
        if (split.Length != outs) throw ctx.Error($"split has {split.Length} parts but the node has {outs} outputs");
        if (split.Any(s => s < 0) || split.Sum() != dim) throw ctx.Error($"split [{string.Join(",", split)}] does not add up to dimension {dim}");
        int outer = ShapeMath.SizeTo(x.Shape, axis), inner = ShapeMath.SizeFrom(x.Shape, axis + 1);
        int at = 0;
        for (int i = 0; i < outs; i++)
        {
            int len = (int)split[i];
            var shape = (int[])x.Shape.Clone();
            shape[axis] = len;
            if (ctx.IsOutputRequested(i))
            {
                var y = ctx.OutputUninitialized(i, x.ElementType, shape);
                if (y.Length > 0) Elements.Copy(x, at * inner, [dim * inner, 1], y, 0, [len * inner, 1], [outer, len * inner]);
            }
            at += len;
        }
    }
}

/// <summary>Slice: starts/ends/axes (attributes before opset 10, inputs with steps from 10), clamped like numpy.</summary>
[OpKernel("Slice", 1)]
public sealed class Slice : OpKernel
{
    private readonly long[]? _starts, _ends, _axes;
    private readonly bool _inputs;

    public Slice(KernelInfo info)
    {
        _inputs = info.OpsetVersion >= 10;
        if (!_inputs)
        {
            _starts = info.GetInts("starts") ?? throw info.Error("attribute 'starts' is required");
            _ends = info.GetInts("ends") ?? throw info.Error("attribute 'ends' is required");
            _axes = info.GetInts("axes");
        }
    }

    public override void Compute(KernelContext ctx)
    {
        var x = ctx.Input(0);
        long[] starts, ends;
        long[]? axes, steps = null;
        if (_inputs)
        {
            starts = ctx.Input(1).ToInt64Array();
            ends = ctx.Input(2).ToInt64Array();
            axes = Elements.OptionalInts(ctx, 3);
            steps = Elements.OptionalInts(ctx, 4);
        }
        else { starts = _starts!; ends = _ends!; axes = _axes; }
        if (ends.Length != starts.Length) throw ctx.Error($"starts has {starts.Length} entries but ends has {ends.Length}");
        if (axes is not null && axes.Length != starts.Length) throw ctx.Error($"axes has {axes.Length} entries but starts has {starts.Length}");
        if (steps is not null && steps.Length != starts.Length) throw ctx.Error($"steps has {steps.Length} entries but starts has {starts.Length}");
        int r = x.Rank;
        var inStrides = ShapeMath.Strides(x.Shape);
        var shape = (int[])x.Shape.Clone();
        var strides = (int[])inStrides.Clone();
        var seen = new bool[r];
        int offset = 0;
        for (int i = 0; i < starts.Length; i++)
        {
            int ax = Elements.Axis(ctx, axes is null ? i : axes[i], r);
            if (seen[ax]) throw ctx.Error($"axis {ax} is sliced twice");
            seen[ax] = true;
            long step = steps is null ? 1 : steps[i];
            if (step == 0) throw ctx.Error("a step of 0 is not allowed");
            long d = x.Shape[ax];
            long s = starts[i], e = ends[i];
            if (s < 0) s += d;
            if (e < 0) e += d;
            long len;
            if (step > 0)
            {
                s = Math.Clamp(s, 0, d);
                e = Math.Clamp(e, 0, d);
                len = e > s ? (e - s + step - 1) / step : 0;
            }
            else
            {
                s = Math.Clamp(s, -1, d - 1);
                e = Math.Clamp(e, -1, d - 1);
                len = s > e ? (s - e + (-step) - 1) / -step : 0;
            }
            shape[ax] = (int)len;
            if (len > 0) offset += (int)s * inStrides[ax];
            strides[ax] = (int)(inStrides[ax] * step);
        }
        var y = ctx.OutputUninitialized(0, x.ElementType, shape);
        if (y.Length > 0) Elements.Gather(x, offset, strides, y);
    }
}

/// <summary>Expand: broadcasts the input against a shape (either side may have the 1s).</summary>
[OpKernel("Expand", 8)]
public sealed class Expand : OpKernel
{
    public Expand(KernelInfo info) { }

    public override void Compute(KernelContext ctx)
    {
        var x = ctx.Input(0);
        var target = ctx.Input(1).ToInt64Array();
        var t = new int[target.Length];
        for (int i = 0; i < t.Length; i++) t[i] = Elements.Dim(ctx, target[i], "shape entry");
        int[] shape;
        try { shape = ShapeMath.Broadcast(x.Shape, t); }
        catch (ArgumentException e) { throw ctx.Error(e.Message); }
        var y = ctx.OutputUninitialized(0, x.ElementType, shape);
        if (y.Length > 0) Elements.Gather(x, 0, ShapeMath.BroadcastStrides(x.Shape, shape), y);
    }
}

/// <summary>Tile: repeats the input along every axis (opset 6+), or along one axis given as inputs (opset 1).</summary>
[OpKernel("Tile", 1)]
public sealed class Tile : OpKernel
{
    private readonly bool _v1;
    public Tile(KernelInfo info) => _v1 = info.OpsetVersion < 6;

    public override void Compute(KernelContext ctx)
    {
        var x = ctx.Input(0);
        int r = x.Rank;
        long[] repeats;
        if (_v1)
        {
            repeats = Enumerable.Repeat(1L, r).ToArray();
            int axis = Elements.Axis(ctx, ctx.Input(2).ToInt64Array()[0], r);
            repeats[axis] = ctx.Input(1).ToInt64Array()[0];
        }
        else repeats = ctx.Input(1).ToInt64Array();
        if (repeats.Length != r) throw ctx.Error($"repeats has {repeats.Length} entries but the input has rank {r}");
        // View the output as [rep0, d0, rep1, d1, ...] reading the input with stride 0 on the repeat axes.
        var inStrides = ShapeMath.Strides(x.Shape);
        var shape = new int[r];
        var vShape = new int[2 * r];
        var vStrides = new int[2 * r];
        for (int i = 0; i < r; i++)
        {
            int rep = Elements.Dim(ctx, repeats[i], "repeat");
            shape[i] = checked(x.Shape[i] * rep);
            vShape[2 * i] = rep; vShape[2 * i + 1] = x.Shape[i];
            vStrides[2 * i + 1] = inStrides[i];
        }
        var y = ctx.OutputUninitialized(0, x.ElementType, shape);
        if (y.Length > 0) Elements.Copy(x, 0, vStrides, y, 0, ShapeMath.Strides(vShape), vShape);
    }
}

/// <summary>ConstantOfShape: a tensor of the given shape filled with 'value' (default float 0).</summary>
[OpKernel("ConstantOfShape", 9)]
public sealed class ConstantOfShape : OpKernel
{
    private readonly Tensor _value;

    public ConstantOfShape(KernelInfo info)
    {
        _value = info.GetTensor("value") ?? Tensor.Scalar(0f);
        if (_value.Length != 1) throw info.Error($"'value' must have one element, it has {_value.Length}");
    }

    public override void Compute(KernelContext ctx)
    {
        var dims = ctx.Input(0).ToInt64Array();
        var shape = new int[dims.Length];
        for (int i = 0; i < dims.Length; i++) shape[i] = Elements.Dim(ctx, dims[i], "shape entry");
        var y = ctx.OutputUninitialized(0, _value.ElementType, shape);
        Elements.Fill(y, _value);
    }
}

/// <summary>EyeLike: a 2-D tensor with ones on the k-th diagonal, of the input's shape and the 'dtype' (or input) type.</summary>
[OpKernel("EyeLike", 9)]
public sealed class EyeLike : OpKernel
{
    private readonly long _k;
    private readonly DataType? _dtype;

    public EyeLike(KernelInfo info)
    {
        _k = info.GetInt("k", 0);
        if (info.Node.HasAttr("dtype")) _dtype = (DataType)info.GetInt("dtype", 1);
    }

    public override void Compute(KernelContext ctx)
    {
        var x = ctx.Input(0);
        if (x.Rank != 2) throw ctx.Error($"input must be 2-D, it has shape {ShapeMath.Format(x.Shape)}");
        var type = _dtype ?? x.ElementType;
        var y = ctx.Output(0, type, x.Shape);
        var one = Elements.ScalarOf(type, 1);
        int rows = x.Shape[0], cols = x.Shape[1];
        for (int i = 0; i < rows; i++)
        {
            long j = i + _k;
            if (j >= 0 && j < cols) Elements.Copy(one, 0, [], y, (int)(i * cols + j), [], []);
        }
    }
}

/// <summary>Range: start, start+delta, ... up to (not including) limit.</summary>
[OpKernel("Range", 11)]
public sealed class Range : OpKernel
{
    public Range(KernelInfo info) { }

    public override void Compute(KernelContext ctx)
    {
        var start = ctx.Input(0);
        var limit = ctx.Input(1);
        var delta = ctx.Input(2);
        if (start.Length != 1 || limit.Length != 1 || delta.Length != 1) throw ctx.Error("start, limit and delta must be scalars");
        double s = start.GetDouble(0), l = limit.GetDouble(0), d = delta.GetDouble(0);
        if (d == 0) throw ctx.Error("delta must not be 0");
        double count = Math.Ceiling((l - s) / d);
        int n = count > 0 ? Elements.Dim(ctx, (long)count, "output length") : 0;
        var type = start.ElementType;
        var y = ctx.OutputUninitialized(0, type, [n]);
        if (type == DataType.BFloat16)
        {
            var o = y.Span<BFloat16>();
            float fs = (float)s, fd = (float)d;
            for (int i = 0; i < n; i++) o[i] = (BFloat16)(fs + i * fd);
            return;
        }
        var a = new RangeAction { Start = start, Delta = delta, Y = y };
        Elements.ByNumber(type, ref a, "Range");
    }

    private struct RangeAction : INumericAction
    {
        public Tensor Start, Delta, Y;
        public void Invoke<T>() where T : unmanaged, System.Numerics.INumber<T>
        {
            T s = Start.Span<T>()[0], d = Delta.Span<T>()[0];
            var o = Y.Span<T>();
            // Accumulate like the reference (start + i*delta), computing i*delta in T.
            for (int i = 0; i < o.Length; i++) o[i] = s + T.CreateTruncating(i) * d;
        }
    }
}
