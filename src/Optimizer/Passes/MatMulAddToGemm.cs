using NetOnnx.Optimizer.Patterns;
using NetOnnx.Runtime;

namespace NetOnnx.Optimizer.Passes;

/// <summary>
/// MatMul(A, B) + C -> Gemm(A, B, C) when A is 2-D, B a constant 2-D float matrix and C a constant that
/// broadcasts as Gemm's C ([N], [1, N], [M, N] or a scalar): the bias then rides in the GEMM. The MatMul
/// output must have a single reader and not be a graph output. N-D MatMul is left alone.
/// </summary>
public sealed class MatMulAddToGemm : IGraphPass
{
    public string Name => "MatMulAddToGemm";
    public OptimizationLevel Level => OptimizationLevel.Extended;

    private static readonly OpPattern s_pattern = Pattern.Op("Add",
            Pattern.Op("MatMul", Pattern.Any("a"), Pattern.Const("b", t => t is { ElementType: DataType.Float, Rank: 2 })).As("mm"),
            Pattern.Const("c", t => t is { ElementType: DataType.Float, Rank: <= 2 }))
        .Commutative();

    public PassResult Run(Model model)
    {
        var g = model.Graph;
        // Gemm's C broadcasts only from opset 7.
        if (model.OpsetFor("") < 7 || !g.Nodes.Any(n => FusionHelpers.IsStandard(n, "MatMul"))) return PassResult.Unchanged;
        FusionHelpers.InferTypes(model);
        var ed = new GraphEditor(g);
        int fused = 0;
        foreach (var m in s_pattern.MatchAll(ed).ToList())
        {
            var mm = m.Node("mm");
            if (ed.TensorTypeOf(m["a"]) is not { ElementType: DataType.Float, Shape: [var rows, _] }) continue;
            var b = ed.ConstantValue(m["b"])!;
            var c = ed.ConstantValue(m["c"])!;
            int n = b.Shape[1];
            bool lastOk = c.Rank == 0 || c.Shape[^1] == n || c.Shape[^1] == 1;
            bool firstOk = c.Rank < 2 || c.Shape[0] == 1 || (rows.IsKnown && c.Shape[0] == rows.Value);
            if (!lastOk || !firstOk) continue;
            ed.ReplaceSubgraph(m.Nodes, m.Root, new Node("Gemm", [m["a"], m["b"], m["c"]], m.Root.Outputs, mm.Name, ""));
            fused++;
        }
        if (fused == 0) return PassResult.Unchanged;
        return ed.Commit(detail: $"{fused} MatMul+Add -> Gemm");
    }
}
