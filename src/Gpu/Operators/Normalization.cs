using NetOnnx.Gpu.Kernels;
using NetOnnx.Kernels;

namespace NetOnnx.Gpu.Operators;

/// <summary>Inference BatchNormalization with constant statistics: folded on the host into y = x·scale[c] + shift[c].</summary>
internal sealed class BatchNormOp : GpuOp
{
    private readonly Tensor _scale, _shift;
    private DeviceTensor? _dScale, _dShift;

    private BatchNormOp(Tensor scale, Tensor shift) { _scale = scale; _shift = shift; }

    public override bool ReadsOnDevice(int input) => input == 0;

    public static GpuOp? Create(KernelInfo info)
    {
        if (!IsFloat(info, 0) || info.GetInt("training_mode", 0) != 0 || info.Node.Outputs.Count(o => o.Length > 0) > 1) return null;
        var c = Enumerable.Range(1, 4).Select(info.ConstantInput).ToArray();
        if (c.Any(t => t is null || t.ElementType != DataType.Float) || c.Any(t => t!.Length != c[0]!.Length)) return null;
        float eps = info.GetFloat("epsilon", 1e-5f);
        var s = c[0]!.ReadOnlySpan<float>(); var b = c[1]!.ReadOnlySpan<float>(); var m = c[2]!.ReadOnlySpan<float>(); var v = c[3]!.ReadOnlySpan<float>();
        var scale = new float[s.Length];
        var shift = new float[s.Length];
        for (int i = 0; i < s.Length; i++)
        {
            scale[i] = s[i] / MathF.Sqrt(v[i] + eps);
            shift[i] = b[i] - m[i] * scale[i];
        }
        return new BatchNormOp(Tensor.Create(scale, scale.Length), Tensor.Create(shift, shift.Length));
    }

    public override void Upload(Func<Tensor, DeviceTensor> upload)
    {
        _dScale = upload(_scale);
        _dShift = upload(_shift);
    }

    public override void Run(GpuOpContext ctx)
    {
        var x = ctx.Input(0);
        if (x.Rank < 2 || x.Shape[1] != _scale.Length) throw new ArgumentException($"BatchNormalization: input {ShapeMath.Format(x.Shape)} does not have {_scale.Length} channels");
        var y = ctx.Output(0, DataType.Float, (int[])x.Shape.Clone());
        int spatial = x.Length / Math.Max(x.Shape[0] * x.Shape[1], 1);
        if (x.Length > 0) ctx.Device.ChannelAffine(ctx.Stream, x.Length, x.Floats, _dScale!.Floats, _dShift!.Floats, y.Floats, Math.Max(spatial, 1));
    }
}

/// <summary>Softmax over the last axis (opset 13+) or over the flattened trailing axes (older opsets): a row kernel.</summary>
internal sealed class SoftmaxOp : GpuOp
{
    private readonly long _axis;
    private readonly bool _coerce;

    private SoftmaxOp(long axis, bool coerce) { _axis = axis; _coerce = coerce; }

    public static GpuOp? Create(KernelInfo info)
    {
        if (!IsFloat(info, 0)) return null;
        bool coerce = info.OpsetVersion < 13;
        long axis = info.GetInt("axis", coerce ? 1 : -1);
        if (!coerce && axis != -1)
        {
            // Only the last axis is a row of contiguous elements; elsewhere the CPU kernel runs.
            if (info.InputTypes[0] is not TensorType { Shape: { } dims } || axis != dims.Length - 1) return null;
        }
        return new SoftmaxOp(axis, coerce);
    }

    public override void Run(GpuOpContext ctx)
    {
        var x = ctx.Input(0);
        int a = x.Rank == 0 ? 0 : Axis(_axis, x.Rank, "Softmax axis");
        int n = 1;
        for (int d = _coerce ? a : x.Rank - 1; d < x.Rank; d++) n *= x.Shape[d];
        var y = ctx.Output(0, DataType.Float, (int[])x.Shape.Clone());
        int rows = n == 0 ? 0 : x.Length / n;
        if (rows > 0) ctx.Device.RowSoftmax(ctx.Stream, ctx.Device.RowConfig(rows), x.Floats, y.Floats, new RowArgs { Rows = rows, N = n });
    }
}

/// <summary>LayerNormalization (ai.onnx 17 and com.netonnx) and com.netonnx SkipLayerNormalization: one group per row.</summary>
internal sealed class LayerNormOp : GpuOp
{
    private readonly long _axis;
    private readonly float _epsilon;
    private readonly bool _skip;

    private LayerNormOp(long axis, float eps, bool skip) { _axis = axis; _epsilon = eps; _skip = skip; }

    public static GpuOp? Create(KernelInfo info)
    {
        // The optional Mean and InvStdDev outputs stay on the CPU kernel.
        if (!AllFloat(info) || info.Node.Outputs.Skip(1).Any(o => o.Length > 0)) return null;
        return new LayerNormOp(info.GetInt("axis", -1), info.GetFloat("epsilon", 1e-5f), false);
    }

    public static GpuOp? CreateSkip(KernelInfo info) =>
        AllFloat(info) && info.InputCount <= 4 && info.Node.Outputs.Count <= 2 ? new LayerNormOp(-1, info.GetFloat("epsilon", 1e-5f), true) : null;

    public override void Run(GpuOpContext ctx)
    {
        var x = ctx.Input(0);
        var skip = _skip ? ctx.Input(1) : null;
        var gamma = ctx.Input(_skip ? 2 : 1);
        var beta = ctx.OptionalInput(_skip ? 3 : 2);
        if (x.Rank == 0) throw new ArgumentException("LayerNormalization: input must have rank 1 or more");
        int a = Axis(_axis, x.Rank, "LayerNormalization axis");
        int n = 1;
        for (int d = a; d < x.Rank; d++) n *= x.Shape[d];
        if (skip is not null && !ShapeMath.SameShape(skip.Shape, x.Shape))
            throw new ArgumentException($"SkipLayerNormalization: input {ShapeMath.Format(x.Shape)} and skip {ShapeMath.Format(skip.Shape)} differ");
        if (gamma.Length != n || (beta is not null && beta.Length != n))
            throw new NotSupportedException($"LayerNormalization: the GPU kernel needs scale and bias of the normalized size {n}, got {ShapeMath.Format(gamma.Shape)}");
        var y = ctx.Output(0, DataType.Float, (int[])x.Shape.Clone());
        var sum = _skip && ctx.IsOutputRequested(1) ? ctx.Output(1, DataType.Float, (int[])x.Shape.Clone()) : null;
        int rows = n == 0 ? 0 : x.Length / n;
        var dev = ctx.Device;
        int mode = (skip is null ? 0 : 1) | (beta is null ? 0 : 2) | (sum is null ? 0 : 4);
        if (rows > 0)
            dev.RowLayerNorm(ctx.Stream, dev.RowConfig(rows), x.Floats, skip?.Floats ?? dev.DummyFloats, gamma.Floats, beta?.Floats ?? dev.DummyFloats,
                y.Floats, sum?.Floats ?? dev.DummyFloats, new RowArgs { Rows = rows, N = n, Epsilon = _epsilon, Mode = mode });
    }
}

/// <summary>ReduceSum/Mean/Max/Min: the reduced axes are moved last (a strided copy, when they are not already) and reduced per row.</summary>
internal sealed class ReduceOp : GpuOp
{
    private readonly int _mode;
    private readonly long[]? _axes;
    private readonly bool _keepDims, _noopEmpty;

    private ReduceOp(int mode, long[]? axes, bool keep, bool noop) { _mode = mode; _axes = axes; _keepDims = keep; _noopEmpty = noop; }

    public override bool ReadsOnDevice(int input) => input == 0;

    public static GpuOp? Create(KernelInfo info)
    {
        if (!IsFloat(info, 0)) return null;
        string op = info.Node.OpType;
        int mode = op switch { "ReduceSum" => 0, "ReduceMean" => 1, "ReduceMax" => 2, _ => 3 };
        bool axesAsInput = op == "ReduceSum" ? info.OpsetVersion >= 13 : info.OpsetVersion >= 18;
        long[]? axes = axesAsInput ? (info.HasInput(1) ? info.ConstantInput(1)?.ToInt64Array() : null) : info.GetInts("axes");
        if (axesAsInput && info.HasInput(1) && axes is null) return null;
        return new ReduceOp(mode, axes is { Length: > 0 } ? axes : null, info.GetInt("keepdims", 1) != 0, info.GetInt("noop_with_empty_axes", 0) != 0);
    }

    public override void Run(GpuOpContext ctx)
    {
        var x = ctx.Input(0);
        int r = x.Rank;
        if (_axes is null && _noopEmpty) { ctx.OutputView(0, x, (int[])x.Shape.Clone()); return; }
        var reduce = _axes is null ? Enumerable.Range(0, r).ToHashSet() : _axes.Select(a => Axis(a, r, "reduce axis")).ToHashSet();
        var keep = Enumerable.Range(0, r).Where(d => !reduce.Contains(d)).ToArray();
        var order = keep.Concat(reduce.Order()).ToArray();
        int n = 1;
        foreach (int d in reduce) n *= x.Shape[d];
        var outShape = _keepDims ? x.Shape.Select((s, d) => reduce.Contains(d) ? 1 : s).ToArray() : keep.Select(d => x.Shape[d]).ToArray();
        var y = ctx.Output(0, DataType.Float, outShape);
        var src = x;
        if (!order.SequenceEqual(Enumerable.Range(0, r)))
        {
            var stride = Strided.RowMajor(x.Shape);
            src = ctx.Temp(order.Select(d => x.Shape[d]).ToArray());
            Strided.Launch(ctx, x, src, order.Select(d => stride[d]).ToArray(), 0);
        }
        int rows = y.Length;
        if (rows == 0) return;
        if (n == 0) throw new NotSupportedException("reducing an empty axis is left to the CPU kernel");
        ctx.Device.RowReduce(ctx.Stream, ctx.Device.RowConfig(rows), src.Floats, y.Floats, new RowArgs { Rows = rows, N = n, Mode = _mode });
    }
}
