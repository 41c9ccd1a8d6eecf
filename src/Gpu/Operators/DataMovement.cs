using NetOnnx.Gpu.Kernels;
using NetOnnx.Kernels;

namespace NetOnnx.Gpu.Operators;

/// <summary>Reshape, Flatten, Squeeze, Unsqueeze, Identity and inference Dropout: a new shape over the same device storage.</summary>
internal sealed class ViewOp : GpuOp
{
    private readonly string _op;
    private readonly long[]? _values;
    private readonly bool _allowZero;
    private readonly long _axis;

    private ViewOp(string op, long[]? values, bool allowZero, long axis)
    {
        _op = op;
        _values = values;
        _allowZero = allowZero;
        _axis = axis;
    }

    public override bool ReadsOnDevice(int input) => input == 0;

    public static GpuOp? Create(KernelInfo info)
    {
        string op = info.Node.OpType;
        switch (op)
        {
            case "Reshape":
                return info.ConstantInput(1) is { } shape ? new ViewOp(op, shape.ToInt64Array(), info.GetInt("allowzero", 0) != 0, 0) : null;
            case "Flatten": return new ViewOp(op, null, false, info.GetInt("axis", 1));
            case "Squeeze" or "Unsqueeze":
            {
                long[]? axes = info.OpsetVersion < 13 ? info.GetInts("axes") : info.HasInput(1) ? info.ConstantInput(1)?.ToInt64Array() : null;
                if (info.OpsetVersion >= 13 && info.HasInput(1) && axes is null) return null;
                if (op == "Unsqueeze" && axes is null) return null;
                return new ViewOp(op, axes, false, 0);
            }
            case "Identity": return new ViewOp(op, null, false, 0);
            case "Dropout":
                // Inference only: no mask output, no training-mode input that could be true.
                if (info.Node.Outputs.Count > 1 && info.Node.Outputs[1].Length > 0) return null;
                if (info.HasInput(2) && (info.ConstantInput(2) is not { } tm || tm.Item<bool>())) return null;
                return new ViewOp(op, null, false, 0);
            default: return null;
        }
    }

    public override void Run(GpuOpContext ctx)
    {
        var x = ctx.Input(0);
        ctx.OutputView(0, x, Shape(x.Shape));
    }

    private int[] Shape(int[] s)
    {
        switch (_op)
        {
            case "Reshape":
            {
                var r = new int[_values!.Length];
                int infer = -1;
                long known = 1;
                for (int i = 0; i < r.Length; i++)
                {
                    long v = _values[i];
                    if (v == 0 && !_allowZero) { if (i >= s.Length) throw new ArgumentException($"Reshape: dimension {i} copies an input dimension the rank-{s.Length} input lacks"); v = s[i]; }
                    if (v == -1) { if (infer >= 0) throw new ArgumentException("Reshape: more than one -1 in the shape"); infer = i; continue; }
                    if (v < 0) throw new ArgumentException($"Reshape: invalid dimension {v}");
                    r[i] = checked((int)v);
                    known *= v;
                }
                int total = ShapeMath.Size(s);
                if (infer >= 0)
                {
                    if (known == 0 || total % known != 0) throw new ArgumentException($"Reshape: cannot infer -1 reshaping {ShapeMath.Format(s)} to [{string.Join(",", _values)}]");
                    r[infer] = (int)(total / known);
                }
                if (ShapeMath.Size(r) != total) throw new ArgumentException($"Reshape: {ShapeMath.Format(s)} has {total} elements, [{string.Join(",", _values)}] has {ShapeMath.Size(r)}");
                return r;
            }
            case "Flatten":
            {
                int a = _axis < 0 ? (int)_axis + s.Length : (int)_axis;
                if (a < 0 || a > s.Length) throw new ArgumentException($"Flatten: axis {_axis} is out of range for rank {s.Length}");
                int outer = 1, inner = 1;
                for (int i = 0; i < a; i++) outer *= s[i];
                for (int i = a; i < s.Length; i++) inner *= s[i];
                return [outer, inner];
            }
            case "Squeeze":
            {
                if (_values is null) return s.Where(d => d != 1).ToArray();
                var drop = _values.Select(a => Axis(a, s.Length, "Squeeze axis")).ToHashSet();
                foreach (int a in drop) if (s[a] != 1) throw new ArgumentException($"Squeeze: dimension {a} of {ShapeMath.Format(s)} is not 1");
                return s.Where((_, i) => !drop.Contains(i)).ToArray();
            }
            case "Unsqueeze":
            {
                int rank = s.Length + _values!.Length;
                var add = _values.Select(a => Axis(a, rank, "Unsqueeze axis")).ToHashSet();
                if (add.Count != _values.Length) throw new ArgumentException("Unsqueeze: repeated axis");
                var r = new int[rank];
                for (int i = 0, j = 0; i < rank; i++) r[i] = add.Contains(i) ? 1 : s[j++];
                return r;
            }
            default: return (int[])s.Clone();
        }
    }
}

/// <summary>Strided copies: Transpose, Slice and Expand all read the input at base + sum(index * stride).</summary>
internal static class Strided
{
    public static void Launch(GpuOpContext ctx, DeviceTensor x, DeviceTensor y, int[] strides, int baseOffset)
    {
        if (y.Length == 0) return;
        var args = new GatherArgs { Dims = Six.Of(y.Shape, 1), Stride = Six.Of(strides, 0), Base = baseOffset };
        ctx.Device.StridedGather(ctx.Stream, y.Length, x.Words, y.Words, args);
    }

    public static int[] RowMajor(int[] shape)
    {
        var s = new int[shape.Length];
        int st = 1;
        for (int d = shape.Length - 1; d >= 0; d--) { s[d] = st; st *= shape[d]; }
        return s;
    }
}

internal sealed class TransposeOp : GpuOp
{
    private readonly long[]? _perm;
    private TransposeOp(long[]? perm) => _perm = perm;
    public static GpuOp? Create(KernelInfo info) => new TransposeOp(info.GetInts("perm") is { Length: > 0 } p ? p : null);

    public override void Run(GpuOpContext ctx)
    {
        var x = ctx.Input(0);
        int r = x.Rank;
        var perm = _perm is null ? Enumerable.Range(0, r).Reverse().ToArray() : _perm.Select(p => Axis(p, r, "Transpose perm entry")).ToArray();
        if (perm.Length != r || perm.Distinct().Count() != r) throw new ArgumentException($"Transpose: perm [{string.Join(",", perm)}] does not permute rank {r}");
        var inStride = Strided.RowMajor(x.Shape);
        var y = ctx.Output(0, x.ElementType, perm.Select(p => x.Shape[p]).ToArray());
        Strided.Launch(ctx, x, y, perm.Select(p => inStride[p]).ToArray(), 0);
    }
}

internal sealed class SliceOp : GpuOp
{
    private readonly long[] _starts, _ends;
    private readonly long[]? _axes, _steps;

    private SliceOp(long[] starts, long[] ends, long[]? axes, long[]? steps) { _starts = starts; _ends = ends; _axes = axes; _steps = steps; }

    public override bool ReadsOnDevice(int input) => input == 0;

    public static GpuOp? Create(KernelInfo info)
    {
        if (info.OpsetVersion < 10)
            return info.GetInts("starts") is { } s && info.GetInts("ends") is { } e ? new SliceOp(s, e, info.GetInts("axes"), null) : null;
        long[]? C(int i) => info.HasInput(i) ? info.ConstantInput(i)?.ToInt64Array() : null;
        if (C(1) is not { } starts || C(2) is not { } ends) return null;
        if ((info.HasInput(3) && C(3) is null) || (info.HasInput(4) && C(4) is null)) return null;
        return new SliceOp(starts, ends, C(3), C(4));
    }

    public override void Run(GpuOpContext ctx)
    {
        var x = ctx.Input(0);
        int r = x.Rank;
        var stride = Strided.RowMajor(x.Shape);
        var shape = (int[])x.Shape.Clone();
        var steps = Enumerable.Repeat(1L, r).ToArray();
        var starts = new long[r];
        if (_starts.Length != _ends.Length) throw new ArgumentException("Slice: starts and ends differ in length");
        for (int k = 0; k < _starts.Length; k++)
        {
            int a = Axis(_axes is null ? k : _axes[k], r, "Slice axis");
            long step = _steps is null ? 1 : _steps[k];
            if (step == 0) throw new ArgumentException("Slice: step 0");
            long dim = x.Shape[a], s = _starts[k], e = _ends[k];
            if (s < 0) s += dim;
            if (e < 0) e += dim;
            long len;
            if (step > 0) { s = Math.Clamp(s, 0, dim); e = Math.Clamp(e, 0, dim); len = e > s ? (e - s + step - 1) / step : 0; }
            else { s = Math.Clamp(s, 0, dim - 1); e = Math.Clamp(e, -1, dim - 1); len = s > e ? (s - e - step - 1) / -step : 0; }
            starts[a] = s; steps[a] = step; shape[a] = (int)len;
        }
        int baseOffset = 0;
        var strides = new int[r];
        for (int d = 0; d < r; d++) { baseOffset += (int)starts[d] * stride[d]; strides[d] = (int)(steps[d] * stride[d]); }
        var y = ctx.Output(0, x.ElementType, shape);
        Strided.Launch(ctx, x, y, strides, baseOffset);
    }
}

internal sealed class ExpandOp : GpuOp
{
    private readonly int[] _shape;
    private ExpandOp(int[] shape) => _shape = shape;
    public override bool ReadsOnDevice(int input) => input == 0;
    public static GpuOp? Create(KernelInfo info) => info.ConstantInput(1) is { } s ? new ExpandOp(s.ToInt64Array().Select(v => checked((int)v)).ToArray()) : null;

    public override void Run(GpuOpContext ctx)
    {
        var x = ctx.Input(0);
        var y = ctx.Output(0, x.ElementType, ShapeMath.Broadcast(x.Shape, _shape));
        Strided.Launch(ctx, x, y, BinaryOps.BroadcastStrides(x.Shape, y.Shape), 0);
    }
}

internal sealed class ConcatOp : GpuOp
{
    private readonly long _axis;
    private ConcatOp(long axis) => _axis = axis;
    public static GpuOp? Create(KernelInfo info) => info.Node.HasAttr("axis") ? new ConcatOp(info.GetInt("axis", 0)) : null;

    public override void Run(GpuOpContext ctx)
    {
        var first = ctx.Input(0);
        int r = first.Rank, a = Axis(_axis, r, "Concat axis");
        var shape = (int[])first.Shape.Clone();
        shape[a] = 0;
        for (int i = 0; i < ctx.InputCount; i++)
        {
            var t = ctx.Input(i);
            if (t.Rank != r || t.ElementType != first.ElementType) throw new ArgumentException($"Concat: input {i} {ShapeMath.Format(t.Shape)} does not match input 0 {ShapeMath.Format(first.Shape)}");
            for (int d = 0; d < r; d++)
                if (d != a && t.Shape[d] != first.Shape[d]) throw new ArgumentException($"Concat: input {i} {ShapeMath.Format(t.Shape)} differs from {ShapeMath.Format(first.Shape)} off the axis");
            shape[a] += t.Shape[a];
        }
        var y = ctx.Output(0, first.ElementType, shape);
        int inner = 1;
        for (int d = a + 1; d < r; d++) inner *= shape[d];
        int dstCols = shape[a] * inner, offset = 0;
        for (int i = 0; i < ctx.InputCount; i++)
        {
            var t = ctx.Input(i);
            int cols = t.Shape[a] * inner;
            if (t.Length > 0) ctx.Device.CopyColumns(ctx.Stream, t.Length, t.Words, y.Words, cols, dstCols, offset);
            offset += cols;
        }
    }
}

internal sealed class GatherOp : GpuOp
{
    private readonly long _axis;
    private GatherOp(long axis) => _axis = axis;
    public static GpuOp? Create(KernelInfo info) =>
        info.InputElementType(1) is DataType.Int64 or DataType.Int32 ? new GatherOp(info.GetInt("axis", 0)) : null;

    public override void Run(GpuOpContext ctx)
    {
        var x = ctx.Input(0);
        var idx = ctx.Input(1);
        int a = Axis(_axis, x.Rank, "Gather axis"), n = x.Shape[a];
        if (idx.Host is { } host)
        {
            // Indices that came from the host are checked there: the kernel cannot report a bad one.
            var v = host.ToInt64Array();
            foreach (var k in v)
                if (k < -n || k >= n) throw new ArgumentException($"Gather: index {k} is out of range for axis {a} of length {n}");
        }
        var shape = x.Shape[..a].Concat(idx.Shape).Concat(x.Shape[(a + 1)..]).ToArray();
        var y = ctx.Output(0, x.ElementType, shape);
        int inner = 1;
        for (int d = a + 1; d < x.Rank; d++) inner *= x.Shape[d];
        if (y.Length > 0)
            ctx.Device.AxisGather(ctx.Stream, y.Length, x.Words, idx.Words, y.Words, new AxisGatherArgs { AxisLength = n, Indices = Math.Max(idx.Length, 1), Inner = Math.Max(inner, 1) });
    }
}
