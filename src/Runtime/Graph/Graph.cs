namespace NetOnnx.Runtime;

/// <summary>
/// A computation graph: nodes in topological order (the importer checks this), typed inputs and outputs,
/// constant initializers, and known types of intermediate values. Subgraphs of If/Loop/Scan are Graphs too
/// and may read values of enclosing graphs by name.
/// </summary>
public sealed class Graph
{
    public string Name { get; set; } = "";
    public List<Node> Nodes { get; } = [];
    public List<ValueInfo> Inputs { get; } = [];
    public List<ValueInfo> Outputs { get; } = [];
    public Dictionary<string, Tensor> Initializers { get; } = new(StringComparer.Ordinal);
    /// <summary>Type annotations for intermediate values (from the file and from shape inference).</summary>
    public Dictionary<string, OnnxType> ValueTypes { get; } = new(StringComparer.Ordinal);
    public string? DocString { get; set; }

    public OnnxType? TypeOf(string name)
    {
        if (ValueTypes.TryGetValue(name, out var t)) return t;
        foreach (var i in Inputs) if (i.Name == name) return i.Type;
        foreach (var o in Outputs) if (o.Name == name) return o.Type;
        if (Initializers.TryGetValue(name, out var init)) return new TensorType(init.ElementType, init.Shape.Select(d => Dim.Known(d)).ToArray());
        return null;
    }

    /// <summary>Inputs that have no initializer: what a caller must feed.</summary>
    public IEnumerable<ValueInfo> RequiredInputs => Inputs.Where(i => !Initializers.ContainsKey(i.Name));

    /// <summary>Names every node and graph input defines (not outer-scope values).</summary>
    public HashSet<string> DefinedNames()
    {
        var s = new HashSet<string>(StringComparer.Ordinal);
        foreach (var i in Inputs) s.Add(i.Name);
        foreach (var k in Initializers.Keys) s.Add(k);
        foreach (var n in Nodes) foreach (var o in n.Outputs) if (o.Length > 0) s.Add(o);
        return s;
    }

    /// <summary>Names this graph (and its nested subgraphs) read but does not define: implicit outer-scope inputs.</summary>
    public HashSet<string> OuterScopeReads()
    {
        var defined = DefinedNames();
        var reads = new HashSet<string>(StringComparer.Ordinal);
        foreach (var n in Nodes)
        {
            foreach (var i in n.Inputs) if (i.Length > 0 && !defined.Contains(i)) reads.Add(i);
            foreach (var a in n.Attributes.Values)
            {
                if (a.Graph is not null) foreach (var r in a.Graph.OuterScopeReads()) if (!defined.Contains(r)) reads.Add(r);
                if (a.Graphs is not null) foreach (var g in a.Graphs) foreach (var r in g.OuterScopeReads()) if (!defined.Contains(r)) reads.Add(r);
            }
        }
        foreach (var o in Outputs) if (!defined.Contains(o.Name)) reads.Add(o.Name);
        return reads;
    }

    public IEnumerable<Graph> Subgraphs(Node n)
    {
        foreach (var a in n.Attributes.Values)
        {
            if (a.Graph is not null) yield return a.Graph;
            if (a.Graphs is not null) foreach (var g in a.Graphs) yield return g;
        }
    }
}

/// <summary>A model-local function (FunctionProto): a named graph body that nodes may call like an operator.</summary>
public sealed class FunctionDef
{
    public string Name { get; init; } = "";
    public string Domain { get; init; } = "";
    public string Overload { get; init; } = "";
    public List<string> Inputs { get; init; } = [];
    public List<string> Outputs { get; init; } = [];
    public List<string> AttributeNames { get; init; } = [];
    public Dictionary<string, NodeAttribute> AttributeDefaults { get; init; } = [];
    public List<Node> Nodes { get; init; } = [];
    public Dictionary<string, long> Opsets { get; init; } = [];
}

/// <summary>A loaded model: the main graph, the opset version per domain, metadata and local functions.</summary>
public sealed class Model
{
    public Graph Graph { get; set; } = new();
    /// <summary>Opset version per domain ("" = ai.onnx).</summary>
    public Dictionary<string, long> Opsets { get; } = new(StringComparer.Ordinal);
    public long IrVersion { get; set; } = 8;
    public string ProducerName { get; set; } = "";
    public string ProducerVersion { get; set; } = "";
    public string Domain { get; set; } = "";
    public long ModelVersion { get; set; }
    public string DocString { get; set; } = "";
    public Dictionary<string, string> Metadata { get; } = new(StringComparer.Ordinal);
    public Dictionary<(string Domain, string Name), FunctionDef> Functions { get; } = [];
    /// <summary>Folder the model was loaded from (for external data), if any.</summary>
    public string? BaseDirectory { get; set; }

    public long OpsetFor(string domain) => Opsets.TryGetValue(Node.NormalizeDomain(domain), out var v) ? v : 0;
}
