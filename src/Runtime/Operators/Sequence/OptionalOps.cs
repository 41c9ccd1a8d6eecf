namespace NetOnnx.Runtime.Operators.Sequence;

/// <summary>Optional: wraps its input, or makes an empty optional of the 'type' attribute when the input is omitted.</summary>
[OpKernel("Optional", 15)]
public sealed class Optional : OpKernel
{
    private readonly OnnxType _type;
    public Optional(KernelInfo info)
    {
        var declared = info.OutputTypes.Count > 0 && info.OutputTypes[0] is OptionalType ot ? ot.ElementType : null;
        _type = info.Node.Attr("type")?.TypeValue ?? declared ?? (info.InputTypes.Count > 0 ? info.InputTypes[0] : null) ?? OnnxType.Tensor(DataType.Float);
    }
    public override void Compute(KernelContext ctx)
    {
        var v = ctx.InputValue(0);
        ctx.SetOutput(0, v switch
        {
            null => new OptionalValue(_type, null),
            OptionalValue o => o,
            Tensor t => new OptionalValue(OnnxType.Tensor(t.ElementType), t),
            TensorSequence s => new OptionalValue(new SequenceType(OnnxType.Tensor(s.ElementType)), s),
            _ => new OptionalValue(_type, v),
        });
    }
}

/// <summary>OptionalHasElement: false for an empty optional or (opset 18+) an omitted input, true otherwise.</summary>
[OpKernel("OptionalHasElement", 15)]
public sealed class OptionalHasElement : OpKernel
{
    public OptionalHasElement(KernelInfo info) { }
    public override void Compute(KernelContext ctx)
    {
        bool has = ctx.InputValue(0) switch
        {
            null => false,
            OptionalValue o => o.HasValue,
            _ => true,
        };
        ctx.Output(0, DataType.Bool, []).Span<bool>()[0] = has;
    }
}

/// <summary>OptionalGetElement: the value inside an optional (opset 18+ also passes plain tensors and sequences through).</summary>
[OpKernel("OptionalGetElement", 15)]
public sealed class OptionalGetElement : OpKernel
{
    public OptionalGetElement(KernelInfo info) { }
    public override void Compute(KernelContext ctx)
    {
        var v = ctx.InputValue(0) switch
        {
            null => throw ctx.Error("input is missing"),
            OptionalValue { Value: null } => throw ctx.Error("the optional input is empty"),
            OptionalValue o => o.Value!,
            var x => x,
        };
        ctx.SetOutput(0, v);
    }
}
