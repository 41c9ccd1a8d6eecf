using NetOnnx.Optimizer.Patterns;
using NetOnnx.Runtime;
using NetOnnx.Runtime.Operators.Fused;

namespace NetOnnx.Optimizer.Passes.Pruning;

/// <summary>
/// MatMul [+ Add of a constant [N] bias] whose B is a constant float matrix with at least
/// <see cref="MinSparsity"/> zeros becomes SparseMatMul (com.netonnx), which multiplies only the non-zeros.
/// The threshold is where the sparse kernel overtakes the dense GEMM (measured on pruned transformer MatMuls).
/// </summary>
public sealed class SparseMatMulSelection : IGraphPass
{
    public const double MinSparsity = 0.7;

    public string Name => "SparseMatMulSelection";
    public bool EmitsInternalOps => true;
    public OptimizationLevel Level => OptimizationLevel.Extended;

    public PassResult Run(Model model)
    {
        var g = model.Graph;
        if (!g.Nodes.Any(n => FusionHelpers.IsStandard(n, "MatMul"))) return PassResult.Unchanged;
        FusionHelpers.InferTypes(model);
        var ix = new GraphEditor(g);
        var dead = new HashSet<Node>();
        var replace = new Dictionary<Node, Node>();
        foreach (var mm in g.Nodes)
        {
            if (!FusionHelpers.IsStandard(mm, "MatMul") || mm.Inputs.Count != 2 || mm.Outputs.Count != 1) continue;
            if (ix.ConstantValue(mm.Inputs[1]) is not { ElementType: DataType.Float, Rank: 2 } b || b.Length == 0) continue;
            if (FusionHelpers.TensorTypeOf(g, mm.Inputs[0]) is not { ElementType: DataType.Float, Shape.Length: >= 2 }) continue;
            var bs = b.ReadOnlySpan<float>();
            long zeros = 0;
            foreach (var v in bs) if (v == 0) zeros++;
            if (zeros < MinSparsity * bs.Length) continue;
            var last = mm;
            string bias = "";
            if (ix.SoleReader(mm.Outputs[0]) is { } add && FusionHelpers.IsStandard(add, "Add") && add.Inputs.Count == 2)
            {
                var other = add.Inputs[0] == mm.Outputs[0] ? add.Inputs[1] : add.Inputs[0];
                if (ix.ConstantValue(other) is { ElementType: DataType.Float, Rank: 1 } c && c.Length == b.Shape[1]) { bias = other; last = add; }
            }
            var inputs = bias.Length > 0 ? new[] { mm.Inputs[0], mm.Inputs[1], bias } : new[] { mm.Inputs[0], mm.Inputs[1] };
            replace[last] = new Node("SparseMatMul", inputs, last.Outputs, mm.Name.Length > 0 ? mm.Name + "_sparse" : "", FusedDomain.Name);
            if (last != mm) dead.Add(mm);
        }
        if (replace.Count == 0) return PassResult.Unchanged;
        var kept = g.Nodes.Where(n => !dead.Contains(n)).Select(n => replace.GetValueOrDefault(n, n)).ToList();
        g.Nodes.Clear();
        g.Nodes.AddRange(kept);
        FusionHelpers.ImportFusedDomain(model);
        return new PassResult(dead.Count + replace.Count, replace.Count, Detail: $"{replace.Count} SparseMatMul");
    }
}
