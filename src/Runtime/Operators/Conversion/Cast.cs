using NetOnnx.Kernels.Conversions;

namespace NetOnnx.Runtime.Operators.Conversion;

/// <summary>Attribute parsing shared by Cast and CastLike.</summary>
internal static class CastAttributes
{
    public static bool Saturate(KernelInfo info) => info.GetInt("saturate", 1) != 0;

    public static E8M0Rounding Rounding(KernelInfo info) => info.GetString("round_mode", "up").ToLowerInvariant() switch
    {
        "up" => E8M0Rounding.Up,
        "down" => E8M0Rounding.Down,
        "nearest" => E8M0Rounding.Nearest,
        var m => throw info.Error($"round_mode '{m}' is not one of up, down, nearest"),
    };

    public static void CheckTarget(KernelInfo info, DataType to)
    {
        if (!Enum.IsDefined(to) || to == DataType.Undefined)
            throw info.Error($"target type {(int)to} is not a known tensor element type");
        if (to is DataType.Complex64 or DataType.Complex128)
            throw info.Error($"casting to {to.OnnxName()} is not supported");
    }

    public static void Run(KernelContext ctx, Tensor x, DataType to, bool saturate, E8M0Rounding rounding)
    {
        if (x.ElementType == to)
        {
            ctx.SetOutput(0, x);
            return;
        }
        var y = ctx.OutputUninitialized(0, to, x.Shape);
        try
        {
            ElementConverter.Convert(x, y, saturate, rounding, ctx.Threads);
        }
        catch (FormatException e) { throw ctx.Error(e.Message); }
        catch (NotSupportedException e) { throw ctx.Error(e.Message); }
    }
}

/// <summary>
/// Cast: converts every element to the type named by <c>to</c> (an int since opset 6, a type name string in
/// opset 1). <c>saturate</c> (opset 19+) governs float8 overflow; <c>round_mode</c> (opset 25) float8e8m0 rounding.
/// </summary>
[OpKernel("Cast", 1)]
public sealed class Cast : OpKernel
{
    private readonly DataType _to;
    private readonly bool _saturate;
    private readonly E8M0Rounding _rounding;

    public Cast(KernelInfo info)
    {
        if (!info.Node.Attributes.TryGetValue("to", out var to)) throw info.Error("attribute 'to' is required");
        if (to.Kind == AttributeKind.String)
        {
            // Opset 1 names the type as a string, e.g. "FLOAT".
            string name = to.String;
            _to = Enum.GetValues<DataType>().FirstOrDefault(t => t != DataType.Undefined && string.Equals(t.OnnxName(), name, StringComparison.OrdinalIgnoreCase));
            if (_to == DataType.Undefined) throw info.Error($"'to' names unknown type '{name}'");
        }
        else _to = (DataType)to.Int;
        CastAttributes.CheckTarget(info, _to);
        _saturate = CastAttributes.Saturate(info);
        _rounding = CastAttributes.Rounding(info);
    }

    public override void Compute(KernelContext ctx) => CastAttributes.Run(ctx, ctx.Input(0), _to, _saturate, _rounding);
}

/// <summary>CastLike (opset 15+): Cast to the element type of the second input.</summary>
[OpKernel("CastLike", 15)]
public sealed class CastLike : OpKernel
{
    private readonly bool _saturate;
    private readonly E8M0Rounding _rounding;

    public CastLike(KernelInfo info)
    {
        _saturate = CastAttributes.Saturate(info);
        _rounding = CastAttributes.Rounding(info);
        if (info.InputElementType(1) is { } t) CastAttributes.CheckTarget(info, t);
    }

    public override void Compute(KernelContext ctx) =>
        CastAttributes.Run(ctx, ctx.Input(0), ctx.Input(1).ElementType, _saturate, _rounding);
}
