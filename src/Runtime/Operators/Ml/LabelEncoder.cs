namespace NetOnnx.Runtime.Operators.Ml;

/// <summary>
/// LabelEncoder (ml opsets 1, 2, 4): maps each input element through keys_* to values_*, else to the default.
/// Opset 1 used classes_strings/default_* for string/int64 in both directions; 2 added the parallel keys/values
/// lists; 4 added the *_tensor forms (any of string, int64, int32, int16, float, double).
/// </summary>
[OpKernel("LabelEncoder", 1, Domain = MlCommon.Domain)]
public sealed class LabelEncoder : OpKernel
{
    private readonly Dictionary<string, int>? _stringKeys;
    private readonly Dictionary<double, int>? _numberKeys; // double.Equals treats NaN as equal to NaN
    private readonly DataType _keyType;
    private readonly Tensor _values;
    private readonly Tensor _default;

    public LabelEncoder(KernelInfo info)
    {
        Tensor keys, values;
        Tensor? def = info.GetTensor("default_tensor");
        if (info.OpsetVersion < 2)
        {
            // Opset 1: classes_strings is the vocabulary; string input -> int64 index, int64 input -> string.
            var classes = info.GetStrings("classes_strings") ?? [];
            bool toInt = info.InputElementType(0) != DataType.Int64;
            var idx = Enumerable.Range(0, classes.Length).Select(i => (long)i).ToArray();
            keys = toInt ? Tensor.Create(classes, classes.Length) : Tensor.Create(idx, idx.Length);
            values = toInt ? Tensor.Create(idx, idx.Length) : Tensor.Create(classes, classes.Length);
            def = toInt ? Tensor.Scalar(info.GetInt("default_int64", -1)) : Tensor.Scalar(info.GetString("default_string", "_Unused"));
        }
        else
        {
            keys = Pick(info, "keys") ?? throw info.Error("needs one of keys_strings, keys_int64s, keys_floats, keys_tensor");
            values = Pick(info, "values") ?? throw info.Error("needs one of values_strings, values_int64s, values_floats, values_tensor");
        }
        if (keys.Length != values.Length) throw info.Error($"has {keys.Length} keys but {values.Length} values");
        _keyType = keys.ElementType;
        _values = values;
        if (def is null)
        {
            def = values.ElementType switch
            {
                DataType.String => Tensor.Scalar(info.GetString("default_string", "_Unused")),
                DataType.Int64 => Tensor.Scalar(info.GetInt("default_int64", -1)),
                DataType.Float => Tensor.Scalar(info.GetFloat("default_float", -0f)),
                DataType.Double => Tensor.Scalar((double)info.GetFloat("default_float", -0f)),
                DataType.Int32 => Tensor.Scalar((int)info.GetInt("default_int64", -1)),
                DataType.Int16 => Tensor.Scalar((short)info.GetInt("default_int64", -1)),
                var t => throw info.Error($"values of type {t.OnnxName()} are not supported"),
            };
        }
        if (def.ElementType != values.ElementType || def.Length != 1)
            throw info.Error($"default must be one {values.ElementType.OnnxName()} value, got {def}");
        _default = def;

        if (_keyType == DataType.String)
        {
            _stringKeys = new(StringComparer.Ordinal);
            var k = keys.ReadOnlySpan<string>();
            for (int i = 0; i < k.Length; i++) _stringKeys.TryAdd(k[i], i);
        }
        else
        {
            _numberKeys = [];
            for (int i = 0; i < keys.Length; i++) _numberKeys.TryAdd(keys.GetDouble(i), i);
        }
    }

    private static Tensor? Pick(KernelInfo info, string prefix)
    {
        if (info.GetTensor(prefix + "_tensor") is { } t) return t;
        if (info.GetStrings(prefix + "_strings") is { Length: > 0 } s) return Tensor.Create(s, s.Length);
        if (info.GetInts(prefix + "_int64s") is { Length: > 0 } l) return Tensor.Create(l, l.Length);
        if (info.GetFloats(prefix + "_floats") is { Length: > 0 } f) return Tensor.Create(f, f.Length);
        // Present but empty lists still pick the type.
        if (info.GetStrings(prefix + "_strings") is { } s0) return Tensor.Create(s0, 0);
        if (info.GetInts(prefix + "_int64s") is { } l0) return Tensor.Create(l0, 0);
        if (info.GetFloats(prefix + "_floats") is { } f0) return Tensor.Create(f0, 0);
        return null;
    }

    public override void Compute(KernelContext ctx)
    {
        var x = ctx.Input(0);
        bool xString = x.ElementType == DataType.String;
        if (xString != (_keyType == DataType.String) || !xString && x.ElementType != _keyType && !(x.ElementType.IsFloat() && _keyType.IsFloat()) && !(x.ElementType.IsInteger() && _keyType.IsInteger()))
            throw ctx.Error($"input is {x.ElementType.OnnxName()} but the keys are {_keyType.OnnxName()}");
        var y = ctx.OutputUninitialized(0, _values.ElementType, x.Shape);
        if (xString)
        {
            var s = x.ReadOnlySpan<string>();
            for (int i = 0; i < s.Length; i++)
            {
                if (_stringKeys!.TryGetValue(s[i], out int k)) Array.Copy(_values.Buffer, k, y.Buffer, i, 1);
                else Array.Copy(_default.Buffer, 0, y.Buffer, i, 1);
            }
        }
        else
        {
            for (int i = 0; i < x.Length; i++)
            {
                if (_numberKeys!.TryGetValue(x.GetDouble(i), out int k)) Array.Copy(_values.Buffer, k, y.Buffer, i, 1);
                else Array.Copy(_default.Buffer, 0, y.Buffer, i, 1);
            }
        }
    }
}
