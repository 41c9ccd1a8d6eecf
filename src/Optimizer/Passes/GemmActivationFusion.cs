using NetOnnx.Optimizer.Patterns;
using NetOnnx.Runtime;
using NetOnnx.Runtime.Operators.Fused;

namespace NetOnnx.Optimizer.Passes;

/// <summary>
/// Gemm + activation -> FusedGemm (com.netonnx), the activation applied by the GEMM epilogue. The Gemm output
/// must have a single reader and not be a graph output; float only.
/// </summary>
public sealed class GemmActivationFusion : IGraphPass
{
    public string Name => "GemmActivationFusion";
    public bool EmitsInternalOps => true;
    public OptimizationLevel Level => OptimizationLevel.Extended;

    public PassResult Run(Model model)
    {
        var g = model.Graph;
        if (!g.Nodes.Any(n => FusionHelpers.IsStandard(n, "Gemm"))) return PassResult.Unchanged;
        FusionHelpers.InferTypes(model);
        var ix = new GraphEditor(g);
        int fused = 0;
        foreach (var gemm in g.Nodes)
        {
            if (!FusionHelpers.IsStandard(gemm, "Gemm") || gemm.Outputs.Count != 1) continue;
            var y = gemm.Outputs[0];
            if (FusionHelpers.TensorTypeOf(g, y)?.ElementType != DataType.Float) continue;
            if (ix.SoleReader(y) is not { } actNode || actNode.Inputs[0] != y || ActivationMatch.Of(actNode, ix) is not { } act) continue;
            var node = new Node("FusedGemm", gemm.Inputs, actNode.Outputs, gemm.Name.Length > 0 ? gemm.Name + "_fused" : "", FusedDomain.Name,
                gemm.Attributes.Values);
            ActivationMatch.SetAttributes(node, act);
            ix.ReplaceSubgraph([gemm, actNode], actNode, node);
            fused++;
        }
        if (fused == 0) return PassResult.Unchanged;
        FusionHelpers.ImportFusedDomain(model);
        return ix.Commit(detail: $"{fused} FusedGemm");
    }
}
