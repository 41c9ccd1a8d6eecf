using NetOnnx.Kernels;
using NetOnnx.Kernels.Sparse;
using NetOnnx.Runtime.Operators.Fused;

namespace NetOnnx.Runtime.Operators.Sparse;

/// <summary>
/// SparseMatMul (com.netonnx): A [..., K] float times a constant, mostly-zero float B [K, N], plus an optional
/// float bias [N]; the optimizer picks it for pruned MatMul weights (see SparseMatMulSelection). B is
/// compressed once at load and only its non-zeros are multiplied.
/// </summary>
[OpKernel("SparseMatMul", 1, Domain = FusedDomain.Name)]
public sealed class SparseMatMul : OpKernel
{
    private readonly SparseWeights _w;
    private readonly float[] _bias = [];

    public SparseMatMul(KernelInfo info)
    {
        if (info.ConstantInput(1) is not { ElementType: DataType.Float, Rank: 2 } b || b.Length == 0)
            throw info.Error("B must be a constant non-empty 2-D float tensor");
        _w = SparseWeights.FromDense(b.ReadOnlySpan<float>(), b.Shape[0], b.Shape[1]);
        if (info.HasInput(2))
        {
            if (info.ConstantInput(2) is not { ElementType: DataType.Float, Rank: 1 } bias || bias.Length != b.Shape[1])
                throw info.Error($"bias must be a constant float [{b.Shape[1]}]");
            _bias = bias.ReadOnlySpan<float>().ToArray();
        }
    }

    public override void Compute(KernelContext ctx)
    {
        var x = ctx.Input(0);
        if (x.ElementType != DataType.Float) throw ctx.Error($"A must be float, got {x.ElementType.OnnxName()}");
        if (x.Rank < 1 || x.Shape[^1] != _w.K) throw ctx.Error($"A's last dimension must be {_w.K}, A is {ShapeMath.Format(x.Shape)}");
        var shape = x.Shape.ToArray();
        shape[^1] = _w.N;
        var y = ctx.OutputUninitialized(0, DataType.Float, shape);
        SparseGemm.Multiply(x.ReadOnlySpan<float>(), x.Length / _w.K, _w, _bias, y.Span<float>(), ctx.Threads);
    }
}
