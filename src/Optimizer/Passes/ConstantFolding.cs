using NetOnnx.Runtime;

namespace NetOnnx.Optimizer.Passes;

/// <summary>
/// Evaluates nodes whose inputs are all constant and replaces their outputs with initializers, within a
/// size budget so folding never bloats the model (e.g. a constant Expand to a huge shape stays a node).
/// </summary>
public sealed class ConstantFolding : IGraphPass
{
    /// <summary>Largest folded output, in bytes.</summary>
    public long MaxOutputBytes { get; init; } = 16 << 20;

    public string Name => "ConstantFolding";
    public OptimizationLevel Level => OptimizationLevel.Basic;

    private static readonly HashSet<string> s_neverFold = new(StringComparer.Ordinal)
    {
        // Non-deterministic or stateful-by-contract ops.
        "RandomNormal", "RandomUniform", "RandomNormalLike", "RandomUniformLike", "Multinomial", "Bernoulli",
        // Control flow: folding would need the subgraph machinery and rarely pays.
        "If", "Loop", "Scan",
    };

    public PassResult Run(Model model)
    {
        var g = model.Graph;
        var outputs = g.Outputs.Select(o => o.Name).ToHashSet(StringComparer.Ordinal);
        var overridable = g.Inputs.Select(i => i.Name).ToHashSet(StringComparer.Ordinal);
        var kept = new List<Node>();
        int removed = 0;
        foreach (var n in g.Nodes)
        {
            if (!Foldable(n, g, overridable) || !TryFold(n, g, model, outputs)) { kept.Add(n); continue; }
            removed++;
        }
        g.Nodes.Clear();
        g.Nodes.AddRange(kept);
        return new PassResult(removed, 0);
    }

    private static bool Foldable(Node n, Graph g, HashSet<string> overridable)
    {
        if (n.Domain.Length != 0 || s_neverFold.Contains(n.OpType)) return false;
        if (n.Attributes.Values.Any(a => a.Graph is not null || a.Graphs is not null)) return false;
        // Initializers that are also graph inputs can be replaced by the caller, so they are not constants.
        return n.Inputs.All(i => i.Length == 0 || (g.Initializers.ContainsKey(i) && !overridable.Contains(i)));
    }

    private bool TryFold(Node n, Graph g, Model model, HashSet<string> graphOutputs)
    {
        if (n.Outputs.Any(o => o.Length > 0 && graphOutputs.Contains(o))) return false;
        object[] results;
        try
        {
            results = NodeEvaluator.Evaluate(n, n.Inputs.Select(i => i.Length == 0 ? null : g.Initializers[i]).ToList(), model.Opsets);
        }
        catch (OnnxException)
        {
            return false; // Leave it to run time, where the same error will name the node with real context.
        }
        for (int i = 0; i < results.Length; i++)
            if (n.Outputs[i].Length > 0 && (results[i] is not Tensor t || (long)t.Length * t.ElementType.SizeOf() > MaxOutputBytes))
                return false;
        for (int i = 0; i < results.Length; i++)
            if (n.Outputs[i].Length > 0)
            {
                var t = (Tensor)results[i];
                g.Initializers[n.Outputs[i]] = t.Buffer.Length == t.Length ? t : t.Clone();
                g.ValueTypes.Remove(n.Outputs[i]);
            }
        return true;
    }
}
