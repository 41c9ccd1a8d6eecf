namespace NetOnnx.Runtime.Operators.Training;

/// <summary>
/// Shared input handling for the ai.onnx.preview.training optimizers: inputs are R (learning rate), T (update
/// count), then <c>groups</c> runs of n tensors each (X..., G..., state...). Math runs in double per element.
/// </summary>
internal static class Optim
{
    public const string Domain = "ai.onnx.preview.training";

    public static (double R, long T, int N) Header(KernelContext ctx, int groups)
    {
        int rest = ctx.InputCount - 2;
        if (rest <= 0 || rest % groups != 0) throw ctx.Error($"expects R, T and {groups} equal groups of tensors, got {ctx.InputCount} inputs");
        var r = ctx.Input(0);
        var t = ctx.Input(1);
        if (r.Length != 1 || t.Length != 1) throw ctx.Error("R and T must be scalars");
        return (r.GetDouble(0), t.ToInt64Array()[0], rest / groups);
    }

    /// <summary>Reads input i as doubles after checking it matches X's shape and type.</summary>
    public static double[] Read(KernelContext ctx, int i, Tensor like)
    {
        var t = ctx.Input(i);
        if (!t.Shape.AsSpan().SequenceEqual(like.Shape) || t.ElementType != like.ElementType)
            throw ctx.Error($"input {i} is {t.ElementType.OnnxName()} {Kernels.ShapeMath.Format(t.Shape)}, expected {like.ElementType.OnnxName()} {Kernels.ShapeMath.Format(like.Shape)}");
        if (!t.ElementType.IsFloat()) throw ctx.Error($"input {i} must be floating point, got {t.ElementType.OnnxName()}");
        var r = new double[t.Length];
        for (int k = 0; k < r.Length; k++) r[k] = t.GetDouble(k);
        return r;
    }

    public static void Write(KernelContext ctx, int output, Tensor like, double[] v)
    {
        if (!ctx.IsOutputRequested(output)) return;
        var y = ctx.OutputUninitialized(output, like.ElementType, like.Shape);
        switch (y.ElementType)
        {
            case DataType.Float: { var s = y.Span<float>(); for (int i = 0; i < v.Length; i++) s[i] = (float)v[i]; break; }
            case DataType.Double: v.CopyTo(y.Span<double>()); break;
            case DataType.Float16: { var s = y.Span<Half>(); for (int i = 0; i < v.Length; i++) s[i] = (Half)v[i]; break; }
            case DataType.BFloat16: { var s = y.Span<BFloat16>(); for (int i = 0; i < v.Length; i++) s[i] = (BFloat16)(float)v[i]; break; }
        }
    }
}

/// <summary>Adagrad: H += g^2; X -= r * g / (sqrt(H) + epsilon), r = R / (1 + T * decay_factor), g = G + norm_coefficient * X.</summary>
[OpKernel("Adagrad", 1, Domain = Optim.Domain)]
public sealed class Adagrad : OpKernel
{
    private readonly double _decay, _epsilon, _norm;
    public Adagrad(KernelInfo info)
    {
        _decay = info.GetFloat("decay_factor", 0);
        _epsilon = info.GetFloat("epsilon", 1e-6f);
        _norm = info.GetFloat("norm_coefficient", 0);
    }
    public override void Compute(KernelContext ctx)
    {
        var (R, T, n) = Optim.Header(ctx, 3);
        double r = R / (1 + T * _decay);
        for (int k = 0; k < n; k++)
        {
            var xt = ctx.Input(2 + k);
            var x = Optim.Read(ctx, 2 + k, xt);
            var g = Optim.Read(ctx, 2 + n + k, xt);
            var h = Optim.Read(ctx, 2 + 2 * n + k, xt);
            for (int i = 0; i < x.Length; i++)
            {
                double gr = _norm * x[i] + g[i];
                h[i] += gr * gr;
                x[i] -= r * gr / (Math.Sqrt(h[i]) + _epsilon);
            }
            Optim.Write(ctx, k, xt, x);
            Optim.Write(ctx, n + k, xt, h);
        }
    }
}

/// <summary>Momentum (standard or Nesterov): V = alpha * V + beta' * g (beta' = 1 on the first update), then X steps along V.</summary>
[OpKernel("Momentum", 1, Domain = Optim.Domain)]
public sealed class Momentum : OpKernel
{
    private readonly double _alpha, _beta, _norm;
    private readonly bool _nesterov;
    public Momentum(KernelInfo info)
    {
        _alpha = info.GetFloat("alpha", 0);
        _beta = info.GetFloat("beta", 0);
        _norm = info.GetFloat("norm_coefficient", 0);
        var mode = info.GetString("mode", "standard");
        if (mode is not ("standard" or "nesterov")) throw info.Error($"mode must be 'standard' or 'nesterov', got '{mode}'");
        _nesterov = mode == "nesterov";
    }
    public override void Compute(KernelContext ctx)
    {
        var (R, T, n) = Optim.Header(ctx, 3);
        double beta = T > 0 ? _beta : 1;
        for (int k = 0; k < n; k++)
        {
            var xt = ctx.Input(2 + k);
            var x = Optim.Read(ctx, 2 + k, xt);
            var g = Optim.Read(ctx, 2 + n + k, xt);
            var v = Optim.Read(ctx, 2 + 2 * n + k, xt);
            for (int i = 0; i < x.Length; i++)
            {
                double gr = _norm * x[i] + g[i];
                v[i] = _alpha * v[i] + beta * gr;
                x[i] -= R * (_nesterov ? gr + _alpha * v[i] : v[i]);
            }
            Optim.Write(ctx, k, xt, x);
            Optim.Write(ctx, n + k, xt, v);
        }
    }
}

/// <summary>Adam with bias-corrected step size, optional L2 (norm_coefficient) and post-update decay (norm_coefficient_post).</summary>
[OpKernel("Adam", 1, Domain = Optim.Domain)]
public sealed class Adam : OpKernel
{
    private readonly double _alpha, _beta, _epsilon, _norm, _normPost;
    public Adam(KernelInfo info)
    {
        _alpha = info.GetFloat("alpha", 0.9f);
        _beta = info.GetFloat("beta", 0.999f);
        _epsilon = info.GetFloat("epsilon", 1e-6f);
        _norm = info.GetFloat("norm_coefficient", 0);
        _normPost = info.GetFloat("norm_coefficient_post", 0);
    }
    public override void Compute(KernelContext ctx)
    {
        var (R, T, n) = Optim.Header(ctx, 4);
        double r = T > 0 ? R * Math.Sqrt(1 - Math.Pow(_beta, T)) / (1 - Math.Pow(_alpha, T)) : R;
        for (int k = 0; k < n; k++)
        {
            var xt = ctx.Input(2 + k);
            var x = Optim.Read(ctx, 2 + k, xt);
            var g = Optim.Read(ctx, 2 + n + k, xt);
            var v = Optim.Read(ctx, 2 + 2 * n + k, xt);
            var h = Optim.Read(ctx, 2 + 3 * n + k, xt);
            for (int i = 0; i < x.Length; i++)
            {
                double gr = _norm * x[i] + g[i];
                v[i] = _alpha * v[i] + (1 - _alpha) * gr;
                h[i] = _beta * h[i] + (1 - _beta) * gr * gr;
                x[i] = (1 - _normPost) * (x[i] - r * v[i] / (Math.Sqrt(h[i]) + _epsilon));
            }
            Optim.Write(ctx, k, xt, x);
            Optim.Write(ctx, n + k, xt, v);
            Optim.Write(ctx, 2 * n + k, xt, h);
        }
    }
}
