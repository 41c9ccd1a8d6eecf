namespace NetOnnx.Runtime;

/// <summary>An ONNX sequence value: an ordered list of tensors of one element type.</summary>
public sealed class TensorSequence
{
    public DataType ElementType { get; }
    public List<Tensor> Items { get; }
    public TensorSequence(DataType elementType, IEnumerable<Tensor>? items = null)
    {
        ElementType = elementType;
        Items = items?.ToList() ?? [];
    }
    public int Count => Items.Count;
    public override string ToString() => $"seq(tensor({ElementType.OnnxName()})) of {Count}";
}

/// <summary>An ONNX optional value: either empty or holding a tensor or a sequence.</summary>
public sealed class OptionalValue
{
    public OnnxType Type { get; }
    public object? Value { get; }
    public OptionalValue(OnnxType type, object? value) { Type = type; Value = value; }
    public bool HasValue => Value is not null;
    public override string ToString() => HasValue ? $"optional({Value})" : "optional(none)";
}

/// <summary>An ONNX map value (ai.onnx.ml): keys of one type to values of one type.</summary>
public sealed class MapValue
{
    public DataType KeyType { get; }
    public Tensor Keys { get; }
    public object Values { get; }
    public MapValue(DataType keyType, Tensor keys, object values) { KeyType = keyType; Keys = keys; Values = values; }
}

/// <summary>An ONNX sequence of maps (what ai.onnx.ml ZipMap produces: one map per input row).</summary>
public sealed class MapSequence
{
    public DataType KeyType { get; }
    public List<MapValue> Items { get; }
    public MapSequence(DataType keyType, IEnumerable<MapValue>? items = null)
    {
        KeyType = keyType;
        Items = items?.ToList() ?? [];
    }
    public int Count => Items.Count;
    public override string ToString() => $"seq(map({KeyType.OnnxName()}, ...)) of {Count}";
}
