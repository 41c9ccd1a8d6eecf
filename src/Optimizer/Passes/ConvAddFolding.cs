using NetOnnx.Runtime;

namespace NetOnnx.Optimizer.Passes;

/// <summary>
/// Folds an Add of a per-output-channel constant into the bias of the Conv before it (constant weights, Conv
/// output read only by the Add): B' = B + c.
/// </summary>
public sealed class ConvAddFolding : IGraphPass
{
    public string Name => "ConvAddFolding";
    public OptimizationLevel Level => OptimizationLevel.Extended;

    public PassResult Run(Model model) => ConvChannelFolding.Run(model, "Add");
}
