namespace NetOnnx.Runtime.Operators.Ml;

/// <summary>Reading map inputs: keys as a tensor, values as a flat tensor (a tensor, or a sequence of scalars).</summary>
internal static class Maps
{
    public static MapValue Input(KernelContext ctx, int i) => ctx.InputValue(i) as MapValue
        ?? throw ctx.Error($"input {i} must be a map, got {ctx.InputValue(i)?.GetType().Name ?? "nothing"}");

    public static Tensor Values(KernelContext ctx, MapValue m)
    {
        switch (m.Values)
        {
            case Tensor t when t.Length == m.Keys.Length: return t;
            case TensorSequence s when s.Count == m.Keys.Length && s.Items.All(t => t.Length == 1):
            {
                var t = Tensor.Zeros(s.Count > 0 ? s.Items[0].ElementType : DataType.Float, s.Count);
                for (int k = 0; k < s.Count; k++) Array.Copy(s.Items[k].Buffer, 0, t.Buffer, k, 1);
                return t;
            }
            default: throw ctx.Error("map values must be one scalar per key");
        }
    }
}

/// <summary>ZipMap: each row of scores becomes a map from the class labels to that row's values.</summary>
[OpKernel("ZipMap", 1, Domain = MlCommon.Domain)]
public sealed class ZipMap : OpKernel
{
    private readonly Tensor _keys;
    public ZipMap(KernelInfo info)
    {
        if (info.GetInts("classlabels_int64s") is { Length: > 0 } il) _keys = Tensor.Create(il, il.Length);
        else if (info.GetStrings("classlabels_strings") is { Length: > 0 } sl) _keys = Tensor.Create(sl, sl.Length);
        else throw info.Error("needs classlabels_int64s or classlabels_strings");
    }
    public override void Compute(KernelContext ctx)
    {
        var x = ctx.Input(0);
        if (x.ElementType != DataType.Float) throw ctx.Error($"input must be float, got {x.ElementType.OnnxName()}");
        int c = x.Rank == 0 ? 1 : x.Shape[^1];
        if (c != _keys.Length) throw ctx.Error($"input has {c} columns but there are {_keys.Length} labels");
        int rows = c == 0 ? 0 : x.Length / c;
        var maps = new List<MapValue>(rows);
        for (int r = 0; r < rows; r++)
        {
            // Each map owns a copy of its row, so it stays valid after the input buffer is recycled.
            var v = new float[c];
            x.ReadOnlySpan<float>().Slice(r * c, c).CopyTo(v);
            maps.Add(new MapValue(_keys.ElementType, _keys, Tensor.Create(v, c)));
        }
        ctx.SetOutput(0, new MapSequence(_keys.ElementType, maps));
    }
}

/// <summary>DictVectorizer: a map's values placed at the positions of their keys in the vocabulary, as [1, vocabulary].</summary>
[OpKernel("DictVectorizer", 1, Domain = MlCommon.Domain)]
public sealed class DictVectorizer : OpKernel
{
    private readonly Dictionary<string, int>? _strings;
    private readonly Dictionary<long, int>? _ints;
    private readonly int _size;
    public DictVectorizer(KernelInfo info)
    {
        if (info.GetStrings("string_vocabulary") is { Length: > 0 } sv)
        {
            _strings = new(StringComparer.Ordinal);
            for (int i = 0; i < sv.Length; i++) _strings.TryAdd(sv[i], i);
            _size = sv.Length;
        }
        else if (info.GetInts("int64_vocabulary") is { Length: > 0 } iv)
        {
            _ints = [];
            for (int i = 0; i < iv.Length; i++) _ints.TryAdd(iv[i], i);
            _size = iv.Length;
        }
        else throw info.Error("needs string_vocabulary or int64_vocabulary");
    }
    public override void Compute(KernelContext ctx)
    {
        var m = Maps.Input(ctx, 0);
        var values = Maps.Values(ctx, m);
        var y = ctx.Output(0, values.ElementType, [1, _size]);
        for (int k = 0; k < m.Keys.Length; k++)
        {
            int pos = m.Keys.ElementType == DataType.String
                ? _strings is not null && _strings.TryGetValue(m.Keys.ReadOnlySpan<string>()[k], out int p) ? p : -1
                : _ints is not null && _ints.TryGetValue(m.Keys.ToInt64Array()[k], out int q) ? q : -1;
            if (pos >= 0) Array.Copy(values.Buffer, k, y.Buffer, pos, 1);
        }
    }
}

/// <summary>CastMap: an int64-keyed map to a tensor ordered by key (DENSE), or laid out at key positions up to max_map (SPARSE).</summary>
[OpKernel("CastMap", 1, Domain = MlCommon.Domain)]
public sealed class CastMap : OpKernel
{
    private readonly DataType _to;
    private readonly bool _sparse;
    private readonly int _max;
    public CastMap(KernelInfo info)
    {
        _to = info.GetString("cast_to", "TO_FLOAT") switch
        {
            "TO_FLOAT" => DataType.Float,
            "TO_STRING" => DataType.String,
            "TO_INT64" => DataType.Int64,
            var s => throw info.Error($"cast_to must be TO_FLOAT, TO_STRING or TO_INT64, got '{s}'"),
        };
        _sparse = info.GetString("map_form", "DENSE") == "SPARSE";
        _max = (int)info.GetInt("max_map", 1);
    }
    public override void Compute(KernelContext ctx)
    {
        var m = Maps.Input(ctx, 0);
        if (m.Keys.ElementType != DataType.Int64) throw ctx.Error("map keys must be int64");
        var values = Maps.Values(ctx, m);
        var keys = m.Keys.ToInt64Array();
        var order = Enumerable.Range(0, keys.Length).OrderBy(i => keys[i]).ToArray();
        int n = _sparse ? _max : keys.Length;
        var y = ctx.Output(0, _to, [1, n]);
        for (int j = 0; j < order.Length; j++)
        {
            int k = order[j];
            int pos = _sparse ? (int)keys[k] : j;
            if (pos < 0 || pos >= n) throw ctx.Error($"key {keys[k]} is outside [0, {n}) for SPARSE max_map {_max}");
            object v = values.ElementType == DataType.String ? values.ReadOnlySpan<string>()[k] : values.GetDouble(k);
            switch (_to)
            {
                case DataType.Float: y.Span<float>()[pos] = v is string s ? float.Parse(s, System.Globalization.CultureInfo.InvariantCulture) : (float)(double)v; break;
                case DataType.Int64: y.Span<long>()[pos] = v is string s2 ? long.Parse(s2, System.Globalization.CultureInfo.InvariantCulture) : (long)(double)v; break;
                default: y.Span<string>()[pos] = v is string s3 ? s3 : ((double)v).ToString(System.Globalization.CultureInfo.InvariantCulture); break;
            }
        }
    }
}
