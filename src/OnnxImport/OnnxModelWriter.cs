using Google.Protobuf;
using NetOnnx.OnnxImport.Proto;
using NetOnnx.Runtime;

namespace NetOnnx.OnnxImport;

/// <summary>Writes the IR back out as an ONNX ModelProto (e.g. after optimisation), with weights inline.</summary>
public static class OnnxModelWriter
{
    public static void Save(Model model, string path) => File.WriteAllBytes(path, ToBytes(model));

    public static byte[] ToBytes(Model model) => ToProto(model).ToByteArray();

    /// <summary>
    /// As <see cref="ToBytes(Model)"/>; with <paramref name="sparseInitializers"/>, float weights that take less room
    /// as (int64 linear index, value) pairs, i.e. under a third non-zero, go to the graph's sparse_initializer list.
    /// </summary>
    public static byte[] ToBytes(Model model, bool sparseInitializers) => ToProto(model, sparseInitializers).ToByteArray();

    public static ModelProto ToProto(Model model) => ToProto(model, false);

    public static ModelProto ToProto(Model model, bool sparseInitializers)
    {
        var p = new ModelProto
        {
            IrVersion = model.IrVersion,
            ProducerName = model.ProducerName,
            ProducerVersion = model.ProducerVersion,
            Domain = model.Domain,
            ModelVersion = model.ModelVersion,
            DocString = model.DocString,
            Graph = ToProto(model.Graph, sparseInitializers),
        };
        foreach (var (domain, version) in model.Opsets)
            p.OpsetImport.Add(new OperatorSetIdProto { Domain = domain, Version = version });
        foreach (var (k, v) in model.Metadata) p.MetadataProps.Add(new StringStringEntryProto { Key = k, Value = v });
        foreach (var f in model.Functions.Values) p.Functions.Add(ToProto(f));
        return p;
    }

    private static FunctionProto ToProto(FunctionDef f)
    {
        var p = new FunctionProto { Name = f.Name, Domain = f.Domain, Overload = f.Overload };
        p.Input.AddRange(f.Inputs);
        p.Output.AddRange(f.Outputs);
        foreach (var a in f.AttributeNames)
            if (f.AttributeDefaults.TryGetValue(a, out var def)) p.AttributeProto.Add(ToProto(def));
            else p.Attribute.Add(a);
        foreach (var n in f.Nodes) p.Node.Add(ToProto(n));
        foreach (var (domain, version) in f.Opsets) p.OpsetImport.Add(new OperatorSetIdProto { Domain = domain, Version = version });
        return p;
    }

    public static GraphProto ToProto(Graph g) => ToProto(g, false);

    public static GraphProto ToProto(Graph g, bool sparseInitializers)
    {
        var p = new GraphProto { Name = g.Name };
        if (g.DocString is not null) p.DocString = g.DocString;
        foreach (var i in g.Inputs) p.Input.Add(ToProto(i.Name, i.Type));
        foreach (var o in g.Outputs) p.Output.Add(ToProto(o.Name, o.Type));
        foreach (var (name, t) in g.Initializers)
            if (sparseInitializers && AsSparse(t, name) is { } sp) p.SparseInitializer.Add(sp);
            else p.Initializer.Add(TensorCodec.ToProto(t, name));
        foreach (var (name, t) in g.ValueTypes) p.ValueInfo.Add(ToProto(name, t));
        foreach (var n in g.Nodes) p.Node.Add(ToProto(n));
        return p;
    }

    /// <summary>A float tensor as 1-D linear int64 indices and values, when that is smaller than dense (12 vs 4 bytes each).</summary>
    private static SparseTensorProto? AsSparse(Tensor t, string name)
    {
        if (t.ElementType != DataType.Float || t.Length < 64) return null;
        var v = t.ReadOnlySpan<float>();
        int nnz = 0;
        foreach (float x in v) if (BitConverter.SingleToInt32Bits(x) != 0) nnz++;
        if (12L * nnz + 32 >= 4L * t.Length) return null;
        var values = new float[nnz];
        var indices = new long[nnz];
        // -0.0 counts as non-zero so the dense values read back bit for bit.
        for (int i = 0, k = 0; i < v.Length; i++)
            if (BitConverter.SingleToInt32Bits(v[i]) != 0) { values[k] = v[i]; indices[k++] = i; }
        var sp = new SparseTensorProto
        {
            Values = TensorCodec.ToProto(Tensor.Create(values, nnz), name),
            Indices = TensorCodec.ToProto(Tensor.Create(indices, nnz)),
        };
        sp.Dims.AddRange(t.Shape.Select(d => (long)d));
        return sp;
    }

    private static NodeProto ToProto(Node n)
    {
        var p = new NodeProto { OpType = n.OpType, Name = n.Name, Domain = n.Domain, Overload = n.Overload };
        p.Input.AddRange(n.Inputs);
        p.Output.AddRange(n.Outputs);
        foreach (var a in n.Attributes.Values) p.Attribute.Add(ToProto(a));
        return p;
    }

    private static AttributeProto ToProto(NodeAttribute a)
    {
        var p = new AttributeProto { Name = a.Name, Type = (AttributeProto.Types.AttributeType)(int)a.Kind };
        if (a.RefAttrName is not null) p.RefAttrName = a.RefAttrName;
        switch (a.Kind)
        {
            case AttributeKind.Float: p.F = a.Float; break;
            case AttributeKind.Int: p.I = a.Int; break;
            case AttributeKind.String: p.S = ByteString.CopyFrom(a.Bytes ?? []); break;
            case AttributeKind.Tensor or AttributeKind.SparseTensor:
                p.Type = AttributeProto.Types.AttributeType.Tensor;
                p.T = TensorCodec.ToProto(a.Tensor!);
                break;
            case AttributeKind.Graph: p.G = ToProto(a.Graph!); break;
            case AttributeKind.Floats: p.Floats.AddRange(a.Floats ?? []); break;
            case AttributeKind.Ints: p.Ints.AddRange(a.Ints ?? []); break;
            case AttributeKind.Strings: p.Strings.AddRange((a.ByteStrings ?? []).Select(ByteString.CopyFrom)); break;
            case AttributeKind.Tensors: p.Tensors.AddRange((a.Tensors ?? []).Select(t => TensorCodec.ToProto(t))); break;
            case AttributeKind.Graphs: p.Graphs.AddRange((a.Graphs ?? []).Select(ToProto)); break;
            case AttributeKind.TypeProto: if (a.TypeValue is not null) p.Tp = ToProto(a.TypeValue); break;
            case AttributeKind.TypeProtos: p.TypeProtos.AddRange((a.TypeValues ?? []).Select(ToProto)); break;
        }
        return p;
    }

    private static ValueInfoProto ToProto(string name, OnnxType? t)
    {
        var p = new ValueInfoProto { Name = name };
        if (t is not null) p.Type = ToProto(t);
        return p;
    }

    public static TypeProto ToProto(OnnxType t)
    {
        switch (t)
        {
            case TensorType tt:
                return new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = (int)tt.ElementType, Shape = ShapeProto(tt.Shape) } };
            case SparseTensorType st:
                return new TypeProto { SparseTensorType = new TypeProto.Types.SparseTensor { ElemType = (int)st.ElementType, Shape = ShapeProto(st.Shape) } };
            case SequenceType sq:
                return new TypeProto { SequenceType = new TypeProto.Types.Sequence { ElemType = sq.ElementType is null ? null : ToProto(sq.ElementType) } };
            case OptionalType ot:
                return new TypeProto { OptionalType = new TypeProto.Types.Optional { ElemType = ot.ElementType is null ? null : ToProto(ot.ElementType) } };
            case MapType mt:
                return new TypeProto { MapType = new TypeProto.Types.Map { KeyType = (int)mt.KeyType, ValueType = mt.ValueType is null ? null : ToProto(mt.ValueType) } };
            default:
                return new TypeProto();
        }
    }

    private static TensorShapeProto? ShapeProto(Dim[]? dims)
    {
        if (dims is null) return null;
        var s = new TensorShapeProto();
        foreach (var d in dims)
        {
            var dp = new TensorShapeProto.Types.Dimension();
            if (d.IsKnown) dp.DimValue = d.Value;
            else if (d.Symbol is not null) dp.DimParam = d.Symbol;
            s.Dim.Add(dp);
        }
        return s;
    }
}
