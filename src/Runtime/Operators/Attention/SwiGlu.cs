namespace NetOnnx.Runtime.Operators.Attention;

/// <summary>
/// SwiGLU (opset 28): y = a * sigmoid(alpha * a) * b for same-shape, same-type a and b (no broadcasting).
/// Half and bfloat16 round each intermediate product to the element type, as the reference does.
/// </summary>
[OpKernel("SwiGLU", 28)]
public sealed class SwiGlu : OpKernel
{
    private readonly float _alpha;

    public SwiGlu(KernelInfo info) => _alpha = info.GetFloat("alpha", 1f);

    public override void Compute(KernelContext ctx)
    {
        var a = ctx.Input(0);
        var b = ctx.Input(1);
        if (a.ElementType != b.ElementType) throw ctx.Error($"inputs have different types {a.ElementType.OnnxName()} and {b.ElementType.OnnxName()}");
        if (!a.Shape.AsSpan().SequenceEqual(b.Shape)) throw ctx.Error($"inputs must have identical shapes, got {Kernels.ShapeMath.Format(a.Shape)} and {Kernels.ShapeMath.Format(b.Shape)}");
        var y = ctx.OutputUninitialized(0, a.ElementType, (int[])a.Shape.Clone());
        int n = a.Length;
        switch (a.ElementType)
        {
            case DataType.Float:
            {
                var x = a.ReadOnlySpan<float>(); var g = b.ReadOnlySpan<float>(); var o = y.Span<float>();
                for (int i = 0; i < n; i++) o[i] = x[i] * Sigmoid(_alpha * x[i]) * g[i];
                break;
            }
            case DataType.Double:
            {
                var x = a.ReadOnlySpan<double>(); var g = b.ReadOnlySpan<double>(); var o = y.Span<double>();
                for (int i = 0; i < n; i++)
                {
                    double z = _alpha * x[i];
                    double s = z >= 0 ? 1 / (1 + Math.Exp(-z)) : Math.Exp(z) / (1 + Math.Exp(z));
                    o[i] = x[i] * s * g[i];
                }
                break;
            }
            case DataType.Float16:
            {
                var x = a.ReadOnlySpan<Half>(); var g = b.ReadOnlySpan<Half>(); var o = y.Span<Half>();
                for (int i = 0; i < n; i++)
                {
                    float xv = (float)x[i];
                    float s = (float)(Half)Sigmoid(_alpha * xv);
                    o[i] = (Half)((float)(Half)(xv * s) * (float)g[i]);
                }
                break;
            }
            case DataType.BFloat16:
            {
                var x = a.ReadOnlySpan<BFloat16>(); var g = b.ReadOnlySpan<BFloat16>(); var o = y.Span<BFloat16>();
                for (int i = 0; i < n; i++)
                {
                    float xv = (float)x[i];
                    float s = (float)(BFloat16)Sigmoid(_alpha * xv);
                    o[i] = (BFloat16)((float)(BFloat16)(xv * s) * (float)g[i]);
                }
                break;
            }
            default:
                throw ctx.Error($"unsupported element type {a.ElementType.OnnxName()}");
        }
    }

    private static float Sigmoid(float z) => z >= 0 ? 1f / (1f + MathF.Exp(-z)) : MathF.Exp(z) / (1f + MathF.Exp(z));
}
