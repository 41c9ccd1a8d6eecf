namespace NetOnnx.Runtime;

/// <summary>One operator application. An empty input name marks an omitted optional input.</summary>
public sealed class Node
{
    public string Name { get; set; }
    public string OpType { get; set; }
    /// <summary>Operator domain; "" is the standard ai.onnx domain.</summary>
    public string Domain { get; set; }
    public List<string> Inputs { get; }
    public List<string> Outputs { get; }
    public Dictionary<string, NodeAttribute> Attributes { get; }
    public string? DocString { get; set; }
    /// <summary>Which overload of a model-local function the node calls (NodeProto.overload, IR 10); "" for none.</summary>
    public string Overload { get; set; } = "";

    public Node(string opType, IEnumerable<string> inputs, IEnumerable<string> outputs, string name = "", string domain = "",
        IEnumerable<NodeAttribute>? attributes = null)
    {
        OpType = opType;
        Inputs = inputs.ToList();
        Outputs = outputs.ToList();
        Name = name;
        Domain = NormalizeDomain(domain);
        Attributes = new Dictionary<string, NodeAttribute>(StringComparer.Ordinal);
        if (attributes is not null) foreach (var a in attributes) Attributes[a.Name] = a;
    }

    public static string NormalizeDomain(string? d) => d is null or "ai.onnx" ? "" : d;

    /// <summary>A readable identity for error messages: name and op.</summary>
    public string Describe() => string.IsNullOrEmpty(Name) ? $"{OpType} node (output '{Outputs.FirstOrDefault()}')" : $"{OpType} node '{Name}'";

    public NodeAttribute? Attr(string name) => Attributes.GetValueOrDefault(name);
    public bool HasAttr(string name) => Attributes.ContainsKey(name);

    public long GetInt(string name, long def) => Attributes.TryGetValue(name, out var a) ? a.Int : def;
    public float GetFloat(string name, float def) => Attributes.TryGetValue(name, out var a) ? a.Float : def;
    public string GetString(string name, string def) => Attributes.TryGetValue(name, out var a) ? a.String : def;
    public long[]? GetInts(string name) => Attributes.TryGetValue(name, out var a) ? a.Ints ?? [] : null;
    public float[]? GetFloats(string name) => Attributes.TryGetValue(name, out var a) ? a.Floats ?? [] : null;
    public string[]? GetStrings(string name) => Attributes.TryGetValue(name, out var a) ? a.Strings : null;
    public Tensor? GetTensor(string name) => Attributes.TryGetValue(name, out var a) ? a.Tensor : null;
    public Graph? GetGraph(string name) => Attributes.TryGetValue(name, out var a) ? a.Graph : null;

    public override string ToString() =>
        $"{Describe()}({string.Join(", ", Inputs)}) -> ({string.Join(", ", Outputs)})" +
        (Attributes.Count > 0 ? " {" + string.Join(", ", Attributes.Values) + "}" : "");
}
