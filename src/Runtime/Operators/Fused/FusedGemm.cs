using NetOnnx.Runtime.Operators.Linalg;

namespace NetOnnx.Runtime.Operators.Fused;

/// <summary>
/// Gemm followed by an activation: Y = act(alpha*op(A)*op(B) + beta*C), the activation applied by the SGEMM
/// epilogue to each finished tile. Attributes: Gemm's plus `activation` and `activation_params` as FusedConv.
/// </summary>
[OpKernel("FusedGemm", 1, Domain = FusedDomain.Name)]
public sealed class FusedGemm : Gemm
{
    public FusedGemm(KernelInfo info) : base(info, FusedConv.ParseActivation(info)) { }
}
