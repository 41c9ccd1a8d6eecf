namespace NetOnnx.Runtime;

public enum AttributeKind
{
    Undefined = 0, Float = 1, Int = 2, String = 3, Tensor = 4, Graph = 5, Floats = 6, Ints = 7, Strings = 8,
    Tensors = 9, Graphs = 10, SparseTensor = 11, SparseTensors = 12, TypeProto = 13, TypeProtos = 14,
}

/// <summary>A node attribute. Strings are kept as raw bytes (ONNX strings need not be UTF-8) with a UTF-8 view.</summary>
public sealed class NodeAttribute
{
    public string Name { get; }
    public AttributeKind Kind { get; }
    public float Float { get; init; }
    public long Int { get; init; }
    public byte[]? Bytes { get; init; }
    public Tensor? Tensor { get; init; }
    public Graph? Graph { get; init; }
    public float[]? Floats { get; init; }
    public long[]? Ints { get; init; }
    public byte[][]? ByteStrings { get; init; }
    public Tensor[]? Tensors { get; init; }
    public Graph[]? Graphs { get; init; }
    public OnnxType? TypeValue { get; init; }
    public OnnxType[]? TypeValues { get; init; }
    /// <summary>Inside a function body: the caller's attribute this one refers to.</summary>
    public string? RefAttrName { get; init; }

    public NodeAttribute(string name, AttributeKind kind) { Name = name; Kind = kind; }

    public string String => Bytes is null ? "" : System.Text.Encoding.UTF8.GetString(Bytes);
    public string[] Strings => ByteStrings?.Select(b => System.Text.Encoding.UTF8.GetString(b)).ToArray() ?? [];

    public static NodeAttribute Of(string name, long v) => new(name, AttributeKind.Int) { Int = v };
    public static NodeAttribute Of(string name, float v) => new(name, AttributeKind.Float) { Float = v };
    public static NodeAttribute Of(string name, string v) => new(name, AttributeKind.String) { Bytes = System.Text.Encoding.UTF8.GetBytes(v) };
    public static NodeAttribute Of(string name, long[] v) => new(name, AttributeKind.Ints) { Ints = v };
    public static NodeAttribute Of(string name, float[] v) => new(name, AttributeKind.Floats) { Floats = v };
    public static NodeAttribute Of(string name, Tensor v) => new(name, AttributeKind.Tensor) { Tensor = v };
    public static NodeAttribute Of(string name, Graph v) => new(name, AttributeKind.Graph) { Graph = v };

    public override string ToString() => Kind switch
    {
        AttributeKind.Float => $"{Name}={Float}",
        AttributeKind.Int => $"{Name}={Int}",
        AttributeKind.String => $"{Name}=\"{String}\"",
        AttributeKind.Ints => $"{Name}=[{string.Join(",", Ints!)}]",
        AttributeKind.Floats => $"{Name}=[{string.Join(",", Floats!)}]",
        AttributeKind.Strings => $"{Name}=[{string.Join(",", Strings)}]",
        AttributeKind.Tensor => $"{Name}={Tensor}",
        AttributeKind.Graph => $"{Name}=<graph {Graph!.Name}>",
        _ => $"{Name}=<{Kind}>",
    };
}
