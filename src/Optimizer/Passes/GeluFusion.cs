using NetOnnx.Optimizer.Patterns;
using NetOnnx.Runtime;

namespace NetOnnx.Optimizer.Passes;

/// <summary>
/// Fuses the primitive GELU chains exporters emit into one Gelu node (internal domain, since ai.onnx Gelu
/// needs opset 20):
/// erf form  0.5 * (x * (1 + Erf(x / sqrt2)))  (x * (1/sqrt2) also accepted);
/// tanh form 0.5 * (x * (1 + Tanh(sqrt(2/pi) * (x + 0.044715 * x^3))))  with x^3 as Pow(x, 3) or x * (x * x).
/// The final 0.5 may multiply either operand order; every inner value must be read only by the chain.
/// </summary>
public sealed class GeluFusion : IGraphPass
{
    public string Name => "GeluFusion";
    public bool EmitsInternalOps => true;
    public OptimizationLevel Level => OptimizationLevel.Extended;

    public PassResult Run(Model model)
    {
        var fg = new GraphEditor(model.Graph);
        int fused = 0;
        foreach (var n in model.Graph.Nodes)
        {
            if (n.Domain.Length != 0 || fg.IsRemoved(n)) continue;
            if (n.OpType == "Erf" && TryErfForm(fg, n)) fused++;
            else if (n.OpType == "Tanh" && TryTanhForm(fg, n)) fused++;
        }
        if (fused == 0) return PassResult.Unchanged;
        FusionHelpers.ImportFusedDomain(model);
        return fg.Commit(detail: $"{fused} Gelu");
    }

    private static bool TryErfForm(GraphEditor fg, Node erf)
    {
        // x / sqrt2 or x * (1/sqrt2)
        string x;
        var scale = fg.Producer(erf.Inputs[0], "Div");
        if (scale is not null)
        {
            if (!fg.ScalarConstant(scale.Inputs[1], out float d) || !FusionHelpers.Near(d, Math.Sqrt(2))) return false;
            x = scale.Inputs[0];
        }
        else
        {
            scale = fg.Producer(erf.Inputs[0], "Mul");
            if (scale is null || !fg.SplitScalar(scale, out x, out float c) || !FusionHelpers.Near(c, Math.Sqrt(0.5))) return false;
        }
        return TryTail(fg, x, [scale, erf], erf, approximate: false);
    }

    private static bool TryTanhForm(GraphEditor fg, Node tanh)
    {
        var outer = fg.Producer(tanh.Inputs[0], "Mul");
        if (outer is null || !fg.SplitScalar(outer, out string inner, out float k) || !FusionHelpers.Near(k, Math.Sqrt(2 / Math.PI))) return false;
        var sum = fg.Producer(inner, "Add");
        if (sum is null || sum.Inputs.Count != 2) return false;
        // One operand of the sum is x, the other 0.044715 * x^3.
        for (int side = 0; side < 2; side++)
        {
            string x = sum.Inputs[side], cubicTerm = sum.Inputs[1 - side];
            var scaled = fg.Producer(cubicTerm, "Mul");
            if (scaled is null || !fg.SplitScalar(scaled, out string cube, out float c) || !FusionHelpers.Near(c, 0.044715)) continue;
            var cubeNodes = MatchCube(fg, cube, x);
            if (cubeNodes is null) continue;
            return TryTail(fg, x, [.. cubeNodes, scaled, sum, outer, tanh], tanh, approximate: true);
        }
        return false;
    }

    /// <summary>The nodes computing x^3 as Pow(x, 3) or x * (x * x), or null.</summary>
    private static List<Node>? MatchCube(GraphEditor fg, string cube, string x)
    {
        if (fg.Producer(cube, "Pow") is { } pow)
            return pow.Inputs[0] == x && fg.ScalarConstant(pow.Inputs[1], out float e) && e == 3f ? [pow] : null;
        var m = fg.Producer(cube, "Mul");
        if (m is null || m.Inputs.Count != 2) return null;
        string? sq = FusionHelpers.Other(m, x);
        if (sq is null) return null;
        var square = fg.Producer(sq, "Mul");
        if (square is null || square.Inputs.Count != 2 || square.Inputs[0] != x || square.Inputs[1] != x) return null;
        return [square, m];
    }

    /// <summary>Matches (1 + f) * x * 0.5 after the Erf or Tanh node f, and records the fusion.</summary>
    private static bool TryTail(GraphEditor fg, string x, List<Node> head, Node f, bool approximate)
    {
        var plusOne = fg.SoleReader(f.Outputs[0], "Add");
        if (plusOne is null || !fg.SplitScalar(plusOne, out string fv, out float one) || fv != f.Outputs[0] || one != 1f) return false;
        var timesX = fg.SoleReader(plusOne.Outputs[0], "Mul");
        if (timesX is null || FusionHelpers.Other(timesX, plusOne.Outputs[0]) != x) return false;
        var half = fg.SoleReader(timesX.Outputs[0], "Mul");
        if (half is null || !fg.SplitScalar(half, out string hv, out float h) || hv != timesX.Outputs[0] || h != 0.5f) return false;
        var pattern = new List<Node>(head) { plusOne, timesX, half };
        if (!fg.IsSelfContained(pattern, half)) return false;
        var attrs = approximate ? new[] { NodeAttribute.Of("approximate", "tanh") } : null;
        var gelu = new Node("Gelu", [x], [half.Outputs[0]], FusedName(half, "Gelu"), FusedOps.Domain, attrs);
        fg.ReplaceSubgraph(pattern, half, gelu);
        return true;
    }

    internal static string FusedName(Node last, string op) => last.Name.Length > 0 ? $"{last.Name}/{op}" : "";
}
