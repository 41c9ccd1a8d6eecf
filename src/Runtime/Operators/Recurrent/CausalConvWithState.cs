using System.Numerics;
using NetOnnx.Kernels.Recurrent;

namespace NetOnnx.Runtime.Operators.Recurrent;

/// <summary>
/// CausalConvWithState (opset 27): depthwise causal conv1d over [B, C, L] with weight [C, 1, K], optional bias and
/// a carried state of the previous K-1 inputs; optional fused SiLU ("silu"/"swish"). Outputs y and present_state.
/// </summary>
[OpKernel("CausalConvWithState", 27)]
public sealed class CausalConvWithState : OpKernel
{
    private readonly bool _silu;

    public CausalConvWithState(KernelInfo info)
    {
        string act = info.GetString("activation", "none");
        _silu = act switch
        {
            "none" => false,
            "silu" or "swish" => true,
            _ => throw info.Error($"activation '{act}' is not none, silu or swish"),
        };
    }

    public override void Compute(KernelContext ctx)
    {
        var x = ctx.Input(0);
        if (!SeqTensorData.IsSupported(x.ElementType)) throw ctx.Error($"unsupported element type {x.ElementType.OnnxName()}");
        if (SeqTensorData.UsesDouble(x.ElementType)) Run<double>(ctx);
        else Run<float>(ctx);
    }

    private void Run<T>(KernelContext ctx) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var xT = ctx.Input(0);
        var wT = ctx.Input(1);
        var bT = ctx.OptionalInput(2);
        var sT = ctx.OptionalInput(3);
        if (xT.Rank != 3) throw ctx.Error($"input must be [batch, channels, length], got {Kernels.ShapeMath.Format(xT.Shape)}");
        int batch = xT.Shape[0], ch = xT.Shape[1], len = xT.Shape[2];
        if (wT.Rank != 3 || wT.Shape[0] != ch || wT.Shape[1] != 1 || wT.Shape[2] < 1)
            throw ctx.Error($"weight must be [{ch}, 1, k], got {Kernels.ShapeMath.Format(wT.Shape)}");
        int k = wT.Shape[2];
        if (bT is not null && bT.Length != ch) throw ctx.Error($"bias must have {ch} elements, got {Kernels.ShapeMath.Format(bT.Shape)}");
        if (sT is not null && (sT.Rank != 3 || sT.Shape[0] != batch || sT.Shape[1] != ch || sT.Shape[2] != k - 1))
            throw ctx.Error($"past_state must be [{batch},{ch},{k - 1}], got {Kernels.ShapeMath.Format(sT.Shape)}");
        var y = new T[xT.Length];
        var state = new T[batch * ch * (k - 1)];
        CausalConvKernel.Run<T>(SeqTensorData.Read<T>(xT), SeqTensorData.Read<T>(wT),
            bT is null ? default : SeqTensorData.Read<T>(bT), sT is null ? default : SeqTensorData.Read<T>(sT),
            y, state, batch, ch, len, k, _silu);
        SeqTensorData.Write<T>(ctx.OutputUninitialized(0, xT.ElementType, [batch, ch, len]), y);
        if (ctx.OutputCount > 1 && ctx.IsOutputRequested(1))
            SeqTensorData.Write<T>(ctx.OutputUninitialized(1, xT.ElementType, [batch, ch, k - 1]), state);
    }
}
