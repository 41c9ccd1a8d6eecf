using NetOnnx.Runtime;

namespace NetOnnx.Optimizer.Patterns;

/// <summary>
/// Bookkeeping for rewrites of one graph: who produces and who reads each value (a node whose subgraph reads an
/// outer value counts as its reader), which values are graph outputs, and safe edits. Removals are deferred to
/// <see cref="Commit"/> so passes can keep iterating <see cref="Graph.Nodes"/> while they edit.
/// </summary>
public sealed class GraphEditor
{
    private readonly Dictionary<string, Node> _producers = new(StringComparer.Ordinal);
    private readonly Dictionary<string, List<Node>> _consumers = new(StringComparer.Ordinal);
    private readonly HashSet<string> _graphOutputs;
    private readonly HashSet<string> _graphInputs;
    private readonly HashSet<Node> _removed = new(ReferenceEqualityComparer.Instance);
    private readonly List<(Node Before, Node Added)> _inserted = [];
    private HashSet<string>? _defined;

    public Graph Graph { get; }
    public int NodesRemoved { get; private set; }
    public int NodesAdded { get; private set; }

    public GraphEditor(Graph graph)
    {
        Graph = graph;
        _graphOutputs = graph.Outputs.Select(o => o.Name).ToHashSet(StringComparer.Ordinal);
        _graphInputs = graph.Inputs.Select(i => i.Name).ToHashSet(StringComparer.Ordinal);
        foreach (var n in graph.Nodes) Index(n);
    }

    private void Index(Node n)
    {
        foreach (var o in n.Outputs) if (o.Length > 0) _producers[o] = n;
        foreach (var name in ReadsOf(n)) AddConsumer(name, n);
    }

    private void AddConsumer(string name, Node n)
    {
        if (!_consumers.TryGetValue(name, out var list)) _consumers[name] = list = [];
        if (!list.Contains(n)) list.Add(n);
    }

    /// <summary>Values a node reads: its inputs and what its subgraphs read from outside themselves.</summary>
    private IEnumerable<string> ReadsOf(Node n)
    {
        foreach (var i in n.Inputs) if (i.Length > 0) yield return i;
        foreach (var sg in Graph.Subgraphs(n)) foreach (var r in sg.OuterScopeReads()) yield return r;
    }

    public bool IsGraphOutput(string name) => _graphOutputs.Contains(name);
    public bool IsGraphInput(string name) => _graphInputs.Contains(name);

    /// <summary>An initializer the caller cannot override (initializers that are also inputs are only defaults).</summary>
    public bool IsConstant(string name) => name.Length > 0 && Graph.Initializers.ContainsKey(name) && !_graphInputs.Contains(name);

    public Tensor? ConstantValue(string name) => IsConstant(name) ? Graph.Initializers[name] : null;

    /// <summary>The live node that produces a value, or null for inputs, initializers and outer-scope values.</summary>
    public Node? Producer(string name) => _producers.TryGetValue(name, out var n) && !_removed.Contains(n) ? n : null;

    /// <summary>Live nodes that read a value, each once.</summary>
    public IReadOnlyList<Node> Consumers(string name) =>
        _consumers.TryGetValue(name, out var l) ? l.Where(n => !_removed.Contains(n)).ToList() : [];

    /// <summary>True when exactly one node reads the value and it is not a graph output: fusing its producer away is safe.</summary>
    public bool HasSingleConsumer(string name) => !IsGraphOutput(name) && Consumers(name).Count == 1;

    public bool IsRemoved(Node n) => _removed.Contains(n);

    /// <summary>The live standard-domain node of type <paramref name="opType"/> producing the value, else null.</summary>
    public Node? Producer(string name, string opType) =>
        Producer(name) is { } n && n.OpType == opType && n.Domain.Length == 0 ? n : null;

    /// <summary>
    /// How many times live nodes read the value: each input slot counts, and so does each subgraph reading it.
    /// A node reading a value twice (Mul(x, x)) is two reads.
    /// </summary>
    public int ReadCount(string name)
    {
        int count = 0;
        foreach (var n in Consumers(name))
        {
            foreach (var i in n.Inputs) if (i == name) count++;
            foreach (var sg in Graph.Subgraphs(n)) if (sg.OuterScopeReads().Contains(name)) count++;
        }
        return count;
    }

    /// <summary>The one live node reading the value, once, when the value is no graph output: it may then be fused away.</summary>
    public Node? SoleReader(string name)
    {
        if (IsGraphOutput(name)) return null;
        var c = Consumers(name);
        return c.Count == 1 && ReadCount(name) == 1 ? c[0] : null;
    }

    /// <summary><see cref="SoleReader"/> when that reader is a standard-domain <paramref name="opType"/> node.</summary>
    public Node? SoleReader(string name, string opType) =>
        SoleReader(name) is { } n && n.OpType == opType && n.Domain.Length == 0 ? n : null;

    /// <summary>
    /// The value of a one-element float (or double) constant of rank 0 or 1 (a higher-rank one could broadcast a
    /// pattern's result to a larger rank than the fused node makes).
    /// </summary>
    public bool ScalarConstant(string name, out float value)
    {
        value = 0;
        if (ConstantValue(name) is not { Length: 1, Rank: <= 1 } t) return false;
        switch (t.ElementType)
        {
            case DataType.Float: value = t.ReadOnlySpan<float>()[0]; return true;
            case DataType.Double: value = (float)t.ReadOnlySpan<double>()[0]; return true;
            default: return false;
        }
    }

    /// <summary>For a binary node with one scalar-constant operand, the other operand and the constant.</summary>
    public bool SplitScalar(Node n, out string operand, out float value)
    {
        operand = ""; value = 0;
        if (n.Inputs.Count != 2) return false;
        if (ScalarConstant(n.Inputs[1], out value)) { operand = n.Inputs[0]; return true; }
        if (ScalarConstant(n.Inputs[0], out value)) { operand = n.Inputs[1]; return true; }
        return false;
    }

    /// <summary>Whether every value the subgraph's nodes other than <paramref name="last"/> produce is read only inside it.</summary>
    public bool IsSelfContained(IReadOnlyCollection<Node> nodes, Node last)
    {
        foreach (var n in nodes)
        {
            if (ReferenceEquals(n, last)) continue;
            foreach (var o in n.Outputs)
            {
                if (o.Length == 0) continue;
                if (IsGraphOutput(o)) return false;
                foreach (var c in Consumers(o)) if (!nodes.Contains(c)) return false;
            }
        }
        return true;
    }

    /// <summary>Replaces a matched subgraph by one node, placed where <paramref name="last"/> was.</summary>
    public void ReplaceSubgraph(IEnumerable<Node> nodes, Node last, Node fused)
    {
        foreach (var n in nodes) if (!ReferenceEquals(n, last)) Remove(n);
        Replace(last, fused);
    }

    /// <summary>Adds an initializer under a fresh name (originals may be shared, so passes never edit them).</summary>
    public string AddInitializer(string stem, Tensor t)
    {
        var name = FreshName(stem);
        Graph.Initializers[name] = t;
        return name;
    }

    public TensorType? TensorTypeOf(string name) => Graph.TypeOf(name) as TensorType;

    /// <summary>Marks a node removed; it leaves <see cref="Graph.Nodes"/> at <see cref="Commit"/>.</summary>
    public void Remove(Node n)
    {
        if (_removed.Add(n)) NodesRemoved++;
    }

    /// <summary>Adds a node just before <paramref name="before"/> (keeping topological order) or at the end.</summary>
    public void Insert(Node added, Node? before = null)
    {
        _inserted.Add((before!, added));
        Index(added);
        NodesAdded++;
    }

    /// <summary>Replaces one node by others at its position.</summary>
    public void Replace(Node old, params Node[] replacements)
    {
        foreach (var r in replacements) Insert(r, old);
        Remove(old);
    }

    /// <summary>Points one input of a node at another value, keeping the reader index current.</summary>
    public void SetInput(Node n, int index, string value)
    {
        var old = n.Inputs[index];
        n.Inputs[index] = value;
        if (value.Length > 0) AddConsumer(value, n);
        if (old.Length > 0 && !n.Inputs.Contains(old) && !Graph.Subgraphs(n).Any() && _consumers.TryGetValue(old, out var list)) list.Remove(n);
    }

    /// <summary>
    /// Makes every reader of <paramref name="from"/> read <paramref name="to"/> instead, inside subgraphs too
    /// (unless a subgraph defines its own value of that name). Graph outputs are not renamed here.
    /// </summary>
    public void ReplaceUses(string from, string to)
    {
        if (from == to) return;
        foreach (var n in Consumers(from))
        {
            for (int i = 0; i < n.Inputs.Count; i++) if (n.Inputs[i] == from) n.Inputs[i] = to;
            foreach (var sg in Graph.Subgraphs(n)) RenameInSubgraph(sg, from, to);
            AddConsumer(to, n);
        }
        _consumers.Remove(from);
    }

    private static void RenameInSubgraph(Graph g, string from, string to)
    {
        if (g.DefinedNames().Contains(from)) return; // shadowed: the subgraph's own value
        foreach (var n in g.Nodes)
        {
            for (int i = 0; i < n.Inputs.Count; i++) if (n.Inputs[i] == from) n.Inputs[i] = to;
            foreach (var sg in g.Subgraphs(n)) RenameInSubgraph(sg, from, to);
        }
        // Subgraph outputs are positional, so renaming one that passes an outer value through is safe.
        foreach (var o in g.Outputs) if (o.Name == from) o.Name = to;
    }

    /// <summary>
    /// Removes a node whose output <paramref name="output"/> equals its input <paramref name="input"/>, making readers
    /// read the input. When the output is a graph output, the input's producer is renamed to produce it instead,
    /// which needs a producing node here whose value is not itself a graph output. Returns false (and changes
    /// nothing) when that is impossible.
    /// </summary>
    public bool Bypass(Node n, string input, string output)
    {
        if (!IsGraphOutput(output))
        {
            ReplaceUses(output, input);
            Remove(n);
            return true;
        }
        var producer = Producer(input);
        if (producer is null || IsGraphOutput(input) || Graph.Outputs.Count(o => o.Name == output) != 1) return false;
        RenameValue(input, output);
        Remove(n);
        return true;
    }

    /// <summary>Renames a node-produced value everywhere (producer output, readers, type annotation).</summary>
    private void RenameValue(string from, string to)
    {
        var producer = Producer(from)!;
        for (int i = 0; i < producer.Outputs.Count; i++) if (producer.Outputs[i] == from) producer.Outputs[i] = to;
        _producers.Remove(from);
        _producers[to] = producer;
        ReplaceUses(from, to);
        if (Graph.ValueTypes.Remove(from, out var t) && !Graph.ValueTypes.ContainsKey(to)) Graph.ValueTypes[to] = t;
    }

    /// <summary>A value name not used anywhere in the graph (nor handed out before), from a readable stem.</summary>
    public string FreshName(string stem)
    {
        _defined ??= Graph.DefinedNames();
        bool Taken(string n) => _defined.Contains(n) || _consumers.ContainsKey(n) || _producers.ContainsKey(n) || Graph.Initializers.ContainsKey(n);
        var name = stem;
        for (int k = 1; Taken(name); k++) name = $"{stem}_{k}";
        _defined.Add(name);
        return name;
    }

    /// <summary>Applies removals and insertions to <see cref="Graph.Nodes"/> and returns what changed.</summary>
    public PassResult Commit(int initializersRemoved = 0, string? detail = null)
    {
        if (_removed.Count > 0 || _inserted.Count > 0)
        {
            var result = new List<Node>(Graph.Nodes.Count + _inserted.Count);
            foreach (var n in Graph.Nodes)
            {
                foreach (var (before, added) in _inserted) if (ReferenceEquals(before, n) && !_removed.Contains(added)) result.Add(added);
                if (!_removed.Contains(n)) result.Add(n);
            }
            foreach (var (before, added) in _inserted) if (before is null && !_removed.Contains(added)) result.Add(added);
            // Values only removed nodes made are gone: drop their stale type annotations.
            var live = new HashSet<string>(StringComparer.Ordinal);
            foreach (var n in result) foreach (var o in n.Outputs) live.Add(o);
            foreach (var n in _removed) foreach (var o in n.Outputs) if (!live.Contains(o)) Graph.ValueTypes.Remove(o);
            Graph.Nodes.Clear();
            Graph.Nodes.AddRange(result);
        }
        var r = new PassResult(NodesRemoved, NodesAdded, initializersRemoved, detail);
        _removed.Clear();
        _inserted.Clear();
        NodesRemoved = NodesAdded = 0;
        return r;
    }
}
