using NetOnnx.Gpu.Kernels;
using NetOnnx.Kernels;
using NetOnnx.Kernels.ConvPool;
using NetOnnx.Kernels.Elementwise;

namespace NetOnnx.Gpu.Operators;

/// <summary>Window attributes of Conv and the pools, resolved against an input shape by the CPU side's geometry.</summary>
internal sealed class Window
{
    public long[]? KernelShape, Strides, Dilations, Pads;
    public string AutoPad = "NOTSET";
    public bool CeilMode;

    public static Window? From(KernelInfo info)
    {
        var w = new Window
        {
            KernelShape = info.GetInts("kernel_shape"), Strides = info.GetInts("strides"), Dilations = info.GetInts("dilations"),
            Pads = info.GetInts("pads"), AutoPad = info.GetString("auto_pad", "NOTSET"), CeilMode = info.GetInt("ceil_mode", 0) != 0,
        };
        if (w.AutoPad is not ("NOTSET" or "VALID" or "SAME_UPPER" or "SAME_LOWER" or "")) return null;
        return w;
    }

    public ConvGeometry Geometry(int[] x, ReadOnlySpan<int> kernel, string op)
    {
        if (x.Length is < 3 or > 4) throw new NotSupportedException($"{op}: the GPU kernels take 1-D or 2-D windows over [N, C, ...], got {ShapeMath.Format(x)}");
        return ConvGeometry.Create(x.AsSpan(2), kernel, Strides, Dilations, Pads, AutoPad, CeilMode);
    }
}

/// <summary>
/// Conv and com.netonnx FusedConv (bias, residual Z, activation in the epilogue): depthwise convolutions run a
/// direct kernel, everything else the implicit-GEMM kernel (grouped convolutions one GEMM per group).
/// </summary>
internal sealed class ConvOp : GpuOp
{
    private readonly Window _window;
    private readonly int _groups;
    private readonly FusedActivation _act;

    private ConvOp(Window w, int groups, FusedActivation act) { _window = w; _groups = groups; _act = act; }

    public static GpuOp? Create(KernelInfo info)
    {
        if (!AllFloat(info) || Window.From(info) is not { } w) return null;
        var act = FusedActivation.None;
        if (info.Node.OpType == "FusedConv") act = FusedActivation.Parse(info.GetString("activation", ""), info.GetFloats("activation_params"));
        else if (info.InputCount > 3) return null;
        long g = info.GetInt("group", 1);
        return g < 1 || g > int.MaxValue ? null : new ConvOp(w, (int)g, act);
    }

    public override void Run(GpuOpContext ctx)
    {
        var x = ctx.Input(0);
        var w = ctx.Input(1);
        var bias = ctx.OptionalInput(2);
        var res = ctx.OptionalInput(3);
        if (w.Rank != x.Rank) throw new ArgumentException($"Conv: weights {ShapeMath.Format(w.Shape)} do not match input {ShapeMath.Format(x.Shape)}");
        int c = x.Shape[1], oc = w.Shape[0];
        if (c != w.Shape[1] * _groups || oc % _groups != 0)
            throw new ArgumentException($"Conv: input channels {c} and weights {ShapeMath.Format(w.Shape)} do not match group {_groups}");
        var g = _window.Geometry(x.Shape, w.Shape.AsSpan(2), "Conv");
        if (bias is not null && bias.Length != oc) throw new ArgumentException($"Conv: bias has {bias.Length} elements for {oc} output channels");
        int[] shape = [x.Shape[0], oc, .. g.OutShape];
        if (res is not null && !ShapeMath.SameShape(res.Shape, shape))
            throw new ArgumentException($"FusedConv: residual {ShapeMath.Format(res.Shape)} differs from the output {ShapeMath.Format(shape)}");
        var y = ctx.Output(0, DataType.Float, shape);
        if (y.Length == 0) return;
        var p = new ConvArgs
        {
            C = c, H = g.In[1], W = g.In[2], OC = oc, OH = g.Out[1], OW = g.Out[2], KH = g.Kernel[1], KW = g.Kernel[2],
            StrideH = g.Stride[1], StrideW = g.Stride[2], PadH = g.PadBegin[1], PadW = g.PadBegin[2],
            DilationH = g.Dilation[1], DilationW = g.Dilation[2], Groups = _groups,
            HasBias = bias is null ? 0 : 1, HasResidual = res is null ? 0 : 1, Act = (int)_act.Kind, ActA = _act.A, ActB = _act.B,
        };
        var dev = ctx.Device;
        var bv = bias?.Floats ?? dev.DummyFloats;
        var rv = res?.Floats ?? dev.DummyFloats;
        if (_groups > 1 && _groups == c)
            dev.Depthwise(ctx.Stream, y.Length, x.Floats, w.Floats, bv, rv, y.Floats, p);
        else if (!dev.TiledKernels)
            dev.ConvDirect(ctx.Stream, y.Length, x.Floats, w.Floats, bv, rv, y.Floats, p);
        else
            dev.ConvGemm(ctx.Stream, dev.GemmConfig(oc / _groups, p.OH * p.OW, x.Shape[0] * _groups), x.Floats, w.Floats, bv, rv, y.Floats, p);
    }
}

/// <summary>MaxPool, AveragePool (one thread per output) and the global pools (a row reduction per plane).</summary>
internal sealed class PoolOp : GpuOp
{
    private readonly Window? _window;
    private readonly bool _max, _global, _countPad;

    private PoolOp(Window? w, bool max, bool global, bool countPad) { _window = w; _max = max; _global = global; _countPad = countPad; }

    public static GpuOp? Create(KernelInfo info)
    {
        if (!IsFloat(info, 0)) return null;
        string op = info.Node.OpType;
        bool max = op.Contains("Max"), global = op.StartsWith("Global", StringComparison.Ordinal);
        if (global) return new PoolOp(null, max, true, false);
        if (info.Node.Outputs.Count > 1 && info.Node.Outputs[1].Length > 0) return null;
        if (max && info.GetInt("storage_order", 0) != 0) return null;
        var w = Window.From(info);
        return w?.KernelShape is null ? null : new PoolOp(w, max, false, info.GetInt("count_include_pad", 0) != 0);
    }

    public override void Run(GpuOpContext ctx)
    {
        var x = ctx.Input(0);
        if (x.Rank < 3) throw new ArgumentException($"{(_max ? "MaxPool" : "AveragePool")}: input must be [N, C, spatial...], got {ShapeMath.Format(x.Shape)}");
        int planes = x.Shape[0] * x.Shape[1];
        if (_global)
        {
            int[] gs = [x.Shape[0], x.Shape[1], .. Enumerable.Repeat(1, x.Rank - 2)];
            var gy = ctx.Output(0, DataType.Float, gs);
            int n = x.Length / Math.Max(planes, 1);
            if (planes > 0 && n > 0)
                ctx.Device.RowReduce(ctx.Stream, ctx.Device.RowConfig(planes), x.Floats, gy.Floats, new RowArgs { Rows = planes, N = n, Mode = _max ? 2 : 1 });
            return;
        }
        var kernel = _window!.KernelShape!.Select(k => checked((int)k)).ToArray();
        var g = _window.Geometry(x.Shape, kernel, _max ? "MaxPool" : "AveragePool");
        var y = ctx.Output(0, DataType.Float, [x.Shape[0], x.Shape[1], .. g.OutShape]);
        if (y.Length == 0) return;
        var p = new PoolArgs
        {
            H = g.In[1], W = g.In[2], OH = g.Out[1], OW = g.Out[2], KH = g.Kernel[1], KW = g.Kernel[2],
            StrideH = g.Stride[1], StrideW = g.Stride[2], PadH = g.PadBegin[1], PadW = g.PadBegin[2], PadEndH = g.PadEnd[1], PadEndW = g.PadEnd[2],
            DilationH = g.Dilation[1], DilationW = g.Dilation[2], IsMax = _max ? 1 : 0, CountIncludePad = _countPad ? 1 : 0,
        };
        ctx.Device.Pool(ctx.Stream, y.Length, x.Floats, y.Floats, p);
    }
}
