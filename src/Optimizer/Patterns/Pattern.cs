using NetOnnx.Runtime;

namespace NetOnnx.Optimizer.Patterns;

/// <summary>
/// A declarative description of a subgraph, matched backwards from a root node through producers, e.g.
/// <c>Pattern.Op("Add", Pattern.Op("MatMul", Pattern.Any("a"), Pattern.Const("w")), Pattern.Const("b"))</c>.
/// Named leaves capture value names (a name used twice must bind the same value); <see cref="OpPattern.As"/>
/// captures nodes. Inner op nodes must by default feed only the matched node, so a fusion may delete them.
/// </summary>
public abstract class Pattern
{
    public static OpPattern Op(string opType, params Pattern[] inputs) => new(opType, inputs);

    /// <summary>Any value (graph input, initializer or node output).</summary>
    public static Pattern Any(string? capture = null) => new LeafPattern(capture, LeafKind.Any);

    /// <summary>An initializer the caller cannot override.</summary>
    public static Pattern Const(string? capture = null) => new LeafPattern(capture, LeafKind.Const);

    /// <summary>A constant that also satisfies <paramref name="predicate"/> (e.g. a scalar, a given value).</summary>
    public static Pattern Const(string? capture, Func<Tensor, bool> predicate) => new LeafPattern(capture, LeafKind.Const, predicate);

    /// <summary>Matches <paramref name="root"/> against this pattern; null when it does not match.</summary>
    public PatternMatch? Match(GraphEditor editor, Node root)
    {
        if (this is not OpPattern op) throw new InvalidOperationException("a pattern is matched from an operator at its root");
        var m = new PatternMatch();
        return op.MatchNode(editor, root, m, isRoot: true) ? m : null;
    }

    /// <summary>All matches in the graph, in node order, skipping nodes already claimed by an earlier match.</summary>
    public IEnumerable<PatternMatch> MatchAll(GraphEditor editor)
    {
        var claimed = new HashSet<Node>(ReferenceEqualityComparer.Instance);
        foreach (var n in editor.Graph.Nodes.ToList())
        {
            if (editor.IsRemoved(n) || claimed.Contains(n)) continue;
            var m = Match(editor, n);
            if (m is null || m.Nodes.Any(claimed.Contains)) continue;
            foreach (var x in m.Nodes) claimed.Add(x);
            yield return m;
        }
    }

    internal abstract bool MatchValue(GraphEditor editor, string value, PatternMatch m);
}

internal enum LeafKind { Any, Const }

internal sealed class LeafPattern(string? capture, LeafKind kind, Func<Tensor, bool>? predicate = null) : Pattern
{
    internal override bool MatchValue(GraphEditor editor, string value, PatternMatch m)
    {
        if (value.Length == 0) return false;
        if (kind == LeafKind.Const && (!editor.IsConstant(value) || (predicate is not null && !predicate(editor.Graph.Initializers[value]))))
            return false;
        return m.Bind(capture, value);
    }
}

/// <summary>An operator with patterns for its inputs; chain the modifiers to refine it.</summary>
public sealed class OpPattern : Pattern
{
    private readonly string _opType;
    private readonly Pattern[] _inputs;
    private string _domain = "";
    private string? _nodeCapture;
    private Func<Node, bool>? _predicate;
    private bool _commutative, _allowShared, _extraInputs;

    internal OpPattern(string opType, Pattern[] inputs) { _opType = opType; _inputs = inputs; }

    public OpPattern InDomain(string domain) { _domain = Node.NormalizeDomain(domain); return this; }
    /// <summary>Captures the matched node under <paramref name="name"/>.</summary>
    public OpPattern As(string name) { _nodeCapture = name; return this; }
    /// <summary>An extra condition on the node (attributes, opset...).</summary>
    public OpPattern Where(Func<Node, bool> predicate) { _predicate = predicate; return this; }
    /// <summary>A two-input op whose inputs may match in either order.</summary>
    public OpPattern Commutative() { _commutative = true; return this; }
    /// <summary>As an inner node, its output may have other readers too (the rewrite keeps it).</summary>
    public OpPattern AllowSharedOutput() { _allowShared = true; return this; }
    /// <summary>Inputs beyond those listed are unconstrained (e.g. optional inputs).</summary>
    public OpPattern AllowExtraInputs() { _extraInputs = true; return this; }

    internal override bool MatchValue(GraphEditor editor, string value, PatternMatch m)
    {
        var producer = editor.Producer(value);
        if (producer is null || producer.Outputs[0] != value) return false;
        if (!_allowShared && !editor.HasSingleConsumer(value)) return false;
        return MatchNode(editor, producer, m, isRoot: false);
    }

    internal bool MatchNode(GraphEditor editor, Node n, PatternMatch m, bool isRoot)
    {
        if (n.OpType != _opType || n.Domain != _domain || editor.IsRemoved(n)) return false;
        if (_extraInputs ? n.Inputs.Count < _inputs.Length : n.Inputs.Count != _inputs.Length && _inputs.Length > 0) return false;
        if (_predicate is not null && !_predicate(n)) return false;
        var saved = m.Save();
        if (!MatchInputs(editor, n, m, swap: false))
        {
            m.Restore(saved);
            if (!(_commutative && _inputs.Length == 2 && MatchInputs(editor, n, m, swap: true))) { m.Restore(saved); return false; }
        }
        if (!m.BindNode(_nodeCapture, n)) { m.Restore(saved); return false; }
        if (isRoot) m.Root = n;
        return true;
    }

    private bool MatchInputs(GraphEditor editor, Node n, PatternMatch m, bool swap)
    {
        for (int i = 0; i < _inputs.Length; i++)
        {
            int src = swap ? 1 - i : i;
            if (!_inputs[i].MatchValue(editor, n.Inputs[src], m)) return false;
        }
        return true;
    }
}

/// <summary>What a pattern bound: captured values and nodes, and every matched node (root last).</summary>
public sealed class PatternMatch
{
    private readonly Dictionary<string, string> _values = new(StringComparer.Ordinal);
    private readonly Dictionary<string, Node> _nodes = new(StringComparer.Ordinal);
    private readonly List<Node> _matched = [];

    public Node Root { get; internal set; } = null!;
    /// <summary>Matched nodes, producers before their readers, root last.</summary>
    public IReadOnlyList<Node> Nodes => _matched;

    /// <summary>The value name bound to a capture.</summary>
    public string this[string capture] => _values[capture];
    public Node Node(string capture) => _nodes[capture];
    public bool TryGetValue(string capture, out string value) => _values.TryGetValue(capture, out value!);

    internal bool Bind(string? capture, string value)
    {
        if (capture is null) return true;
        if (_values.TryGetValue(capture, out var bound)) return bound == value;
        _values[capture] = value;
        return true;
    }

    internal bool BindNode(string? capture, Node n)
    {
        if (_matched.Contains(n)) return false; // a node may not play two parts
        _matched.Add(n);
        if (capture is null) return true;
        if (_nodes.TryGetValue(capture, out var bound)) return ReferenceEquals(bound, n);
        _nodes[capture] = n;
        return true;
    }

    internal (Dictionary<string, string>, Dictionary<string, Node>, int) Save() => (new(_values), new(_nodes), _matched.Count);

    internal void Restore((Dictionary<string, string> Values, Dictionary<string, Node> Nodes, int Count) s)
    {
        _values.Clear(); foreach (var kv in s.Values) _values[kv.Key] = kv.Value;
        _nodes.Clear(); foreach (var kv in s.Nodes) _nodes[kv.Key] = kv.Value;
        _matched.RemoveRange(s.Count, _matched.Count - s.Count);
    }
}
