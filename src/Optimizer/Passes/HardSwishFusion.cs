using NetOnnx.Runtime;

namespace NetOnnx.Optimizer.Passes;

/// <summary>
/// Recognises HardSwish exported as Mul(x, HardSigmoid(x; alpha 1/6, beta 0.5)) and replaces it with one
/// HardSwish node, so x gets a single reader and the producer (usually a Conv) can fuse it as its activation.
/// Before opset 14 there is no HardSwish kernel to fall back on, so there it rewrites only where x is a float
/// Conv output read by just this pair, which ConvActivationFusion (run next) always absorbs.
/// </summary>
public sealed class HardSwishFusion : IGraphPass
{
    public string Name => "HardSwishFusion";
    public OptimizationLevel Level => OptimizationLevel.Extended;

    public PassResult Run(Model model)
    {
        var g = model.Graph;
        bool hasOp = model.OpsetFor("") >= 14;
        if (!hasOp) FusionHelpers.InferTypes(model);
        var ix = new GraphIndex(g);
        var dead = new HashSet<Node>();
        var replace = new Dictionary<Node, Node>();
        foreach (var mul in g.Nodes)
        {
            if (!FusionHelpers.IsStandard(mul, "Mul") || mul.Inputs.Count != 2 || mul.Outputs.Count != 1) continue;
            for (int side = 0; side < 2; side++)
            {
                string x = mul.Inputs[side], gate = mul.Inputs[1 - side];
                if (ix.Producer(gate) is not { } hs || !FusionHelpers.IsStandard(hs, "HardSigmoid") || hs.Inputs[0] != x) continue;
                if (!ix.IsPrivateIntermediate(gate) || dead.Contains(hs)) continue;
                if (Math.Abs(hs.GetFloat("alpha", 0.2f) - 1f / 6) > 1e-6f || hs.GetFloat("beta", 0.5f) != 0.5f) continue;
                if (!hasOp && !(ix.Producer(x) is { } conv && FusionHelpers.IsStandard(conv, "Conv") && ix.ReaderCount(x) == 2
                    && !ix.IsGraphOutput(x) && FusionHelpers.TensorTypeOf(g, x)?.ElementType == DataType.Float)) continue;
                replace[mul] = new Node("HardSwish", [x], mul.Outputs, mul.Name, "");
                dead.Add(hs);
                break;
            }
        }
        if (dead.Count == 0) return PassResult.Unchanged;
        var kept = g.Nodes.Where(n => !dead.Contains(n)).Select(n => replace.GetValueOrDefault(n, n)).ToList();
        g.Nodes.Clear();
        g.Nodes.AddRange(kept);
        return new PassResult(2 * dead.Count, dead.Count, Detail: $"{dead.Count} HardSwish");
    }
}
