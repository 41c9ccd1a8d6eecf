using NetOnnx.Optimizer.Patterns;
using NetOnnx.Runtime;

namespace NetOnnx.Optimizer.Passes;

/// <summary>
/// Fuses the primitive layer normalisation exporters emit,
/// d = x - ReduceMean(x); y = d / Sqrt(ReduceMean(d^2) + eps) [* gamma] [+ beta],
/// over trailing axes, into one LayerNormalization node (internal domain, since ai.onnx LayerNormalization
/// needs opset 17). d^2 may be Pow(d, 2) or d * d. The mean must feed only the Sub, and gamma and beta must be
/// constants that do not broadcast the result to a larger shape.
/// </summary>
public sealed class LayerNormFusion : IGraphPass
{
    public string Name => "LayerNormFusion";
    public bool EmitsInternalOps => true;
    public OptimizationLevel Level => OptimizationLevel.Extended;

    public PassResult Run(Model model)
    {
        if (!model.Graph.Nodes.Any(n => n.OpType == "ReduceMean")) return PassResult.Unchanged;
        FusionHelpers.InferTypes(model);
        var fg = new GraphEditor(model.Graph);
        int fused = 0;
        foreach (var n in model.Graph.Nodes)
            if (n.OpType == "ReduceMean" && n.Domain.Length == 0 && !fg.IsRemoved(n) && TryFuse(fg, model, n)) fused++;
        if (fused == 0) return PassResult.Unchanged;
        FusionHelpers.ImportFusedDomain(model);
        return fg.Commit(detail: $"{fused} LayerNormalization");
    }

    private static bool TryFuse(GraphEditor fg, Model model, Node mean)
    {
        string x = mean.Inputs[0];
        var xt = fg.TensorTypeOf(x);
        if (xt is not null && xt.ElementType is not (DataType.Float or DataType.Double or DataType.Float16 or DataType.BFloat16)) return false;
        int? rank = xt?.Shape?.Length;
        int? axis = FusionHelpers.TrailingAxis(fg, mean, rank);
        if (axis is null) return false;

        var sub = fg.SoleReader(mean.Outputs[0], "Sub");
        if (sub is null || sub.Inputs[0] != x || sub.Inputs[1] != mean.Outputs[0]) return false;
        string d = sub.Outputs[0];
        var users = fg.Consumers(d);
        if (fg.IsGraphOutput(d) || users.Count != 2) return false;
        // d feeds the square and the division.
        Node? square = users.FirstOrDefault(u => u.OpType is "Pow" or "Mul" && u.Inputs[0] == d);
        Node? div = users.FirstOrDefault(u => u.OpType == "Div" && u.Inputs[0] == d);
        if (square is null || div is null || square == div || square.Domain.Length != 0 || div.Domain.Length != 0) return false;
        if (square.OpType == "Pow" ? !(fg.ScalarConstant(square.Inputs[1], out float e) && e == 2f) : square.Inputs[1] != d) return false;

        var variance = fg.SoleReader(square.Outputs[0], "ReduceMean");
        if (variance is null || FusionHelpers.TrailingAxis(fg, variance, rank) != axis) return false;
        var addEps = fg.SoleReader(variance.Outputs[0], "Add");
        if (addEps is null || !fg.SplitScalar(addEps, out string v, out float eps) || v != variance.Outputs[0] || !(eps >= 0)) return false;
        var sqrt = fg.SoleReader(addEps.Outputs[0], "Sqrt");
        if (sqrt is null || div.Inputs[1] != sqrt.Outputs[0] || fg.SoleReader(sqrt.Outputs[0], "Div") != div) return false;

        var pattern = new List<Node> { mean, sub, square, variance, addEps, sqrt, div };
        Node last = div;
        int normDims = -axis.Value;
        string? gamma = null, beta = null;
        if (fg.SoleReader(div.Outputs[0], "Mul") is { } mul && FusionHelpers.Other(mul, div.Outputs[0]) is { } g && Affine(fg, xt, g, normDims))
        {
            gamma = g;
            pattern.Add(mul);
            last = mul;
            if (fg.SoleReader(mul.Outputs[0], "Add") is { } add && FusionHelpers.Other(add, mul.Outputs[0]) is { } b && Affine(fg, xt, b, normDims))
            {
                beta = b;
                pattern.Add(add);
                last = add;
            }
        }
        if (!fg.IsSelfContained(pattern, last)) return false;

        if (gamma is null)
        {
            // LayerNormalization needs a scale: a scalar one broadcasts over the normalised dimensions.
            var one = xt?.ElementType == DataType.Double ? Tensor.Create(new double[] { 1.0 }, 1) : Tensor.Create(new float[] { 1f }, 1);
            gamma = fg.AddInitializer((last.Name.Length > 0 ? last.Name : last.Outputs[0]) + "/ones", one);
        }
        var inputs = beta is null ? new[] { x, gamma } : [x, gamma, beta];
        var ln = new Node("LayerNormalization", inputs, [last.Outputs[0]], GeluFusion.FusedName(last, "LayerNorm"), FusedOps.Domain,
            [NodeAttribute.Of("axis", (long)axis.Value), NodeAttribute.Of("epsilon", eps)]);
        fg.ReplaceSubgraph(pattern, last, ln);
        return true;
    }

    /// <summary>
    /// Whether a constant scale or shift broadcasts into the normalised dimensions without enlarging the result:
    /// no more dimensions than normalised ones, each 1 or equal to x's (when x's shape is known).
    /// </summary>
    private static bool Affine(GraphEditor fg, TensorType? xt, string name, int normDims)
    {
        var t = fg.ConstantValue(name);
        if (t is null || t.Rank > normDims || t.ElementType != (xt?.ElementType ?? t.ElementType)) return false;
        if (t.ElementType is not (DataType.Float or DataType.Double or DataType.Float16 or DataType.BFloat16)) return false;
        if (xt?.Shape is not { } shape) return t.Length == 1;
        for (int i = 0; i < t.Rank; i++)
        {
            var dim = shape[shape.Length - t.Rank + i];
            if (t.Shape[i] != 1 && (!dim.IsKnown || dim.Value != t.Shape[i])) return false;
        }
        return true;
    }
}
