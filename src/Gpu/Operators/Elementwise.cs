using NetOnnx.Gpu.Kernels;
using NetOnnx.Kernels;

namespace NetOnnx.Gpu.Operators;

/// <summary>Unary elementwise ops and activations, one thread per element.</summary>
internal sealed class UnaryOps : GpuOp
{
    public static readonly (string, UnaryOp)[] Names =
    [
        ("Relu", UnaryOp.Relu), ("Sigmoid", UnaryOp.Sigmoid), ("Tanh", UnaryOp.Tanh), ("HardSigmoid", UnaryOp.HardSigmoid),
        ("HardSwish", UnaryOp.HardSwish), ("LeakyRelu", UnaryOp.LeakyRelu), ("Clip", UnaryOp.Clip), ("Sqrt", UnaryOp.Sqrt),
        ("Exp", UnaryOp.Exp), ("Neg", UnaryOp.Neg), ("Abs", UnaryOp.Abs), ("Erf", UnaryOp.Erf), ("Reciprocal", UnaryOp.Reciprocal),
        ("Log", UnaryOp.Log), ("Floor", UnaryOp.Floor), ("Ceil", UnaryOp.Ceil), ("Softplus", UnaryOp.Softplus), ("Elu", UnaryOp.Elu),
    ];

    private readonly UnaryArgs _args;

    private UnaryOps(UnaryOp op, float a, float b) => _args = new UnaryArgs { Op = (int)op, A = a, B = b };

    public override bool ReadsOnDevice(int input) => input == 0;

    public static GpuOp? Create(KernelInfo info, UnaryOp op)
    {
        if (!IsFloat(info, 0)) return null;
        switch (op)
        {
            case UnaryOp.HardSigmoid: return new UnaryOps(op, info.GetFloat("alpha", 0.2f), info.GetFloat("beta", 0.5f));
            case UnaryOp.LeakyRelu: return new UnaryOps(op, info.GetFloat("alpha", 0.01f), 0f);
            case UnaryOp.Elu: return new UnaryOps(op, info.GetFloat("alpha", 1f), 0f);
            case UnaryOp.Clip:
            {
                if (info.OpsetVersion < 11) return new UnaryOps(op, info.GetFloat("min", float.MinValue), info.GetFloat("max", float.MaxValue));
                float lo = float.MinValue, hi = float.MaxValue;
                if (info.HasInput(1)) { if (info.ConstantInput(1) is not { Length: 1 } t) return null; lo = t.Item<float>(); }
                if (info.HasInput(2)) { if (info.ConstantInput(2) is not { Length: 1 } t) return null; hi = t.Item<float>(); }
                return new UnaryOps(op, lo, hi);
            }
            default: return new UnaryOps(op, 0f, 0f);
        }
    }

    public static GpuOp? CreateGelu(KernelInfo info) =>
        !IsFloat(info, 0) ? null : info.GetString("approximate", "none") switch
        {
            "none" => new UnaryOps(UnaryOp.GeluErf, 0, 0),
            "tanh" => new UnaryOps(UnaryOp.GeluTanh, 0, 0),
            _ => null,
        };

    public override void Run(GpuOpContext ctx)
    {
        var x = ctx.Input(0);
        var y = ctx.Output(0, DataType.Float, (int[])x.Shape.Clone());
        if (x.Length > 0) ctx.Device.Unary(ctx.Stream, x.Length, x.Floats, y.Floats, _args);
    }

    /// <summary>Queues y = op(x) (used by other ops for their epilogues).</summary>
    public static void Launch(GpuOpContext ctx, DeviceTensor x, DeviceTensor y, UnaryOp op, float a = 0, float b = 0)
    {
        if (x.Length > 0) ctx.Device.Unary(ctx.Stream, x.Length, x.Floats, y.Floats, new UnaryArgs { Op = (int)op, A = a, B = b });
    }
}

/// <summary>Binary ops with numpy broadcasting: each operand is read through strides (0 along broadcast axes).</summary>
internal sealed class BinaryOps : GpuOp
{
    public static readonly (string, BinaryOp)[] Names =
    [
        ("Add", BinaryOp.Add), ("Sub", BinaryOp.Sub), ("Mul", BinaryOp.Mul), ("Div", BinaryOp.Div), ("Pow", BinaryOp.Pow),
        ("Max", BinaryOp.Max), ("Min", BinaryOp.Min),
    ];

    private readonly BinaryOp _op;

    private BinaryOps(BinaryOp op) => _op = op;

    public static GpuOp? Create(KernelInfo info, BinaryOp op) =>
        info.InputCount == 2 && info.HasInput(0) && info.HasInput(1) && IsFloat(info, 0) && IsFloat(info, 1) ? new BinaryOps(op) : null;

    public override void Run(GpuOpContext ctx)
    {
        var a = ctx.Input(0);
        var b = ctx.Input(1);
        var y = ctx.Output(0, DataType.Float, ShapeMath.Broadcast(a.Shape, b.Shape));
        Launch(ctx, a, b, y, _op);
    }

    public static void Launch(GpuOpContext ctx, DeviceTensor a, DeviceTensor b, DeviceTensor y, BinaryOp op, float pa = 0, float pb = 0)
    {
        if (y.Length == 0) return;
        var args = new BinaryArgs
        {
            Op = (int)op, A = pa, B = pb,
            Dims = Six.Of(y.Shape, 1), StrideA = Six.Of(BroadcastStrides(a.Shape, y.Shape), 0), StrideB = Six.Of(BroadcastStrides(b.Shape, y.Shape), 0),
        };
        ctx.Device.Binary(ctx.Stream, y.Length, a.Floats, b.Floats, y.Floats, args);
    }

    /// <summary>Strides of a row-major tensor read at the (right-aligned) indices of a broadcast result.</summary>
    public static int[] BroadcastStrides(int[] shape, int[] outShape)
    {
        var s = new int[outShape.Length];
        int stride = 1;
        for (int d = shape.Length - 1, o = outShape.Length - 1; d >= 0; d--, o--)
        {
            if (shape[d] != 1 && shape[d] != outShape[o])
                throw new ArgumentException($"shape {ShapeMath.Format(shape)} does not broadcast to {ShapeMath.Format(outShape)}");
            s[o] = shape[d] == 1 ? 0 : stride;
            stride *= shape[d];
        }
        return s;
    }
}

/// <summary>Cast to float from float, int32/int64 (held as int32 words) or bool (held as 0f/1f).</summary>
internal sealed class CastOp : GpuOp
{
    public static GpuOp? Create(KernelInfo info) =>
        info.GetInt("to", 0) == (long)DataType.Float && info.InputElementType(0) is DataType.Float or DataType.Int64 or DataType.Int32 or DataType.Bool
            ? new CastOp() : null;

    public override void Run(GpuOpContext ctx)
    {
        var x = ctx.Input(0);
        if (x.ElementType is DataType.Float or DataType.Bool)
        {
            // Floats and bools are already float words.
            if (x.ElementType == DataType.Float) { ctx.OutputView(0, x, (int[])x.Shape.Clone()); return; }
            var y0 = ctx.Output(0, DataType.Float, (int[])x.Shape.Clone());
            UnaryOps.Launch(ctx, x, y0, UnaryOp.Identity);
            return;
        }
        var y = ctx.Output(0, DataType.Float, (int[])x.Shape.Clone());
        if (x.Length > 0) ctx.Device.IntToFloat(ctx.Stream, x.Length, x.Words, y.Floats);
    }
}
