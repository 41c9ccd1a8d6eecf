using System.Numerics;
using NetOnnx.Kernels;
using NetOnnx.Kernels.Reduction;
using NetOnnx.Runtime.Operators.Reduction;

namespace NetOnnx.Runtime.Operators.Normalization;

/// <summary>
/// LpNormalization: x divided by its L1 (p=1) or L2 (p=2, default) norm along axis (default -1). A vector whose
/// norm is 0 stays 0 instead of becoming NaN.
/// </summary>
[OpKernel("LpNormalization", 1)]
public sealed class LpNormalization : OpKernel
{
    private readonly long _axis;
    private readonly int _p;

    public LpNormalization(KernelInfo info)
    {
        _axis = info.GetInt("axis", -1);
        long p = info.GetInt("p", 2);
        if (p is not (1 or 2)) throw info.Error($"p must be 1 or 2, got {p}");
        _p = (int)p;
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
        int outer = ShapeMath.SizeTo(x.Shape, ai), n = x.Shape[ai], inner = ShapeMath.SizeFrom(x.Shape, ai + 1);
        var xs = FloatingBridge.Read<T>(x);
        var y = ctx.OutputUninitialized(0, x.ElementType, (int[])x.Shape.Clone());
        var ys = FloatingBridge.Target<T>(y);
        var norms = new T[inner];
        int block = n * inner;
        for (int o = 0; o < outer; o++)
        {
            var xb = xs.Slice(o * block, block);
            var yb = ys.Slice(o * block, block);
            if (inner == 1)
            {
                T norm = _p == 1 ? ReduceKernels.ReduceRow<T, AbsSumReduce<T>>(xb) : T.Sqrt(ReduceKernels.ReduceRow<T, SumSquareReduce<T>>(xb));
                T s = norm == T.Zero ? T.Zero : T.One / norm;
                for (int k = 0; k < n; k++) yb[k] = xb[k] * s;
                continue;
            }
            Array.Clear(norms);
            for (int k = 0; k < n; k++)
            {
                if (_p == 1) ReduceKernels.AccumulateRow<T, AbsSumReduce<T>>(xb.Slice(k * inner, inner), norms);
                else ReduceKernels.AccumulateRow<T, SumSquareReduce<T>>(xb.Slice(k * inner, inner), norms);
            }
            for (int j = 0; j < inner; j++)
            {
                T norm = _p == 1 ? norms[j] : T.Sqrt(norms[j]);
                norms[j] = norm == T.Zero ? T.Zero : T.One / norm;
            }
            for (int k = 0; k < n; k++)
            {
                var xr = xb.Slice(k * inner, inner);
                var yr = yb.Slice(k * inner, inner);
                for (int j = 0; j < inner; j++) yr[j] = xr[j] * norms[j];
            }
        }
        FloatingBridge.Commit<T>(ys, y);
    }
}
