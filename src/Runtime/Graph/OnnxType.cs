namespace NetOnnx.Runtime;

/// <summary>One dimension of a tensor type: a known size, a symbol (e.g. "batch"), or unknown.</summary>
public readonly record struct Dim(long Value, string? Symbol)
{
    public static Dim Known(long v) => new(v, null);
    public static Dim Named(string s) => new(-1, s);
    public static readonly Dim Unknown = new(-1, null);
    public bool IsKnown => Value >= 0;
    public override string ToString() => IsKnown ? Value.ToString() : Symbol ?? "?";
}

/// <summary>The type of a graph value: tensor, sequence, map, optional or sparse tensor.</summary>
public abstract record OnnxType
{
    public static TensorType Tensor(DataType t, params Dim[]? shape) => new(t, shape);
}

/// <summary>A tensor type; <see cref="Shape"/> is null when even the rank is unknown.</summary>
public sealed record TensorType(DataType ElementType, Dim[]? Shape) : OnnxType
{
    public bool HasStaticShape => Shape is not null && Shape.All(d => d.IsKnown);
    public int[]? StaticShape => HasStaticShape ? Shape!.Select(d => checked((int)d.Value)).ToArray() : null;
    public override string ToString() =>
        $"tensor({ElementType.OnnxName()})" + (Shape is null ? "" : "[" + string.Join(",", Shape.Select(d => d.ToString())) + "]");
    public bool Equals(TensorType? other) => other is not null && other.ElementType == ElementType &&
        (Shape is null ? other.Shape is null : other.Shape is not null && Shape.SequenceEqual(other.Shape));
    public override int GetHashCode() => HashCode.Combine(ElementType, Shape?.Length ?? -1);
}

public sealed record SparseTensorType(DataType ElementType, Dim[]? Shape) : OnnxType
{
    public override string ToString() => $"sparse_tensor({ElementType.OnnxName()})";
}

public sealed record SequenceType(OnnxType? ElementType) : OnnxType
{
    public override string ToString() => $"seq({ElementType})";
}

public sealed record MapType(DataType KeyType, OnnxType? ValueType) : OnnxType
{
    public override string ToString() => $"map({KeyType.OnnxName()},{ValueType})";
}

public sealed record OptionalType(OnnxType? ElementType) : OnnxType
{
    public override string ToString() => $"optional({ElementType})";
}

/// <summary>A named, typed value: graph input, output or intermediate annotation.</summary>
public sealed class ValueInfo
{
    public string Name { get; set; }
    public OnnxType? Type { get; set; }
    public string? DocString { get; set; }
    public ValueInfo(string name, OnnxType? type) { Name = name; Type = type; }
    public override string ToString() => $"{Name}: {Type?.ToString() ?? "?"}";
}
