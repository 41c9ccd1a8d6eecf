using NetOnnx.Kernels;
using NetOnnx.Kernels.Gemm;
using NetOnnx.Runtime.Operators.Linalg;

namespace NetOnnx.Runtime.Operators.Fused;

/// <summary>
/// MatMul whose operands may be read transposed in their last two dimensions, as the optimizer folds a
/// Transpose into it: Y = alpha * op(A) · op(B), batched with numpy broadcasting. SGEMM reads the transposed
/// layout directly, so the Transpose's copy disappears. Attributes transA, transB (0/1), alpha (1). Float,
/// operands of rank 2 or more.
/// </summary>
[OpKernel("FusedMatMul", 1, Domain = FusedDomain.Name)]
public sealed class FusedMatMul : OpKernel
{
    private readonly bool _transA, _transB;
    private readonly float _alpha;

    public FusedMatMul(KernelInfo info)
    {
        _transA = info.GetInt("transA", 0) != 0;
        _transB = info.GetInt("transB", 0) != 0;
        _alpha = info.GetFloat("alpha", 1f);
    }

    public override void Compute(KernelContext ctx)
    {
        var a = ctx.Input(0);
        var b = ctx.Input(1);
        if (a.ElementType != DataType.Float || b.ElementType != DataType.Float)
            throw ctx.Error($"supports float operands, got {a.ElementType.OnnxName()} and {b.ElementType.OnnxName()}");
        if (a.Rank < 2 || b.Rank < 2)
            throw ctx.Error($"operands need rank 2 or more, got {ShapeMath.Format(a.Shape)} and {ShapeMath.Format(b.Shape)}");
        MatMulPlan plan;
        // The plan sees the operands as they are read (transposed), and may not merge A's batches into one tall
        // product when A is read transposed: its batches are then not consecutive rows.
        try { plan = MatMulPlan.Create(Logical(a.Shape, _transA), Logical(b.Shape, _transB), mergeSharedB: !_transA); }
        catch (ArgumentException e) { throw ctx.Error(e.Message); }
        var y = ctx.OutputUninitialized(0, DataType.Float, plan.OutShape);
        if (y.Length == 0) return;
        int m = plan.M, n = plan.N, k = plan.K;
        var aa = (float[])a.Buffer; var ba = (float[])b.Buffer; var ya = (float[])y.Buffer;
        int lda = _transA ? m : k, ldb = _transB ? k : n;
        for (int i = 0; i < plan.Count; i++)
            Sgemm.Multiply(_transA, _transB, m, n, k, _alpha, aa.AsSpan(plan.AOffsets[i]), lda, ba.AsSpan(plan.BOffsets[i]), ldb,
                0f, ya.AsSpan(i * m * n, m * n), n, ctx.Threads);
    }

    private static int[] Logical(int[] shape, bool trans)
    {
        var s = (int[])shape.Clone();
        if (trans) (s[^1], s[^2]) = (s[^2], s[^1]);
        return s;
    }
}
