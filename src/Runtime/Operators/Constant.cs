namespace NetOnnx.Runtime.Operators;

/// <summary>Constant: a tensor given by one of value, value_float(s), value_int(s), value_string(s), sparse_value.</summary>
[OpKernel("Constant", 1)]
public sealed class Constant : OpKernel
{
    private readonly Tensor _value;

    public Constant(KernelInfo info)
    {
        var n = info.Node;
        if (n.GetTensor("value") is { } t) _value = t;
        else if (n.GetTensor("sparse_value") is { } s) _value = s;
        else if (n.HasAttr("value_float")) _value = Tensor.Scalar(n.GetFloat("value_float", 0));
        else if (n.GetFloats("value_floats") is { } fs) _value = Tensor.Create(fs, fs.Length);
        else if (n.HasAttr("value_int")) _value = Tensor.Scalar(n.GetInt("value_int", 0));
        else if (n.GetInts("value_ints") is { } ls) _value = Tensor.Create(ls, ls.Length);
        else if (n.HasAttr("value_string")) _value = Tensor.Scalar(n.GetString("value_string", ""));
        else if (n.GetStrings("value_strings") is { } ss) _value = Tensor.Create(ss, ss.Length);
        else throw info.Error("has none of the attributes value, value_float(s), value_int(s), value_string(s), sparse_value");
    }

    public override void Compute(KernelContext ctx) => ctx.SetOutput(0, _value);
}

/// <summary>Identity: passes its input through (a tensor, sequence or optional) without copying.</summary>
[OpKernel("Identity", 1)]
public sealed class Identity : OpKernel
{
    public Identity(KernelInfo info) { }
    public override void Compute(KernelContext ctx) =>
        ctx.SetOutput(0, ctx.InputValue(0) ?? throw ctx.Error("input 0 is missing"));
}
