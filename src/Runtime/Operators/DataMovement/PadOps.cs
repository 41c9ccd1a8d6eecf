using NetOnnx.Kernels;

namespace NetOnnx.Runtime.Operators.DataMovement;

internal enum PadMode { Constant, Reflect, Edge, Wrap }

/// <summary>
/// Pad: constant, reflect, edge or wrap padding; negative pads crop. Opset 1 reads 'paddings', opsets 2-10
/// 'pads' and 'value' attributes, 11+ the pads / constant_value / axes (18) inputs.
/// </summary>
[OpKernel("Pad", 1)]
public sealed class Pad : OpKernel
{
    private readonly PadMode _mode;
    private readonly long[]? _padsAttr;
    private readonly float _valueAttr;

    public Pad(KernelInfo info)
    {
        string mode = info.GetString("mode", "constant");
        _mode = mode switch
        {
            "constant" => PadMode.Constant,
            "reflect" => PadMode.Reflect,
            "edge" => PadMode.Edge,
            "wrap" when info.OpsetVersion >= 19 => PadMode.Wrap,
            _ => throw info.Error($"unsupported mode '{mode}'"),
        };
        if (info.OpsetVersion < 11)
        {
            _padsAttr = info.GetInts(info.OpsetVersion < 2 ? "paddings" : "pads") ?? throw info.Error("attribute 'pads' is required");
            _valueAttr = info.GetFloat("value", 0);
        }
    }

    public override void Compute(KernelContext ctx)
    {
        var x = ctx.Input(0);
        int r = x.Rank;
        long[] pads;
        Tensor? value = null;
        if (_padsAttr is not null)
        {
            pads = _padsAttr;
            if (_mode == PadMode.Constant && _valueAttr != 0) value = Elements.ScalarOf(x.ElementType, _valueAttr);
        }
        else
        {
            var given = ctx.Input(1).ToInt64Array();
            if (ctx.OptionalInput(2) is { Length: > 0 } cv)
            {
                if (cv.ElementType != x.ElementType) throw ctx.Error("constant_value must have the element type of the data");
                value = cv;
            }
            if (Elements.OptionalInts(ctx, 3) is { } axes)
            {
                if (given.Length != 2 * axes.Length) throw ctx.Error($"pads has {given.Length} entries, expected 2 x {axes.Length} axes");
                pads = new long[2 * r];
                for (int i = 0; i < axes.Length; i++)
                {
                    int ax = Elements.Axis(ctx, axes[i], r);
                    pads[ax] = given[i];
                    pads[ax + r] = given[i + axes.Length];
                }
            }
            else pads = given;
        }
        if (pads.Length != 2 * r) throw ctx.Error($"pads has {pads.Length} entries, expected {2 * r} for rank {r}");
        Run(ctx, x, pads, _mode, value);
    }

    internal static void Run(KernelContext ctx, Tensor x, long[] pads, PadMode mode, Tensor? value)
    {
        int r = x.Rank;
        var shape = new int[r];
        for (int i = 0; i < r; i++)
        {
            long d = x.Shape[i] + pads[i] + pads[i + r];
            if (d < 0) throw ctx.Error($"pads [{string.Join(",", pads)}] crop more than dimension {i} holds ({x.Shape[i]})");
            shape[i] = Elements.Dim(ctx, d, "padded dimension");
        }
        var y = ctx.OutputUninitialized(0, x.ElementType, shape);
        if (y.Length == 0) return;
        var inStrides = ShapeMath.Strides(x.Shape);
        var outStrides = ShapeMath.Strides(shape);
        if (mode == PadMode.Constant || x.Length == 0)
        {
            if (mode != PadMode.Constant && x.Length == 0) throw ctx.Error($"cannot {mode.ToString().ToLowerInvariant()}-pad an empty tensor");
            Elements.Fill(y, value ?? Elements.ScalarOf(x.ElementType, 0));
            // Copy the part of the input that survives cropping into its place.
            var len = new int[r];
            int so = 0, dof = 0;
            for (int i = 0; i < r; i++)
            {
                long b = pads[i], e = pads[i + r];
                long skip = Math.Max(0, -b), cut = Math.Max(0, -e);
                long l = x.Shape[i] - skip - cut;
                if (l <= 0) return;
                len[i] = (int)l;
                so += (int)skip * inStrides[i];
                dof += (int)Math.Max(0, b) * outStrides[i];
            }
            Elements.Copy(x, so, inStrides, y, dof, outStrides, len);
            return;
        }
        // Edge/reflect/wrap: per-axis tables from output coordinate to input offset, then a gather.
        var maps = new int[r][];
        for (int i = 0; i < r; i++)
        {
            int d = x.Shape[i];
            if (mode == PadMode.Reflect && d < 2 && (pads[i] > 0 || pads[i + r] > 0))
                throw ctx.Error($"reflect padding needs at least 2 elements on axis {i}, it has {d}");
            var m = new int[shape[i]];
            for (int o = 0; o < m.Length; o++)
            {
                long c = o - pads[i];
                if (c < 0 || c >= d)
                {
                    c = mode switch
                    {
                        PadMode.Edge => Math.Clamp(c, 0, d - 1),
                        PadMode.Wrap => ((c % d) + d) % d,
                        _ => Reflect(c, d),
                    };
                }
                m[o] = (int)c * inStrides[i];
            }
            maps[i] = m;
        }
        var a = new MapGather { X = x, Y = y, Maps = maps };
        Elements.ByStorage(x.ElementType, ref a);
    }

    private static long Reflect(long c, long d)
    {
        long period = 2 * (d - 1);
        c = ((c % period) + period) % period;
        return c < d ? c : period - c;
    }

    /// <summary>Dense output from per-axis offset tables into the input.</summary>
    private struct MapGather : IElementAction
    {
        public Tensor X, Y;
        public int[][] Maps;
        public void Invoke<T>()
        {
            var src = Elements.Data<T>(X);
            var dst = Elements.Data<T>(Y);
            int r = Maps.Length;
            if (r == 0) { dst[0] = src[0]; return; }
            var last = Maps[r - 1];
            int inner = last.Length, rows = dst.Length / inner;
            var coord = new int[r];
            int baseOff = 0;
            for (int d = 0; d < r - 1; d++) baseOff += Maps[d][0];
            for (int row = 0; row < rows; row++)
            {
                var o = dst.Slice(row * inner, inner);
                for (int j = 0; j < inner; j++) o[j] = src[baseOff + last[j]];
                for (int d = r - 2; d >= 0; d--)
                {
                    baseOff -= Maps[d][coord[d]];
                    if (++coord[d] < Maps[d].Length) { baseOff += Maps[d][coord[d]]; break; }
                    coord[d] = 0;
                    baseOff += Maps[d][0];
                }
            }
        }
    }
}

/// <summary>CenterCropPad: crops or zero-pads the given axes symmetrically (extra element at the end) to a shape.</summary>
[OpKernel("CenterCropPad", 18)]
public sealed class CenterCropPad : OpKernel
{
    private readonly long[]? _axes;
    public CenterCropPad(KernelInfo info) => _axes = info.GetInts("axes");

    public override void Compute(KernelContext ctx)
    {
        var x = ctx.Input(0);
        var target = ctx.Input(1).ToInt64Array();
        int r = x.Rank;
        var axes = _axes ?? Enumerable.Range(0, r).Select(i => (long)i).ToArray();
        if (target.Length != axes.Length) throw ctx.Error($"shape has {target.Length} entries for {axes.Length} axes");
        var pads = new long[2 * r];
        for (int i = 0; i < axes.Length; i++)
        {
            int ax = Elements.Axis(ctx, axes[i], r);
            long diff = target[i] - x.Shape[ax];
            if (target[i] < 0) throw ctx.Error($"shape entry {target[i]} is negative");
            // Crop: start at (d - t) / 2; pad: (t - d) / 2 before. Both put the odd element at the end.
            long before = diff >= 0 ? diff / 2 : -((-diff) / 2);
            pads[ax] = before;
            pads[ax + r] = diff - before;
        }
        Pad.Run(ctx, x, pads, PadMode.Constant, null);
    }
}

/// <summary>SpaceToDepth: moves blocks of H and W into channels (NCHW).</summary>
[OpKernel("SpaceToDepth", 1)]
public sealed class SpaceToDepth : OpKernel
{
    private readonly int _b;
    public SpaceToDepth(KernelInfo info)
    {
        _b = (int)info.GetInt("blocksize", 0);
        if (_b <= 0) throw info.Error("attribute 'blocksize' must be positive");
    }

    public override void Compute(KernelContext ctx)
    {
        var x = ctx.Input(0);
        if (x.Rank != 4) throw ctx.Error($"input must be 4-D (NCHW), it has shape {ShapeMath.Format(x.Shape)}");
        int n = x.Shape[0], c = x.Shape[1], h = x.Shape[2], w = x.Shape[3], b = _b;
        if (h % b != 0 || w % b != 0) throw ctx.Error($"H={h} and W={w} must be multiples of blocksize {b}");
        var y = ctx.OutputUninitialized(0, x.ElementType, [n, c * b * b, h / b, w / b]);
        // Output as [N, bh, bw, C, H/b, W/b] reading the input x[n, c, hh*b + bh, ww*b + bw].
        Elements.Copy(x, 0, [c * h * w, w, 1, h * w, b * w, b], y, 0,
            ShapeMath.Strides([n, b, b, c, h / b, w / b]), [n, b, b, c, h / b, w / b]);
    }
}

/// <summary>DepthToSpace: moves channel blocks into H and W, in DCR (default) or CRD order.</summary>
[OpKernel("DepthToSpace", 1)]
public sealed class DepthToSpace : OpKernel
{
    private readonly int _b;
    private readonly bool _crd;

    public DepthToSpace(KernelInfo info)
    {
        _b = (int)info.GetInt("blocksize", 0);
        if (_b <= 0) throw info.Error("attribute 'blocksize' must be positive");
        string mode = info.GetString("mode", "DCR");
        if (mode is not ("DCR" or "CRD")) throw info.Error($"unknown mode '{mode}'");
        _crd = mode == "CRD";
    }

    public override void Compute(KernelContext ctx)
    {
        var x = ctx.Input(0);
        if (x.Rank != 4) throw ctx.Error($"input must be 4-D (NCHW), it has shape {ShapeMath.Format(x.Shape)}");
        int n = x.Shape[0], c = x.Shape[1], h = x.Shape[2], w = x.Shape[3], b = _b;
        if (c % (b * b) != 0) throw ctx.Error($"channels {c} must be a multiple of blocksize^2 = {b * b}");
        int cc = c / (b * b), hw = h * w;
        var y = ctx.OutputUninitialized(0, x.ElementType, [n, cc, h * b, w * b]);
        // Output as [N, C', H, bh, W, bw]; the input channel is (bh*b + bw)*C' + c' (DCR) or c'*b*b + bh*b + bw (CRD).
        int[] src = _crd
            ? [c * hw, b * b * hw, w, b * hw, 1, hw]
            : [c * hw, hw, w, b * cc * hw, 1, cc * hw];
        int[] shape = [n, cc, h, b, w, b];
        Elements.Copy(x, 0, src, y, 0, ShapeMath.Strides(shape), shape);
    }
}

/// <summary>ReverseSequence: reverses the first seq_len[b] steps of each batch entry along the time axis.</summary>
[OpKernel("ReverseSequence", 10)]
public sealed class ReverseSequence : OpKernel
{
    private readonly int _timeAxis, _batchAxis;

    public ReverseSequence(KernelInfo info)
    {
        _timeAxis = (int)info.GetInt("time_axis", 0);
        _batchAxis = (int)info.GetInt("batch_axis", 1);
        if (!(_timeAxis == 0 && _batchAxis == 1 || _timeAxis == 1 && _batchAxis == 0))
            throw info.Error("time_axis and batch_axis must be 0 and 1 in some order");
    }

    public override void Compute(KernelContext ctx)
    {
        var x = ctx.Input(0);
        var lens = ctx.Input(1).ToInt64Array();
        if (x.Rank < 2) throw ctx.Error("input must have rank at least 2");
        int steps = x.Shape[_timeAxis], batch = x.Shape[_batchAxis];
        if (lens.Length != batch) throw ctx.Error($"sequence_lens has {lens.Length} entries for a batch of {batch}");
        var strides = ShapeMath.Strides(x.Shape);
        int ts = strides[_timeAxis], bs = strides[_batchAxis], inner = strides[1];
        var y = ctx.OutputUninitialized(0, x.ElementType, x.Shape);
        var offs = new int[steps * batch];
        var dstOrder = new int[steps * batch];
        int k = 0;
        for (int bi = 0; bi < batch; bi++)
        {
            long len = lens[bi];
            if (len < 0 || len > steps) throw ctx.Error($"sequence length {len} is outside [0, {steps}]");
            for (int t = 0; t < steps; t++, k++)
            {
                int from = t < len ? (int)(len - 1 - t) : t;
                dstOrder[k] = bi * bs + t * ts;
                offs[k] = bi * bs + from * ts;
            }
        }
        // Move each inner block from its source step to its destination step.
        for (int i = 0; i < offs.Length; i++)
            if (inner > 0) Elements.Copy(x, offs[i], [1], y, dstOrder[i], [1], [inner]);
    }
}
