namespace NetOnnx.Runtime;

/// <summary>
/// Drops a packed initializer from the graph (and the planner's constants) as soon as its last reader has been
/// planned and every reader packed it, so the model's copy and the packed copy of a weight are never both alive
/// for the rest of planning. A garbage collection after each few MiB dropped lets the next kernels' packed copies
/// reuse that memory instead of raising the process's peak.
/// </summary>
internal sealed class WeightRelease
{
    private const long CollectEvery = 4L << 20;
    private readonly Graph _graph;
    private readonly Dictionary<string, int> _pendingReaders = new(StringComparer.Ordinal);
    private readonly HashSet<string> _pinned = new(StringComparer.Ordinal);
    private long _droppedSinceCollect;

    public WeightRelease(Graph graph, IEnumerable<Node> order)
    {
        _graph = graph;
        foreach (var i in graph.Inputs) _pinned.Add(i.Name);   // a caller may feed them
        foreach (var o in graph.Outputs) _pinned.Add(o.Name);  // handed to the caller
        foreach (var n in order)
        {
            foreach (var g in graph.Subgraphs(n))
                foreach (var r in g.OuterScopeReads()) _pinned.Add(r); // subgraph plans bind their own constants
            foreach (var r in n.Inputs)
                if (r.Length > 0 && graph.Initializers.ContainsKey(r)) _pendingReaders[r] = _pendingReaders.GetValueOrDefault(r) + 1;
        }
    }

    /// <summary>Initializers removed from the graph, in the order they went.</summary>
    public List<string> Dropped { get; } = [];

    /// <summary>Called after <paramref name="node"/>'s kernel was created; <paramref name="releasable"/> says which initializers all readers so far packed.</summary>
    public void Planned(Node node, Dictionary<string, bool> releasable, Dictionary<string, Tensor> known)
    {
        foreach (var r in node.Inputs)
        {
            if (r.Length == 0 || !_pendingReaders.TryGetValue(r, out int left)) continue;
            _pendingReaders[r] = --left;
            if (left > 0 || _pinned.Contains(r) || !releasable.GetValueOrDefault(r)) continue;
            if (!_graph.Initializers.Remove(r, out var t)) continue;
            known.Remove(r);
            Dropped.Add(r);
            if (t.ElementType != DataType.String) _droppedSinceCollect += (long)t.Length * t.ElementType.SizeOf();
        }
        if (_droppedSinceCollect >= CollectEvery)
        {
            _droppedSinceCollect = 0;
            GC.Collect();
        }
    }
}
