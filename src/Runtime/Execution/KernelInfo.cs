namespace NetOnnx.Runtime;

/// <summary>What a kernel may know when it is created: its node, opset, input/output types, constant inputs.</summary>
public sealed class KernelInfo
{
    private readonly Func<string, Tensor?> _constant;
    private readonly Func<Graph, ExecutionPlan> _compileSubgraph;

    internal KernelInfo(Node node, int opsetVersion, OnnxType?[] inputTypes, OnnxType?[] outputTypes,
        Func<string, Tensor?> constant, Func<Graph, ExecutionPlan> compileSubgraph, SessionOptions options)
    {
        Node = node;
        OpsetVersion = opsetVersion;
        InputTypes = inputTypes;
        OutputTypes = outputTypes;
        _constant = constant;
        _compileSubgraph = compileSubgraph;
        Options = options;
    }

    public Node Node { get; }
    /// <summary>The opset version the model imports for this node's domain.</summary>
    public int OpsetVersion { get; }
    public IReadOnlyList<OnnxType?> InputTypes { get; }
    public IReadOnlyList<OnnxType?> OutputTypes { get; }
    public SessionOptions Options { get; }

    public int InputCount => Node.Inputs.Count;
    public bool HasInput(int i) => i < Node.Inputs.Count && Node.Inputs[i].Length > 0;
    public DataType? InputElementType(int i) => i < InputTypes.Count && InputTypes[i] is TensorType t ? t.ElementType : null;

    /// <summary>The value of input <paramref name="i"/> when it is a constant (initializer), else null.</summary>
    public Tensor? ConstantInput(int i) => HasInput(i) ? _constant(Node.Inputs[i]) : null;

    /// <summary>
    /// Declares that the kernel copied constant input <paramref name="i"/> into its own form (packed it) and will
    /// not read it at run time. When every reader of an initializer says so, the plan does not bind it, so the
    /// plan holds no reference to it; such a kernel must then not call ctx.Input for it.
    /// </summary>
    public void ReleaseConstantInput(int i)
    {
        if (ConstantInput(i) is null) throw new InvalidOperationException($"input {i} of {Node.Describe()} is not a constant");
        (ReleasedInputs ??= []).Add(i);
    }

    internal HashSet<int>? ReleasedInputs { get; private set; }

    /// <summary>Plans a subgraph (If/Loop/Scan body) so the kernel can run it.</summary>
    public ExecutionPlan CompileSubgraph(Graph g) => _compileSubgraph(g);

    public long GetInt(string name, long def) => Node.GetInt(name, def);
    public float GetFloat(string name, float def) => Node.GetFloat(name, def);
    public string GetString(string name, string def) => Node.GetString(name, def);
    public long[]? GetInts(string name) => Node.GetInts(name);
    public float[]? GetFloats(string name) => Node.GetFloats(name);
    public string[]? GetStrings(string name) => Node.GetStrings(name);
    public Tensor? GetTensor(string name) => Node.GetTensor(name);
    public Graph? GetGraph(string name) => Node.GetGraph(name);

    /// <summary>An error for a bad attribute or input discovered at creation, naming the node.</summary>
    public ModelLoadException Error(string problem) => ModelLoadException.ForNode(Node, problem);
}
