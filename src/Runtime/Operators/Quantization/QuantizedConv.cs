using System.Buffers;
using NetOnnx.Kernels;
using NetOnnx.Kernels.Quantization;

namespace NetOnnx.Runtime.Operators.Quantization;

/// <summary>
/// Integer N-d convolution (im2col + int32 GEMM per image and group) shared by ConvInteger and QLinearConv.
/// Attributes: auto_pad, dilations, group, kernel_shape, pads, strides, as for Conv.
/// </summary>
internal sealed class IntegerConv
{
    private readonly string _autoPad;
    private readonly long[]? _dilations, _kernelShape, _pads, _strides;
    private readonly int _group;

    public IntegerConv(KernelInfo info)
    {
        _autoPad = info.GetString("auto_pad", "NOTSET");
        if (_autoPad is not ("NOTSET" or "SAME_UPPER" or "SAME_LOWER" or "VALID"))
            throw info.Error($"auto_pad '{_autoPad}' is not NOTSET, SAME_UPPER, SAME_LOWER or VALID");
        _dilations = info.GetInts("dilations");
        _kernelShape = info.GetInts("kernel_shape");
        _pads = info.GetInts("pads");
        _strides = info.GetInts("strides");
        _group = (int)info.GetInt("group", 1);
        if (_group < 1) throw info.Error($"group {_group} must be positive");
    }

    public int Group => _group;

    public sealed record Result(int[] Acc, int[] Shape, int OutChannels, int OutSize);

    /// <summary>Kernel, strides, dilations, leading pads and output spatial shape of one convolution.</summary>
    public sealed record Geometry(int[] Kernel, int[] Strides, int[] Dilations, int[] PadsBegin, int[] OutShape);

    public Geometry Plan(KernelContext ctx, Tensor x, int[] wShape, int wZpLength)
    {
        if (x.Rank < 3) throw ctx.Error($"input must have rank >= 3 (N, C, spatial...), got {ShapeMath.Format(x.Shape)}");
        if (wShape.Length != x.Rank) throw ctx.Error($"weight rank {wShape.Length} differs from input rank {x.Rank}");
        int nd = x.Rank - 2;
        int c = x.Shape[1], mOut = wShape[0], cg = wShape[1];
        if (c != cg * _group) throw ctx.Error($"input has {c} channels, weight expects {cg} x group {_group}");
        if (mOut % _group != 0) throw ctx.Error($"{mOut} output channels do not divide into {_group} groups");
        if (wZpLength != 1 && wZpLength != mOut) throw ctx.Error($"w_zero_point has {wZpLength} elements; expected 1 or {mOut}");
        var kernel = new int[nd];
        for (int d = 0; d < nd; d++)
        {
            kernel[d] = wShape[2 + d];
            if (_kernelShape is not null && (_kernelShape.Length != nd || _kernelShape[d] != kernel[d]))
                throw ctx.Error($"kernel_shape [{string.Join(",", _kernelShape)}] does not match weight {ShapeMath.Format(wShape)}");
        }
        int[] strides = Fill(_strides, nd, 1, "strides", ctx);
        int[] dil = Fill(_dilations, nd, 1, "dilations", ctx);
        var inShape = x.Shape[2..];
        var padsBegin = new int[nd];
        var outShape = new int[nd];
        for (int d = 0; d < nd; d++)
        {
            int ek = dil[d] * (kernel[d] - 1) + 1;
            if (_autoPad is "SAME_UPPER" or "SAME_LOWER")
            {
                int o = (inShape[d] + strides[d] - 1) / strides[d];
                int total = Math.Max(0, (o - 1) * strides[d] + ek - inShape[d]);
                padsBegin[d] = _autoPad == "SAME_UPPER" ? total / 2 : total - total / 2;
                outShape[d] = o;
            }
            else
            {
                int pb = 0, pe = 0;
                if (_autoPad == "NOTSET" && _pads is not null)
                {
                    if (_pads.Length != 2 * nd) throw ctx.Error($"pads has {_pads.Length} values, expected {2 * nd}");
                    pb = (int)_pads[d]; pe = (int)_pads[d + nd];
                }
                padsBegin[d] = pb;
                outShape[d] = (inShape[d] + pb + pe - ek) / strides[d] + 1;
            }
            if (outShape[d] <= 0) throw ctx.Error($"output spatial dimension {d} would be {outShape[d]}");
        }
        return new Geometry(kernel, strides, dil, padsBegin, outShape);
    }

    /// <param name="xZp">Scalar zero point of x.</param>
    /// <param name="wZp">Zero point of w: one value or one per output channel.</param>
    public Result Run(KernelContext ctx, Tensor x, Tensor w, int xZp, int[] wZp)
    {
        var (kernel, strides, dil, padsBegin, outShape) = Plan(ctx, x, w.Shape, wZp.Length);
        int batch = x.Shape[0], c = x.Shape[1], mOut = w.Shape[0], cg = w.Shape[1];
        var inShape = x.Shape[2..];
        int outSize = ShapeMath.Size(outShape), inSize = ShapeMath.Size(inShape), kSize = ShapeMath.Size(kernel);
        int mg = mOut / _group, kk = cg * kSize;

        // Weights minus their zero point, one [mg, cg*kSize] matrix per group, laid out contiguously.
        var wv = IntegerMatMul.Widen(w);
        for (int oc = 0; oc < mOut; oc++)
        {
            int z = wZp.Length == 1 ? wZp[0] : wZp[oc];
            for (int i = 0; i < kk; i++) wv[oc * kk + i] -= z;
        }
        var xv = IntegerMatMul.Widen(x);
        for (int i = 0; i < xv.Length; i++) xv[i] -= xZp;

        var acc = new int[batch * mOut * outSize];
        int[] cols = ArrayPool<int>.Shared.Rent(kk * outSize);
        try
        {
            for (int b = 0; b < batch; b++)
                for (int g = 0; g < _group; g++)
                {
                    var img = xv.AsSpan((b * c + g * cg) * inSize, cg * inSize);
                    IntegerGemm.Im2Col(img, cg, inShape, kernel, outShape, strides, dil, padsBegin, cols);
                    IntegerGemm.Multiply(wv, g * mg * kk, cols, 0, acc, (b * mOut + g * mg) * outSize, mg, kk, outSize, ctx.Threads);
                }
        }
        finally { ArrayPool<int>.Shared.Return(cols); }
        int[] shape = [batch, mOut, .. outShape];
        return new Result(acc, shape, mOut, outSize);
    }

    private static int[] Fill(long[]? v, int nd, int def, string name, KernelContext ctx)
    {
        if (v is null) return Enumerable.Repeat(def, nd).ToArray();
        if (v.Length != nd) throw ctx.Error($"{name} has {v.Length} values, expected {nd}");
        if (v.Any(s => s < 1)) throw ctx.Error($"{name} values must be positive");
        return v.Select(s => (int)s).ToArray();
    }
}

/// <summary>ConvInteger (opset 10): convolution of uint8/int8 x and w minus their zero points, int32 output.</summary>
[OpKernel("ConvInteger", 10)]
public sealed class ConvInteger : OpKernel
{
    private readonly IntegerConv _conv;

    public ConvInteger(KernelInfo info) => _conv = new IntegerConv(info);

    public override void Compute(KernelContext ctx)
    {
        var x = ctx.Input(0);
        var w = ctx.Input(1);
        CheckType(ctx, x, "x");
        CheckType(ctx, w, "w");
        var xZp = ctx.OptionalInput(2);
        var wZp = ctx.OptionalInput(3);
        if (xZp is not null && xZp.Length != 1) throw ctx.Error($"x_zero_point must be a scalar, has {xZp.Length} elements");
        var r = _conv.Run(ctx, x, w, xZp is null ? 0 : IntegerMatMul.Widen(xZp)[0], wZp is null ? [0] : IntegerMatMul.Widen(wZp));
        var y = ctx.OutputUninitialized(0, DataType.Int32, r.Shape);
        r.Acc.AsSpan().CopyTo(y.Span<int>());
    }

    internal static void CheckType(KernelContext ctx, Tensor t, string name)
    {
        if (t.ElementType is not (DataType.UInt8 or DataType.Int8))
            throw ctx.Error($"{name} must be uint8 or int8, got {t.ElementType.OnnxName()}");
    }
}

/// <summary>
/// QLinearConv (opset 10): integer convolution of quantized x and w, plus an optional int32 bias, requantized:
/// y = saturate(round(x_scale * w_scale[m] / y_scale * (acc + B[m])) + y_zero_point).
/// </summary>
[OpKernel("QLinearConv", 10)]
public sealed class QLinearConv : OpKernel
{
    private readonly IntegerConv _conv;
    /// <summary>Constant int8 2-D weights, ungrouped, packed as B [C*kh*kw, M] for <see cref="Int8Gemm"/>; else null.</summary>
    private readonly PackedInt8Weights? _packed;
    private readonly int[] _wShape = [];
    /// <summary>Constant int8 depthwise 2-D weights [C, 1, kh, kw] (group = C = M); else null.</summary>
    private readonly sbyte[]? _depthwise;

    public QLinearConv(KernelInfo info)
    {
        _conv = new IntegerConv(info);
        if (_conv.Group > 1 && info.ConstantInput(3) is { ElementType: DataType.Int8, Rank: 4 } dw && dw.Shape[0] == _conv.Group && dw.Shape[1] == 1
            && dw.Shape[2] * dw.Shape[3] <= QuantizedDepthwise.MaxTaps)
        {
            _depthwise = dw.ReadOnlySpan<sbyte>().ToArray();
            _wShape = dw.Shape;
        }
        if (_conv.Group == 1 && info.ConstantInput(3) is { ElementType: DataType.Int8, Rank: 4 } w && w.Length > 0)
        {
            // B [K, M] with K ordered (ky, kx, c) to match channel-last patches: each kernel row is one copy.
            int m = w.Shape[0], c = w.Shape[1], kh = w.Shape[2], kw = w.Shape[3], k = w.Length / m;
            var ws = w.ReadOnlySpan<sbyte>();
            var bt = new sbyte[w.Length];
            for (int oc = 0; oc < m; oc++)
                for (int ch = 0; ch < c; ch++)
                    for (int ky = 0; ky < kh; ky++)
                        for (int kx = 0; kx < kw; kx++)
                            bt[((ky * kw + kx) * c + ch) * m + oc] = ws[((oc * c + ch) * kh + ky) * kw + kx];
            _packed = PackedInt8Weights.Pack(bt, k, m);
            _wShape = w.Shape;
        }
    }

    public override void Compute(KernelContext ctx)
    {
        if (_packed is not null && ctx.Input(0).ElementType == DataType.UInt8 && (ctx.OptionalInput(7)?.ElementType ?? DataType.UInt8) == DataType.UInt8)
        {
            FastPath(ctx);
            return;
        }
        if (_depthwise is not null && ctx.Input(0).ElementType == DataType.UInt8 && (ctx.OptionalInput(7)?.ElementType ?? DataType.UInt8) == DataType.UInt8)
        {
            DepthwisePath(ctx);
            return;
        }
        var x = ctx.Input(0);
        var xScale = ctx.Input(1);
        var xZp = ctx.OptionalInput(2);
        var w = ctx.Input(3);
        var wZp = ctx.OptionalInput(5);
        var yZp = ctx.OptionalInput(7);
        ConvInteger.CheckType(ctx, x, "x");
        ConvInteger.CheckType(ctx, w, "w");
        if (xZp is not null && xZp.Length != 1) throw ctx.Error($"x_zero_point must be a scalar, has {xZp.Length} elements");
        var r = _conv.Run(ctx, x, w, xZp is null ? 0 : IntegerMatMul.Widen(xZp)[0], wZp is null ? [0] : IntegerMatMul.Widen(wZp));
        int m = r.OutChannels;
        var (sx, _, sw, _, sy, z, bv) = Parameters(ctx, m);
        DataType outType = yZp?.ElementType ?? DataType.UInt8;
        if (outType is not (DataType.UInt8 or DataType.Int8)) throw ctx.Error($"output type {outType.OnnxName()} is not uint8 or int8");
        var (lo, hi) = QuantCommon.IntRange(outType)!.Value;
        var y = ctx.OutputUninitialized(0, outType, r.Shape);
        int batch = r.Shape[0];
        for (int b = 0; b < batch; b++)
            for (int oc = 0; oc < m; oc++)
            {
                double mult = Requant.Multiplier(sx, sw.Length == 1 ? sw[0] : sw[oc], sy, xScale.ElementType);
                int add = bv?[oc] ?? 0;
                int start = (b * m + oc) * r.OutSize;
                for (int i = 0; i < r.OutSize; i++)
                {
                    int q = Requant.Apply(r.Acc[start + i] + add, mult, z, lo, hi);
                    if (outType == DataType.UInt8) y.Span<byte>()[start + i] = (byte)q; else y.Span<sbyte>()[start + i] = (sbyte)q;
                }
            }
    }

    /// <summary>
    /// uint8 x, constant int8 w, uint8 y: each image's patches as rows [pixels, C*kh*kw] (padding holds the x zero
    /// point, i.e. real zero) times packed w^T, requantized in the GEMM epilogue and written transposed into NCHW.
    /// </summary>
    private void FastPath(KernelContext ctx)
    {
        var x = ctx.Input(0);
        var xZp = ctx.OptionalInput(2);
        var wZp = ctx.OptionalInput(5);
        if (xZp is not null && xZp.Length != 1) throw ctx.Error($"x_zero_point must be a scalar, has {xZp.Length} elements");
        int[] wz = wZp is null ? [0] : IntegerMatMul.Widen(wZp);
        var geo = _conv.Plan(ctx, x, _wShape, wz.Length);
        int m = _wShape[0], c = x.Shape[1], kh = geo.Kernel[0], kw = geo.Kernel[1];
        var (sx, xz, sw, _, sy, z, bv) = Parameters(ctx, m);
        var requant = new double[m];
        for (int oc = 0; oc < m; oc++) requant[oc] = Requant.Multiplier(sx, sw.Length == 1 ? sw[0] : sw[oc], sy, ctx.Input(1).ElementType);
        int[]? zeroPerCol = null;
        if (wz.Any(v => v != 0)) { zeroPerCol = new int[m]; for (int oc = 0; oc < m; oc++) zeroPerCol[oc] = wz.Length == 1 ? wz[0] : wz[oc]; }
        int ih = x.Shape[2], iw = x.Shape[3], oh = geo.OutShape[0], ow = geo.OutShape[1];
        int pixels = oh * ow, kp = _packed!.PaddedK, inSize = ih * iw;
        var y = ctx.OutputUninitialized(0, DataType.UInt8, [x.Shape[0], m, oh, ow]);
        bool pointwise = kh == 1 && kw == 1 && geo.Strides.All(v => v == 1) && geo.PadsBegin.All(v => v == 0) && oh == ih && ow == iw;
        var patches = System.Buffers.ArrayPool<byte>.Shared.Rent(pointwise && kp == c ? 1 : pixels * kp);
        var channelLast = System.Buffers.ArrayPool<byte>.Shared.Rent(inSize * c);
        var rowSums = zeroPerCol is null ? [] : new int[pixels];
        var ep = new Int8GemmEpilogue(new float[m], null, zeroPerCol, Int8GemmOutput.UInt8, OutputZero: z, Requant: requant, IntBias: bv, TransposedStride: pixels);
        try
        {
            var xs = x.ReadOnlySpan<byte>();
            for (int b = 0; b < x.Shape[0]; b++)
            {
                var img = xs.Slice(b * c * inSize, c * inSize);
                ChannelLast.Transpose(img, c, inSize, channelLast);
                // A 1x1, stride-1, unpadded conv whose channel count is a multiple of 4 reads the channel-last image as is.
                bool direct = pointwise && kp == c;
                if (!direct) BuildPatches(channelLast, c, ih, iw, kh, kw, geo, oh, ow, (byte)xz, patches, kp);
                var a = direct ? channelLast : patches;
                if (zeroPerCol is not null)
                    for (int p = 0; p < pixels; p++) { int sum = 0; for (int i = 0; i < c * kh * kw; i++) sum += a[p * kp + i]; rowSums[p] = sum; }
                Int8Gemm.Multiply(a, pixels, xz, rowSums, _packed, ep, default, y.Span<byte>().Slice(b * m * pixels, m * pixels), ctx.Threads);
            }
        }
        finally
        {
            System.Buffers.ArrayPool<byte>.Shared.Return(patches);
            System.Buffers.ArrayPool<byte>.Shared.Return(channelLast);
        }
    }

    /// <summary>uint8 x, constant int8 depthwise w, uint8 y: the direct per-channel kernel, same rounding as the general path.</summary>
    private void DepthwisePath(KernelContext ctx)
    {
        var x = ctx.Input(0);
        var (sx, xz, sw, wz, sy, z, bv) = Parameters(ctx, _wShape[0]);
        var geo = _conv.Plan(ctx, x, _wShape, wz.Length);
        if (geo.Kernel.Length != 2) throw ctx.Error($"depthwise QLinearConv needs a 2-D kernel, got {geo.Kernel.Length}-D");
        int c = x.Shape[1];
        var requant = new double[c];
        for (int ch = 0; ch < c; ch++) requant[ch] = Requant.Multiplier(sx, sw.Length == 1 ? sw[0] : sw[ch], sy, ctx.Input(1).ElementType);
        var g = new DepthwiseGeometry(c, x.Shape[2], x.Shape[3], geo.Kernel[0], geo.Kernel[1], geo.Strides[0], geo.Strides[1],
            geo.Dilations[0], geo.Dilations[1], geo.PadsBegin[0], geo.PadsBegin[1], geo.OutShape[0], geo.OutShape[1]);
        var y = ctx.OutputUninitialized(0, DataType.UInt8, [x.Shape[0], c, g.OutH, g.OutW]);
        QuantizedDepthwise.Run(x.ReadOnlySpan<byte>(), x.Shape[0], g, xz, _depthwise, wz, bv ?? [], requant, z, y.Span<byte>(), ctx.Threads);
    }

    /// <summary>Scalar x/y parameters, per-tensor or per-channel w parameters and the int32 bias, checked.</summary>
    private static (float Sx, int Xz, float[] Sw, int[] Wz, float Sy, int Yz, int[]? Bias) Parameters(KernelContext ctx, int m)
    {
        var xZp = ctx.OptionalInput(2);
        var wZp = ctx.OptionalInput(5);
        var yZp = ctx.OptionalInput(7);
        var bias = ctx.OptionalInput(8);
        if (xZp is not null && xZp.Length != 1) throw ctx.Error($"x_zero_point must be a scalar, has {xZp.Length} elements");
        if (yZp is not null && yZp.Length != 1) throw ctx.Error($"y_zero_point must be a scalar, has {yZp.Length} elements");
        if (xZp is not null && xZp.ElementType != ctx.Input(0).ElementType)
            throw ctx.Error($"x_zero_point is {xZp.ElementType.OnnxName()} but x is {ctx.Input(0).ElementType.OnnxName()}");
        int[] wz = wZp is null ? [0] : IntegerMatMul.Widen(wZp);
        if (wz.Length != 1 && wz.Length != m) throw ctx.Error($"w_zero_point has {wz.Length} elements; expected 1 or {m}");
        float[] sx = QuantCommon.Floats(ctx.Input(1)), sw = QuantCommon.Floats(ctx.Input(4)), sy = QuantCommon.Floats(ctx.Input(6));
        if (sx.Length != 1) throw ctx.Error("x_scale must be a scalar");
        if (sy.Length != 1) throw ctx.Error("y_scale must be a scalar");
        if (sw.Length != 1 && sw.Length != m) throw ctx.Error($"w_scale has {sw.Length} elements; expected 1 or {m}");
        int[]? bv = null;
        if (bias is not null)
        {
            if (bias.ElementType != DataType.Int32) throw ctx.Error($"bias must be int32, got {bias.ElementType.OnnxName()}");
            if (bias.Length != m) throw ctx.Error($"bias has {bias.Length} elements; expected {m}");
            bv = bias.ToArray<int>();
        }
        return (sx[0], xZp is null ? 0 : IntegerMatMul.Widen(xZp)[0], sw, wz, sy[0], yZp is null ? 0 : IntegerMatMul.Widen(yZp)[0], bv);
    }

    /// <summary>
    /// Row p = output pixel p, columns (ky, kx, channel) from the channel-last image [H, W, C], so each kernel row
    /// inside the image is one contiguous copy of kw * C bytes; outside the image: the zero point (real zero).
    /// </summary>
    private static void BuildPatches(byte[] hwc, int c, int ih, int iw, int kh, int kw, IntegerConv.Geometry geo,
        int oh, int ow, byte pad, byte[] patches, int kp)
    {
        int sh = geo.Strides[0], sw = geo.Strides[1], dh = geo.Dilations[0], dw = geo.Dilations[1], ph = geo.PadsBegin[0], pw = geo.PadsBegin[1];
        int span = kw * c;
        for (int y0 = 0; y0 < oh; y0++)
            for (int x0 = 0; x0 < ow; x0++)
            {
                var row = patches.AsSpan((y0 * ow + x0) * kp, kh * span);
                int xs0 = x0 * sw - pw;
                for (int ky = 0; ky < kh; ky++)
                {
                    var dst = row.Slice(ky * span, span);
                    int yy = y0 * sh - ph + ky * dh;
                    if ((uint)yy >= (uint)ih) { dst.Fill(pad); continue; }
                    if (dw == 1 && xs0 >= 0 && xs0 + kw <= iw)
                    {
                        hwc.AsSpan((yy * iw + xs0) * c, span).CopyTo(dst);
                        continue;
                    }
                    for (int kx = 0; kx < kw; kx++)
                    {
                        int xx = xs0 + kx * dw;
                        if ((uint)xx < (uint)iw) hwc.AsSpan((yy * iw + xx) * c, c).CopyTo(dst.Slice(kx * c, c));
                        else dst.Slice(kx * c, c).Fill(pad);
                    }
                }
            }
    }
}
