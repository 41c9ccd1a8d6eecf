using NetOnnx.Kernels.Vision;

namespace NetOnnx.Runtime.Operators.Vision;

internal static class Attr
{
    public static int[] Ints(KernelInfo info, string name, int n, int def, KernelContext ctx)
    {
        var v = info.GetInts(name);
        if (v is null || v.Length == 0) return Enumerable.Repeat(def, n).ToArray();
        if (v.Length != n) throw ctx.Error($"attribute '{name}' has {v.Length} values, expected {n}");
        return v.Select(x => checked((int)x)).ToArray();
    }
}

/// <summary>Col2Im (18): sums sliding blocks [N, C*prod(block), L] back into images [N, C, dims...].</summary>
[OpKernel("Col2Im", 18)]
public sealed class Col2Im : OpKernel
{
    private readonly KernelInfo _info;
    public Col2Im(KernelInfo info) => _info = info;

    public override void Compute(KernelContext ctx)
    {
        var x = ctx.Input(0);
        var imageShape = ctx.Input(1).ToInt64Array();
        var blockShape = ctx.Input(2).ToInt64Array();
        int r = imageShape.Length;
        if (blockShape.Length != r) throw ctx.Error($"image_shape has {r} values but block_shape has {blockShape.Length}");
        if (x.Rank != 3) throw ctx.Error($"input must be 3-D [N, C*prod(block_shape), L], got rank {x.Rank}");
        var dims = imageShape.Select(v => v > 0 && v <= int.MaxValue ? (int)v : throw ctx.Error($"invalid image dimension {v}")).ToArray();
        var block = blockShape.Select(v => v > 0 && v <= int.MaxValue ? (int)v : throw ctx.Error($"invalid block dimension {v}")).ToArray();
        var dil = Attr.Ints(_info, "dilations", r, 1, ctx);
        var strides = Attr.Ints(_info, "strides", r, 1, ctx);
        var pads = Attr.Ints(_info, "pads", 2 * r, 0, ctx);
        int blockSize = 1, positions = 1;
        var per = new int[r];
        for (int i = 0; i < r; i++)
        {
            blockSize *= block[i];
            int span = dil[i] * (block[i] - 1) + 1;
            int padded = dims[i] + pads[i] + pads[i + r];
            if (strides[i] <= 0 || dil[i] <= 0 || padded < span) throw ctx.Error($"invalid geometry on spatial axis {i}");
            per[i] = (padded - span) / strides[i] + 1;
            positions *= per[i];
        }
        if (x.Shape[1] % blockSize != 0) throw ctx.Error($"input dimension 1 ({x.Shape[1]}) is not a multiple of the block size {blockSize}");
        if (x.Shape[2] != positions) throw ctx.Error($"input dimension 2 is {x.Shape[2]} but the geometry gives {positions} blocks");
        int n = x.Shape[0], c = x.Shape[1] / blockSize;
        var outShape = new int[r + 2];
        outShape[0] = n; outShape[1] = c;
        dims.CopyTo(outShape, 2);
        var y = ctx.Output(0, x.ElementType, outShape);
        var xf = VisionTensors.ToFloat(x);
        var yf = new float[y.Length];
        int inPer = x.Shape[1] * positions, outPer = y.Length / Math.Max(1, n);
        for (int b = 0; b < n; b++)
            RegionKernels.Col2Im(xf.AsSpan(b * inPer, inPer), yf.AsSpan(b * outPer, outPer), c, dims, block, dil, pads, strides, per);
        VisionTensors.Store(y, yf);
    }
}

/// <summary>RoiAlign (10, 16, 22): bilinear-sampled average or max pooling of regions of interest.</summary>
[OpKernel("RoiAlign", 10)]
public sealed class RoiAlign : OpKernel
{
    private readonly bool _halfPixel, _max;
    private readonly int _h, _w, _sampling;
    private readonly double _scale;

    public RoiAlign(KernelInfo info)
    {
        string ct = info.GetString("coordinate_transformation_mode", info.OpsetVersion >= 16 ? "half_pixel" : "output_half_pixel");
        _halfPixel = ct switch
        {
            "half_pixel" => true,
            "output_half_pixel" => false,
            _ => throw info.Error($"unsupported coordinate_transformation_mode '{ct}'"),
        };
        string mode = info.GetString("mode", "avg");
        _max = mode switch { "avg" => false, "max" => true, _ => throw info.Error($"unsupported mode '{mode}'") };
        _h = (int)info.GetInt("output_height", 1);
        _w = (int)info.GetInt("output_width", 1);
        _sampling = (int)info.GetInt("sampling_ratio", 0);
        _scale = info.GetFloat("spatial_scale", 1f);
        if (_h <= 0 || _w <= 0 || _sampling < 0) throw info.Error("output_height/output_width must be positive and sampling_ratio non-negative");
    }

    public override void Compute(KernelContext ctx)
    {
        var x = ctx.Input(0);
        var rois = ctx.Input(1);
        var batch = ctx.Input(2).ToInt64Array();
        if (x.Rank != 4) throw ctx.Error($"X must be 4-D [N, C, H, W], got rank {x.Rank}");
        if (rois.Rank != 2 || rois.Shape[1] != 4) throw ctx.Error($"rois must be [num_rois, 4], got {Kernels.ShapeMath.Format(rois.Shape)}");
        int num = rois.Shape[0];
        if (batch.Length != num) throw ctx.Error($"batch_indices has {batch.Length} values for {num} rois");
        int n = x.Shape[0], c = x.Shape[1], h = x.Shape[2], w = x.Shape[3];
        var y = ctx.OutputUninitialized(0, x.ElementType, [num, c, _h, _w]);
        var xf = VisionTensors.ToFloat(x);
        var rf = VisionTensors.ToDouble(rois);
        var yf = new float[y.Length];
        int plane = c * h * w, outPer = c * _h * _w;
        for (int i = 0; i < num; i++)
        {
            long b = batch[i];
            if (b < 0 || b >= n) throw ctx.Error($"batch index {b} of roi {i} is out of range [0, {n})");
            try
            {
                RegionKernels.RoiAlign(xf.AsSpan((int)b * plane, plane), yf.AsSpan(i * outPer, outPer), c, h, w,
                    rf[i * 4], rf[i * 4 + 1], rf[i * 4 + 2], rf[i * 4 + 3], _scale, _halfPixel, _h, _w, _sampling, _max);
            }
            catch (ArgumentException e) { throw ctx.Error(e.Message); }
        }
        VisionTensors.Store(y, yf);
    }
}

/// <summary>NonMaxSuppression (10, 11): greedy per-class selection by score with IoU suppression.</summary>
[OpKernel("NonMaxSuppression", 10)]
public sealed class NonMaxSuppression : OpKernel
{
    private readonly bool _center;
    public NonMaxSuppression(KernelInfo info) => _center = info.GetInt("center_point_box", 0) != 0;

    public override void Compute(KernelContext ctx)
    {
        var boxes = ctx.Input(0);
        var scores = ctx.Input(1);
        long maxOut = ctx.OptionalInput(2) is { Length: > 0 } m ? m.ToInt64Array()[0] : 0;
        double iouTh = ctx.OptionalInput(3) is { Length: > 0 } io ? io.GetDouble(0) : 0;
        Tensor? st = ctx.OptionalInput(4);
        bool hasScoreTh = st is { Length: > 0 };
        float scoreTh = hasScoreTh ? (float)st!.GetDouble(0) : 0;
        if (boxes.Rank != 3 || boxes.Shape[2] != 4) throw ctx.Error($"boxes must be [batch, spatial, 4], got {Kernels.ShapeMath.Format(boxes.Shape)}");
        if (scores.Rank != 3 || scores.Shape[0] != boxes.Shape[0] || scores.Shape[2] != boxes.Shape[1])
            throw ctx.Error($"scores shape {Kernels.ShapeMath.Format(scores.Shape)} does not match boxes {Kernels.ShapeMath.Format(boxes.Shape)}");
        if (iouTh < 0 || iouTh > 1) throw ctx.Error($"iou_threshold {iouTh} must be in [0, 1]");
        int nb = boxes.Shape[0], ns = boxes.Shape[1], nc = scores.Shape[1];
        var bx = VisionTensors.ToFloat(boxes);
        var sc = VisionTensors.ToFloat(scores);
        var result = new List<long>();
        if (maxOut > 0)
        {
            var order = new List<int>(ns);
            var selected = new List<int>();
            for (int b = 0; b < nb; b++)
                for (int c = 0; c < nc; c++)
                {
                    int sOff = (b * nc + c) * ns;
                    order.Clear();
                    for (int i = 0; i < ns; i++)
                        if (!hasScoreTh || sc[sOff + i] > scoreTh) order.Add(i);
                    // Highest score first; equal scores keep the lower index first.
                    order.Sort((p, q) => sc[sOff + q].CompareTo(sc[sOff + p]) is var k && k != 0 ? k : p.CompareTo(q));
                    selected.Clear();
                    foreach (int i in order)
                    {
                        if (selected.Count >= maxOut) break;
                        bool keep = true;
                        foreach (int j in selected)
                            if (Suppresses(bx, (b * ns + i) * 4, (b * ns + j) * 4, iouTh)) { keep = false; break; }
                        if (!keep) continue;
                        selected.Add(i);
                        result.Add(b); result.Add(c); result.Add(i);
                    }
                }
        }
        var y = ctx.OutputUninitialized(0, DataType.Int64, [result.Count / 3, 3]);
        result.CopyTo(y.Span<long>());
    }

    private void Box(float[] b, int o, out float y1, out float x1, out float y2, out float x2)
    {
        if (_center)
        {
            float xc = b[o], yc = b[o + 1], hw = b[o + 2] / 2, hh = b[o + 3] / 2;
            x1 = xc - hw; x2 = xc + hw; y1 = yc - hh; y2 = yc + hh;
        }
        else
        {
            y1 = Math.Min(b[o], b[o + 2]); y2 = Math.Max(b[o], b[o + 2]);
            x1 = Math.Min(b[o + 1], b[o + 3]); x2 = Math.Max(b[o + 1], b[o + 3]);
        }
    }

    private bool Suppresses(float[] b, int i, int j, double th)
    {
        Box(b, i, out float ay1, out float ax1, out float ay2, out float ax2);
        Box(b, j, out float by1, out float bx1, out float by2, out float bx2);
        float ih = Math.Min(ay2, by2) - Math.Max(ay1, by1);
        float iw = Math.Min(ax2, bx2) - Math.Max(ax1, bx1);
        if (ih <= 0 || iw <= 0) return false;
        float areaA = (ay2 - ay1) * (ax2 - ax1), areaB = (by2 - by1) * (bx2 - bx1);
        if (areaA <= 0 || areaB <= 0) return false;
        float inter = ih * iw;
        float uni = areaA + areaB - inter;
        return uni > 0 && inter / uni > th;
    }
}

/// <summary>DeformConv (19, 22): 2-D convolution sampling the input at learned offsets, optionally masked.</summary>
[OpKernel("DeformConv", 19)]
public sealed class DeformConv : OpKernel
{
    private readonly KernelInfo _info;
    private readonly int _group, _offsetGroup;

    public DeformConv(KernelInfo info)
    {
        _info = info;
        _group = (int)info.GetInt("group", 1);
        _offsetGroup = (int)info.GetInt("offset_group", 1);
        if (_group <= 0 || _offsetGroup <= 0) throw info.Error("group and offset_group must be positive");
    }

    public override void Compute(KernelContext ctx)
    {
        var x = ctx.Input(0);
        var wt = ctx.Input(1);
        var off = ctx.Input(2);
        var bias = ctx.OptionalInput(3);
        var mask = ctx.OptionalInput(4);
        if (x.Rank != 4 || wt.Rank != 4) throw ctx.Error("only 2-D deformable convolution (4-D X and W) is supported");
        int n = x.Shape[0], c = x.Shape[1], h = x.Shape[2], w = x.Shape[3];
        int oc = wt.Shape[0], cg = wt.Shape[1], kh = wt.Shape[2], kw = wt.Shape[3];
        var ks = _info.GetInts("kernel_shape");
        if (ks is { Length: > 0 } && (ks.Length != 2 || ks[0] != kh || ks[1] != kw)) throw ctx.Error("kernel_shape does not match W");
        var dil = Attr.Ints(_info, "dilations", 2, 1, ctx);
        var str = Attr.Ints(_info, "strides", 2, 1, ctx);
        var pads = Attr.Ints(_info, "pads", 4, 0, ctx);
        if (c != cg * _group || oc % _group != 0) throw ctx.Error($"channels {c} / output channels {oc} do not fit group {_group}");
        if (c % _offsetGroup != 0) throw ctx.Error($"channels {c} are not divisible by offset_group {_offsetGroup}");
        int oh = (h + pads[0] + pads[2] - (dil[0] * (kh - 1) + 1)) / str[0] + 1;
        int ow = (w + pads[1] + pads[3] - (dil[1] * (kw - 1) + 1)) / str[1] + 1;
        if (oh <= 0 || ow <= 0) throw ctx.Error("the kernel does not fit the padded input");
        int k = kh * kw, opix = oh * ow;
        if (off.Rank != 4 || off.Shape[0] != n || off.Shape[1] != _offsetGroup * 2 * k || off.Shape[2] != oh || off.Shape[3] != ow)
            throw ctx.Error($"offset shape {Kernels.ShapeMath.Format(off.Shape)} must be [{n}, {_offsetGroup * 2 * k}, {oh}, {ow}]");
        if (mask is not null && (mask.Length != n * _offsetGroup * k * opix))
            throw ctx.Error($"mask shape {Kernels.ShapeMath.Format(mask.Shape)} must be [{n}, {_offsetGroup * k}, {oh}, {ow}]");
        if (bias is not null && bias.Length != oc) throw ctx.Error($"B has {bias.Length} values for {oc} output channels");

        var y = ctx.OutputUninitialized(0, x.ElementType, [n, oc, oh, ow]);
        var xf = VisionTensors.ToFloat(x);
        var wf = VisionTensors.ToFloat(wt);
        var of = VisionTensors.ToFloat(off);
        var mf = mask is null ? null : VisionTensors.ToFloat(mask);
        var bf = bias is null ? null : VisionTensors.ToFloat(bias);
        var yf = new float[y.Length];
        var cols = new float[c * k * opix];
        int cPerOffGroup = c / _offsetGroup, ocg = oc / _group;
        for (int b = 0; b < n; b++)
        {
            int batch = b;
            VisionTensors.ParallelRanges(c, (long)k * opix * 8, ctx.Threads, (c0, c1) =>
                Im2Col(xf, of, mf, cols, batch, c0, c1, c, h, w, kh, kw, oh, ow, cPerOffGroup, dil, str, pads));
            for (int gr = 0; gr < _group; gr++)
            {
                int grp = gr;
                var outArr = yf;
                int outBase = (b * oc + gr * ocg) * opix;
                VisionTensors.ParallelRanges(ocg, (long)cg * k * opix, ctx.Threads, (o0, o1) =>
                {
                    var outSpan = outArr.AsSpan(outBase + o0 * opix, (o1 - o0) * opix);
                    if (bf is not null)
                        for (int o = o0; o < o1; o++) outSpan.Slice((o - o0) * opix, opix).Fill(bf[grp * ocg + o]);
                    RegionKernels.Gemm(wf.AsSpan((grp * ocg + o0) * cg * k, (o1 - o0) * cg * k), cols.AsSpan(grp * cg * k * opix, cg * k * opix),
                        outSpan, o1 - o0, cg * k, opix);
                });
            }
        }
        VisionTensors.Store(y, yf);
    }

    /// <summary>Samples channels [c0, c1) of one image at the offset kernel taps into the column matrix.</summary>
    private void Im2Col(float[] xf, float[] of, float[]? mf, float[] cols, int b, int c0, int c1, int c, int h, int w,
        int kh, int kw, int oh, int ow, int cPerOffGroup, int[] dil, int[] str, int[] pads)
    {
        int k = kh * kw, opix = oh * ow;
        for (int ch = c0; ch < c1; ch++)
        {
            {
                int g = ch / cPerOffGroup;
                var plane = xf.AsSpan((b * c + ch) * h * w, h * w);
                for (int ki = 0; ki < kh; ki++)
                    for (int kj = 0; kj < kw; kj++)
                    {
                        int kk = ki * kw + kj;
                        int dyOff = ((b * _offsetGroup + g) * 2 * k + 2 * kk) * opix;
                        int dxOff = dyOff + opix;
                        int mOff = ((b * _offsetGroup + g) * k + kk) * opix;
                        var col = cols.AsSpan((ch * k + kk) * opix, opix);
                        for (int i = 0; i < oh; i++)
                            for (int j = 0; j < ow; j++)
                            {
                                int p = i * ow + j;
                                double yy = i * str[0] - pads[0] + ki * dil[0] + of[dyOff + p];
                                double xx = j * str[1] - pads[1] + kj * dil[1] + of[dxOff + p];
                                float v = RegionKernels.Bilinear(plane, h, w, yy, xx);
                                col[p] = mf is null ? v : v * mf[mOff + p];
                            }
                    }
            }
        }
    }
}
