using ILGPU.Runtime;
using NetOnnx.Kernels;

using KernelInfo = NetOnnx.Runtime.KernelInfo;

namespace NetOnnx.Gpu.Operators;

/// <summary>
/// One node's work on the device. Created at session creation from the node's <see cref="KernelInfo"/> (so it
/// reads attributes and host-side constants once); <see cref="Run"/> works out output shapes from the actual
/// input shapes and queues kernels on the run's stream. Like CPU kernels, ops hold no per-run state.
/// </summary>
internal abstract class GpuOp
{
    /// <summary>Whether input i is read on the device (else the op took it as a host constant at creation).</summary>
    public virtual bool ReadsOnDevice(int input) => true;
    public abstract void Run(GpuOpContext ctx);

    /// <summary>Uploads constants the op derived on the host (once, at session creation).</summary>
    public virtual void Upload(Func<Tensor, DeviceTensor> upload) { }

    protected static bool IsFloat(KernelInfo info, int i) => info.InputElementType(i) == DataType.Float;

    protected static bool AllFloat(KernelInfo info)
    {
        for (int i = 0; i < info.InputCount; i++)
            if (info.HasInput(i) && !IsFloat(info, i)) return false;
        return true;
    }

    protected static int Axis(long axis, int rank, string what)
    {
        long a = axis < 0 ? axis + rank : axis;
        if (a < 0 || a >= rank) throw new ArgumentException($"{what} {axis} is out of range for rank {rank}");
        return (int)a;
    }
}

/// <summary>What an op sees during one run: its device inputs, output allocation and the device.</summary>
internal sealed class GpuOpContext
{
    private readonly DeviceTensor?[] _values;
    private readonly int[] _inputs, _outputs;

    public GpuOpContext(GpuDevice device, DevicePool pool, DeviceTensor?[] values, int[] inputs, int[] outputs, Node node)
    {
        Device = device;
        Pool = pool;
        _values = values;
        _inputs = inputs;
        _outputs = outputs;
        Node = node;
    }

    public GpuDevice Device { get; }
    public DevicePool Pool { get; }
    public Node Node { get; }
    public AcceleratorStream Stream => Pool.Stream;
    public int InputCount => _inputs.Length;

    public DeviceTensor? OptionalInput(int i) => i < _inputs.Length && _inputs[i] >= 0 ? _values[_inputs[i]] : null;

    public DeviceTensor Input(int i) => OptionalInput(i) ?? throw new ArgumentException($"required input {i} is missing");

    public bool IsOutputRequested(int i) => i < _outputs.Length && _outputs[i] >= 0;

    /// <summary>A fresh device tensor for output i (contents garbage: the kernel writes every element).</summary>
    public DeviceTensor Output(int i, DataType type, int[] shape)
    {
        var t = new DeviceTensor(type, shape, Pool.Rent(ShapeMath.Size(shape)));
        if (IsOutputRequested(i)) _values[_outputs[i]] = t;
        else Scratch.Add(t);
        return t;
    }

    /// <summary>Output i as a view of an existing tensor's storage (Reshape and friends): no copy.</summary>
    public void OutputView(int i, DeviceTensor of, int[] shape)
    {
        if (!IsOutputRequested(i)) return;
        of.Buffer.Refs++;
        _values[_outputs[i]] = new DeviceTensor(of.ElementType, shape, of.Buffer) { Host = of.Host };
    }

    /// <summary>A temporary for this op only; released when the op finishes.</summary>
    public DeviceTensor Temp(int[] shape)
    {
        var t = new DeviceTensor(DataType.Float, shape, Pool.Rent(ShapeMath.Size(shape)));
        Scratch.Add(t);
        return t;
    }

    public List<DeviceTensor> Scratch { get; } = [];
}

/// <summary>The GPU kernels by (domain, op): a factory returns null when the node's attributes or types are not covered.</summary>
internal static class GpuOps
{
    private static readonly Dictionary<(string, string), Func<KernelInfo, GpuOp?>> s_ops = Build();

    public static bool Has(string domain, string op) => s_ops.ContainsKey((domain, op));

    public static IEnumerable<(string Domain, string Op)> All => s_ops.Keys;

    public static GpuOp? TryCreate(KernelInfo info)
    {
        if (!s_ops.TryGetValue((info.Node.Domain, info.Node.OpType), out var f)) return null;
        GpuOp? op;
        try { op = f(info); }
        catch (Exception e) when (e is ArgumentException or NotSupportedException or InvalidOperationException or OnnxException) { return null; }
        if (op is null) return null;
        for (int i = 0; i < info.InputCount; i++)
            if (info.HasInput(i) && op.ReadsOnDevice(i) && (info.InputElementType(i) is not { } t || !Transfers.IsDeviceType(t))) return null;
        for (int i = 0; i < info.OutputTypes.Count; i++)
            if (info.Node.Outputs[i].Length > 0 && (info.OutputTypes[i] is not TensorType tt || !Transfers.IsDeviceType(tt.ElementType))) return null;
        return op;
    }

    private static Dictionary<(string, string), Func<KernelInfo, GpuOp?>> Build()
    {
        const string F = FusedOps.Domain;
        var d = new Dictionary<(string, string), Func<KernelInfo, GpuOp?>>();
        void Add(string op, Func<KernelInfo, GpuOp?> f, string domain = "") => d[(domain, op)] = f;
        foreach (var (name, code) in UnaryOps.Names) Add(name, i => UnaryOps.Create(i, code));
        Add("Gelu", i => UnaryOps.CreateGelu(i));
        Add("Gelu", i => UnaryOps.CreateGelu(i), F);
        foreach (var (name, code) in BinaryOps.Names) Add(name, i => BinaryOps.Create(i, code));
        Add("Cast", CastOp.Create);
        foreach (var n in new[] { "Reshape", "Flatten", "Squeeze", "Unsqueeze", "Identity", "Dropout" }) Add(n, ViewOp.Create);
        Add("Transpose", TransposeOp.Create);
        Add("Slice", SliceOp.Create);
        Add("Expand", ExpandOp.Create);
        Add("Concat", ConcatOp.Create);
        Add("Gather", GatherOp.Create);
        Add("MatMul", MatMulOp.Create);
        Add("Gemm", GemmOp.Create);
        Add("FusedGemm", GemmOp.Create, F);
        Add("MatMulBias", MatMulBiasOp.Create, F);
        Add("Conv", ConvOp.Create);
        Add("FusedConv", ConvOp.Create, F);
        foreach (var n in new[] { "MaxPool", "AveragePool", "GlobalAveragePool", "GlobalMaxPool" }) Add(n, PoolOp.Create);
        Add("BatchNormalization", BatchNormOp.Create);
        Add("ConvTranspose", ConvTransposeOp.Create);
        Add("Resize", ResizeOp.Create);
        Add("Softmax", SoftmaxOp.Create);
        Add("LayerNormalization", LayerNormOp.Create);
        Add("LayerNormalization", LayerNormOp.Create, F);
        Add("SkipLayerNormalization", LayerNormOp.CreateSkip, F);
        foreach (var n in new[] { "ReduceSum", "ReduceMean", "ReduceMax", "ReduceMin" }) Add(n, ReduceOp.Create);
        Add("ScaledDotProductAttention", AttentionOp.Create, F);
        return d;
    }
}
