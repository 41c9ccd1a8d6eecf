using System.Numerics;
using NetOnnx.Kernels;
using NetOnnx.Kernels.Reduction;

namespace NetOnnx.Runtime.Operators.Reduction;

/// <summary>
/// ReduceSum, ReduceMean, ReduceMax, ReduceMin, ReduceProd, ReduceL1, ReduceL2, ReduceLogSum, ReduceLogSumExp and
/// ReduceSumSquare. Axes come from the attribute before opset 13 (ReduceSum) / 18 (the others) and from the
/// optional second input after. No axes means all axes, unless noop_with_empty_axes, in which case nothing is
/// reduced (the element map, e.g. the square of ReduceSumSquare, still applies). An empty reduction gives the
/// identity of the fold: 0 for sums, 1 for products, -inf/+inf (or the type's limit) for max/min.
/// </summary>
[OpKernel("ReduceSum", 1)]
[OpKernel("ReduceMean", 1)]
[OpKernel("ReduceMax", 1)]
[OpKernel("ReduceMin", 1)]
[OpKernel("ReduceProd", 1)]
[OpKernel("ReduceL1", 1)]
[OpKernel("ReduceL2", 1)]
[OpKernel("ReduceLogSum", 1)]
[OpKernel("ReduceLogSumExp", 1)]
[OpKernel("ReduceSumSquare", 1)]
public sealed class Reduce : OpKernel
{
    private enum Kind { Sum, Mean, Max, Min, Prod, L1, L2, LogSum, LogSumExp, SumSquare }

    private readonly Kind _kind;
    private readonly bool _keepDims;
    private readonly bool _noopWithEmptyAxes;
    private readonly bool _axesFromInput;
    private readonly long[]? _axes; // from the attribute or a constant input; null = read at run time

    public Reduce(KernelInfo info)
    {
        _kind = info.Node.OpType switch
        {
            "ReduceSum" => Kind.Sum,
            "ReduceMean" => Kind.Mean,
            "ReduceMax" => Kind.Max,
            "ReduceMin" => Kind.Min,
            "ReduceProd" => Kind.Prod,
            "ReduceL1" => Kind.L1,
            "ReduceL2" => Kind.L2,
            "ReduceLogSum" => Kind.LogSum,
            "ReduceLogSumExp" => Kind.LogSumExp,
            _ => Kind.SumSquare,
        };
        _keepDims = info.GetInt("keepdims", 1) != 0;
        _noopWithEmptyAxes = info.GetInt("noop_with_empty_axes", 0) != 0;
        _axesFromInput = info.OpsetVersion >= (_kind == Kind.Sum ? 13 : 18);
        if (_axesFromInput)
        {
            if (!info.HasInput(1)) _axes = [];
            else if (info.ConstantInput(1) is { } c) _axes = c.ToInt64Array();
        }
        else
        {
            if (info.InputCount > 1 && info.HasInput(1)) throw info.Error($"takes axes as an attribute at opset {info.OpsetVersion}, not as an input");
            _axes = info.GetInts("axes") ?? [];
        }
    }

    public override void Compute(KernelContext ctx)
    {
        var x = ctx.Input(0);
        long[] axes = _axes ?? (ctx.OptionalInput(1) is { } a ? a.ToInt64Array() : []);
        int rank = x.Rank;
        var reduce = new bool[rank];
        if (axes.Length == 0) { if (!_noopWithEmptyAxes) Array.Fill(reduce, true); }
        else
        {
            foreach (long ax in axes)
            {
                long k = ax < 0 ? ax + rank : ax;
                if (k < 0 || k >= rank) throw ctx.Error($"axis {ax} is out of range for input of rank {rank}");
                if (reduce[k]) throw ctx.Error($"axis {ax} is repeated in axes");
                reduce[k] = true;
            }
        }
        var outShape = new List<int>(rank);
        for (int i = 0; i < rank; i++)
            if (!reduce[i]) outShape.Add(x.Shape[i]);
            else if (_keepDims) outShape.Add(1);
        var layout = new ReduceLayout(x.Shape, reduce);
        var y = ctx.OutputUninitialized(0, x.ElementType, outShape.ToArray());

        switch (x.ElementType)
        {
            case DataType.Float: Run(Mem<float>(x), layout, Mem<float>(y), ctx.Threads); break;
            case DataType.Double: Run(Mem<double>(x), layout, Mem<double>(y), ctx.Threads); break;
            case DataType.Float16:
            case DataType.BFloat16:
            {
                var ys = new float[y.Length];
                Run<float>(FloatingBridge.ToArray<float>(x), layout, ys, ctx.Threads);
                FloatingBridge.Commit<float>(ys, y);
                break;
            }
            case DataType.Int32: RunInteger<int>(x, layout, y, ctx.Threads); break;
            case DataType.Int64: RunInteger<long>(x, layout, y, ctx.Threads); break;
            case DataType.UInt32: RunInteger<uint>(x, layout, y, ctx.Threads); break;
            case DataType.UInt64: RunInteger<ulong>(x, layout, y, ctx.Threads); break;
            case DataType.Int8: RunInteger<sbyte>(x, layout, y, ctx.Threads); break;
            case DataType.UInt8: RunInteger<byte>(x, layout, y, ctx.Threads); break;
            case DataType.Int16: RunInteger<short>(x, layout, y, ctx.Threads); break;
            case DataType.UInt16: RunInteger<ushort>(x, layout, y, ctx.Threads); break;
            case DataType.Bool when _kind is Kind.Max or Kind.Min:
            {
                // false < true: max is "any", min is "all"; reduce as bytes.
                var xs = x.ReadOnlySpan<bool>();
                var xb = new byte[xs.Length];
                for (int i = 0; i < xs.Length; i++) xb[i] = xs[i] ? (byte)1 : (byte)0;
                var yb = new byte[y.Length];
                if (_kind == Kind.Max) ReduceKernels.Reduce<byte, MaxReduce<byte>>(xb, layout, yb);
                else ReduceKernels.Reduce<byte, MinReduce<byte>>(xb, layout, yb);
                var ys = y.Span<bool>();
                for (int i = 0; i < ys.Length; i++) ys[i] = yb[i] != 0;
                break;
            }
            default: throw ctx.Error($"does not support element type {x.ElementType.OnnxName()}");
        }
    }

    private static Memory<T> Mem<T>(Tensor t) => new((T[])t.Buffer, 0, t.Length);

    private void Run<T>(Memory<T> xm, ReduceLayout layout, Memory<T> ym, int threads) where T : struct, IFloatingPointIeee754<T>
    {
        if (_kind == Kind.LogSumExp) { ReduceKernels.LogSumExp<T>(xm.Span, layout, ym.Span); return; }
        Fold(xm, layout, ym, threads);
        var y = ym.Span;
        switch (_kind)
        {
            case Kind.Mean:
            {
                T c = T.CreateTruncating(layout.ReduceCount);
                for (int i = 0; i < y.Length; i++) y[i] /= c;
                break;
            }
            case Kind.L2: for (int i = 0; i < y.Length; i++) y[i] = T.Sqrt(y[i]); break;
            case Kind.LogSum: for (int i = 0; i < y.Length; i++) y[i] = T.Log(y[i]); break;
        }
    }

    private void RunInteger<T>(Tensor xt, ReduceLayout layout, Tensor yt, int threads) where T : struct, INumber<T>
    {
        if (_kind is Kind.L2 or Kind.LogSum or Kind.LogSumExp)
        {
            // No integer form: compute in double and truncate back, as a cast would.
            var yd = new double[yt.Length];
            Run<double>(FloatingBridge.ToArray<double>(xt), layout, yd, threads);
            var ys = yt.Span<T>();
            for (int i = 0; i < ys.Length; i++) ys[i] = T.CreateSaturating(yd[i]);
            return;
        }
        Fold(Mem<T>(xt), layout, Mem<T>(yt), threads);
        var y = yt.Span<T>();
        if (_kind == Kind.Mean && layout.ReduceCount > 0)
        {
            T c = T.CreateTruncating(layout.ReduceCount);
            for (int i = 0; i < y.Length; i++) y[i] /= c;
        }
    }

    private void Fold<T>(ReadOnlyMemory<T> x, ReduceLayout layout, Memory<T> y, int threads) where T : struct, INumber<T>
    {
        switch (_kind)
        {
            case Kind.Sum or Kind.Mean or Kind.LogSum: ReduceKernels.Reduce<T, SumReduce<T>>(x, layout, y, threads); break;
            case Kind.SumSquare or Kind.L2: ReduceKernels.Reduce<T, SumSquareReduce<T>>(x, layout, y, threads); break;
            case Kind.L1: ReduceKernels.Reduce<T, AbsSumReduce<T>>(x, layout, y, threads); break;
            case Kind.Prod: ReduceKernels.Reduce<T, ProdReduce<T>>(x, layout, y, threads); break;
            case Kind.Max: ReduceKernels.Reduce<T, MaxReduce<T>>(x, layout, y, threads); break;
            case Kind.Min: ReduceKernels.Reduce<T, MinReduce<T>>(x, layout, y, threads); break;
            default: throw new InvalidOperationException($"{_kind} is not a plain fold");
        }
    }
}
