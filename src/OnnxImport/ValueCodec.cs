using Google.Protobuf;
using NetOnnx.OnnxImport.Proto;
using NetOnnx.Runtime;


namespace NetOnnx.OnnxImport;

/// <summary>
/// Reads and writes the .pb files of ONNX test data: a TensorProto, or a SequenceProto / OptionalProto / MapProto
/// when the graph declares such a type for that value.
/// </summary>
public static class ValueCodec
{
    public static (string Name, object Value) Read(string path, OnnxType? expected)
    {
        if (!File.Exists(path)) throw new OnnxException($"input file '{path}' does not exist");
        try
        {
            return Read(File.ReadAllBytes(path), expected);
        }
        catch (InvalidProtocolBufferException e)
        {
            throw new OnnxException($"'{path}' is not a valid serialized tensor ({e.Message})", e);
        }
        catch (ModelLoadException e)
        {
            throw new OnnxException($"'{path}': {e.Message}", e);
        }
    }

    public static (string Name, object Value) Read(byte[] bytes, OnnxType? expected)
    {
        switch (expected)
        {
            case SequenceType st:
            {
                var s = SequenceProto.Parser.ParseFrom(bytes);
                return (s.Name, FromSequence(s, st));
            }
            case OptionalType ot:
            {
                var o = OptionalProto.Parser.ParseFrom(bytes);
                return (o.Name, FromOptional(o, ot));
            }
            case MapType:
            {
                var m = MapProto.Parser.ParseFrom(bytes);
                return (m.Name, FromMap(m));
            }
            default:
            {
                var t = TensorProto.Parser.ParseFrom(bytes);
                return (t.Name, TensorCodec.FromProto(t));
            }
        }
    }

    private static TensorSequence FromSequence(SequenceProto s, SequenceType? declared)
    {
        var items = s.TensorValues.Select(t => TensorCodec.FromProto(t)).ToList();
        if (s.SequenceValues.Count > 0 || s.MapValues.Count > 0 || s.OptionalValues.Count > 0)
            throw new NotSupportedException("sequences of non-tensor values are not supported");
        // An empty sequence carries no items to take the element type from: use the graph's declared type.
        var et = items.Count > 0 ? items[0].ElementType
            : declared?.ElementType is TensorType tt ? tt.ElementType : DataType.Float;
        if (items.Any(t => t.ElementType != et))
            throw new NotSupportedException("the sequence mixes tensor element types");
        return new TensorSequence(et, items);
    }

    private static OptionalValue FromOptional(OptionalProto o, OptionalType ot)
    {
        object? v = o.ElemType switch
        {
            (int)OptionalProto.Types.DataType.Tensor when o.TensorValue is not null => TensorCodec.FromProto(o.TensorValue),
            (int)OptionalProto.Types.DataType.Sequence when o.SequenceValue is not null => FromSequence(o.SequenceValue, ot.ElementType as SequenceType),
            _ => null,
        };
        return new OptionalValue(ot.ElementType ?? OnnxType.Tensor(DataType.Float), v);
    }

    private static MapValue FromMap(MapProto m)
    {
        var keyType = (DataType)m.KeyType;
        Tensor keys = keyType == DataType.String
            ? Tensor.Create(m.StringKeys.Select(k => k.ToStringUtf8()).ToArray(), m.StringKeys.Count)
            : Tensor.Create(m.Keys.ToArray(), m.Keys.Count);
        object values = m.Values is null ? new TensorSequence(DataType.Float) : FromSequence(m.Values, null);
        return new MapValue(keyType, keys, values);
    }

    public static byte[] Write(object value, string name)
    {
        switch (value)
        {
            case Tensor t: return TensorCodec.ToProto(t, name).ToByteArray();
            case TensorSequence s: return ToSequence(s, name).ToByteArray();
            case OptionalValue o:
            {
                var p = new OptionalProto { Name = name };
                switch (o.Value)
                {
                    case Tensor t: p.ElemType = (int)OptionalProto.Types.DataType.Tensor; p.TensorValue = TensorCodec.ToProto(t); break;
                    case TensorSequence s: p.ElemType = (int)OptionalProto.Types.DataType.Sequence; p.SequenceValue = ToSequence(s, ""); break;
                    default: p.ElemType = o.Type is SequenceType ? (int)OptionalProto.Types.DataType.Sequence : (int)OptionalProto.Types.DataType.Tensor; break;
                }
                return p.ToByteArray();
            }
            case MapValue m: return ToMap(m, name).ToByteArray();
            case MapSequence ms:
            {
                var p = new SequenceProto { Name = name, ElemType = (int)SequenceProto.Types.DataType.Map };
                p.MapValues.AddRange(ms.Items.Select(m => ToMap(m, "")));
                return p.ToByteArray();
            }
            default: throw new NotSupportedException($"cannot serialise a {value.GetType().Name}");
        }
    }

    /// <summary>A map as ONNX writes it: keys in keys/string_keys, values as a sequence of scalar tensors.</summary>
    private static MapProto ToMap(MapValue m, string name)
    {
        var p = new MapProto { Name = name, KeyType = (int)m.KeyType };
        if (m.KeyType == DataType.String) p.StringKeys.AddRange(m.Keys.ToArray<string>().Select(ByteString.CopyFromUtf8));
        else p.Keys.AddRange(m.Keys.ToInt64Array());
        var values = m.Values switch
        {
            Tensor t => new TensorSequence(t.ElementType, Enumerable.Range(0, t.Length).Select(i =>
            {
                var one = Tensor.Zeros(t.ElementType);
                Array.Copy(t.Buffer, i, one.Buffer, 0, 1);
                return one;
            })),
            TensorSequence s => s,
            var v => throw new NotSupportedException($"cannot serialise map values of type {v.GetType().Name}"),
        };
        p.Values = ToSequence(values, "");
        return p;
    }

    private static SequenceProto ToSequence(TensorSequence s, string name)
    {
        var p = new SequenceProto { Name = name, ElemType = (int)SequenceProto.Types.DataType.Tensor };
        p.TensorValues.AddRange(s.Items.Select(t => TensorCodec.ToProto(t)));
        return p;
    }
}
