using NetOnnx.Gpu.Kernels;
using NetOnnx.Kernels;

namespace NetOnnx.Gpu.Operators;

/// <summary>
/// ConvTranspose over 1-D or 2-D windows with explicit pads/strides/dilations/output_padding (no output_shape or
/// auto_pad: those stay on the CPU kernel). One thread per output.
/// </summary>
internal sealed class ConvTransposeOp : GpuOp
{
    private readonly long[]? _strides, _dilations, _pads, _outputPadding;
    private readonly int _groups;

    private ConvTransposeOp(KernelInfo info, int groups)
    {
        _strides = info.GetInts("strides");
        _dilations = info.GetInts("dilations");
        _pads = info.GetInts("pads");
        _outputPadding = info.GetInts("output_padding");
        _groups = groups;
    }

    public static GpuOp? Create(KernelInfo info)
    {
        if (!AllFloat(info) || info.GetInts("output_shape") is { Length: > 0 }) return null;
        if (info.GetString("auto_pad", "NOTSET") is not ("NOTSET" or "")) return null;
        long g = info.GetInt("group", 1);
        return g < 1 || g > int.MaxValue ? null : new ConvTransposeOp(info, (int)g);
    }

    private static int At(long[]? v, int i, int dflt) => v is { Length: > 0 } ? checked((int)v[i]) : dflt;

    public override void Run(GpuOpContext ctx)
    {
        var x = ctx.Input(0);
        var w = ctx.Input(1);
        var b = ctx.OptionalInput(2);
        if (x.Rank is < 3 or > 4 || w.Rank != x.Rank) throw new NotSupportedException($"ConvTranspose: the GPU kernel takes 1-D or 2-D windows, got X {ShapeMath.Format(x.Shape)}, W {ShapeMath.Format(w.Shape)}");
        int nd = x.Rank - 2, c = x.Shape[1];
        if (w.Shape[0] != c || c % _groups != 0) throw new ArgumentException($"ConvTranspose: X has {c} channels, W is {ShapeMath.Format(w.Shape)}, group {_groups}");
        int oc = w.Shape[1] * _groups;
        if (b is not null && b.Length != oc) throw new ArgumentException($"ConvTranspose: B has {b.Length} elements for {oc} output channels");
        // 1-D windows run as 2-D with a height of 1.
        int H = nd == 2 ? x.Shape[2] : 1, W = x.Shape[^1], KH = nd == 2 ? w.Shape[2] : 1, KW = w.Shape[^1];
        int d = nd == 2 ? 0 : -1;
        int Sh = d < 0 ? 1 : At(_strides, 0, 1), Sw = At(_strides, nd - 1, 1);
        int Dh = d < 0 ? 1 : At(_dilations, 0, 1), Dw = At(_dilations, nd - 1, 1);
        int Ph = d < 0 ? 0 : At(_pads, 0, 0), Pw = At(_pads, nd - 1, 0);
        int PhEnd = d < 0 ? 0 : At(_pads, nd, 0), PwEnd = At(_pads, 2 * nd - 1, 0);
        int Oph = d < 0 ? 0 : At(_outputPadding, 0, 0), Opw = At(_outputPadding, nd - 1, 0);
        int OH = Sh * (H - 1) + Oph + (KH - 1) * Dh + 1 - Ph - PhEnd;
        int OW = Sw * (W - 1) + Opw + (KW - 1) * Dw + 1 - Pw - PwEnd;
        if (OH <= 0 || OW <= 0) throw new ArgumentException($"ConvTranspose: output size {OH}x{OW} is not positive");
        int[] shape = nd == 2 ? [x.Shape[0], oc, OH, OW] : [x.Shape[0], oc, OW];
        var y = ctx.Output(0, DataType.Float, shape);
        var p = new ConvArgs
        {
            C = c, H = H, W = W, OC = oc, OH = OH, OW = OW, KH = KH, KW = KW, StrideH = Sh, StrideW = Sw, PadH = Ph, PadW = Pw,
            DilationH = Dh, DilationW = Dw, Groups = _groups, HasBias = b is null ? 0 : 1,
        };
        if (y.Length > 0) ctx.Device.ConvTranspose(ctx.Stream, y.Length, x.Floats, w.Floats, b?.Floats ?? ctx.Device.DummyFloats, y.Floats, p);
    }
}

/// <summary>
/// Resize in the one mode upsampling networks export most (nearest, asymmetric coordinates, floor), over the
/// last two axes with constant scales or sizes; every other mode stays on the CPU kernel.
/// </summary>
internal sealed class ResizeOp : GpuOp
{
    private readonly float[]? _scales;
    private readonly long[]? _sizes;

    private ResizeOp(float[]? scales, long[]? sizes) { _scales = scales; _sizes = sizes; }

    public override bool ReadsOnDevice(int input) => input == 0;

    public static GpuOp? Create(KernelInfo info)
    {
        if (info.OpsetVersion < 11 || !IsFloat(info, 0)) return null;
        if (info.GetString("mode", "nearest") != "nearest" || info.GetString("coordinate_transformation_mode", "half_pixel") != "asymmetric"
            || info.GetString("nearest_mode", "round_prefer_floor") != "floor" || info.Node.HasAttr("axes")) return null;
        var scales = info.HasInput(2) ? info.ConstantInput(2) : null;
        var sizes = info.HasInput(3) ? info.ConstantInput(3) : null;
        if (scales is { Length: > 0 } s && s.ElementType == DataType.Float && s.Length >= 2)
        {
            var v = s.ToArray<float>();
            return v[..^2].All(f => f == 1f) && v[^2] > 0 && v[^1] > 0 ? new ResizeOp(v, null) : null;
        }
        if (sizes is { Length: >= 2 }) return new ResizeOp(null, sizes.ToInt64Array());
        return null;
    }

    public override void Run(GpuOpContext ctx)
    {
        var x = ctx.Input(0);
        int r = x.Rank;
        if (r < 2 || (_scales ?? (object?)_sizes) is null || (_scales?.Length ?? _sizes!.Length) != r)
            throw new ArgumentException($"Resize: scales/sizes do not match input rank {r}");
        int H = x.Shape[^2], W = x.Shape[^1];
        int OH, OW;
        float sh, sw;
        if (_scales is not null) { sh = _scales[^2]; sw = _scales[^1]; OH = (int)MathF.Floor(H * sh); OW = (int)MathF.Floor(W * sw); }
        else
        {
            for (int d = 0; d < r - 2; d++)
                if (_sizes![d] != x.Shape[d]) throw new NotSupportedException("Resize: the GPU kernel resizes only the last two axes");
            OH = (int)_sizes![^2]; OW = (int)_sizes[^1];
            sh = (float)OH / H; sw = (float)OW / W;
        }
        var y = ctx.Output(0, DataType.Float, [.. x.Shape[..^2], OH, OW]);
        if (y.Length > 0) ctx.Device.ResizeNearest(ctx.Stream, y.Length, x.Floats, y.Floats, new ResizeArgs { H = H, W = W, OH = OH, OW = OW, ScaleH = sh, ScaleW = sw });
    }
}
