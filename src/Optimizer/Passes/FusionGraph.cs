using NetOnnx.Runtime;

namespace NetOnnx.Optimizer.Passes;

/// <summary>
/// Producer/consumer index over one graph, for pattern-matching fusions. Built once per pass run; fusions
/// collect their rewrites and apply them at the end with <see cref="Apply"/>, so the index stays valid while
/// matching.
/// </summary>
internal sealed class FusionGraph
{
    private readonly Graph _g;
    private readonly Dictionary<string, Node> _producer = new(StringComparer.Ordinal);
    private readonly Dictionary<string, List<Node>> _consumers = new(StringComparer.Ordinal);
    private readonly HashSet<string> _graphOutputs;
    private readonly HashSet<Node> _removed = new(ReferenceEqualityComparer.Instance);
    private readonly Dictionary<Node, Node> _replacements = new(ReferenceEqualityComparer.Instance);

    public FusionGraph(Graph g)
    {
        _g = g;
        _graphOutputs = g.Outputs.Select(o => o.Name).ToHashSet(StringComparer.Ordinal);
        foreach (var n in g.Nodes)
        {
            foreach (var o in n.Outputs) if (o.Length > 0) _producer[o] = n;
            foreach (var i in n.Inputs) if (i.Length > 0) Use(i, n);
            // A subgraph reading a value is a consumer the pattern cannot see into: count it so the value is kept.
            foreach (var sg in g.Subgraphs(n)) foreach (var r in sg.OuterScopeReads()) Use(r, n);
        }
    }

    private void Use(string name, Node n)
    {
        if (!_consumers.TryGetValue(name, out var l)) _consumers[name] = l = [];
        if (!l.Contains(n)) l.Add(n);
    }

    public Graph Graph => _g;

    /// <summary>The node producing a value, unless that node is already claimed by another fusion.</summary>
    public Node? Producer(string name, string opType) =>
        _producer.TryGetValue(name, out var n) && n.OpType == opType && n.Domain.Length == 0 && !_removed.Contains(n) && !_replacements.ContainsKey(n) ? n : null;

    public IReadOnlyList<Node> Consumers(string name) => _consumers.TryGetValue(name, out var l) ? l : [];

    /// <summary>The only node reading the value (and it is no graph output), with the given op; else null.</summary>
    public Node? SoleConsumer(string name, string opType)
    {
        if (_graphOutputs.Contains(name) || !_consumers.TryGetValue(name, out var l) || l.Count != 1) return null;
        var n = l[0];
        return n.OpType == opType && n.Domain.Length == 0 && !_removed.Contains(n) && !_replacements.ContainsKey(n) ? n : null;
    }

    public bool IsGraphOutput(string name) => _graphOutputs.Contains(name);

    public bool Claimed(Node n) => _removed.Contains(n) || _replacements.ContainsKey(n);

    /// <summary>
    /// The value of a one-element float constant of rank 0 or 1, if the name is one (a higher-rank one could
    /// broadcast the pattern's result to a larger rank than the fused node makes).
    /// </summary>
    public bool ScalarConstant(string name, out float value)
    {
        value = 0;
        if (!_g.Initializers.TryGetValue(name, out var t) || t.Length != 1 || t.Rank > 1 || IsOverridable(name)) return false;
        switch (t.ElementType)
        {
            case DataType.Float: value = t.ReadOnlySpan<float>()[0]; return true;
            case DataType.Double: value = (float)t.ReadOnlySpan<double>()[0]; return true;
            default: return false;
        }
    }

    /// <summary>A constant the caller cannot replace (initializers that are also graph inputs are only defaults).</summary>
    public Tensor? Constant(string name) =>
        _g.Initializers.TryGetValue(name, out var t) && !IsOverridable(name) ? t : null;

    private bool IsOverridable(string name) => _g.Inputs.Any(i => i.Name == name);

    public static bool Near(float v, double expected, double relTol = 1e-4) =>
        Math.Abs(v - expected) <= relTol * Math.Max(1e-6, Math.Abs(expected));

    /// <summary>For a binary node with one operand equal to <paramref name="known"/>, the other operand; else null.</summary>
    public static string? Other(Node n, string known) =>
        n.Inputs.Count != 2 ? null : n.Inputs[0] == known ? n.Inputs[1] : n.Inputs[1] == known ? n.Inputs[0] : null;

    /// <summary>For a binary node with one scalar-constant operand, the other operand and the constant.</summary>
    public bool SplitScalar(Node n, out string operand, out float value)
    {
        operand = ""; value = 0;
        if (n.Inputs.Count != 2) return false;
        if (ScalarConstant(n.Inputs[1], out value)) { operand = n.Inputs[0]; return true; }
        if (ScalarConstant(n.Inputs[0], out value)) { operand = n.Inputs[1]; return true; }
        return false;
    }

    /// <summary>Whether every value the pattern's inner nodes produce is read only inside the pattern.</summary>
    public bool Internal(IReadOnlyCollection<Node> pattern, Node last)
    {
        foreach (var n in pattern)
        {
            if (n == last) continue;
            foreach (var o in n.Outputs)
            {
                if (o.Length == 0) continue;
                if (_graphOutputs.Contains(o)) return false;
                foreach (var c in Consumers(o)) if (!pattern.Contains(c)) return false;
            }
        }
        return true;
    }

    /// <summary>Replaces the pattern's nodes by <paramref name="fused"/>, placed where <paramref name="last"/> was.</summary>
    public void Replace(IEnumerable<Node> pattern, Node last, Node fused)
    {
        foreach (var n in pattern) if (n != last) _removed.Add(n);
        _replacements[last] = fused;
    }

    /// <summary>Rewrites the node list; returns (removed, added).</summary>
    public (int Removed, int Added) Apply()
    {
        if (_replacements.Count == 0) return (0, 0);
        var kept = new List<Node>(_g.Nodes.Count);
        foreach (var n in _g.Nodes)
        {
            if (_removed.Contains(n)) continue;
            kept.Add(_replacements.TryGetValue(n, out var f) ? f : n);
        }
        // Values the removed nodes made are gone; drop their stale type annotations.
        var live = new HashSet<string>(StringComparer.Ordinal);
        foreach (var n in kept) foreach (var o in n.Outputs) live.Add(o);
        foreach (var n in _removed) foreach (var o in n.Outputs) if (!live.Contains(o)) _g.ValueTypes.Remove(o);
        int removed = _removed.Count + _replacements.Count, added = _replacements.Count;
        _g.Nodes.Clear();
        _g.Nodes.AddRange(kept);
        _removed.Clear();
        _replacements.Clear();
        return (removed, added);
    }

    /// <summary>Shape and type facts for matching; inference failures just leave values unknown.</summary>
    public static void InferTypes(Model model)
    {
        try { ShapeInference.InferGraph(model.Graph, model); }
        catch (OnnxException) { }
    }

    public TensorType? TypeOf(string name) => _g.TypeOf(name) as TensorType;

    /// <summary>Makes sure the model imports the internal domain, so writers and planners see it.</summary>
    public static void ImportInternalDomain(Model model)
    {
        if (!model.Opsets.ContainsKey(FusedOps.Domain)) model.Opsets[FusedOps.Domain] = FusedOps.Version;
    }
}
