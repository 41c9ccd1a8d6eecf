using NetOnnx.Optimizer.Patterns;
using NetOnnx.Runtime;

namespace NetOnnx.Optimizer.Passes;

/// <summary>
/// Folds an inference-mode BatchNormalization with constant scale, bias, mean and variance into the Conv that
/// feeds it (constant weights, the Conv output read only by the BN): W' = W*s, B' = (B - mean)*s + bias with
/// s = scale / sqrt(var + epsilon) per output channel.
/// </summary>
public sealed class ConvBatchNormFolding : IGraphPass
{
    public string Name => "ConvBatchNormFolding";
    public OptimizationLevel Level => OptimizationLevel.Extended;

    public PassResult Run(Model model)
    {
        var g = model.Graph;
        var ix = new GraphEditor(g);
        int folded = 0;
        foreach (var bn in g.Nodes)
        {
            if (!FusionHelpers.IsStandard(bn, "BatchNormalization") || bn.Inputs.Count != 5) continue;
            if (bn.GetInt("training_mode", 0) != 0 || bn.GetInt("spatial", 1) != 1) continue;
            // Training-style extra outputs (running mean/var) must be absent.
            if (bn.Outputs.Skip(1).Any(o => o.Length > 0)) continue;
            if (ix.Producer(bn.Inputs[0]) is not { } conv || ix.IsRemoved(conv) || ix.SoleReader(bn.Inputs[0]) is null) continue;
            if (!FusionHelpers.IsFoldableConv(conv, ix, out var w, out var b)) continue;
            int m = w.Shape[0];
            var stats = bn.Inputs.Skip(1).Select(ix.ConstantValue).ToArray();
            if (stats.Any(t => t is not { ElementType: DataType.Float } || t.Length != m)) continue;
            float eps = bn.GetFloat("epsilon", 1e-5f);
            var scale = stats[0]!.ReadOnlySpan<float>();
            var bias = stats[1]!.ReadOnlySpan<float>();
            var mean = stats[2]!.ReadOnlySpan<float>();
            var var = stats[3]!.ReadOnlySpan<float>();
            var s = new float[m];
            var add = new float[m];
            for (int i = 0; i < m; i++)
            {
                // In double so the folded constants round once.
                double si = scale[i] / Math.Sqrt((double)var[i] + eps);
                s[i] = (float)si;
                add[i] = (float)(bias[i] - mean[i] * si);
            }
            var (nw, nb) = FusionHelpers.ScaleShift(w, b, s, add);
            FusionHelpers.SetConvParams(conv, ix, nw, nb);
            conv.Outputs[0] = bn.Outputs[0];
            ix.Remove(bn);
            folded++;
        }
        return ix.Commit(detail: folded > 0 ? $"{folded} BatchNormalization folded" : null);
    }
}
