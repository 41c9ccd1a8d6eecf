using NetOnnx.Runtime;

namespace NetOnnx.Optimizer.Passes;

/// <summary>Removes nodes whose outputs nothing reads and initializers nothing uses (subgraph reads count).</summary>
public sealed class DeadCodeElimination : IGraphPass
{
    public string Name => "DeadCodeElimination";
    public OptimizationLevel Level => OptimizationLevel.Basic;

    public PassResult Run(Model model) => RunGraph(model.Graph, keepInputs: true);

    /// <summary>The same sweep for passes that rebuilt a graph's node list and left originals unread.</summary>
    internal static PassResult Sweep(Graph g) => RunGraph(g, keepInputs: true);

    private static PassResult RunGraph(Graph g, bool keepInputs)
    {
        var live = new HashSet<string>(g.Outputs.Select(o => o.Name), StringComparer.Ordinal);
        var kept = new List<Node>();
        int removed = 0;
        for (int i = g.Nodes.Count - 1; i >= 0; i--)
        {
            var n = g.Nodes[i];
            if (n.Outputs.Any(o => o.Length > 0 && live.Contains(o)) || HasSideEffects(n))
            {
                kept.Add(n);
                foreach (var inp in n.Inputs) if (inp.Length > 0) live.Add(inp);
                foreach (var sg in g.Subgraphs(n))
                {
                    RunGraph(sg, keepInputs: true);
                    foreach (var r in sg.OuterScopeReads()) live.Add(r);
                }
            }
            else removed++;
        }
        kept.Reverse();
        g.Nodes.Clear();
        g.Nodes.AddRange(kept);

        int initRemoved = 0;
        var inputNames = g.Inputs.Select(x => x.Name).ToHashSet();
        foreach (var name in g.Initializers.Keys.ToList())
            if (!live.Contains(name) && !(keepInputs && inputNames.Contains(name))) { g.Initializers.Remove(name); initRemoved++; }
        return new PassResult(removed, 0, initRemoved);
    }

    // Random ops have no side effects on the graph; nothing in ONNX's standard domain writes outside its outputs.
    private static bool HasSideEffects(Node n) => false;
}
