namespace NetOnnx.Runtime.Operators.Normalization;

/// <summary>
/// LpNormalization (opset 1, 22): x / ||x||_p along one axis, p in {1, 2}. A slice whose norm is zero stays
/// zero rather than becoming NaN.
/// </summary>
[OpKernel("LpNormalization", 1, Types = [DataType.Float, DataType.Double, DataType.Float16, DataType.BFloat16])]
public sealed class LpNormalization : OpKernel
{
    private readonly long _axis;
    private readonly int _p;

    public LpNormalization(KernelInfo info)
    {
        _axis = info.GetInt("axis", -1);
        _p = (int)info.GetInt("p", 2);
        if (_p is not (1 or 2)) throw info.Error($"p must be 1 or 2, got {_p}");
    }

    public override void Compute(KernelContext ctx)
    {
        var x = ctx.Input(0);
        if (x.Rank == 0) throw ctx.Error("input must have rank >= 1");
        int axis = Kernels.ShapeMath.Axis(_axis, x.Rank);
        int n = x.Shape[axis];
        int inner = Kernels.ShapeMath.SizeFrom(x.Shape, axis + 1);
        int outer = Kernels.ShapeMath.SizeTo(x.Shape, axis);
        var y = ctx.OutputUninitialized(0, x.ElementType, x.Shape);
        switch (x.ElementType)
        {
            case DataType.Float: Normalize(x.ReadOnlySpan<float>(), y.Span<float>(), outer, n, inner, _p); break;
            case DataType.Double: Normalize(x.ReadOnlySpan<double>(), y.Span<double>(), outer, n, inner, _p); break;
            default:
            {
                // Half-precision types normalise in float and round once at the end.
                var xf = new float[x.Length];
                for (int i = 0; i < xf.Length; i++) xf[i] = (float)x.GetDouble(i);
                var yf = new float[x.Length];
                Normalize<float>(xf, yf, outer, n, inner, _p);
                if (x.ElementType == DataType.Float16) { var d = y.Span<Half>(); for (int i = 0; i < yf.Length; i++) d[i] = (Half)yf[i]; }
                else { var d = y.Span<BFloat16>(); for (int i = 0; i < yf.Length; i++) d[i] = (BFloat16)yf[i]; }
                break;
            }
        }
    }

    private static void Normalize<T>(ReadOnlySpan<T> x, Span<T> y, int outer, int n, int inner, int p)
        where T : System.Numerics.IFloatingPointIeee754<T>
    {
        for (int o = 0; o < outer; o++)
            for (int i = 0; i < inner; i++)
            {
                int b = o * n * inner + i;
                T acc = T.Zero;
                for (int k = 0; k < n; k++) { var v = x[b + k * inner]; acc += p == 1 ? T.Abs(v) : v * v; }
                T norm = p == 1 ? acc : T.Sqrt(acc);
                for (int k = 0; k < n; k++) y[b + k * inner] = norm == T.Zero ? T.Zero : x[b + k * inner] / norm;
            }
    }
}
