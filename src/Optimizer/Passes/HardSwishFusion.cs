using NetOnnx.Optimizer.Patterns;
using NetOnnx.Runtime;

namespace NetOnnx.Optimizer.Passes;

/// <summary>
/// Recognises HardSwish exported as Mul(x, HardSigmoid(x; alpha 1/6, beta 0.5)) or as
/// Mul(x, Div(Clip(Add(x, 3), 0, 6), 6)) or Div(Mul(x, Clip(Add(x, 3), 0, 6)), 6) (Div by 6 may also be Mul
/// by 1/6) and replaces it with one
/// HardSwish node, so x gets a single reader and the producer (usually a Conv) can fuse it as its activation.
/// Before opset 14 there is no HardSwish operator, so there it rewrites only where x is a float Conv output
/// read by just this pattern, and builds the FusedConv itself.
/// </summary>
public sealed class HardSwishFusion : IGraphPass
{
    public string Name => "HardSwishFusion";
    public bool EmitsInternalOps => true;
    public OptimizationLevel Level => OptimizationLevel.Extended;

    public PassResult Run(Model model)
    {
        var g = model.Graph;
        bool hasOp = model.OpsetFor("") >= 14;
        if (!hasOp) FusionHelpers.InferTypes(model);
        var ix = new GraphEditor(g);
        int fused = 0;
        foreach (var mul in g.Nodes)
        {
            // Div(Mul(x, relu6(x + 3)), 6): the root is the scaling node.
            if (ScaledProduct(mul, ix) is var (px, pnodes) && !pnodes.Any(ix.IsRemoved) && !ix.IsRemoved(mul)
                && (hasOp || ConvOutputForFusion(px, ix, g, readers: 2)))
            {
                var r = Replacement(px, mul, hasOp, ix, model);
                foreach (var p in pnodes) ix.Remove(p);
                ix.Replace(mul, r);
                fused++;
                continue;
            }
            if (!FusionHelpers.IsStandard(mul, "Mul") || mul.Inputs.Count != 2 || mul.Outputs.Count != 1) continue;
            for (int side = 0; side < 2; side++)
            {
                string x = mul.Inputs[side], gate = mul.Inputs[1 - side];
                if (GateNodes(x, gate, ix) is not { } gateNodes || gateNodes.Any(ix.IsRemoved)) continue;
                if (!hasOp && !ConvOutputForFusion(x, ix, g, readers: 2)) continue;
                var r = Replacement(x, mul, hasOp, ix, model);
                foreach (var n in gateNodes) ix.Remove(n);
                ix.Replace(mul, r);
                fused++;
                break;
            }
        }
        if (fused == 0) return PassResult.Unchanged;
        return ix.Commit(detail: $"{fused} HardSwish");
    }

    /// <summary>HardSwish(x) as a standard node, or (no HardSwish in the opset) fused into x's Conv, which dies.</summary>
    private static Node Replacement(string x, Node root, bool hasOp, GraphEditor ix, Model model)
    {
        if (hasOp) return new Node("HardSwish", [x], root.Outputs, root.Name, "");
        var conv = ix.Producer(x)!;
        ix.Remove(conv);
        FusionHelpers.ImportFusedDomain(model);
        var fused = new Node("FusedConv", conv.Inputs, root.Outputs, conv.Name.Length > 0 ? conv.Name + "_fused" : "",
            Runtime.Operators.Fused.FusedDomain.Name, conv.Attributes.Values);
        fused.Attributes["activation"] = NodeAttribute.Of("activation", "HardSwish");
        return fused;
    }

    /// <summary>x is a float Conv output read only by the pattern's readers, so the HardSwish will fuse away.</summary>
    private static bool ConvOutputForFusion(string x, GraphEditor ix, Graph g, int readers) =>
        ix.Producer(x) is { } conv && FusionHelpers.IsStandard(conv, "Conv") && ix.ReadCount(x) == readers
        && !ix.IsGraphOutput(x) && FusionHelpers.TensorTypeOf(g, x)?.ElementType == DataType.Float;

    /// <summary>For root = Div(Mul(x, relu6(x + 3)), 6): x and the nodes the HardSwish replaces (root excluded).</summary>
    private static (string X, List<Node> Nodes)? ScaledProduct(Node root, GraphEditor ix)
    {
        if (root.Outputs.Count != 1 || ScaleInput(root, ix) is not { } prod) return null;
        if (ix.SoleReader(prod) is null || ix.Producer(prod) is not { } mul || !FusionHelpers.IsStandard(mul, "Mul") || mul.Inputs.Count != 2)
            return null;
        for (int side = 0; side < 2; side++)
        {
            string x = mul.Inputs[side];
            if (Relu6OfXPlus3(x, mul.Inputs[1 - side], ix) is { } nodes) return (x, [.. nodes, mul]);
        }
        return null;
    }

    /// <summary>If n is Div(v, 6) or Mul(v, 1/6) with a constant scalar, returns v.</summary>
    private static string? ScaleInput(Node n, GraphEditor ix)
    {
        bool div = FusionHelpers.IsStandard(n, "Div");
        if (!div && !FusionHelpers.IsStandard(n, "Mul") || n.Inputs.Count != 2) return null;
        int side = div ? 0 : (ix.ConstantValue(n.Inputs[0]) is null ? 0 : 1);
        if (Scalar(ix, n.Inputs[1 - side]) is not { } k || (div ? Math.Abs(k - 6f) > 1e-6f : Math.Abs(k - 1f / 6) > 1e-6f)) return null;
        return n.Inputs[side];
    }

    /// <summary>The Add and Clip computing clipOut = Clip(x + 3, 0, 6), each output private, or null.</summary>
    private static List<Node>? Relu6OfXPlus3(string x, string clipOut, GraphEditor ix)
    {
        if (ix.SoleReader(clipOut) is null || ix.Producer(clipOut) is not { } clip || !FusionHelpers.IsStandard(clip, "Clip")) return null;
        float lo = clip.GetFloat("min", float.MinValue), hi = clip.GetFloat("max", float.MaxValue);
        if (clip.Inputs.Count > 1 && clip.Inputs[1].Length > 0) lo = Scalar(ix, clip.Inputs[1]) ?? float.NaN;
        if (clip.Inputs.Count > 2 && clip.Inputs[2].Length > 0) hi = Scalar(ix, clip.Inputs[2]) ?? float.NaN;
        if (lo != 0f || hi != 6f) return null;
        string addOut = clip.Inputs[0];
        if (ix.SoleReader(addOut) is null || ix.Producer(addOut) is not { } add || !FusionHelpers.IsStandard(add, "Add") || add.Inputs.Count != 2)
            return null;
        int xSide = add.Inputs[0] == x ? 0 : add.Inputs[1] == x ? 1 : -1;
        if (xSide < 0 || Scalar(ix, add.Inputs[1 - xSide]) != 3f) return null;
        return [add, clip];
    }

    /// <summary>The nodes computing gate = hardsigmoid(x) (each output private to the next), or null.</summary>
    private static List<Node>? GateNodes(string x, string gate, GraphEditor ix)
    {
        if (ix.SoleReader(gate) is null || ix.Producer(gate) is not { } last) return null;
        if (FusionHelpers.IsStandard(last, "HardSigmoid"))
        {
            bool ok = last.Inputs[0] == x && Math.Abs(last.GetFloat("alpha", 0.2f) - 1f / 6) <= 1e-6f && last.GetFloat("beta", 0.5f) == 0.5f;
            return ok ? [last] : null;
        }
        // Div(relu6(x + 3), 6) or Mul(relu6(x + 3), 1/6)
        if (ScaleInput(last, ix) is not { } clipOut || Relu6OfXPlus3(x, clipOut, ix) is not { } nodes) return null;
        return [.. nodes, last];
    }

    private static float? Scalar(GraphEditor ix, string name) =>
        ix.ConstantValue(name) is { ElementType: DataType.Float, Length: 1 } t ? t.ReadOnlySpan<float>()[0] : null;
}
