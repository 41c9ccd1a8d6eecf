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

    // Inference mode, no training outputs; the Conv's output read only by the BN (checked by the matcher).
    private static readonly OpPattern s_pattern = Pattern.Op("BatchNormalization",
            Pattern.Op("Conv").As("conv"), Pattern.Const("scale"), Pattern.Const("bias"), Pattern.Const("mean"), Pattern.Const("var"))
        .Where(bn => bn.GetInt("training_mode", 0) == 0 && bn.GetInt("spatial", 1) == 1 && bn.Outputs.Skip(1).All(o => o.Length == 0));

    public PassResult Run(Model model)
    {
        var g = model.Graph;
        var ix = new GraphEditor(g);
        int folded = 0;
        foreach (var match in s_pattern.MatchAll(ix).ToList())
        {
            var bn = match.Root;
            var conv = match.Node("conv");
            if (!FusionHelpers.IsFoldableConv(conv, ix, out var w, out var b)) continue;
            int m = w.Shape[0];
            var stats = new[] { "scale", "bias", "mean", "var" }.Select(k => ix.ConstantValue(match[k])).ToArray();
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
