using NetOnnx.Optimizer.Patterns;
using NetOnnx.Runtime;

namespace NetOnnx.Optimizer.Passes;

/// <summary>
/// Transpose(Transpose(x, p1), p2) is Transpose(x, p1∘p2): dropped when that is the identity, otherwise the
/// outer node reads x directly with the merged permutation (the inner one dies if nothing else reads it).
/// A single Transpose with the identity permutation is dropped too.
/// </summary>
public sealed class TransposeCancellation : IGraphPass
{
    public string Name => "TransposeCancellation";
    public OptimizationLevel Level => OptimizationLevel.Basic;

    public PassResult Run(Model model)
    {
        var g = model.Graph;
        if (!g.Nodes.Any(n => n.OpType == "Transpose")) return PassResult.Unchanged;
        ShapeFolding.TryInferShapes(model); // ranks, for Transposes without a perm attribute
        var ed = new GraphEditor(g);
        int merged = 0;
        foreach (var outer in g.Nodes)
        {
            if (!IsTranspose(outer) || ed.IsRemoved(outer)) continue;
            var p2 = Perm(outer, ed);
            if (p2 is null) continue;
            if (ed.Producer(outer.Inputs[0]) is { } inner && IsTranspose(inner) && !ed.IsRemoved(inner) && Perm(inner, ed) is { } p1 && p1.Length == p2.Length)
            {
                // y[j] = t[p2[j]] = x[p1[p2[j]]]
                var combined = p2.Select(j => p1[j]).ToArray();
                if (IsIdentity(combined)) { if (ed.Bypass(outer, inner.Inputs[0], outer.Outputs[0])) merged++; continue; }
                ed.SetInput(outer, 0, inner.Inputs[0]);
                outer.Attributes["perm"] = NodeAttribute.Of("perm", combined.Select(v => (long)v).ToArray());
                merged++;
                // Counted as a removal when the inner transpose has no other reader left (DCE deletes it).
                if (ed.Consumers(inner.Outputs[0]).Count == 0 && !ed.IsGraphOutput(inner.Outputs[0])) ed.Remove(inner);
                continue;
            }
            if (IsIdentity(p2) && ed.Bypass(outer, outer.Inputs[0], outer.Outputs[0])) merged++;
        }
        var r = ed.Commit();
        return r with { Detail = merged > 0 ? $"{merged} transposes cancelled or merged" : null };
    }

    private static bool IsTranspose(Node n) => n.OpType == "Transpose" && n.Domain.Length == 0 && n.Inputs.Count == 1 && n.Outputs.Count == 1 && n.Inputs[0].Length > 0;

    private static int[]? Perm(Node n, GraphEditor ed)
    {
        if (n.GetInts("perm") is { } p) return p.Select(v => (int)v).ToArray();
        // No perm: reverse the dims, which needs the rank.
        if (ed.TensorTypeOf(n.Inputs[0]) is { Shape: { } s }) return Enumerable.Range(0, s.Length).Reverse().ToArray();
        return null;
    }

    private static bool IsIdentity(int[] p)
    {
        for (int i = 0; i < p.Length; i++) if (p[i] != i) return false;
        return true;
    }
}
