using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using NetOnnx.Kernels;
using NetOnnx.Kernels.Normalization;
using NetOnnx.Runtime.Operators.Normalization;

namespace NetOnnx.Runtime.Operators.Transformer;

/// <summary>
/// The residual add and layer normalisation the optimizer fuses: s = input + skip (same shape), then each row
/// of the last dimension is normalised, scaled by gamma and shifted by beta (both broadcast to that dimension).
/// Inputs: input, skip, gamma, beta (optional). Outputs: the normalised result and, optionally, s (for graphs
/// that also carry the residual sum onward). Attribute epsilon. Float only.
/// </summary>
[OpKernel("SkipLayerNormalization", 1, Domain = FusedOps.Domain)]
public sealed class SkipLayerNormalization : OpKernel
{
    private readonly float _epsilon;

    public SkipLayerNormalization(KernelInfo info) => _epsilon = info.GetFloat("epsilon", 1e-5f);

    public override void Compute(KernelContext ctx)
    {
        var x = ctx.Input(0);
        var skip = ctx.Input(1);
        if (x.ElementType != DataType.Float || skip.ElementType != DataType.Float)
            throw ctx.Error($"supports float inputs, got {x.ElementType.OnnxName()} and {skip.ElementType.OnnxName()}");
        if (!ShapeMath.SameShape(x.Shape, skip.Shape))
            throw ctx.Error($"input {ShapeMath.Format(x.Shape)} and skip {ShapeMath.Format(skip.Shape)} must have the same shape");
        if (x.Rank == 0) throw ctx.Error("input must have rank 1 or more");
        int inner = x.Shape[^1], outer = inner == 0 ? 0 : x.Length / inner;
        var normShape = x.Shape.AsSpan(x.Rank - 1);
        var gamma = NormalizationHelpers.Expand<float>(ctx, ctx.Input(2), normShape, "gamma");
        var beta = ctx.OptionalInput(3) is { } bt ? NormalizationHelpers.Expand<float>(ctx, bt, normShape, "beta") : [];
        var y = ctx.OutputUninitialized(0, DataType.Float, (int[])x.Shape.Clone());
        var sum = ctx.IsOutputRequested(1) ? ctx.OutputUninitialized(1, DataType.Float, (int[])x.Shape.Clone()) : null;
        var xa = (float[])x.Buffer; var sa = (float[])skip.Buffer; var ya = (float[])y.Buffer;
        var suma = sum?.Buffer as float[];
        float eps = _epsilon;
        NormalizationHelpers.ForRows(outer, inner, ctx.Threads, (s, e) =>
        {
            // Without a sum output, the row sum lives in the output row itself until it is normalised in place.
            for (int o = s; o < e; o++)
            {
                var target = (suma ?? ya).AsSpan(o * inner, inner);
                float mean = AddAndSum(xa.AsSpan(o * inner, inner), sa.AsSpan(o * inner, inner), target) / inner;
                float variance = NormalizationKernels.SumSquaredDeviation<float>(target, mean) / inner;
                float inv = 1f / MathF.Sqrt(variance + eps);
                NormalizationKernels.ScaleShift<float>(target, ya.AsSpan(o * inner, inner), mean, inv, gamma, beta);
            }
        });
    }

    /// <summary>s = a + b; returns the sum of s.</summary>
    private static float AddAndSum(ReadOnlySpan<float> a, ReadOnlySpan<float> b, Span<float> s)
    {
        int i = 0, n = s.Length;
        float total = 0;
        ref float a0 = ref MemoryMarshal.GetReference(a);
        ref float b0 = ref MemoryMarshal.GetReference(b);
        ref float s0 = ref MemoryMarshal.GetReference(s);
        if (Vector256.IsHardwareAccelerated && n >= 8)
        {
            var acc = Vector256<float>.Zero;
            for (; i <= n - 8; i += 8)
            {
                var v = Vector256.LoadUnsafe(ref a0, (nuint)i) + Vector256.LoadUnsafe(ref b0, (nuint)i);
                v.StoreUnsafe(ref s0, (nuint)i);
                acc += v;
            }
            total = Vector256.Sum(acc);
        }
        for (; i < n; i++) { float v = Unsafe.Add(ref a0, i) + Unsafe.Add(ref b0, i); Unsafe.Add(ref s0, i) = v; total += v; }
        return total;
    }
}
