using NetOnnx.Optimizer.Patterns;
using NetOnnx.Runtime;

namespace NetOnnx.Optimizer.Passes;

/// <summary>
/// Fuses the scaled-dot-product attention core into one ScaledDotProductAttention node (internal domain):
/// MatMul(Q, Kt) -> [Div or Mul by a scalar constant] -> [Add mask] -> [Where(bool mask, scalar fill, scores)
/// or Where(bool mask, scores, scalar fill)] -> Softmax(last axis) -> MatMul(·, V). Every inner value must be
/// read only by the chain; Q, Kt and V must be float with known ranks of 2 or more, and masks must not
/// broadcast the score block to a larger one (checked where shapes are known, and by the kernel at run time).
/// </summary>
public sealed class AttentionFusion : IGraphPass
{
    public string Name => "AttentionFusion";
    public bool EmitsInternalOps => true;
    public OptimizationLevel Level => OptimizationLevel.Extended;

    public PassResult Run(Model model)
    {
        if (!model.Graph.Nodes.Any(n => n.OpType == "Softmax")) return PassResult.Unchanged;
        FusionHelpers.InferTypes(model);
        var fg = new GraphEditor(model.Graph);
        int fused = 0;
        foreach (var n in model.Graph.Nodes)
            if (n.OpType == "Softmax" && n.Domain.Length == 0 && !fg.IsRemoved(n) && TryFuse(fg, model, n)) fused++;
        if (fused == 0) return PassResult.Unchanged;
        FusionHelpers.ImportFusedDomain(model);
        return fg.Commit(detail: $"{fused} ScaledDotProductAttention");
    }

    private static bool TryFuse(GraphEditor fg, Model model, Node softmax)
    {
        var pv = fg.SoleReader(softmax.Outputs[0], "MatMul");
        if (pv is null || pv.Inputs[0] != softmax.Outputs[0] || pv.Inputs[1] == softmax.Outputs[0]) return false;
        var st = fg.TensorTypeOf(softmax.Inputs[0]);
        int? scoreRank = st?.Shape?.Length;
        long axis = softmax.GetInt("axis", model.OpsetFor("") < 13 ? 1 : -1);
        // Before opset 13 Softmax flattens from axis on; at the last axis that is the same row-wise softmax.
        if (axis != -1 && (scoreRank is null || axis != scoreRank - 1)) return false;

        var pattern = new List<Node> { softmax, pv };
        string scores = softmax.Inputs[0];
        string? keepMask = null;
        float fill = float.NegativeInfinity;
        bool fillWhereTrue = true;
        if (fg.Producer(scores, "Where") is { } where)
        {
            if (fg.ScalarConstant(where.Inputs[1], out fill)) { fillWhereTrue = true; scores = where.Inputs[2]; }
            else if (fg.ScalarConstant(where.Inputs[2], out fill)) { fillWhereTrue = false; scores = where.Inputs[1]; }
            else return false;
            keepMask = where.Inputs[0];
            if (fg.TensorTypeOf(keepMask)?.ElementType != DataType.Bool) return false;
            pattern.Add(where);
        }
        string? addMask = null;
        if (fg.Producer(scores, "Add") is { } add && add.Inputs.Count == 2)
        {
            // The score operand is the one the scaled product makes; the other is the mask.
            int side = ScoreChain(fg, add.Inputs[0]) is not null ? 0 : ScoreChain(fg, add.Inputs[1]) is not null ? 1 : -1;
            if (side < 0) return false;
            addMask = add.Inputs[1 - side];
            scores = add.Inputs[side];
            if (fg.TensorTypeOf(addMask)?.ElementType != DataType.Float) return false;
            pattern.Add(add);
        }
        if (ScoreChain(fg, scores) is not { } chain) return false;
        pattern.AddRange(chain.Nodes);

        string q = chain.QK.Inputs[0], kt = chain.QK.Inputs[1], v = pv.Inputs[1];
        foreach (var name in new[] { q, kt, v })
            if (fg.TensorTypeOf(name) is not { ElementType: DataType.Float, Shape.Length: >= 2 }) return false;
        var qs = fg.TensorTypeOf(q)!.Shape!; var ks = fg.TensorTypeOf(kt)!.Shape!;
        foreach (var mask in new[] { addMask, keepMask })
            if (mask is not null && !MaskFits(fg.TensorTypeOf(mask), qs[^2], ks[^1])) return false;
        if (!fg.IsSelfContained(pattern, pv)) return false;

        var attrs = new List<NodeAttribute> { NodeAttribute.Of("scale", chain.Scale) };
        if (keepMask is not null) { attrs.Add(NodeAttribute.Of("fill", fill)); attrs.Add(NodeAttribute.Of("fill_where_true", fillWhereTrue ? 1L : 0L)); }
        var inputs = new List<string> { q, kt, v, addMask ?? "" };
        if (keepMask is not null) inputs.Add(keepMask);
        while (inputs[^1].Length == 0) inputs.RemoveAt(inputs.Count - 1);
        var fused = new Node("ScaledDotProductAttention", inputs, [pv.Outputs[0]], GeluFusion.FusedName(pv, "Attention"), FusedOps.Domain, attrs);
        fg.ReplaceSubgraph(pattern, pv, fused);
        return true;
    }

    private sealed record Chain(Node QK, List<Node> Nodes, float Scale);

    /// <summary>MatMul(Q, Kt) optionally divided or multiplied by a scalar constant, each value read once.</summary>
    private static Chain? ScoreChain(GraphEditor fg, string name)
    {
        if (fg.Producer(name, "MatMul") is { } direct) return new Chain(direct, [direct], 1f);
        Node? scale = fg.Producer(name, "Div") ?? fg.Producer(name, "Mul");
        if (scale is null) return null;
        string operand; float c;
        if (scale.OpType == "Div")
        {
            if (!fg.ScalarConstant(scale.Inputs[1], out c) || c == 0) return null;
            operand = scale.Inputs[0];
            c = 1f / c;
        }
        else if (!fg.SplitScalar(scale, out operand, out c)) return null;
        if (fg.Producer(operand, "MatMul") is not { } qk || fg.SoleReader(operand, "Div" == scale.OpType ? "Div" : "Mul") != scale) return null;
        return new Chain(qk, [qk, scale], c);
    }

    /// <summary>Whether a mask's known trailing dimensions are 1 or the score block's (unknown ones are checked at run time).</summary>
    private static bool MaskFits(TensorType? t, Dim m, Dim n)
    {
        if (t?.Shape is not { } s) return true;
        bool Fits(Dim md, Dim want) => !md.IsKnown || md.Value == 1 || (want.IsKnown && md.Value == want.Value);
        return (s.Length < 1 || Fits(s[^1], n)) && (s.Length < 2 || Fits(s[^2], m));
    }
}
