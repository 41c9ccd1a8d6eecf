namespace NetOnnx.Runtime.Operators.Ml;

/// <summary>Shared matrix-vector scoring for the linear models: scores[n, e] = x[n, :] . coef[e, :] + intercept[e].</summary>
internal static class LinearScores
{
    public static double[] Compute(KernelContext ctx, Tensor x, float[] coef, float[] intercepts, int outputs, out int rows)
    {
        var v = MlCommon.ToDoubles(ctx, x);
        int f = x.Rank == 0 ? 1 : x.Shape[^1];
        rows = f == 0 ? 0 : v.Length / f;
        if (coef.Length != outputs * f) throw ctx.Error($"coefficients hold {coef.Length} values, expected {outputs} x {f} features");
        var s = new double[rows * outputs];
        for (int r = 0; r < rows; r++)
            for (int e = 0; e < outputs; e++)
            {
                double acc = intercepts.Length > e ? intercepts[e] : 0;
                for (int k = 0; k < f; k++) acc += v[r * f + k] * coef[e * f + k];
                s[r * outputs + e] = acc;
            }
        return s;
    }
}

/// <summary>LinearRegressor: one output per target, then the post-transform; float output [N, targets].</summary>
[OpKernel("LinearRegressor", 1, Domain = MlCommon.Domain)]
public sealed class LinearRegressor : OpKernel
{
    private readonly float[] _coef, _intercepts;
    private readonly int _targets;
    private readonly MlCommon.PostTransform _post;
    public LinearRegressor(KernelInfo info)
    {
        _coef = info.GetFloats("coefficients") ?? throw info.Error("requires coefficients");
        _intercepts = info.GetFloats("intercepts") ?? [];
        _targets = (int)info.GetInt("targets", 1);
        if (_targets <= 0) throw info.Error("targets must be positive");
        _post = MlCommon.ParseTransform(info, info.GetString("post_transform", "NONE"));
    }
    public override void Compute(KernelContext ctx)
    {
        var s = LinearScores.Compute(ctx, ctx.Input(0), _coef, _intercepts, _targets, out int rows);
        for (int r = 0; r < rows; r++) MlCommon.Apply(_post, s.AsSpan(r * _targets, _targets));
        MlCommon.Store(ctx.OutputUninitialized(0, DataType.Float, [rows, _targets]), s);
    }
}

/// <summary>
/// LinearClassifier: per-class scores, the top class as label. A single coefficient row with two labels is the
/// binary form: the label follows the sign of the score and the scores become two columns.
/// </summary>
[OpKernel("LinearClassifier", 1, Domain = MlCommon.Domain)]
public sealed class LinearClassifier : OpKernel
{
    private readonly float[] _coef, _intercepts;
    private readonly long[]? _intLabels;
    private readonly string[]? _stringLabels;
    private readonly int _labels, _rows;
    private readonly MlCommon.PostTransform _post;
    public LinearClassifier(KernelInfo info)
    {
        _coef = info.GetFloats("coefficients") ?? throw info.Error("requires coefficients");
        _intercepts = info.GetFloats("intercepts") ?? [];
        _intLabels = info.GetInts("classlabels_ints") is { Length: > 0 } il ? il : null;
        _stringLabels = _intLabels is null ? info.GetStrings("classlabels_strings") : null;
        _labels = _intLabels?.Length ?? _stringLabels?.Length ?? 0;
        if (_labels == 0) throw info.Error("needs classlabels_ints or classlabels_strings");
        _rows = _intercepts.Length > 0 ? _intercepts.Length : _labels;
        _post = MlCommon.ParseTransform(info, info.GetString("post_transform", "NONE"));
    }
    public override void Compute(KernelContext ctx)
    {
        var x = ctx.Input(0);
        var raw = LinearScores.Compute(ctx, x, _coef, _intercepts, _rows, out int rows);
        bool binary = _rows == 1 && _labels == 2;
        int cols = binary ? 2 : _rows;
        var scores = new double[rows * cols];
        var label = new int[rows];
        for (int r = 0; r < rows; r++)
        {
            var s = scores.AsSpan(r * cols, cols);
            if (binary)
            {
                double v = raw[r];
                label[r] = v > 0 ? 1 : 0;
                if (_post == MlCommon.PostTransform.None) { s[0] = -v; s[1] = v; }
                else
                {
                    Span<double> one = [v];
                    MlCommon.Apply(_post is MlCommon.PostTransform.Probit ? _post : MlCommon.PostTransform.Logistic, one);
                    s[0] = 1 - one[0];
                    s[1] = one[0];
                }
            }
            else
            {
                raw.AsSpan(r * cols, cols).CopyTo(s);
                int best = 0;
                for (int c = 1; c < cols; c++) if (s[c] > s[best]) best = c;
                label[r] = best;
                MlCommon.Apply(_post, s);
            }
        }
        if (_intLabels is not null)
        {
            var y = ctx.OutputUninitialized(0, DataType.Int64, [rows]).Span<long>();
            for (int r = 0; r < rows; r++) y[r] = label[r] < _intLabels.Length ? _intLabels[label[r]] : label[r];
        }
        else
        {
            var y = ctx.Output(0, DataType.String, [rows]).Span<string>();
            for (int r = 0; r < rows; r++) y[r] = label[r] < _stringLabels!.Length ? _stringLabels[label[r]] : "";
        }
        if (ctx.IsOutputRequested(1)) MlCommon.Store(ctx.OutputUninitialized(1, DataType.Float, [rows, cols]), scores);
    }
}

/// <summary>CategoryMapper: strings to int64 or int64 to strings through the parallel cats_* lists.</summary>
[OpKernel("CategoryMapper", 1, Domain = MlCommon.Domain)]
public sealed class CategoryMapper : OpKernel
{
    private readonly Dictionary<string, long> _toInt = new(StringComparer.Ordinal);
    private readonly Dictionary<long, string> _toString = [];
    private readonly long _defaultInt;
    private readonly string _defaultString;
    public CategoryMapper(KernelInfo info)
    {
        var ints = info.GetInts("cats_int64s") ?? [];
        var strs = info.GetStrings("cats_strings") ?? [];
        if (ints.Length != strs.Length) throw info.Error($"cats_int64s has {ints.Length} entries, cats_strings {strs.Length}");
        for (int i = 0; i < ints.Length; i++) { _toInt.TryAdd(strs[i], ints[i]); _toString.TryAdd(ints[i], strs[i]); }
        _defaultInt = info.GetInt("default_int64", -1);
        _defaultString = info.GetString("default_string", "_Unused");
    }
    public override void Compute(KernelContext ctx)
    {
        var x = ctx.Input(0);
        if (x.ElementType == DataType.String)
        {
            var s = x.ReadOnlySpan<string>();
            var y = ctx.OutputUninitialized(0, DataType.Int64, x.Shape).Span<long>();
            for (int i = 0; i < s.Length; i++) y[i] = _toInt.TryGetValue(s[i], out var v) ? v : _defaultInt;
        }
        else if (x.ElementType == DataType.Int64)
        {
            var s = x.ReadOnlySpan<long>();
            var y = ctx.Output(0, DataType.String, x.Shape).Span<string>();
            for (int i = 0; i < s.Length; i++) y[i] = _toString.TryGetValue(s[i], out var v) ? v : _defaultString;
        }
        else throw ctx.Error($"input must be string or int64, got {x.ElementType.OnnxName()}");
    }
}

/// <summary>FeatureVectorizer: concatenates its inputs' features ([C] as [1, C]) along axis 1 as floats.</summary>
[OpKernel("FeatureVectorizer", 1, Domain = MlCommon.Domain)]
public sealed class FeatureVectorizer : OpKernel
{
    private readonly long[] _dims;
    public FeatureVectorizer(KernelInfo info) => _dims = info.GetInts("inputdimensions") ?? [];
    public override void Compute(KernelContext ctx)
    {
        int n = ctx.InputCount;
        var xs = Enumerable.Range(0, n).Select(ctx.Input).ToArray();
        int rows = xs.Length == 0 ? 0 : xs[0].Rank <= 1 ? 1 : xs[0].Shape[0];
        var widths = new int[n];
        for (int i = 0; i < n; i++)
        {
            int r = xs[i].Rank <= 1 ? 1 : xs[i].Shape[0];
            if (r != rows) throw ctx.Error($"input {i} has {r} rows, input 0 has {rows}");
            widths[i] = i < _dims.Length ? (int)_dims[i] : (rows == 0 ? 0 : xs[i].Length / rows);
        }
        int total = widths.Sum();
        var y = ctx.Output(0, DataType.Float, [rows, total]).Span<float>();
        int off = 0;
        for (int i = 0; i < n; i++)
        {
            var v = MlCommon.ToDoubles(ctx, xs[i]);
            int have = rows == 0 ? 0 : v.Length / rows;
            for (int r = 0; r < rows; r++)
                for (int k = 0; k < Math.Min(have, widths[i]); k++) y[r * total + off + k] = (float)v[r * have + k];
            off += widths[i];
        }
    }
}
