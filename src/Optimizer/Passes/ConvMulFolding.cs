using NetOnnx.Optimizer.Patterns;
using NetOnnx.Runtime;

namespace NetOnnx.Optimizer.Passes;

/// <summary>
/// Folds a Mul by a per-output-channel constant into the Conv before it (constant weights, Conv output read
/// only by the Mul): W' = W*c[oc], B' = B*c.
/// </summary>
public sealed class ConvMulFolding : IGraphPass
{
    public string Name => "ConvMulFolding";
    public OptimizationLevel Level => OptimizationLevel.Extended;

    public PassResult Run(Model model) => ConvChannelFolding.Run(model, "Mul");
}

internal static class ConvChannelFolding
{
    public static PassResult Run(Model model, string op)
    {
        var g = model.Graph;
        var ix = new GraphEditor(g);
        int folded = 0;
        foreach (var node in g.Nodes)
        {
            if (!FusionHelpers.IsStandard(node, op) || node.Inputs.Count != 2 || node.Outputs.Count != 1) continue;
            for (int side = 0; side < 2; side++)
            {
                string x = node.Inputs[side], cName = node.Inputs[1 - side];
                if (ix.ConstantValue(cName) is not { } c || ix.Producer(x) is not { } conv || ix.IsRemoved(conv)) continue;
                if (ix.SoleReader(x) is null || !FusionHelpers.IsFoldableConv(conv, ix, out var w, out var b)) continue;
                int m = w.Shape[0];
                // The constant must not widen the output: its rank may not exceed the Conv output's.
                if (FusionHelpers.PerChannel(c, w.Rank, m) is not { } per) continue;
                var ones = Enumerable.Repeat(1f, m).ToArray();
                var (nw, nb) = op == "Mul" ? FusionHelpers.ScaleShift(w, b, per, new float[m]) : FusionHelpers.ScaleShift(w, b, ones, per);
                FusionHelpers.SetConvParams(conv, ix, nw, nb);
                conv.Outputs[0] = node.Outputs[0];
                ix.Remove(node);
                folded++;
                break;
            }
        }
        return ix.Commit(detail: folded > 0 ? $"{folded} {op} folded into Conv" : null);
    }
}
