using NetOnnx.Kernels.Vision;

namespace NetOnnx.Runtime.Operators.Vision;

/// <summary>GridSample (16: 4-D bilinear/nearest/bicubic; 20+: N-D linear/nearest/cubic).</summary>
[OpKernel("GridSample", 16)]
public sealed class GridSample : OpKernel
{
    private readonly GridSampleMode _mode;
    private readonly GridPadding _padding;
    private readonly bool _alignCorners;
    private readonly int _opset;

    public GridSample(KernelInfo info)
    {
        _opset = info.OpsetVersion;
        string mode = info.GetString("mode", _opset >= 20 ? "linear" : "bilinear");
        _mode = mode switch
        {
            "bilinear" or "linear" => GridSampleMode.Linear,
            "nearest" => GridSampleMode.Nearest,
            "bicubic" or "cubic" => GridSampleMode.Cubic,
            _ => throw info.Error($"unsupported mode '{mode}'"),
        };
        string pad = info.GetString("padding_mode", "zeros");
        _padding = pad switch
        {
            "zeros" => GridPadding.Zeros,
            "border" => GridPadding.Border,
            "reflection" => GridPadding.Reflection,
            _ => throw info.Error($"unsupported padding_mode '{pad}'"),
        };
        _alignCorners = info.GetInt("align_corners", 0) != 0;
    }

    public override void Compute(KernelContext ctx)
    {
        var x = ctx.Input(0);
        var grid = ctx.Input(1);
        int r = x.Rank - 2;
        if (r < 1) throw ctx.Error($"input X must have rank >= 3, got {x.Rank}");
        if (_opset < 20 && x.Rank != 4) throw ctx.Error($"GridSample-{_opset} supports only 4-D input, got rank {x.Rank}");
        if (_mode == GridSampleMode.Cubic && r != 2) throw ctx.Error("cubic mode supports only 2 spatial dimensions");
        if (grid.Rank != x.Rank || grid.Shape[0] != x.Shape[0] || grid.Shape[^1] != r)
            throw ctx.Error($"grid shape {Kernels.ShapeMath.Format(grid.Shape)} does not match input {Kernels.ShapeMath.Format(x.Shape)}: expected [N, ..., {r}]");
        if (!VisionTensors.IsReal(x.ElementType) || !grid.ElementType.IsFloat())
            throw ctx.Error($"unsupported element types {x.ElementType.OnnxName()}, {grid.ElementType.OnnxName()}");
        int n = x.Shape[0], c = x.Shape[1];
        var inDims = x.Shape[2..];
        var outDims = grid.Shape[1..^1];
        var outShape = new int[x.Rank];
        outShape[0] = n; outShape[1] = c;
        outDims.CopyTo(outShape, 2);
        var y = ctx.OutputUninitialized(0, x.ElementType, outShape);
        if (y.Length == 0) return;
        foreach (int d in inDims) if (d == 0) throw ctx.Error("input spatial dimensions must be non-empty");
        var yf = new float[y.Length];
        var xf = VisionTensors.ToFloat(x);
        var gf = VisionTensors.ToFloat(grid);
        int points = n * (y.Length / Math.Max(1, n * c));
        VisionTensors.ParallelRanges(points, (long)c * (_mode == GridSampleMode.Cubic ? 16 : 4), ctx.Threads, (s, e) =>
            GridSampleKernel.Run(xf, gf, yf, n, c, inDims, outDims, _mode, _padding, _alignCorners, s, e));
        VisionTensors.Store(y, yf);
    }
}

/// <summary>AffineGrid (20): sampling grid [N, (D,) H, W, r] from affine matrices theta [N, r, r+1].</summary>
[OpKernel("AffineGrid", 20)]
public sealed class AffineGrid : OpKernel
{
    private readonly bool _alignCorners;
    public AffineGrid(KernelInfo info) => _alignCorners = info.GetInt("align_corners", 0) != 0;

    public override void Compute(KernelContext ctx)
    {
        var theta = ctx.Input(0);
        var size = ctx.Input(1).ToInt64Array();
        if (size.Length is not (4 or 5)) throw ctx.Error($"'size' must have 4 or 5 values, got {size.Length}");
        int r = size.Length - 2;
        int n = (int)size[0];
        if (theta.Rank != 3 || theta.Shape[0] != n || theta.Shape[1] != r || theta.Shape[2] != r + 1)
            throw ctx.Error($"theta shape {Kernels.ShapeMath.Format(theta.Shape)} must be [{n}, {r}, {r + 1}]");
        var dims = new int[r];
        for (int i = 0; i < r; i++)
        {
            if (size[2 + i] < 0 || size[2 + i] > int.MaxValue) throw ctx.Error($"invalid size {size[2 + i]}");
            dims[i] = (int)size[2 + i];
        }
        var outShape = new int[r + 2];
        outShape[0] = n;
        dims.CopyTo(outShape, 1);
        outShape[^1] = r;
        var y = ctx.OutputUninitialized(0, theta.ElementType, outShape);
        var th = VisionTensors.ToDouble(theta);
        var res = new double[y.Length];
        // Base coordinates per spatial dim, in (x, y, z) order = reversed dims.
        var bases = new double[r][];
        for (int i = 0; i < r; i++)
        {
            int len = dims[r - 1 - i];
            var v = new double[len];
            for (int k = 0; k < len; k++)
                v[k] = _alignCorners ? (len == 1 ? -1 : -1 + 2.0 * k / (len - 1)) : (2.0 * k + 1) / len - 1;
            bases[i] = v;
        }
        int plane = 1;
        foreach (int d in dims) plane *= d;
        var coord = new double[r];
        var idx = new int[r];
        for (int b = 0; b < n; b++)
        {
            int tOff = b * r * (r + 1);
            Array.Clear(idx);
            for (int p = 0; p < plane; p++)
            {
                for (int i = 0; i < r; i++) coord[i] = bases[i][idx[r - 1 - i]];
                int o = (b * plane + p) * r;
                for (int row = 0; row < r; row++)
                {
                    double acc = th[tOff + row * (r + 1) + r];
                    for (int col = 0; col < r; col++) acc += th[tOff + row * (r + 1) + col] * coord[col];
                    res[o + row] = acc;
                }
                for (int d = r - 1; d >= 0; d--) { if (++idx[d] < dims[d]) break; idx[d] = 0; }
            }
        }
        VisionTensors.Store(y, res);
    }
}
