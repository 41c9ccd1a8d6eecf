namespace NetOnnx.Runtime.Operators.Bits;

/// <summary>
/// BitCast (opset 26): reinterprets each element's bits as another type of the same width, shape unchanged.
/// Sub-byte types are stored one element per byte here, so their bits are masked to the element width (and
/// sign-extended for int4/int2) rather than copied byte for byte.
/// </summary>
[OpKernel("BitCast", 26)]
public sealed class BitCast : OpKernel
{
    private readonly DataType _to;

    public BitCast(KernelInfo info)
    {
        _to = (DataType)info.GetInt("to", 0);
        if (!Enum.IsDefined(_to) || _to is DataType.Undefined or DataType.String)
            throw info.Error($"'to' = {(int)_to} is not a non-string ONNX element type");
    }

    private static int Bits(DataType t) => t switch
    {
        DataType.UInt4 or DataType.Int4 or DataType.Float4E2M1 => 4,
        DataType.UInt2 or DataType.Int2 => 2,
        _ => t.SizeOf() * 8,
    };

    public override void Compute(KernelContext ctx)
    {
        var x = ctx.Input(0);
        if (x.ElementType == DataType.String) throw ctx.Error("string tensors cannot be bit-cast");
        int bits = Bits(x.ElementType);
        if (bits != Bits(_to))
            throw ctx.Error($"cannot bit-cast {x.ElementType.OnnxName()} ({bits} bits) to {_to.OnnxName()} ({Bits(_to)} bits)");
        var y = ctx.OutputUninitialized(0, _to, x.Shape);
        if (_to == DataType.Bool)
        {
            // A CLR bool must be 0 or 1; any other byte is read as true.
            var src = x.Bytes(); var dst = y.Span<bool>();
            for (int i = 0; i < dst.Length; i++) dst[i] = src[i] != 0;
        }
        else if (bits < 8)
        {
            var src = x.Bytes(); var dst = y.Bytes();
            int mask = (1 << bits) - 1;
            bool signed = _to is DataType.Int4 or DataType.Int2;
            for (int i = 0; i < dst.Length; i++)
            {
                int v = src[i] & mask;
                dst[i] = (byte)(signed && v >= 1 << (bits - 1) ? v - (1 << bits) : v);
            }
        }
        else x.Bytes().CopyTo(y.Bytes());
    }
}
