using NetOnnx.Kernels;
using NetOnnx.Kernels.ConvPool;
using NetOnnx.Kernels.Gemm;
using NetOnnx.Runtime.Operators.Linalg;

namespace NetOnnx.Runtime.Operators.ConvPool;

/// <summary>
/// ConvTranspose: per image and group, col = W_g^T * X_g (one SGEMM), then col2im scatters the columns
/// into the output. Output size follows output_shape (pads derived from it), auto_pad SAME_* (input*stride)
/// or pads and output_padding.
/// </summary>
[OpKernel("ConvTranspose", 1)]
public sealed class ConvTranspose : OpKernel
{
    private readonly WindowAttributes _attrs;
    private readonly int _group;
    private readonly long[]? _outputPadding, _outputShape;

    public ConvTranspose(KernelInfo info)
    {
        _attrs = new WindowAttributes(info, kernelRequired: false);
        long g = info.GetInt("group", 1);
        if (g < 1 || g > int.MaxValue) throw info.Error($"group {g} must be positive");
        _group = (int)g;
        _outputPadding = info.GetInts("output_padding");
        _outputShape = info.GetInts("output_shape");
    }

    public override void Compute(KernelContext ctx)
    {
        var x = ctx.Input(0);
        var w = ctx.Input(1);
        var b = ctx.OptionalInput(2);
        if (x.Rank < 3) throw ctx.Error($"X must be [N, C, spatial...], got {ShapeMath.Format(x.Shape)}");
        if (w.Rank != x.Rank) throw ctx.Error($"W {ShapeMath.Format(w.Shape)} must have the rank of X {ShapeMath.Format(x.Shape)}");
        if (w.ElementType != x.ElementType) throw ctx.Error("X and W must have the same element type");
        int n = x.Shape[0], c = x.Shape[1], g = _group;
        if (w.Shape[0] != c) throw ctx.Error($"X has {c} channels but W {ShapeMath.Format(w.Shape)} expects {w.Shape[0]}");
        if (c % g != 0) throw ctx.Error($"{c} input channels are not divisible by group {g}");
        int mg = w.Shape[1], m = mg * g;
        if (b is not null && (b.Rank != 1 || b.Shape[0] != m)) throw ctx.Error($"B must be [{m}], got {ShapeMath.Format(b.Shape)}");
        var geo = Geometry(ctx, x.Shape, w.Shape[2..]);
        int[] yShape = [n, m, .. geo.In[(ConvGeometry.Rank - geo.SpatialDims)..]];
        var y = ctx.OutputUninitialized(0, x.ElementType, yShape);
        if (y.Length == 0) return;
        if (x.ElementType == DataType.Float)
            Run((float[])x.Buffer, (float[])w.Buffer, b is null ? null : (float[])b.Buffer, (float[])y.Buffer, n, c, m, geo, ctx.Threads);
        else if (x.ElementType is DataType.Float16 or DataType.BFloat16 or DataType.Double)
        {
            var yf = new float[y.Length];
            Run(FloatData.Read(x), FloatData.Read(w), b is null ? null : FloatData.Read(b), yf, n, c, m, geo, ctx.Threads);
            FloatData.Write(yf, y);
        }
        else throw ctx.Error($"element type {x.ElementType.OnnxName()} is not supported");
    }

    /// <summary>
    /// The geometry of the equivalent forward convolution: its input is this op's output and its output
    /// is this op's input, so col2im is the adjoint of that convolution's im2col.
    /// </summary>
    private ConvGeometry Geometry(KernelContext ctx, int[] xShape, int[] kernel)
    {
        int nd = xShape.Length - 2;
        if (nd > ConvGeometry.Rank) throw ctx.Error($"{nd} spatial dimensions are not supported");
        if (_attrs.KernelShape is { } ks && !ks.SequenceEqual(kernel.Select(v => (long)v)))
            throw ctx.Error($"kernel_shape [{string.Join(",", ks)}] does not match the weights");
        long[]? Check(long[]? v, int len, string name)
        {
            if (v is { Length: > 0 } && v.Length != len) throw ctx.Error($"{name} has {v.Length} values, expected {len}");
            return v is { Length: > 0 } ? v : null;
        }
        var strides = Check(_attrs.Strides, nd, "strides");
        var dil = Check(_attrs.Dilations, nd, "dilations");
        var pads = Check(_attrs.Pads, 2 * nd, "pads");
        var opad = Check(_outputPadding, nd, "output_padding");
        long[]? oshape = _outputShape is { Length: > 0 } os ? (os.Length == nd + 2 ? os[2..] : os) : null;
        if (oshape is not null && oshape.Length != nd) throw ctx.Error($"output_shape has {_outputShape!.Length} values, expected {nd}");
        var geo = new ConvGeometry { SpatialDims = nd };
        int off = ConvGeometry.Rank - nd;
        string autoPad = _attrs.AutoPad;
        for (int i = 0; i < nd; i++)
        {
            int inD = xShape[2 + i], k = kernel[i];
            int s = strides is null ? 1 : (int)strides[i], d = dil is null ? 1 : (int)dil[i], op = opad is null ? 0 : (int)opad[i];
            if (s < 1 || d < 1 || k < 1) throw ctx.Error("strides, dilations and kernel sizes must be positive");
            int ke = d * (k - 1) + 1;
            int full = s * (inD - 1) + op + ke;
            int outD, pb, pe;
            if (oshape is not null || autoPad is "SAME_UPPER" or "SAME_LOWER")
            {
                outD = oshape is not null ? (int)oshape[i] : inD * s;
                int total = full - outD;
                int half = (int)Math.Floor(total / 2.0);
                if (autoPad == "SAME_UPPER") { pb = half; pe = total - half; }
                else { pb = total - half; pe = half; }
            }
            else
            {
                pb = pads is null || autoPad == "VALID" ? 0 : (int)pads[i];
                pe = pads is null || autoPad == "VALID" ? 0 : (int)pads[i + nd];
                outD = full - pb - pe;
            }
            if (outD < 0) throw ctx.Error($"output size {outD} along spatial axis {i} is negative");
            geo.In[off + i] = outD; geo.Out[off + i] = inD; geo.Kernel[off + i] = k;
            geo.Stride[off + i] = s; geo.Dilation[off + i] = d; geo.PadBegin[off + i] = pb; geo.PadEnd[off + i] = pe;
        }
        return geo;
    }

    private void Run(float[] x, float[] w, float[]? bias, float[] y, int n, int c, int m, ConvGeometry geo, int threads)
    {
        int g = _group, cg = c / g, mg = m / g;
        int outSize = geo.InSize, inSize = geo.OutSize, kSize = geo.KernelSize, rows = mg * kSize;
        var col = System.Buffers.ArrayPool<float>.Shared.Rent(Math.Max(1, rows * inSize));
        try
        {
            for (int img = 0; img < n; img++)
            {
                for (int gi = 0; gi < g; gi++)
                {
                    var xg = x.AsSpan((img * c + gi * cg) * inSize, cg * inSize);
                    var wg = w.AsSpan(gi * cg * rows, cg * rows);
                    var cs = col.AsSpan(0, rows * inSize);
                    Sgemm.Multiply(true, false, rows, inSize, cg, 1f, wg, rows, xg, inSize, 0f, cs, inSize, threads);
                    var yg = y.AsSpan((img * m + gi * mg) * outSize, mg * outSize);
                    for (int oc = 0; oc < mg; oc++) yg.Slice(oc * outSize, outSize).Fill(bias is null ? 0f : bias[gi * mg + oc]);
                    Im2Col.FoldAdd(cs, mg, geo, yg);
                }
            }
        }
        finally
        {
            System.Buffers.ArrayPool<float>.Shared.Return(col);
        }
    }
}
