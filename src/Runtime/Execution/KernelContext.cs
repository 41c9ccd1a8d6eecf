namespace NetOnnx.Runtime;

/// <summary>What a kernel sees during one run of its node: inputs, output allocation, threads, subgraph execution.</summary>
public sealed class KernelContext
{
    private readonly Frame _frame;
    private PlanStep _step;

    internal KernelContext(Frame frame, PlanStep step)
    {
        _frame = frame;
        _step = step;
    }

    /// <summary>Points this context at the frame's next step: the executor reuses one context per frame rather than allocating one per node.</summary>
    internal void MoveTo(PlanStep step) => _step = step;

    public Node Node => _step.Node;
    public int InputCount => _step.Inputs.Length;
    public int OutputCount => _step.Outputs.Length;
    /// <summary>Threads this kernel may use.</summary>
    public int Threads => _frame.Run.Threads;

    public bool HasInput(int i) => i < _step.Inputs.Length && _step.Inputs[i] >= 0 && _frame.Values[_step.Inputs[i]] is not null;

    /// <summary>The value of input i (tensor, sequence, optional), or null when omitted.</summary>
    public object? InputValue(int i) => i < _step.Inputs.Length && _step.Inputs[i] >= 0 ? _frame.Values[_step.Inputs[i]] : null;

    /// <summary>Input i as a tensor; fails with a message naming the node when it is missing or not a tensor.</summary>
    public Tensor Input(int i) => InputValue(i) switch
    {
        Tensor t => t,
        null => throw Error($"required input {i} is missing"),
        var v => throw Error($"input {i} is a {v.GetType().Name}, expected a tensor"),
    };

    public Tensor? OptionalInput(int i) => InputValue(i) as Tensor;

    /// <summary>Whether output i is consumed by anything (else a kernel may skip computing it).</summary>
    public bool IsOutputRequested(int i) => i < _step.Outputs.Length && _step.Outputs[i] >= 0;

    /// <summary>Allocates output i with zeroed contents.</summary>
    public Tensor Output(int i, DataType type, int[] shape)
    {
        var t = OutputUninitialized(i, type, shape);
        if (type != DataType.String) t.Bytes().Clear();
        return t;
    }

    /// <summary>Allocates output i; its contents are garbage and the kernel must write every element.</summary>
    public Tensor OutputUninitialized(int i, DataType type, int[] shape)
    {
        if (i >= _step.Outputs.Length) throw Error($"kernel produced output {i} but the node declares {_step.Outputs.Length}");
        // Nothing reads this output: a plain array the GC reclaims, since a pooled buffer would never be returned.
        if (_step.Outputs[i] < 0) return Tensor.Zeros(type, shape);
        int n = Kernels.ShapeMath.Size(shape);
        var t = _frame.Pool.TensorOver(type, shape, shape, _frame.Pool.Rent(type, n));
        SetOutput(i, t);
        return t;
    }

    /// <summary>
    /// Allocates output i of a shape the context copies only when it must: a warm run gets the tensor object (and
    /// shape array) it made over the same recycled buffer before, so a kernel passing a span allocates nothing.
    /// </summary>
    public Tensor OutputUninitialized(int i, DataType type, ReadOnlySpan<int> shape)
    {
        if (i >= _step.Outputs.Length) throw Error($"kernel produced output {i} but the node declares {_step.Outputs.Length}");
        if (_step.Outputs[i] < 0) return Tensor.Zeros(type, shape.ToArray());
        int n = Kernels.ShapeMath.Size(shape);
        var t = _frame.Pool.TensorOver(type, shape, null, _frame.Pool.Rent(type, n));
        SetOutput(i, t);
        return t;
    }

    /// <summary>Sets output i to a value the kernel made (a view of an input, a sequence, an optional...).</summary>
    public void SetOutput(int i, object value)
    {
        if (i >= _step.Outputs.Length) throw Error($"kernel produced output {i} but the node declares {_step.Outputs.Length}");
        int slot = _step.Outputs[i];
        if (slot < 0) return;
        var old = _frame.Values[slot];
        if (ReferenceEquals(old, value)) return;
        if (old is not null) _frame.Pool.Release(old);
        _frame.Pool.AddRef(value);
        _frame.Values[slot] = value;
    }

    /// <summary>
    /// Sets output i to a view of <paramref name="source"/>'s buffer with another shape. Over a pooled buffer a warm run
    /// gets the view object it made before (a tensor is only type, shape and buffer, so sharing one is safe).
    /// </summary>
    public void SetOutputView(int i, Tensor source, ReadOnlySpan<int> shape)
    {
        if (Kernels.ShapeMath.Size(shape) != source.Length)
            throw Error($"cannot view {Kernels.ShapeMath.Format(source.Shape)} as {Kernels.ShapeMath.Format(shape)}");
        var pool = _frame.Pool;
        SetOutput(i, pool.Owns(source.Buffer) ? pool.TensorOver(source.ElementType, shape, null, source.Buffer)
            : new Tensor(source.ElementType, shape.ToArray(), source.Buffer));
    }

    /// <summary>
    /// Runs a compiled subgraph with the given inputs; outer-scope names resolve through this run. The caller
    /// holds one reference to each returned value and must <see cref="Release"/> it when done (after SetOutput
    /// if it passes it on, which takes its own reference).
    /// </summary>
    public object?[] RunSubgraph(ExecutionPlan plan, IReadOnlyList<object?> inputs)
    {
        if (inputs.Count != plan.InputSlots.Length)
            throw Error($"subgraph '{plan.Graph.Name}' takes {plan.InputSlots.Length} inputs, {inputs.Count} given");
        return Executor.Run(plan, inputs, _frame, _frame.Run);
    }

    /// <summary>Takes a reference to a value (tensor, sequence, optional) so its buffers outlive its slot.</summary>
    public void AddRef(object? value) => _frame.Pool.AddRef(value);

    /// <summary>Drops a reference taken by <see cref="AddRef"/> or returned by <see cref="RunSubgraph"/>.</summary>
    public void Release(object? value) => _frame.Pool.Release(value);

    /// <summary>A fresh pooled buffer wrapped as a tensor that is not (yet) any output; release it or SetOutput it.</summary>
    public Tensor Allocate(DataType type, int[] shape)
    {
        var t = new Tensor(type, shape, _frame.Pool.Rent(type, Kernels.ShapeMath.Size(shape)));
        _frame.Pool.AddRef(t);
        return t;
    }

    /// <summary>The graph this node belongs to (for operators defined over it, such as Gradient).</summary>
    internal Graph Graph => _frame.Plan.Graph;

    /// <summary>The current value of a named graph value visible from this node (this graph or an enclosing one), or null.</summary>
    internal object? Lookup(string name) => _frame.Lookup(name);

    /// <summary>An error naming this node, for invalid inputs found at run time.</summary>
    public InferenceException Error(string problem) => new($"{Node.Describe()}: {problem}", Node.Name);
}
