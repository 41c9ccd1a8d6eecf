using NetOnnx.OnnxImport.Proto;
using NetOnnx.Runtime;


namespace NetOnnx.OnnxImport;

/// <summary>Turns a parsed ModelProto into the IR: graphs and subgraphs, initializers, types, attributes, functions.</summary>
internal sealed class GraphImporter
{
    private readonly ModelProto _proto;
    private readonly string? _baseDir;
    private const long CollectEvery = 4L << 20;
    private long _decodedSinceCollect;

    public GraphImporter(ModelProto proto, string? baseDirectory)
    {
        _proto = proto;
        _baseDir = baseDirectory;
    }

    public Model Import()
    {
        var m = new Model
        {
            IrVersion = _proto.IrVersion,
            ProducerName = _proto.ProducerName,
            ProducerVersion = _proto.ProducerVersion,
            Domain = _proto.Domain,
            ModelVersion = _proto.ModelVersion,
            DocString = _proto.DocString,
            BaseDirectory = _baseDir,
        };
        foreach (var o in _proto.OpsetImport)
            m.Opsets[Node.NormalizeDomain(o.Domain)] = o.Version;
        // IR version 3 and older files may omit opset_import; ONNX then means ai.onnx opset 1.
        if (m.Opsets.Count == 0) m.Opsets[""] = 1;
        foreach (var kv in _proto.MetadataProps) m.Metadata[kv.Key] = kv.Value;
        foreach (var f in _proto.Functions)
        {
            var fd = ImportFunction(f);
            // Our own fused ops carry standard-op bodies only for other runtimes; we run the fused kernels.
            if (fd.Domain == FusedOps.Domain) continue;
            m.Functions[(fd.Domain, fd.Name)] = fd;
        }
        m.Graph = ImportGraph(_proto.Graph, topLevel: true);
        if (m.Functions.Count > 0) FunctionInliner.Inline(m);
        return m;
    }

    public Graph ImportGraph(GraphProto gp, bool topLevel)
    {
        var g = new Graph { Name = gp.Name, DocString = gp.DocString };
        foreach (var init in gp.Initializer)
        {
            if (string.IsNullOrEmpty(init.Name)) throw new ModelLoadException($"graph '{gp.Name}' has an initializer without a name");
            g.Initializers[init.Name] = TensorCodec.FromProto(init, _baseDir);
            // The proto is ours alone (the loader parsed it for this import): drop its copy of the data as soon as it
            // is decoded, and collect after every few MiB so the next tensors reuse that memory: parsed and decoded
            // weights are then never all alive at once (large arrays are only reclaimed by a full collection).
            _decodedSinceCollect += init.RawData.Length;
            if (_decodedSinceCollect >= CollectEvery)
            {
                init.RawData = Google.Protobuf.ByteString.Empty;
                GC.Collect();
                _decodedSinceCollect = 0;
            }
            init.RawData = Google.Protobuf.ByteString.Empty;
            init.FloatData.Clear();
            init.Int64Data.Clear();
            init.Int32Data.Clear();
            init.DoubleData.Clear();
            init.Uint64Data.Clear();
        }
        foreach (var sp in gp.SparseInitializer)
        {
            var name = sp.Values?.Name ?? "";
            if (name.Length == 0) throw new ModelLoadException($"graph '{gp.Name}' has a sparse initializer without a name");
            g.Initializers[name] = SparseToDense(sp);
        }
        foreach (var vi in gp.Input) g.Inputs.Add(ImportValueInfo(vi));
        foreach (var vi in gp.Output) g.Outputs.Add(ImportValueInfo(vi));
        foreach (var vi in gp.ValueInfo)
        {
            var t = ImportType(vi.Type);
            if (t is not null && !string.IsNullOrEmpty(vi.Name)) g.ValueTypes[vi.Name] = t;
        }
        // IR < 4 allowed initializers that are not listed as inputs, and later IRs allow them to be absent from inputs;
        // either way they are constants of the graph.
        foreach (var np in gp.Node) g.Nodes.Add(ImportNode(np));
        return g;
    }

    private Node ImportNode(NodeProto np)
    {
        if (string.IsNullOrEmpty(np.OpType))
            throw new ModelLoadException($"node '{np.Name}' has no op_type", np.Name);
        var n = new Node(np.OpType, np.Input, np.Output, np.Name, np.Domain) { Overload = np.Overload };
        foreach (var ap in np.Attribute)
        {
            try { n.Attributes[ap.Name] = ImportAttribute(ap); }
            catch (ModelLoadException e) when (e.NodeName is null)
            {
                throw ModelLoadException.ForNode(n, $"attribute '{ap.Name}': {e.Message}", e);
            }
        }
        return n;
    }

    public NodeAttribute ImportAttribute(AttributeProto ap)
    {
        var kind = (AttributeKind)(int)ap.Type;
        if (ap.Type == AttributeProto.Types.AttributeType.Undefined)
        {
            // Very old files leave type unset; infer it from the field that carries a value.
            kind = ap.HasF ? AttributeKind.Float : ap.HasI ? AttributeKind.Int : ap.HasS ? AttributeKind.String
                : ap.T is not null ? AttributeKind.Tensor : ap.G is not null ? AttributeKind.Graph
                : ap.Floats.Count > 0 ? AttributeKind.Floats : ap.Ints.Count > 0 ? AttributeKind.Ints
                : ap.Strings.Count > 0 ? AttributeKind.Strings : ap.Tensors.Count > 0 ? AttributeKind.Tensors
                : ap.Graphs.Count > 0 ? AttributeKind.Graphs : AttributeKind.Undefined;
        }
        return new NodeAttribute(ap.Name, kind)
        {
            Float = ap.F,
            Int = ap.I,
            Bytes = ap.HasS ? ap.S.ToByteArray() : null,
            Tensor = ap.T is not null ? TensorCodec.FromProto(ap.T, _baseDir)
                : ap.SparseTensor is not null ? SparseToDense(ap.SparseTensor) : null,
            Graph = ap.G is not null ? ImportGraph(ap.G, topLevel: false) : null,
            Floats = ap.Floats.Count > 0 || kind == AttributeKind.Floats ? ap.Floats.ToArray() : null,
            Ints = ap.Ints.Count > 0 || kind == AttributeKind.Ints ? ap.Ints.ToArray() : null,
            ByteStrings = ap.Strings.Count > 0 || kind == AttributeKind.Strings ? ap.Strings.Select(s => s.ToByteArray()).ToArray() : null,
            Tensors = ap.Tensors.Count > 0 || kind == AttributeKind.Tensors ? ap.Tensors.Select(t => TensorCodec.FromProto(t, _baseDir)).ToArray() : null,
            Graphs = ap.Graphs.Count > 0 || kind == AttributeKind.Graphs ? ap.Graphs.Select(x => ImportGraph(x, false)).ToArray() : null,
            TypeValue = ap.Tp is not null ? ImportType(ap.Tp) : null,
            TypeValues = ap.TypeProtos.Count > 0 ? ap.TypeProtos.Select(x => ImportType(x)!).ToArray() : null,
            RefAttrName = string.IsNullOrEmpty(ap.RefAttrName) ? null : ap.RefAttrName,
        };
    }

    private Tensor SparseToDense(SparseTensorProto sp)
    {
        if (sp.Values is null) throw new ModelLoadException("sparse tensor has no values");
        var values = TensorCodec.FromProto(sp.Values, _baseDir);
        var dims = sp.Dims.Select(d => checked((int)d)).ToArray();
        var dense = Tensor.Zeros(values.ElementType, dims);
        int nnz = values.Length;
        if (nnz == 0) return dense;
        var idx = sp.Indices is null ? throw new ModelLoadException($"sparse tensor '{sp.Values.Name}' has no indices") : TensorCodec.FromProto(sp.Indices, _baseDir).ToInt64Array();
        var strides = Kernels.ShapeMath.Strides(dims);
        long total = dense.Length;
        for (int k = 0; k < nnz; k++)
        {
            long flat;
            if (idx.Length == nnz) flat = idx[k];
            else if (idx.Length == nnz * dims.Length)
            {
                flat = 0;
                for (int d = 0; d < dims.Length; d++) flat += idx[k * dims.Length + d] * strides[d];
            }
            else throw new ModelLoadException($"sparse tensor '{sp.Values.Name}' has {idx.Length} indices for {nnz} values");
            if (flat < 0 || flat >= total) throw new ModelLoadException($"sparse tensor '{sp.Values.Name}' index {flat} is out of range");
            Array.Copy(values.Buffer, k, dense.Buffer, flat, 1);
        }
        return dense;
    }

    private static ValueInfo ImportValueInfo(ValueInfoProto vi) =>
        new(vi.Name, ImportType(vi.Type)) { DocString = string.IsNullOrEmpty(vi.DocString) ? null : vi.DocString };

    public static OnnxType? ImportType(TypeProto? tp)
    {
        if (tp is null) return null;
        switch (tp.ValueCase)
        {
            case TypeProto.ValueOneofCase.TensorType:
                return new TensorType((DataType)tp.TensorType.ElemType, ImportShape(tp.TensorType.Shape));
            case TypeProto.ValueOneofCase.SparseTensorType:
                return new SparseTensorType((DataType)tp.SparseTensorType.ElemType, ImportShape(tp.SparseTensorType.Shape));
            case TypeProto.ValueOneofCase.SequenceType:
                return new SequenceType(ImportType(tp.SequenceType.ElemType));
            case TypeProto.ValueOneofCase.OptionalType:
                return new OptionalType(ImportType(tp.OptionalType.ElemType));
            case TypeProto.ValueOneofCase.MapType:
                return new MapType((DataType)tp.MapType.KeyType, ImportType(tp.MapType.ValueType));
            default:
                return null;
        }
    }

    private static Dim[]? ImportShape(TensorShapeProto? sp)
    {
        if (sp is null) return null;
        return sp.Dim.Select(d => d.ValueCase switch
        {
            TensorShapeProto.Types.Dimension.ValueOneofCase.DimValue => Dim.Known(d.DimValue),
            TensorShapeProto.Types.Dimension.ValueOneofCase.DimParam => Dim.Named(d.DimParam),
            _ => Dim.Unknown,
        }).ToArray();
    }

    private FunctionDef ImportFunction(FunctionProto f)
    {
        var fd = new FunctionDef
        {
            Name = f.Name,
            Domain = Node.NormalizeDomain(f.Domain),
            Overload = f.Overload,
            Inputs = f.Input.ToList(),
            Outputs = f.Output.ToList(),
            AttributeNames = f.Attribute.ToList(),
            Nodes = f.Node.Select(ImportNode).ToList(),
        };
        foreach (var a in f.AttributeProto) { fd.AttributeNames.Add(a.Name); fd.AttributeDefaults[a.Name] = ImportAttribute(a); }
        foreach (var o in f.OpsetImport) fd.Opsets[Node.NormalizeDomain(o.Domain)] = o.Version;
        return fd;
    }
}
