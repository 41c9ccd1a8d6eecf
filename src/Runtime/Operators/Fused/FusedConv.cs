using NetOnnx.Kernels.Elementwise;
using NetOnnx.Runtime.Operators.ConvPool;

namespace NetOnnx.Runtime.Operators.Fused;

/// <summary>
/// Conv followed by an optional residual add (input 3, Z, of the output's shape) and an activation, as ORT's
/// com.microsoft FusedConv: Y = act(Conv(X, W, B) + Z). The Conv kernel applies bias, Z and the activation to
/// each output tile as its GEMM finishes it, so Y is written once.
/// Attributes: Conv's, plus `activation` (Relu, Clip, Sigmoid, HardSigmoid, HardSwish, LeakyRelu, Silu, Tanh)
/// and `activation_params` (Clip: min, max; HardSigmoid: alpha, beta; LeakyRelu: alpha).
/// </summary>
[OpKernel("FusedConv", 1, Domain = FusedDomain.Name)]
public sealed class FusedConv : Conv
{
    public FusedConv(KernelInfo info) : base(info, ParseActivation(info), acceptsResidual: true) { }

    internal static FusedActivation ParseActivation(KernelInfo info)
    {
        try { return FusedActivation.Parse(info.GetString("activation", ""), info.GetFloats("activation_params")); }
        catch (ArgumentException e) { throw info.Error(e.Message); }
    }
}
