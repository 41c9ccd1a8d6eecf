using System.Numerics;
using NetOnnx.Kernels;
using NetOnnx.Kernels.Normalization;
using NetOnnx.Kernels.Reduction;
using NetOnnx.Runtime.Operators.Reduction;

namespace NetOnnx.Runtime.Operators.Normalization;

/// <summary>
/// LayerNormalization (opset 17): each row of the dimensions from axis on is normalised by its mean and
/// variance, then scaled and shifted (Scale and B broadcast to those dimensions). Optional outputs Mean and
/// InvStdDev have shape X.shape[:axis] + [1]*(rank-axis) and the stash_type element type. Also serves the
/// optimizer's fused LayerNormalization in the internal domain, for models whose opset predates it.
/// </summary>
[OpKernel("LayerNormalization", 17)]
[OpKernel("LayerNormalization", 1, Domain = FusedOps.Domain)]
public sealed class LayerNormalization : OpKernel
{
    private readonly long _axis;
    private readonly float _epsilon;
    private readonly DataType _meanType;
    private readonly DataType _invType;

    public LayerNormalization(KernelInfo info)
    {
        _axis = info.GetInt("axis", -1);
        _epsilon = info.GetFloat("epsilon", 1e-5f);
        var stash = NormalizationHelpers.StashType(info);
        _meanType = NormalizationHelpers.OutputType(info, 1, stash);
        _invType = NormalizationHelpers.OutputType(info, 2, stash);
    }

    public override void Compute(KernelContext ctx)
    {
        var x = ctx.Input(0);
        if (NormalizationHelpers.UsesDouble(ctx, x)) Run<double>(ctx, x); else Run<float>(ctx, x);
    }

    private void Run<T>(KernelContext ctx, Tensor x) where T : struct, IFloatingPointIeee754<T>
    {
        int rank = x.Rank;
        long a = _axis < 0 ? _axis + rank : _axis;
        if (a < 0 || a >= rank) throw ctx.Error($"axis {_axis} is out of range for input of rank {rank}");
        int ai = (int)a;
        int outer = ShapeMath.SizeTo(x.Shape, ai), inner = ShapeMath.SizeFrom(x.Shape, ai);
        var normShape = x.Shape.AsSpan(ai);
        var scale = NormalizationHelpers.Expand<T>(ctx, ctx.Input(1), normShape, "Scale");
        var bias = ctx.OptionalInput(2) is { } bt ? NormalizationHelpers.Expand<T>(ctx, bt, normShape, "B") : [];
        var xa = x.Buffer as T[] ?? FloatingBridge.ToArray<T>(x);
        var y = ctx.OutputUninitialized(0, x.ElementType, (int[])x.Shape.Clone());
        var ya = y.Buffer as T[] ?? new T[y.Length];
        var means = new T[outer];
        var invs = new T[outer];
        T eps = T.CreateTruncating(_epsilon);
        NormalizationHelpers.ForRows(outer, inner, ctx.Threads, (s, e) =>
        {
            for (int o = s; o < e; o++)
            {
                var row = xa.AsSpan(o * inner, inner);
                var (mean, variance) = NormalizationKernels.Moments<T>(row);
                T inv = T.One / T.Sqrt(variance + eps);
                means[o] = mean;
                invs[o] = inv;
                NormalizationKernels.ScaleShift<T>(row, ya.AsSpan(o * inner, inner), mean, inv, scale, bias);
            }
        });
        FloatingBridge.Commit<T>(ya.AsSpan(0, y.Length), y);
        var statShape = new int[rank];
        for (int i = 0; i < rank; i++) statShape[i] = i < ai ? x.Shape[i] : 1;
        if (ctx.IsOutputRequested(1)) FloatingBridge.Commit<T>(means, ctx.OutputUninitialized(1, _meanType, statShape));
        if (ctx.IsOutputRequested(2)) FloatingBridge.Commit<T>(invs, ctx.OutputUninitialized(2, _invType, (int[])statShape.Clone()));
    }
}

/// <summary>
/// RMSNormalization (opset 23): y = x / sqrt(mean(x^2) + epsilon) * scale over the dimensions from axis on. Also
/// serves the optimizer's fused RMSNormalization in the internal domain, for models whose opset predates it.
/// </summary>
[OpKernel("RMSNormalization", 23)]
[OpKernel("RMSNormalization", 1, Domain = FusedOps.Domain)]
public sealed class RmsNormalization : OpKernel
{
    private readonly long _axis;
    private readonly float _epsilon;

    public RmsNormalization(KernelInfo info)
    {
        _axis = info.GetInt("axis", -1);
        _epsilon = info.GetFloat("epsilon", 1e-5f);
        NormalizationHelpers.StashType(info);
    }

    public override void Compute(KernelContext ctx)
    {
        var x = ctx.Input(0);
        if (NormalizationHelpers.UsesDouble(ctx, x)) Run<double>(ctx, x); else Run<float>(ctx, x);
    }

    private void Run<T>(KernelContext ctx, Tensor x) where T : struct, IFloatingPointIeee754<T>
    {
        int rank = x.Rank;
        long a = _axis < 0 ? _axis + rank : _axis;
        if (a < 0 || a >= rank) throw ctx.Error($"axis {_axis} is out of range for input of rank {rank}");
        int ai = (int)a;
        int outer = ShapeMath.SizeTo(x.Shape, ai), inner = ShapeMath.SizeFrom(x.Shape, ai);
        var scale = NormalizationHelpers.Expand<T>(ctx, ctx.Input(1), x.Shape.AsSpan(ai), "scale");
        var xa = x.Buffer as T[] ?? FloatingBridge.ToArray<T>(x);
        var y = ctx.OutputUninitialized(0, x.ElementType, (int[])x.Shape.Clone());
        var ya = y.Buffer as T[] ?? new T[y.Length];
        T eps = T.CreateTruncating(_epsilon);
        NormalizationHelpers.ForRows(outer, inner, ctx.Threads, (s, e) =>
        {
            for (int o = s; o < e; o++)
            {
                var row = xa.AsSpan(o * inner, inner);
                T ms = ReduceKernels.ReduceRow<T, SumSquareReduce<T>>(row) / T.CreateTruncating(inner);
                T inv = T.One / T.Sqrt(ms + eps);
                NormalizationKernels.ScaleShift<T>(row, ya.AsSpan(o * inner, inner), T.Zero, inv, scale, []);
            }
        });
        FloatingBridge.Commit<T>(ya.AsSpan(0, y.Length), y);
    }
}

/// <summary>LRN: local response normalisation across channels of [N, C, D1...].</summary>
[OpKernel("LRN", 1)]
public sealed class Lrn : OpKernel
{
    private readonly int _size;
    private readonly float _alpha, _beta, _bias;

    public Lrn(KernelInfo info)
    {
        long size = info.GetInt("size", 0);
        if (size <= 0) throw info.Error("needs a positive size attribute");
        _size = (int)size;
        _alpha = info.GetFloat("alpha", 1e-4f);
        _beta = info.GetFloat("beta", 0.75f);
        _bias = info.GetFloat("bias", 1f);
    }

    public override void Compute(KernelContext ctx)
    {
        var x = ctx.Input(0);
        if (NormalizationHelpers.UsesDouble(ctx, x)) Run<double>(ctx, x); else Run<float>(ctx, x);
    }

    private void Run<T>(KernelContext ctx, Tensor x) where T : struct, IFloatingPointIeee754<T>
    {
        if (x.Rank < 2) throw ctx.Error($"input has shape {ShapeMath.Format(x.Shape)}, expected [N, C, ...]");
        var xs = FloatingBridge.Read<T>(x);
        var y = ctx.OutputUninitialized(0, x.ElementType, (int[])x.Shape.Clone());
        var ys = FloatingBridge.Target<T>(y);
        NormalizationKernels.Lrn(xs, ys, x.Shape[0], x.Shape[1], ShapeMath.SizeFrom(x.Shape, 2), _size,
            T.CreateTruncating(_alpha), T.CreateTruncating(_beta), T.CreateTruncating(_bias));
        FloatingBridge.Commit<T>(ys, y);
    }
}

/// <summary>
/// MeanVarianceNormalization: (x - mean) / (sqrt(variance) + 1e-9) with statistics over axes (default [0, 2, 3]),
/// as the operator's function body defines it.
/// </summary>
[OpKernel("MeanVarianceNormalization", 9)]
public sealed class MeanVarianceNormalization : OpKernel
{
    private readonly long[] _axes;

    public MeanVarianceNormalization(KernelInfo info) => _axes = info.GetInts("axes") ?? [0, 2, 3];

    public override void Compute(KernelContext ctx)
    {
        var x = ctx.Input(0);
        if (NormalizationHelpers.UsesDouble(ctx, x)) Run<double>(ctx, x); else Run<float>(ctx, x);
    }

    private void Run<T>(KernelContext ctx, Tensor x) where T : struct, IFloatingPointIeee754<T>
    {
        int rank = x.Rank;
        var reduce = new bool[rank];
        foreach (long ax in _axes)
        {
            long k = ax < 0 ? ax + rank : ax;
            if (k < 0 || k >= rank) throw ctx.Error($"axis {ax} is out of range for input of rank {rank}");
            reduce[k] = true;
        }
        var layout = new ReduceLayout(x.Shape, reduce);
        var xs = FloatingBridge.Read<T>(x);
        var y = ctx.OutputUninitialized(0, x.ElementType, (int[])x.Shape.Clone());
        var ys = FloatingBridge.Target<T>(y);
        var mean = new T[layout.OutLength];
        ReduceKernels.Reduce<T, SumReduce<T>>(xs, layout, mean);
        T count = T.CreateTruncating(layout.ReduceCount);
        for (int i = 0; i < mean.Length; i++) mean[i] /= count;

        // Second pass: squared deviations, so the variance cannot go negative through cancellation.
        var dev = new T[layout.OutLength];
        int n = layout.RowLength;
        Span<int> scratch = stackalloc int[layout.Dims.Length];
        var w = new ReduceRowWalker(layout, scratch);
        while (w.MoveNext())
        {
            var row = xs.Slice(w.InOffset, n);
            if (layout.InnerReduced) dev[w.OutOffset] += NormalizationKernels.SumSquaredDeviation(row, mean[w.OutOffset]);
            else
            {
                var m = mean.AsSpan(w.OutOffset, n);
                var d = dev.AsSpan(w.OutOffset, n);
                for (int j = 0; j < n; j++) { T v = row[j] - m[j]; d[j] += v * v; }
            }
        }
        T eps = T.CreateTruncating(1e-9);
        for (int i = 0; i < dev.Length; i++) dev[i] = T.One / (T.Sqrt(dev[i] / count) + eps);

        w = new ReduceRowWalker(layout, scratch);
        while (w.MoveNext())
        {
            var row = xs.Slice(w.InOffset, n);
            var yr = ys.Slice(w.InOffset, n);
            if (layout.InnerReduced)
            {
                T inv = dev[w.OutOffset];
                NormalizationKernels.Affine(row, yr, inv, -mean[w.OutOffset] * inv);
            }
            else
            {
                var m = mean.AsSpan(w.OutOffset, n);
                var s = dev.AsSpan(w.OutOffset, n);
                for (int j = 0; j < n; j++) yr[j] = (row[j] - m[j]) * s[j];
            }
        }
        FloatingBridge.Commit<T>(ys, y);
    }
}
