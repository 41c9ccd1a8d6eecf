using NetOnnx.Optimizer.Patterns;
using NetOnnx.Runtime;
using NetOnnx.Runtime.Operators.Fused;

namespace NetOnnx.Optimizer.Passes;

/// <summary>
/// MatMul(A [..., K], W [K, N]) + bias [N] (and an optional activation after it) -> com.netonnx MatMulBias, whose
/// kernel packs the constant W once and applies bias and activation in the GEMM epilogue. This is the transformer
/// projection, where A is 3-D and <see cref="MatMulAddToGemm"/> (2-D only) does not apply. W and bias must be
/// float constants; the bias must be N values whose leading dimensions are 1 and no more than A's rank, so the Add
/// does not broadcast the product to a larger shape. The intermediate values must have no other reader.
/// </summary>
public sealed class MatMulBiasFusion : IGraphPass
{
    public string Name => "MatMulBiasFusion";
    public bool EmitsInternalOps => true;
    public OptimizationLevel Level => OptimizationLevel.Extended;

    private static readonly OpPattern s_pattern = Pattern.Op("Add",
            Pattern.Op("MatMul", Pattern.Any("a"), Pattern.Const("w", t => t is { ElementType: DataType.Float, Rank: 2 })).As("mm"),
            Pattern.Const("bias", t => t is { ElementType: DataType.Float, Rank: >= 1 }))
        .Commutative();

    public PassResult Run(Model model)
    {
        var g = model.Graph;
        if (!g.Nodes.Any(n => FusionHelpers.IsStandard(n, "MatMul"))) return PassResult.Unchanged;
        FusionHelpers.InferTypes(model);
        var ed = new GraphEditor(g);
        int fused = 0, withActivation = 0;
        foreach (var m in s_pattern.MatchAll(ed).ToList())
        {
            if (ed.TensorTypeOf(m["a"]) is not { ElementType: DataType.Float, Shape: { Length: >= 2 } aShape }) continue;
            var w = ed.ConstantValue(m["w"])!;
            var bias = ed.ConstantValue(m["bias"])!;
            int n = w.Shape[1];
            if (bias.Length != n || bias.Shape[^1] != n || bias.Rank > aShape.Length) continue;
            var add = m.Root;
            var nodes = m.Nodes.ToList();
            var outputs = add.Outputs;
            (string Name, float[] Params)? act = null;
            if (ed.SoleReader(add.Outputs[0]) is { } next && next.Inputs[0] == add.Outputs[0] && ActivationMatch.Of(next, ed) is { } a)
            {
                act = a;
                nodes.Add(next);
                outputs = next.Outputs;
            }
            var mm = m.Node("mm");
            var node = new Node("MatMulBias", [m["a"], m["w"], m["bias"]], outputs, mm.Name.Length > 0 ? mm.Name + "_bias" : "", FusedDomain.Name);
            if (act is { } found) { ActivationMatch.SetAttributes(node, found); withActivation++; }
            ed.ReplaceSubgraph(nodes, nodes[^1], node);
            fused++;
        }
        if (fused == 0) return PassResult.Unchanged;
        FusionHelpers.ImportFusedDomain(model);
        return ed.Commit(detail: $"{fused} MatMulBias ({withActivation} with activation)");
    }
}
