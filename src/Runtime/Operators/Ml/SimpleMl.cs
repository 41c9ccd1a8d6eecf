using NetOnnx.Kernels;

namespace NetOnnx.Runtime.Operators.Ml;

/// <summary>ArrayFeatureExtractor: picks the given indices along the last axis ([C] inputs are treated as [1, C]).</summary>
[OpKernel("ArrayFeatureExtractor", 1, Domain = MlCommon.Domain)]
public sealed class ArrayFeatureExtractor : OpKernel
{
    public ArrayFeatureExtractor(KernelInfo info) { }
    public override void Compute(KernelContext ctx)
    {
        var x = ctx.Input(0);
        var idx = ctx.Input(1).ToInt64Array();
        if (x.Rank == 0) throw ctx.Error("input must have at least one dimension");
        int c = x.Shape[^1];
        foreach (var i in idx)
            if (i < 0 || i >= c) throw ctx.Error($"index {i} is out of range for the last dimension {c}");
        int[] shape = x.Rank == 1 ? [1, idx.Length] : [.. x.Shape[..^1], idx.Length];
        var y = ctx.OutputUninitialized(0, x.ElementType, shape);
        int rows = x.Rank == 1 ? 1 : ShapeMath.SizeTo(x.Shape, x.Rank - 1);
        for (int r = 0; r < rows; r++)
            for (int k = 0; k < idx.Length; k++)
                Array.Copy(x.Buffer, (long)r * c + idx[k], y.Buffer, (long)r * idx.Length + k, 1);
    }
}

/// <summary>Binarizer: 1 where the input exceeds the threshold, else 0, in the input's type.</summary>
[OpKernel("Binarizer", 1, Domain = MlCommon.Domain)]
public sealed class Binarizer : OpKernel
{
    private readonly float _threshold;
    public Binarizer(KernelInfo info) => _threshold = info.GetFloat("threshold", 0);
    public override void Compute(KernelContext ctx)
    {
        var x = ctx.Input(0);
        var y = ctx.OutputUninitialized(0, x.ElementType, x.Shape);
        switch (x.ElementType)
        {
            case DataType.Float: { var s = x.ReadOnlySpan<float>(); var d = y.Span<float>(); for (int i = 0; i < s.Length; i++) d[i] = s[i] > _threshold ? 1 : 0; break; }
            case DataType.Double: { var s = x.ReadOnlySpan<double>(); var d = y.Span<double>(); for (int i = 0; i < s.Length; i++) d[i] = s[i] > _threshold ? 1 : 0; break; }
            case DataType.Int64: { var s = x.ReadOnlySpan<long>(); var d = y.Span<long>(); for (int i = 0; i < s.Length; i++) d[i] = s[i] > _threshold ? 1 : 0; break; }
            case DataType.Int32: { var s = x.ReadOnlySpan<int>(); var d = y.Span<int>(); for (int i = 0; i < s.Length; i++) d[i] = s[i] > _threshold ? 1 : 0; break; }
            default: throw ctx.Error($"input must be float, double, int32 or int64, got {x.ElementType.OnnxName()}");
        }
    }
}

/// <summary>Scaler: (x - offset) * scale per feature (last axis), as float.</summary>
[OpKernel("Scaler", 1, Domain = MlCommon.Domain)]
public sealed class Scaler : OpKernel
{
    private readonly float[] _offset, _scale;
    public Scaler(KernelInfo info)
    {
        _offset = info.GetFloats("offset") ?? [0f];
        _scale = info.GetFloats("scale") ?? [1f];
        if (_offset.Length == 0) _offset = [0f];
        if (_scale.Length == 0) _scale = [1f];
    }
    public override void Compute(KernelContext ctx)
    {
        var x = ctx.Input(0);
        var v = MlCommon.ToDoubles(ctx, x);
        int f = x.Rank == 0 ? 1 : x.Shape[^1];
        if (_offset.Length != 1 && _offset.Length != f || _scale.Length != 1 && _scale.Length != f)
            throw ctx.Error($"offset ({_offset.Length}) and scale ({_scale.Length}) must have 1 or {f} entries");
        var y = ctx.OutputUninitialized(0, DataType.Float, x.Shape).Span<float>();
        for (int i = 0; i < v.Length; i++)
        {
            int j = i % f;
            y[i] = (float)((v[i] - _offset[_offset.Length == 1 ? 0 : j]) * _scale[_scale.Length == 1 ? 0 : j]);
        }
    }
}

/// <summary>Normalizer: each row divided by its max, L1 norm or L2 norm (rows left as they are when that is 0).</summary>
[OpKernel("Normalizer", 1, Domain = MlCommon.Domain)]
public sealed class Normalizer : OpKernel
{
    private readonly string _norm;
    public Normalizer(KernelInfo info)
    {
        _norm = info.GetString("norm", "MAX");
        if (_norm is not ("MAX" or "L1" or "L2")) throw info.Error($"norm must be MAX, L1 or L2, got '{_norm}'");
    }
    public override void Compute(KernelContext ctx)
    {
        var x = ctx.Input(0);
        if (x.Rank is not (1 or 2)) throw ctx.Error($"input must be [C] or [N, C], got {ShapeMath.Format(x.Shape)}");
        var v = MlCommon.ToDoubles(ctx, x);
        int c = x.Shape[^1], n = c == 0 ? 0 : v.Length / c;
        var y = ctx.OutputUninitialized(0, DataType.Float, x.Shape).Span<float>();
        for (int r = 0; r < n; r++)
        {
            var row = v.AsSpan(r * c, c);
            double d = 0;
            switch (_norm)
            {
                case "MAX": d = double.NegativeInfinity; foreach (var a in row) d = Math.Max(d, a); break;
                case "L1": foreach (var a in row) d += Math.Abs(a); break;
                case "L2": foreach (var a in row) d += a * a; d = Math.Sqrt(d); break;
            }
            for (int i = 0; i < c; i++) y[r * c + i] = (float)(d == 0 ? row[i] : row[i] / d);
        }
    }
}

/// <summary>Imputer: replaces elements equal to replaced_value (NaN matches NaN) with the per-feature imputed value.</summary>
[OpKernel("Imputer", 1, Domain = MlCommon.Domain)]
public sealed class Imputer : OpKernel
{
    private readonly float[] _floats;
    private readonly long[] _ints;
    private readonly float _replacedF;
    private readonly long _replacedI;
    public Imputer(KernelInfo info)
    {
        _floats = info.GetFloats("imputed_value_floats") ?? [];
        _ints = info.GetInts("imputed_value_int64s") ?? [];
        _replacedF = info.GetFloat("replaced_value_float", 0);
        _replacedI = info.GetInt("replaced_value_int64", 0);
    }
    public override void Compute(KernelContext ctx)
    {
        var x = ctx.Input(0);
        int f = x.Rank == 0 ? 1 : x.Shape[^1];
        var y = ctx.OutputUninitialized(0, x.ElementType, x.Shape);
        switch (x.ElementType)
        {
            case DataType.Float or DataType.Double:
            {
                if (_floats.Length != 1 && _floats.Length != f) throw ctx.Error($"imputed_value_floats must have 1 or {f} entries");
                bool nan = float.IsNaN(_replacedF);
                if (x.ElementType == DataType.Float)
                {
                    var s = x.ReadOnlySpan<float>(); var d = y.Span<float>();
                    for (int i = 0; i < s.Length; i++)
                        d[i] = (nan ? float.IsNaN(s[i]) : s[i] == _replacedF) ? _floats[_floats.Length == 1 ? 0 : i % f] : s[i];
                }
                else
                {
                    var s = x.ReadOnlySpan<double>(); var d = y.Span<double>();
                    for (int i = 0; i < s.Length; i++)
                        d[i] = (nan ? double.IsNaN(s[i]) : s[i] == _replacedF) ? _floats[_floats.Length == 1 ? 0 : i % f] : s[i];
                }
                break;
            }
            case DataType.Int64 or DataType.Int32:
            {
                if (_ints.Length != 1 && _ints.Length != f) throw ctx.Error($"imputed_value_int64s must have 1 or {f} entries");
                if (x.ElementType == DataType.Int64)
                {
                    var s = x.ReadOnlySpan<long>(); var d = y.Span<long>();
                    for (int i = 0; i < s.Length; i++) d[i] = s[i] == _replacedI ? _ints[_ints.Length == 1 ? 0 : i % f] : s[i];
                }
                else
                {
                    var s = x.ReadOnlySpan<int>(); var d = y.Span<int>();
                    for (int i = 0; i < s.Length; i++) d[i] = s[i] == _replacedI ? (int)_ints[_ints.Length == 1 ? 0 : i % f] : s[i];
                }
                break;
            }
            default: throw ctx.Error($"input must be float, double, int32 or int64, got {x.ElementType.OnnxName()}");
        }
    }
}

/// <summary>OneHotEncoder: appends a category axis with a 1 at the matching category (all zeros, or an error, when none matches).</summary>
[OpKernel("OneHotEncoder", 1, Domain = MlCommon.Domain)]
public sealed class OneHotEncoder : OpKernel
{
    private readonly Dictionary<long, int>? _ints;
    private readonly Dictionary<string, int>? _strings;
    private readonly int _count;
    private readonly bool _zeros;
    public OneHotEncoder(KernelInfo info)
    {
        var ints = info.GetInts("cats_int64s");
        var strs = info.GetStrings("cats_strings");
        if (ints is { Length: > 0 }) { _ints = []; for (int i = 0; i < ints.Length; i++) _ints.TryAdd(ints[i], i); _count = ints.Length; }
        else if (strs is { Length: > 0 }) { _strings = new(StringComparer.Ordinal); for (int i = 0; i < strs.Length; i++) _strings.TryAdd(strs[i], i); _count = strs.Length; }
        else throw info.Error("needs cats_int64s or cats_strings");
        _zeros = info.GetInt("zeros", 1) != 0;
    }
    public override void Compute(KernelContext ctx)
    {
        var x = ctx.Input(0);
        var y = ctx.Output(0, DataType.Float, [.. x.Shape, _count]).Span<float>();
        if (x.ElementType == DataType.String)
        {
            if (_strings is null) throw ctx.Error("string input needs cats_strings");
            var s = x.ReadOnlySpan<string>();
            for (int i = 0; i < s.Length; i++)
                if (_strings.TryGetValue(s[i], out int k)) y[i * _count + k] = 1;
                else if (!_zeros) throw ctx.Error($"category '{s[i]}' is not in cats_strings");
        }
        else
        {
            if (_ints is null) throw ctx.Error("numeric input needs cats_int64s");
            var v = MlCommon.ToDoubles(ctx, x);
            for (int i = 0; i < v.Length; i++)
                if (_ints.TryGetValue((long)v[i], out int k)) y[i * _count + k] = 1;
                else if (!_zeros) throw ctx.Error($"category {v[i]} is not in cats_int64s");
        }
    }
}
