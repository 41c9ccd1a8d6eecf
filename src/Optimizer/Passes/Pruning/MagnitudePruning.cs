using NetOnnx.Optimizer.Patterns;
using NetOnnx.Runtime;

namespace NetOnnx.Optimizer.Passes.Pruning;

/// <summary>Options of <see cref="MagnitudePruning"/>.</summary>
public sealed record MagnitudePruningOptions
{
    /// <summary>Fraction of weights set to zero, in [0, 1).</summary>
    public double Sparsity { get; init; }
    /// <summary>One magnitude threshold over all layers (global) instead of the same fraction in each.</summary>
    public bool Global { get; init; }
    /// <summary>Node names or op types left alone.</summary>
    public IReadOnlySet<string> Exclude { get; init; } = new HashSet<string>(StringComparer.Ordinal);
}

/// <summary>One pruned layer: its id, op type, weight count and how many are now zero.</summary>
public sealed record PrunedLayer(string Id, string OpType, long Weights, long Zeros);

/// <summary>
/// Unstructured magnitude pruning: the smallest-magnitude weights of every Conv, MatMul and Gemm with constant
/// float weights become zero, the same fraction per layer or below one global threshold. Biases are kept.
/// Weights shared with other nodes are copied, not edited in place.
/// </summary>
public static class MagnitudePruning
{
    public static List<PrunedLayer> Apply(Model model, MagnitudePruningOptions options)
    {
        if (!(options.Sparsity >= 0 && options.Sparsity < 1)) throw new OnnxException($"sparsity {options.Sparsity} must be in [0, 1)");
        var g = model.Graph;
        var ix = new GraphEditor(g);
        var targets = new List<(Node Node, Tensor W)>();
        foreach (var n in g.Nodes)
        {
            if (n.Domain.Length != 0 || n.OpType is not ("Conv" or "MatMul" or "Gemm") || n.Inputs.Count < 2) continue;
            string id = n.Name.Length > 0 ? n.Name : n.Outputs.FirstOrDefault() ?? n.OpType;
            if (options.Exclude.Contains(id) || options.Exclude.Contains(n.OpType)) continue;
            if (ix.ConstantValue(n.Inputs[0]) is not null || ix.ConstantValue(n.Inputs[1]) is not { ElementType: DataType.Float } w || w.Length == 0) continue;
            targets.Add((n, w));
        }
        float globalThreshold = 0;
        if (options.Global && targets.Count > 0)
        {
            var all = targets.SelectMany(t => t.W.ToArray<float>().Select(MathF.Abs)).ToArray();
            globalThreshold = Threshold(all, options.Sparsity, out _);
        }
        var layers = new List<PrunedLayer>();
        foreach (var (n, w) in targets)
        {
            var values = w.ToArray<float>();
            var mags = values.Select(MathF.Abs).ToArray();
            long zeros = 0;
            if (options.Global)
            {
                for (int i = 0; i < values.Length; i++) if (mags[i] <= globalThreshold && options.Sparsity > 0) values[i] = 0;
            }
            else
            {
                // Exactly round(S * n) zeros per layer: ties at the threshold are broken by position.
                long want = (long)Math.Round(options.Sparsity * values.Length);
                var order = Enumerable.Range(0, values.Length).OrderBy(i => mags[i]).ThenBy(i => i).Take((int)want);
                foreach (int i in order) values[i] = 0;
            }
            zeros = values.LongCount(v => v == 0);
            string id = n.Name.Length > 0 ? n.Name : n.Outputs[0];
            n.Inputs[1] = ix.AddInitializer(n.Inputs[1] + "_pruned", Tensor.Create(values, (int[])w.Shape.Clone()));
            layers.Add(new PrunedLayer(id, n.OpType, values.Length, zeros));
        }
        var read = g.Nodes.SelectMany(x => x.Inputs).Concat(g.Outputs.Select(o => o.Name)).ToHashSet(StringComparer.Ordinal);
        foreach (var sub in g.Nodes.SelectMany(g.Subgraphs)) read.UnionWith(sub.OuterScopeReads());
        var inputNames = g.Inputs.Select(i => i.Name).ToHashSet(StringComparer.Ordinal);
        foreach (var name in g.Initializers.Keys.ToList())
            if (!read.Contains(name) && !inputNames.Contains(name)) g.Initializers.Remove(name);
        return layers;
    }

    /// <summary>The magnitude at or below which a fraction <paramref name="sparsity"/> of the values lie.</summary>
    private static float Threshold(float[] mags, double sparsity, out long count)
    {
        count = (long)Math.Round(sparsity * mags.Length);
        if (count == 0) return -1;
        Array.Sort(mags);
        return mags[count - 1];
    }
}
