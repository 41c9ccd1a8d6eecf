using NetOnnx.Optimizer.Patterns;
using NetOnnx.Runtime;

namespace NetOnnx.Optimizer.Passes;

/// <summary>
/// Fuses a residual Add feeding a (fused) LayerNormalization over the last axis into one SkipLayerNormalization
/// node (internal domain). When the sum is also read elsewhere (pre-norm transformers carry it to the next
/// residual), the fused node outputs it too. Both Add operands must be float with the same known shape, so the
/// Add does not broadcast. Runs after <see cref="LayerNormFusion"/>, whose nodes it extends.
/// </summary>
public sealed class SkipLayerNormFusion : IGraphPass
{
    public string Name => "SkipLayerNormFusion";
    public bool EmitsInternalOps => true;
    public OptimizationLevel Level => OptimizationLevel.Extended;

    public PassResult Run(Model model)
    {
        if (!model.Graph.Nodes.Any(IsFusedLayerNorm)) return PassResult.Unchanged;
        FusionHelpers.InferTypes(model);
        var fg = new GraphEditor(model.Graph);
        int fused = 0;
        foreach (var n in model.Graph.Nodes)
            if (IsFusedLayerNorm(n) && !fg.IsRemoved(n) && TryFuse(fg, n)) fused++;
        if (fused == 0) return PassResult.Unchanged;
        return fg.Commit(detail: $"{fused} SkipLayerNormalization");
    }

    private static bool IsFusedLayerNorm(Node n) => n.OpType == "LayerNormalization" && n.Domain == FusedOps.Domain;

    private static bool TryFuse(GraphEditor fg, Node ln)
    {
        if (ln.Outputs.Count != 1 || ln.Inputs.Count < 2) return false;
        var add = fg.Producer(ln.Inputs[0], "Add");
        if (add is null || add.Inputs.Count != 2 || add.Inputs[0].Length == 0 || add.Inputs[1].Length == 0) return false;
        var a = fg.TensorTypeOf(add.Inputs[0]);
        var b = fg.TensorTypeOf(add.Inputs[1]);
        if (a is not { ElementType: DataType.Float, Shape: { Length: >= 1 } sa } || b is not { ElementType: DataType.Float, Shape: { } sb }) return false;
        if (!SameShape(sa, sb)) return false;
        long axis = ln.GetInt("axis", -1);
        if (axis != -1 && axis != sa.Length - 1) return false;

        // The LayerNormalization must be the sum's only reader inside the pattern; other readers get output 1.
        bool sumReadElsewhere = fg.IsGraphOutput(add.Outputs[0]) || fg.Consumers(add.Outputs[0]).Any(c => c != ln);
        var inputs = new List<string> { add.Inputs[0], add.Inputs[1], ln.Inputs[1] };
        if (ln.Inputs.Count > 2 && ln.Inputs[2].Length > 0) inputs.Add(ln.Inputs[2]);
        var outputs = new List<string> { ln.Outputs[0] };
        if (sumReadElsewhere) outputs.Add(add.Outputs[0]);
        var fusedNode = new Node("SkipLayerNormalization", inputs, outputs, GeluFusion.FusedName(ln, "Skip"), FusedOps.Domain,
            [NodeAttribute.Of("epsilon", ln.GetFloat("epsilon", 1e-5f))]);
        // The fused node takes the Add's place when the sum is read elsewhere, so the sum is defined before its other readers.
        if (sumReadElsewhere) fg.ReplaceSubgraph([add, ln], add, fusedNode);
        else fg.ReplaceSubgraph([add, ln], ln, fusedNode);
        return true;
    }

    /// <summary>Equal shapes: every dimension known and equal, or the same named symbol.</summary>
    private static bool SameShape(Dim[] a, Dim[] b)
    {
        if (a.Length != b.Length) return false;
        for (int i = 0; i < a.Length; i++)
        {
            if (a[i].IsKnown ? a[i].Value != b[i].Value : a[i].Symbol is null || a[i].Symbol != b[i].Symbol) return false;
        }
        return true;
    }
}
