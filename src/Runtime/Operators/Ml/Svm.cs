namespace NetOnnx.Runtime.Operators.Ml;

/// <summary>
/// SVMRegressor: sum_j coef[j] * K(x, sv_j) + rho over the support vectors (or a plain linear model when there
/// are none); one_class turns the score into +1 / -1. K is LINEAR, POLY, RBF or SIGMOID with kernel_params
/// (gamma, coef0, degree).
/// </summary>
[OpKernel("SVMRegressor", 1, Domain = MlCommon.Domain)]
public sealed class SVMRegressor : OpKernel
{
    private readonly float[] _sv, _coef;
    private readonly double _rho, _gamma, _coef0, _degree;
    private readonly int _supports, _kernel;
    private readonly bool _oneClass;
    private readonly MlCommon.PostTransform _post;

    public SVMRegressor(KernelInfo info)
    {
        _kernel = info.GetString("kernel_type", "LINEAR") switch
        {
            "LINEAR" => 0, "POLY" => 1, "RBF" => 2, "SIGMOID" => 3,
            var k => throw info.Error($"kernel_type must be LINEAR, POLY, RBF or SIGMOID, got '{k}'"),
        };
        var kp = info.GetFloats("kernel_params") ?? [];
        _gamma = kp.Length > 0 ? kp[0] : 0;
        _coef0 = kp.Length > 1 ? kp[1] : 0;
        _degree = kp.Length > 2 ? kp[2] : 0;
        _supports = (int)info.GetInt("n_supports", 0);
        _sv = info.GetFloats("support_vectors") ?? [];
        _coef = info.GetFloats("coefficients") ?? [];
        var rho = info.GetFloats("rho") ?? [];
        _rho = rho.Length > 0 ? rho[0] : 0;
        _oneClass = info.GetInt("one_class", 0) != 0;
        _post = MlCommon.ParseTransform(info, info.GetString("post_transform", "NONE"));
        if (_supports > 0 && (_coef.Length < _supports || _sv.Length % _supports != 0))
            throw info.Error($"{_supports} support vectors need as many coefficients (got {_coef.Length}) and a whole number of features each (got {_sv.Length} values)");
    }

    public override void Compute(KernelContext ctx)
    {
        var x = ctx.Input(0);
        var v = MlCommon.ToDoubles(ctx, x);
        int f = x.Rank == 0 ? 1 : x.Shape[^1], rows = f == 0 ? 0 : v.Length / f;
        if (_supports > 0 && _sv.Length / _supports != f) throw ctx.Error($"support vectors have {_sv.Length / _supports} features, the input {f}");
        if (_supports == 0 && _coef.Length != f) throw ctx.Error($"the linear model has {_coef.Length} coefficients, the input {f} features");
        var y = new double[rows];
        for (int r = 0; r < rows; r++)
        {
            var row = v.AsSpan(r * f, f);
            double s = _rho;
            if (_supports == 0)
                for (int k = 0; k < f; k++) s += _coef[k] * row[k];
            else
                for (int j = 0; j < _supports; j++) s += _coef[j] * Kernel(row, _sv.AsSpan(j * f, f));
            if (_oneClass) s = s > 0 ? 1 : -1;
            y[r] = s;
        }
        for (int r = 0; r < rows; r++) MlCommon.Apply(_post, y.AsSpan(r, 1));
        MlCommon.Store(ctx.OutputUninitialized(0, DataType.Float, [rows, 1]), y);
    }

    private double Kernel(ReadOnlySpan<double> a, ReadOnlySpan<float> b)
    {
        double dot = 0, dist = 0;
        for (int i = 0; i < a.Length; i++) { dot += a[i] * b[i]; double d = a[i] - b[i]; dist += d * d; }
        return _kernel switch
        {
            0 => dot,
            1 => Math.Pow(_gamma * dot + _coef0, _degree),
            2 => Math.Exp(-_gamma * dist),
            _ => Math.Tanh(_gamma * dot + _coef0),
        };
    }
}
