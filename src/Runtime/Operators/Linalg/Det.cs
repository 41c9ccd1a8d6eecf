using NetOnnx.Kernels;

namespace NetOnnx.Runtime.Operators.Linalg;

/// <summary>Det: determinants of the trailing square matrices, by LU decomposition with partial pivoting in double.</summary>
[OpKernel("Det", 11)]
public sealed class Det : OpKernel
{
    public Det(KernelInfo info) { }

    public override void Compute(KernelContext ctx)
    {
        var x = ctx.Input(0);
        if (x.Rank < 2 || x.Shape[^1] != x.Shape[^2])
            throw ctx.Error($"input must be [..., n, n], got {ShapeMath.Format(x.Shape)}");
        if (!x.ElementType.IsFloat() || x.ElementType.IsEncoded())
            throw ctx.Error($"element type {x.ElementType.OnnxName()} is not supported");
        int n = x.Shape[^1];
        var y = ctx.OutputUninitialized(0, x.ElementType, x.Shape[..^2]);
        var m = new double[n * n];
        for (int b = 0; b < y.Length; b++)
        {
            for (int i = 0; i < n * n; i++) m[i] = x.GetDouble(b * n * n + i);
            double det = Determinant(m, n);
            switch (y.ElementType)
            {
                case DataType.Float: y.Span<float>()[b] = (float)det; break;
                case DataType.Double: y.Span<double>()[b] = det; break;
                case DataType.Float16: y.Span<Half>()[b] = (Half)det; break;
                case DataType.BFloat16: y.Span<BFloat16>()[b] = (BFloat16)(float)det; break;
            }
        }
    }

    private static double Determinant(double[] a, int n)
    {
        double det = 1;
        for (int c = 0; c < n; c++)
        {
            int piv = c;
            for (int r = c + 1; r < n; r++) if (Math.Abs(a[r * n + c]) > Math.Abs(a[piv * n + c])) piv = r;
            if (a[piv * n + c] == 0) return 0;
            if (piv != c)
            {
                for (int j = 0; j < n; j++) (a[c * n + j], a[piv * n + j]) = (a[piv * n + j], a[c * n + j]);
                det = -det;
            }
            double d = a[c * n + c];
            det *= d;
            for (int r = c + 1; r < n; r++)
            {
                double f = a[r * n + c] / d;
                if (f == 0) continue;
                for (int j = c + 1; j < n; j++) a[r * n + j] -= f * a[c * n + j];
            }
        }
        return det;
    }
}
