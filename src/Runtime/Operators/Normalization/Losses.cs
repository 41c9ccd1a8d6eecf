using System.Numerics;
using NetOnnx.Kernels;
using NetOnnx.Kernels.Reduction;
using NetOnnx.Runtime.Operators.Reduction;

namespace NetOnnx.Runtime.Operators.Normalization;

/// <summary>
/// The negative log-likelihood shared by NegativeLogLikelihoodLoss and SoftmaxCrossEntropyLoss: input
/// [N, C, D1...] of log-probabilities, target [N, D1...] of class indices, optional weight [C].
/// loss = -input[n, target, d] * weight[target]; targets equal to ignore_index contribute 0 loss and 0 weight.
/// "mean" divides the sum by the sum of the applied weights.
/// </summary>
internal static class NllLoss
{
    public enum Reduction { None, Sum, Mean }

    public static Reduction ParseReduction(KernelInfo info)
    {
        string r = info.GetString("reduction", "mean");
        return r switch
        {
            "none" => Reduction.None,
            "sum" => Reduction.Sum,
            "mean" => Reduction.Mean,
            _ => throw info.Error($"reduction '{r}' is not one of none, sum, mean"),
        };
    }

    public static void Compute<T>(KernelContext ctx, ReadOnlySpan<T> logp, int[] inShape, Tensor target, Tensor? weight,
        long? ignoreIndex, Reduction reduction, DataType outType) where T : struct, IFloatingPointIeee754<T>
    {
        if (inShape.Length < 2) throw ctx.Error($"input has shape {ShapeMath.Format(inShape)}, expected [N, C, ...]");
        int n = inShape[0], c = inShape[1], d = ShapeMath.SizeFrom(inShape, 2);
        var expected = new int[inShape.Length - 1];
        expected[0] = n;
        for (int i = 2; i < inShape.Length; i++) expected[i - 1] = inShape[i];
        if (!ShapeMath.SameShape(target.Shape, expected))
            throw ctx.Error($"target has shape {ShapeMath.Format(target.Shape)}, expected {ShapeMath.Format(expected)}");
        if (target.ElementType is not (DataType.Int32 or DataType.Int64))
            throw ctx.Error($"target has element type {target.ElementType.OnnxName()}, expected int32 or int64");
        var t = target.ToInt64Array();
        T[]? w = weight is null ? null : NormalizationHelpers.Param<T>(ctx, weight, c, "weight");

        var loss = new T[n * d];
        T weightSum = T.Zero;
        for (int b = 0; b < n; b++)
            for (int j = 0; j < d; j++)
            {
                int i = b * d + j;
                long cls = t[i];
                if (ignoreIndex is { } ii && cls == ii) continue;
                if (cls < 0 || cls >= c) throw ctx.Error($"target value {cls} at position {i} is outside [0, {c})");
                T wi = w is null ? T.One : w[cls];
                loss[i] = -logp[(b * c + (int)cls) * d + j] * wi;
                weightSum += wi;
            }

        if (reduction == Reduction.None)
        {
            FloatingBridge.Commit<T>(loss, ctx.OutputUninitialized(0, outType, (int[])target.Shape.Clone()));
            return;
        }
        T sum = ReduceKernels.ReduceRow<T, SumReduce<T>>(loss);
        if (reduction == Reduction.Mean) sum /= weightSum;
        FloatingBridge.Commit<T>([sum], ctx.OutputUninitialized(0, outType, []));
    }
}

/// <summary>NegativeLogLikelihoodLoss (opset 12+).</summary>
[OpKernel("NegativeLogLikelihoodLoss", 12)]
public sealed class NegativeLogLikelihoodLoss : OpKernel
{
    private readonly NllLoss.Reduction _reduction;
    private readonly long? _ignoreIndex;

    public NegativeLogLikelihoodLoss(KernelInfo info)
    {
        _reduction = NllLoss.ParseReduction(info);
        _ignoreIndex = info.Node.HasAttr("ignore_index") ? info.GetInt("ignore_index", 0) : null;
    }

    public override void Compute(KernelContext ctx)
    {
        var x = ctx.Input(0);
        if (NormalizationHelpers.UsesDouble(ctx, x))
            NllLoss.Compute(ctx, FloatingBridge.Read<double>(x), x.Shape, ctx.Input(1), ctx.OptionalInput(2), _ignoreIndex, _reduction, x.ElementType);
        else
            NllLoss.Compute(ctx, FloatingBridge.Read<float>(x), x.Shape, ctx.Input(1), ctx.OptionalInput(2), _ignoreIndex, _reduction, x.ElementType);
    }
}

/// <summary>SoftmaxCrossEntropyLoss (opset 12+): LogSoftmax over the class axis, then the NLL; optional log_prob output.</summary>
[OpKernel("SoftmaxCrossEntropyLoss", 12)]
public sealed class SoftmaxCrossEntropyLoss : OpKernel
{
    private readonly NllLoss.Reduction _reduction;
    private readonly long? _ignoreIndex;

    public SoftmaxCrossEntropyLoss(KernelInfo info)
    {
        _reduction = NllLoss.ParseReduction(info);
        _ignoreIndex = info.Node.HasAttr("ignore_index") ? info.GetInt("ignore_index", 0) : null;
    }

    public override void Compute(KernelContext ctx)
    {
        var x = ctx.Input(0);
        if (NormalizationHelpers.UsesDouble(ctx, x)) Run<double>(ctx, x); else Run<float>(ctx, x);
    }

    private void Run<T>(KernelContext ctx, Tensor x) where T : struct, IFloatingPointIeee754<T>
    {
        if (x.Rank < 2) throw ctx.Error($"scores have shape {ShapeMath.Format(x.Shape)}, expected [N, C, ...]");
        int n = x.Shape[0], c = x.Shape[1], d = ShapeMath.SizeFrom(x.Shape, 2);
        var logp = new T[x.Length];
        SoftmaxKernels.Softmax(FloatingBridge.Read<T>(x), logp, n, c, d, log: true);
        NllLoss.Compute<T>(ctx, logp, x.Shape, ctx.Input(1), ctx.OptionalInput(2), _ignoreIndex, _reduction, x.ElementType);
        if (ctx.IsOutputRequested(1))
            FloatingBridge.Commit<T>(logp, ctx.OutputUninitialized(1, x.ElementType, (int[])x.Shape.Clone()));
    }
}
