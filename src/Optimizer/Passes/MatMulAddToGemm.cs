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

    public PassResult Run(Model model)
    {
        var g = model.Graph;
        // Gemm's C broadcasts only from opset 7.
        if (model.OpsetFor("") < 7 || !g.Nodes.Any(n => FusionHelpers.IsStandard(n, "MatMul"))) return PassResult.Unchanged;
        FusionHelpers.InferTypes(model);
        var ix = new GraphEditor(g);
        int fused = 0;
        foreach (var mm in g.Nodes)
        {
            if (!FusionHelpers.IsStandard(mm, "MatMul") || mm.Inputs.Count != 2 || mm.Outputs.Count != 1) continue;
            if (ix.ConstantValue(mm.Inputs[1]) is not { ElementType: DataType.Float, Rank: 2 } b) continue;
            var aType = FusionHelpers.TensorTypeOf(g, mm.Inputs[0]);
            if (aType is not { ElementType: DataType.Float, Shape.Length: 2 }) continue;
            var y = mm.Outputs[0];
            if (ix.SoleReader(y) is not { } add || !FusionHelpers.IsStandard(add, "Add")) continue;
            if (add.Inputs.Count != 2 || add.Outputs.Count != 1) continue;
            var cName = add.Inputs[0] == y ? add.Inputs[1] : add.Inputs[0];
            if (ix.ConstantValue(cName) is not { ElementType: DataType.Float } c || c.Rank > 2) continue;
            int n = b.Shape[1];
            var m = aType.Shape![0];
            bool lastOk = c.Rank == 0 || c.Shape[^1] == n || c.Shape[^1] == 1;
            bool firstOk = c.Rank < 2 || c.Shape[0] == 1 || (m.IsKnown && c.Shape[0] == m.Value);
            if (!lastOk || !firstOk) continue;
            var gemm = new Node("Gemm", [mm.Inputs[0], mm.Inputs[1], cName], add.Outputs, mm.Name, "");
            ix.ReplaceSubgraph([mm, add], add, gemm);
            fused++;
        }
        if (fused == 0) return PassResult.Unchanged;
        return ix.Commit(detail: $"{fused} MatMul+Add -> Gemm");
    }
}
