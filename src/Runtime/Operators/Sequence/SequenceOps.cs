using NetOnnx.Kernels;

namespace NetOnnx.Runtime.Operators.Sequence;

/// <summary>Shared helpers: reading sequence inputs and positions.</summary>
internal static class Seq
{
    public static TensorSequence Input(KernelContext ctx, int i) => ctx.InputValue(i) switch
    {
        TensorSequence s => s,
        OptionalValue { Value: TensorSequence s } => s,
        null => throw ctx.Error($"sequence input {i} is missing"),
        var v => throw ctx.Error($"input {i} is a {v.GetType().Name}, expected a sequence"),
    };

    /// <summary>A position input (int32/int64 scalar) normalised to [0, count] (insert) or [0, count-1].</summary>
    public static int Position(KernelContext ctx, Tensor p, int count, bool forInsert)
    {
        if (p.Length != 1) throw ctx.Error($"position must be a scalar, got shape {ShapeMath.Format(p.Shape)}");
        if (p.ElementType is not (DataType.Int32 or DataType.Int64)) throw ctx.Error($"position must be int32 or int64, got {p.ElementType.OnnxName()}");
        long pos = p.ToInt64Array()[0];
        long hi = forInsert ? count : count - 1;
        if (pos < -count || pos > hi) throw ctx.Error($"position {pos} is out of range [{-count}, {hi}] for a sequence of {count}");
        return (int)(pos < 0 ? pos + count : pos);
    }

    public static DataType DeclaredElementType(KernelInfo info, int output, DataType def) =>
        info.OutputTypes.Count > output && info.OutputTypes[output] is SequenceType { ElementType: TensorType tt } ? tt.ElementType : def;
}

[OpKernel("SequenceEmpty", 11)]
public sealed class SequenceEmpty : OpKernel
{
    private readonly DataType _type;
    public SequenceEmpty(KernelInfo info) => _type = (DataType)info.GetInt("dtype", (long)DataType.Float);
    public override void Compute(KernelContext ctx) => ctx.SetOutput(0, new TensorSequence(_type));
}

[OpKernel("SequenceConstruct", 11)]
public sealed class SequenceConstruct : OpKernel
{
    public SequenceConstruct(KernelInfo info) { }
    public override void Compute(KernelContext ctx)
    {
        var items = new List<Tensor>(ctx.InputCount);
        for (int i = 0; i < ctx.InputCount; i++)
        {
            var t = ctx.Input(i);
            if (items.Count > 0 && t.ElementType != items[0].ElementType)
                throw ctx.Error($"input {i} is {t.ElementType.OnnxName()} but input 0 is {items[0].ElementType.OnnxName()}; a sequence holds one element type");
            items.Add(t);
        }
        if (items.Count == 0) throw ctx.Error("needs at least one input");
        ctx.SetOutput(0, new TensorSequence(items[0].ElementType, items));
    }
}

[OpKernel("SequenceInsert", 11)]
public sealed class SequenceInsert : OpKernel
{
    public SequenceInsert(KernelInfo info) { }
    public override void Compute(KernelContext ctx)
    {
        var s = Seq.Input(ctx, 0);
        var t = ctx.Input(1);
        if (s.Count > 0 && t.ElementType != s.ElementType)
            throw ctx.Error($"cannot insert a {t.ElementType.OnnxName()} tensor into a sequence of {s.ElementType.OnnxName()}");
        int pos = ctx.OptionalInput(2) is { } p ? Seq.Position(ctx, p, s.Count, forInsert: true) : s.Count;
        var items = new List<Tensor>(s.Items);
        items.Insert(pos, t);
        ctx.SetOutput(0, new TensorSequence(s.Count > 0 ? s.ElementType : t.ElementType, items));
    }
}

[OpKernel("SequenceAt", 11)]
public sealed class SequenceAt : OpKernel
{
    public SequenceAt(KernelInfo info) { }
    public override void Compute(KernelContext ctx)
    {
        var s = Seq.Input(ctx, 0);
        ctx.SetOutput(0, s.Items[Seq.Position(ctx, ctx.Input(1), s.Count, forInsert: false)]);
    }
}

[OpKernel("SequenceErase", 11)]
public sealed class SequenceErase : OpKernel
{
    public SequenceErase(KernelInfo info) { }
    public override void Compute(KernelContext ctx)
    {
        var s = Seq.Input(ctx, 0);
        if (s.Count == 0) throw ctx.Error("cannot erase from an empty sequence");
        int pos = ctx.OptionalInput(1) is { } p ? Seq.Position(ctx, p, s.Count, forInsert: false) : s.Count - 1;
        var items = new List<Tensor>(s.Items);
        items.RemoveAt(pos);
        ctx.SetOutput(0, new TensorSequence(s.ElementType, items));
    }
}

[OpKernel("SequenceLength", 11)]
public sealed class SequenceLength : OpKernel
{
    public SequenceLength(KernelInfo info) { }
    public override void Compute(KernelContext ctx) =>
        ctx.Output(0, DataType.Int64, []).Span<long>()[0] = Seq.Input(ctx, 0).Count;
}

/// <summary>SplitToSequence: equal chunks of a scalar size, explicit sizes, or (no split) size-1 slices with keepdims.</summary>
[OpKernel("SplitToSequence", 11)]
public sealed class SplitToSequence : OpKernel
{
    private readonly long _axis;
    private readonly bool _keepDims;
    public SplitToSequence(KernelInfo info)
    {
        _axis = info.GetInt("axis", 0);
        _keepDims = info.GetInt("keepdims", 1) != 0;
    }

    public override void Compute(KernelContext ctx)
    {
        var x = ctx.Input(0);
        if (x.Rank == 0) throw ctx.Error("cannot split a scalar");
        int axis = ShapeMath.Axis(_axis, x.Rank);
        int dim = x.Shape[axis];
        var split = ctx.OptionalInput(1);
        List<int> sizes = [];
        bool squeeze = false;
        if (split is null)
        {
            for (int i = 0; i < dim; i++) sizes.Add(1);
            squeeze = !_keepDims;
        }
        else if (split.Rank == 0)
        {
            long n = split.ToInt64Array()[0];
            if (n <= 0) throw ctx.Error($"split size {n} must be positive");
            for (long at = 0; at < dim; at += n) sizes.Add((int)Math.Min(n, dim - at));
        }
        else
        {
            foreach (long n in split.ToInt64Array())
            {
                if (n < 0) throw ctx.Error($"split sizes must not be negative, got {n}");
                sizes.Add((int)n);
            }
            if (sizes.Sum() != dim) throw ctx.Error($"split sizes sum to {sizes.Sum()} but axis {axis} has {dim}");
        }

        int outer = ShapeMath.SizeTo(x.Shape, axis), inner = ShapeMath.SizeFrom(x.Shape, axis + 1);
        var items = new List<Tensor>(sizes.Count);
        int start = 0;
        foreach (int n in sizes)
        {
            int[] shape = squeeze ? [.. x.Shape[..axis], .. x.Shape[(axis + 1)..]] : [.. x.Shape[..axis], n, .. x.Shape[(axis + 1)..]];
            var t = ctx.Allocate(x.ElementType, shape);
            int block = n * inner;
            for (int o = 0; o < outer; o++)
                Array.Copy(x.Buffer, ((long)o * dim + start) * inner, t.Buffer, (long)o * block, block);
            items.Add(t);
            start += n;
        }
        ctx.SetOutput(0, new TensorSequence(x.ElementType, items));
        foreach (var t in items) ctx.Release(t);
    }
}

/// <summary>ConcatFromSequence: concatenates along an existing axis, or stacks on a new one (new_axis=1).</summary>
[OpKernel("ConcatFromSequence", 11)]
public sealed class ConcatFromSequence : OpKernel
{
    private readonly long _axis;
    private readonly bool _newAxis;
    public ConcatFromSequence(KernelInfo info)
    {
        _axis = info.GetInt("axis", long.MinValue);
        if (_axis == long.MinValue) throw info.Error("requires the axis attribute");
        _newAxis = info.GetInt("new_axis", 0) != 0;
    }

    public override void Compute(KernelContext ctx)
    {
        var s = Seq.Input(ctx, 0);
        if (s.Count == 0) throw ctx.Error("cannot concatenate an empty sequence");
        var first = s.Items[0];
        int rank = first.Rank;
        int axis = ShapeMath.Axis(_axis, _newAxis ? rank + 1 : rank);
        // View every item with the new axis inserted as a size-1 dimension, then concatenate along it.
        var parts = s.Items.Select(t => _newAxis ? (int[])[.. t.Shape[..axis], 1, .. t.Shape[axis..]] : t.Shape).ToList();
        int total = 0;
        for (int i = 0; i < parts.Count; i++)
        {
            var p = parts[i];
            if (p.Length != parts[0].Length) throw ctx.Error($"item {i} has rank {s.Items[i].Rank}, item 0 has {rank}");
            for (int d = 0; d < p.Length; d++)
                if (d != axis && p[d] != parts[0][d])
                    throw ctx.Error($"item {i} has shape {ShapeMath.Format(s.Items[i].Shape)}, incompatible with {ShapeMath.Format(first.Shape)} along axis {axis}");
            total += p[axis];
        }
        int[] outShape = (int[])parts[0].Clone();
        outShape[axis] = total;
        var dst = ctx.OutputUninitialized(0, first.ElementType, outShape);
        int outer = ShapeMath.SizeTo(outShape, axis), inner = ShapeMath.SizeFrom(outShape, axis + 1);
        int offset = 0;
        for (int i = 0; i < parts.Count; i++)
        {
            int block = parts[i][axis] * inner;
            for (int o = 0; o < outer; o++)
                Array.Copy(s.Items[i].Buffer, (long)o * block, dst.Buffer, (long)o * total * inner + offset, block);
            offset += block;
        }
    }
}

/// <summary>SequenceMap: runs its body once per sequence position; extra tensor inputs are passed whole each time.</summary>
[OpKernel("SequenceMap", 17)]
public sealed class SequenceMap : OpKernel
{
    private readonly ExecutionPlan _body;
    private readonly DataType[] _outTypes;

    public SequenceMap(KernelInfo info)
    {
        var body = info.GetGraph("body") ?? throw info.Error("has no body attribute");
        if (body.Inputs.Count != info.InputCount) throw info.Error($"body takes {body.Inputs.Count} inputs but the node has {info.InputCount}");
        if (body.Outputs.Count != info.Node.Outputs.Count) throw info.Error($"body produces {body.Outputs.Count} outputs but the node has {info.Node.Outputs.Count}");
        _outTypes = body.Outputs.Select((o, i) => o.Type is TensorType tt ? tt.ElementType : Seq.DeclaredElementType(info, i, DataType.Float)).ToArray();
        _body = info.CompileSubgraph(body);
    }

    public override void Compute(KernelContext ctx)
    {
        var s0 = Seq.Input(ctx, 0);
        int n = s0.Count;
        for (int i = 1; i < ctx.InputCount; i++)
            if (ctx.InputValue(i) is TensorSequence si && si.Count != n)
                throw ctx.Error($"sequence input {i} has {si.Count} items, input 0 has {n}");
        var results = new List<Tensor>[ctx.OutputCount];
        for (int k = 0; k < results.Length; k++) results[k] = [];
        var args = new object?[ctx.InputCount];
        for (int it = 0; it < n; it++)
        {
            for (int i = 0; i < args.Length; i++)
                args[i] = ctx.InputValue(i) switch { TensorSequence si => si.Items[it], var v => v };
            var outs = ctx.RunSubgraph(_body, args);
            for (int k = 0; k < outs.Length; k++)
                results[k].Add(outs[k] as Tensor ?? throw ctx.Error($"body output {k} is not a tensor"));
        }
        for (int k = 0; k < results.Length; k++)
        {
            ctx.SetOutput(k, new TensorSequence(results[k].Count > 0 ? results[k][0].ElementType : _outTypes[k], results[k]));
            foreach (var t in results[k]) ctx.Release(t);
        }
    }
}
