using NetOnnx.Optimizer.Patterns;
using NetOnnx.Runtime;
using NetOnnx.Runtime.Operators.Fused;

namespace NetOnnx.Optimizer.Passes;

/// <summary>
/// Conv [+ Add of a same-shaped residual] [+ activation] -> one FusedConv (com.netonnx) that applies the
/// residual and activation while writing its output. Each absorbed intermediate must have a single reader
/// and not be a graph output; float only (the fused epilogue is float).
/// </summary>
public sealed class ConvActivationFusion : IGraphPass
{
    public string Name => "ConvActivationFusion";
    public bool EmitsInternalOps => true;
    public OptimizationLevel Level => OptimizationLevel.Extended;

    public PassResult Run(Model model)
    {
        var g = model.Graph;
        if (!g.Nodes.Any(n => FusionHelpers.IsStandard(n, "Conv"))) return PassResult.Unchanged;
        FusionHelpers.InferTypes(model);
        var ix = new GraphEditor(g);

        int fused = 0;
        foreach (var conv in g.Nodes)
        {
            if (!FusionHelpers.IsStandard(conv, "Conv") || conv.Outputs.Count != 1 || ix.IsRemoved(conv)) continue;
            var convType = FusionHelpers.TensorTypeOf(g, conv.Outputs[0]);
            // Without an inferred type (e.g. inside an If body whose input shapes are unknown), Conv's output has its
            // weights' element type, since Conv's X and W share one type.
            var elementType = convType?.ElementType ?? ix.ConstantValue(conv.Inputs[1])?.ElementType;
            if (elementType != DataType.Float) continue;
            string current = conv.Outputs[0];
            Node last = conv;
            string? residual = null;
            var absorbed = new List<Node>();

            // Optional residual Add: the other operand must have exactly the Conv output's shape (no broadcast).
            if (ix.SoleReader(current) is { } add && FusionHelpers.IsStandard(add, "Add")
                && add.Inputs.Count == 2 && add.Outputs.Count == 1 && add.Inputs[0] != add.Inputs[1])
            {
                var other = add.Inputs[0] == current ? add.Inputs[1] : add.Inputs[0];
                if (FusionHelpers.SameShape(convType, FusionHelpers.TensorTypeOf(g, other)))
                {
                    residual = other;
                    absorbed.Add(add);
                    current = add.Outputs[0];
                    last = add;
                }
            }
            (string, float[])? act = null;
            if (ix.SoleReader(current) is { } actNode && actNode.Inputs[0] == current
                && ActivationMatch.Of(actNode, ix) is { } a)
            {
                act = a;
                absorbed.Add(actNode);
                current = actNode.Outputs[0];
                last = actNode;
            }
            if (absorbed.Count == 0 || absorbed.Any(ix.IsRemoved)) continue;

            var inputs = new List<string>(conv.Inputs);
            while (inputs.Count < 3) inputs.Add("");
            if (residual is not null) inputs.Add(residual);
            var node = new Node("FusedConv", inputs, [current], conv.Name.Length > 0 ? conv.Name + "_fused" : "", FusedDomain.Name,
                conv.Attributes.Values);
            if (act is { } av) ActivationMatch.SetAttributes(node, av);
            // The fused node takes the place of the last absorbed node, after the residual's producer.
            ix.ReplaceSubgraph([conv, .. absorbed], last, node);
            fused++;
        }
        if (fused == 0) return PassResult.Unchanged;
        FusionHelpers.ImportFusedDomain(model);
        return ix.Commit(detail: $"{fused} FusedConv");
    }
}
