using System.Numerics;
using NetOnnx.Kernels;
using NetOnnx.Kernels.Reduction;
using NetOnnx.Kernels.Threading;

namespace NetOnnx.Runtime.Operators.Reduction;

/// <summary>
/// Shared axis handling of Softmax, LogSoftmax and Hardmax. Before opset 13 the input is flattened to 2-D at
/// axis (default 1) and the operation runs over each row of the flattened trailing dimensions; from opset 13
/// it runs over the single axis (default -1).
/// </summary>
public abstract class SoftmaxLike : OpKernel
{
    private readonly long _axis;
    private readonly bool _flatten;

    protected SoftmaxLike(KernelInfo info)
    {
        _flatten = info.OpsetVersion < 13;
        _axis = info.GetInt("axis", _flatten ? 1 : -1);
    }

    /// <summary>The [outer, n, inner] view of the operation for an input shape.</summary>
    protected (int Outer, int N, int Inner) View(KernelContext ctx, int[] shape)
    {
        int rank = shape.Length;
        long a = _axis < 0 ? _axis + rank : _axis;
        if (_flatten)
        {
            // axis == rank is allowed when flattening: every dimension goes to the outer side.
            if (a < 0 || a > rank) throw ctx.Error($"axis {_axis} is out of range for input of rank {rank}");
            return (ShapeMath.SizeTo(shape, (int)a), ShapeMath.SizeFrom(shape, (int)a), 1);
        }
        if (rank == 0) return (1, 1, 1);
        if (a < 0 || a >= rank) throw ctx.Error($"axis {_axis} is out of range for input of rank {rank}");
        int ai = (int)a;
        return (ShapeMath.SizeTo(shape, ai), shape[ai], ShapeMath.SizeFrom(shape, ai + 1));
    }
}

/// <summary>Softmax and LogSoftmax: exp(x - max) / sum, shifted by the maximum for stability.</summary>
[OpKernel("Softmax", 1)]
[OpKernel("LogSoftmax", 1)]
public sealed class Softmax : SoftmaxLike
{
    private readonly bool _log;

    public Softmax(KernelInfo info) : base(info) => _log = info.Node.OpType == "LogSoftmax";

    public override void Compute(KernelContext ctx)
    {
        var x = ctx.Input(0);
        var (outer, n, inner) = View(ctx, x.Shape);
        var y = ctx.OutputUninitialized(0, x.ElementType, (int[])x.Shape.Clone());
        switch (x.ElementType)
        {
            case DataType.Float: Run((float[])x.Buffer, (float[])y.Buffer, outer, n, inner, ctx.Threads); break;
            case DataType.Double: Run((double[])x.Buffer, (double[])y.Buffer, outer, n, inner, ctx.Threads); break;
            case DataType.Float16:
            case DataType.BFloat16:
            {
                var ys = new float[y.Length];
                SoftmaxKernels.Softmax(FloatingBridge.Read<float>(x), ys, outer, n, inner, _log);
                FloatingBridge.Commit<float>(ys, y);
                break;
            }
            default: throw ctx.Error($"does not support element type {x.ElementType.OnnxName()}");
        }
    }

    /// <summary>Runs the kernel over slabs of the outer dimension on up to <paramref name="threads"/> threads.</summary>
    private void Run<T>(T[] x, T[] y, int outer, int n, int inner, int threads) where T : struct, IFloatingPointIeee754<T>
    {
        int block = n * inner;
        int chunks = Math.Min(ReduceKernels.Chunks((long)outer * block, threads), Math.Max(outer, 1));
        if (chunks <= 1)
        {
            SoftmaxKernels.Softmax<T>(x.AsSpan(0, outer * block), y.AsSpan(0, outer * block), outer, n, inner, _log);
            return;
        }
        bool log = _log;
        IntraOpPool.For(chunks, chunks, c =>
        {
            int s = (int)((long)outer * c / chunks), e = (int)((long)outer * (c + 1) / chunks);
            SoftmaxKernels.Softmax<T>(x.AsSpan(s * block, (e - s) * block), y.AsSpan(s * block, (e - s) * block), e - s, n, inner, log);
        });
    }
}

/// <summary>Hardmax: 1 at the first maximum along the axis, 0 elsewhere.</summary>
[OpKernel("Hardmax", 1)]
public sealed class Hardmax : SoftmaxLike
{
    public Hardmax(KernelInfo info) : base(info) { }

    public override void Compute(KernelContext ctx)
    {
        var x = ctx.Input(0);
        if (!FloatingBridge.IsFloating(x.ElementType)) throw ctx.Error($"does not support element type {x.ElementType.OnnxName()}");
        var (outer, n, inner) = View(ctx, x.Shape);
        var y = ctx.Output(0, x.ElementType, (int[])x.Shape.Clone());
        if (y.Length == 0) return;
        var idx = new long[outer * inner];
        if (x.ElementType == DataType.Double) SoftmaxKernels.ArgExtreme(x.ReadOnlySpan<double>(), idx, outer, n, inner, max: true, last: false);
        else SoftmaxKernels.ArgExtreme(FloatingBridge.Read<float>(x), idx, outer, n, inner, max: true, last: false);
        for (int o = 0; o < outer; o++)
            for (int j = 0; j < inner; j++)
                FloatingBridge.SetOne(y, (o * n + (int)idx[o * inner + j]) * inner + j);
    }
}

/// <summary>ArgMax and ArgMin: int64 indices along an axis; keepdims and (opset 12+) select_last_index.</summary>
[OpKernel("ArgMax", 1)]
[OpKernel("ArgMin", 1)]
public sealed class ArgExtreme : OpKernel
{
    private readonly bool _max;
    private readonly long _axis;
    private readonly bool _keepDims;
    private readonly bool _last;

    public ArgExtreme(KernelInfo info)
    {
        _max = info.Node.OpType == "ArgMax";
        _axis = info.GetInt("axis", 0);
        _keepDims = info.GetInt("keepdims", 1) != 0;
        _last = info.GetInt("select_last_index", 0) != 0;
    }

    public override void Compute(KernelContext ctx)
    {
        var x = ctx.Input(0);
        int rank = x.Rank;
        long a = _axis < 0 ? _axis + rank : _axis;
        if (a < 0 || a >= Math.Max(rank, 1)) throw ctx.Error($"axis {_axis} is out of range for input of rank {rank}");
        int ai = (int)a;
        var shape = x.Shape;
        int n = rank == 0 ? 1 : shape[ai];
        int outer = rank == 0 ? 1 : ShapeMath.SizeTo(shape, ai), inner = rank == 0 ? 1 : ShapeMath.SizeFrom(shape, ai + 1);
        if (n == 0 && (long)outer * inner > 0)
            throw ctx.Error($"cannot take the arg{(_max ? "max" : "min")} over the empty axis {ai}");
        var outShape = new List<int>(rank);
        for (int i = 0; i < rank; i++)
            if (i != ai) outShape.Add(shape[i]);
            else if (_keepDims) outShape.Add(1);
        var y = ctx.OutputUninitialized(0, DataType.Int64, outShape.ToArray());
        var ys = y.Span<long>();
        switch (x.ElementType)
        {
            case DataType.Float: SoftmaxKernels.ArgExtreme(x.ReadOnlySpan<float>(), ys, outer, n, inner, _max, _last); break;
            case DataType.Double: SoftmaxKernels.ArgExtreme(x.ReadOnlySpan<double>(), ys, outer, n, inner, _max, _last); break;
            case DataType.Float16: SoftmaxKernels.ArgExtreme(x.ReadOnlySpan<Half>(), ys, outer, n, inner, _max, _last); break;
            case DataType.BFloat16: SoftmaxKernels.ArgExtreme(FloatingBridge.Read<float>(x), ys, outer, n, inner, _max, _last); break;
            case DataType.Int8: SoftmaxKernels.ArgExtreme(x.ReadOnlySpan<sbyte>(), ys, outer, n, inner, _max, _last); break;
            case DataType.UInt8: SoftmaxKernels.ArgExtreme(x.ReadOnlySpan<byte>(), ys, outer, n, inner, _max, _last); break;
            case DataType.Int16: SoftmaxKernels.ArgExtreme(x.ReadOnlySpan<short>(), ys, outer, n, inner, _max, _last); break;
            case DataType.UInt16: SoftmaxKernels.ArgExtreme(x.ReadOnlySpan<ushort>(), ys, outer, n, inner, _max, _last); break;
            case DataType.Int32: SoftmaxKernels.ArgExtreme(x.ReadOnlySpan<int>(), ys, outer, n, inner, _max, _last); break;
            case DataType.UInt32: SoftmaxKernels.ArgExtreme(x.ReadOnlySpan<uint>(), ys, outer, n, inner, _max, _last); break;
            case DataType.Int64: SoftmaxKernels.ArgExtreme(x.ReadOnlySpan<long>(), ys, outer, n, inner, _max, _last); break;
            case DataType.UInt64: SoftmaxKernels.ArgExtreme(x.ReadOnlySpan<ulong>(), ys, outer, n, inner, _max, _last); break;
            default: throw ctx.Error($"does not support element type {x.ElementType.OnnxName()}");
        }
    }
}
