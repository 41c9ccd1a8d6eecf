using NetOnnx.Kernels;
using NetOnnx.Kernels.Elementwise;
using NetOnnx.Kernels.Gemm;

namespace NetOnnx.Runtime.Operators.Fused;

/// <summary>
/// Y = act(A · B + bias) for A [..., K], B [K, N] and an optional bias [N]: a transformer projection with its bias
/// Add (and activation) folded in by the optimizer. A constant B is packed once here, and the bias and activation
/// ride in the SGEMM epilogue, so Y is written once. Attributes `activation` and `activation_params` as FusedConv.
/// Float only.
/// </summary>
[OpKernel("MatMulBias", 1, Domain = FusedDomain.Name)]
public sealed class MatMulBias : OpKernel
{
    private readonly FusedActivation _activation;
    private readonly PackedB? _packed;
    private readonly int[]? _packedShape;

    public MatMulBias(KernelInfo info)
    {
        _activation = FusedConv.ParseActivation(info);
        if (info.ConstantInput(1) is { ElementType: DataType.Float, Rank: 2 } w)
        {
            _packed = Sgemm.PackB(false, w.Shape[0], w.Shape[1], w.ReadOnlySpan<float>(), w.Shape[1]);
            _packedShape = w.Shape;
            info.ReleaseConstantInput(1); // runs read the packed copy and _packedShape only
        }
    }

    public override void Compute(KernelContext ctx)
    {
        var a = ctx.Input(0);
        // A packed B is not bound at run time (see the constructor).
        var b = _packed is null ? ctx.Input(1) : null;
        var bShape = b?.Shape ?? _packedShape!;
        var bias = ctx.OptionalInput(2);
        if (a.ElementType != DataType.Float || (b is not null && b.ElementType != DataType.Float) || bias is { ElementType: not DataType.Float })
            throw ctx.Error("supports float A, B and bias only");
        if (a.Rank < 2 || bShape.Length != 2)
            throw ctx.Error($"A needs rank 2 or more and B rank 2, got {ShapeMath.Format(a.Shape)} and {ShapeMath.Format(bShape)}");
        int k = a.Shape[^1], n = bShape[1];
        if (bShape[0] != k)
            throw ctx.Error($"inner dimensions differ: A {ShapeMath.Format(a.Shape)} has {k} columns, B {ShapeMath.Format(bShape)} has {bShape[0]} rows");
        if (bias is not null && (bias.Length != n || bias.Rank == 0 || bias.Shape[^1] != n || bias.Rank > a.Rank))
            throw ctx.Error($"bias of shape {ShapeMath.Format(bias.Shape)} is not a row of {n} values broadcast over the output");
        var shape = (int[])a.Shape.Clone();
        shape[^1] = n;
        var y = ctx.OutputUninitialized(0, DataType.Float, shape);
        if (y.Length == 0) return;
        int m = y.Length / n;
        var ys = y.Span<float>();
        ReadOnlySpan<float> bs = bias is null ? default : bias.ReadOnlySpan<float>();
        if (_packed is not null)
        {
            PackedBRowSplit.Multiply(m, a.ReadOnlySpan<float>(), k, _packed, ys, n, bs, _activation, ctx.Threads);
            return;
        }
        // B is computed at run time: start C at the bias rows and accumulate onto them.
        if (!bs.IsEmpty)
            for (int i = 0; i < m; i++) bs.CopyTo(ys.Slice(i * n, n));
        Sgemm.Multiply(false, false, m, n, k, 1f, a.ReadOnlySpan<float>(), k, b!.ReadOnlySpan<float>(), n,
            bs.IsEmpty ? 0f : 1f, ys, n, default, default, 0, _activation, ctx.Threads);
    }
}
