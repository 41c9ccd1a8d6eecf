namespace NetOnnx.Runtime.Operators.Random;

/// <summary>
/// Shared plumbing for the random generators. With a 'seed' attribute every run starts a generator from that
/// seed, so a seeded node gives the same values in every run and on every thread; without one each run draws
/// from a fresh time-seeded generator. Values cannot match other runtimes' generators bit for bit.
/// </summary>
internal static class Rng
{
    public static System.Random For(float? seed) =>
        seed is { } s ? new System.Random(BitConverter.SingleToInt32Bits(s)) : new System.Random();

    public static float? Seed(KernelInfo info) => info.Node.HasAttr("seed") ? info.GetFloat("seed", 0) : null;

    public static DataType FloatType(KernelInfo info, long dtype)
    {
        var t = (DataType)dtype;
        if (t is not (DataType.Float or DataType.Double or DataType.Float16 or DataType.BFloat16))
            throw info.Error($"dtype must be a floating-point type, got {t.OnnxName()}");
        return t;
    }

    public static double Normal(System.Random r)
    {
        // Box-Muller; 1 - NextDouble() keeps the logarithm's argument in (0, 1].
        double u1 = 1.0 - r.NextDouble(), u2 = r.NextDouble();
        return Math.Sqrt(-2.0 * Math.Log(u1)) * Math.Cos(2 * Math.PI * u2);
    }

    public static void Fill(Tensor t, Func<double> next)
    {
        switch (t.ElementType)
        {
            case DataType.Float: { var s = t.Span<float>(); for (int i = 0; i < s.Length; i++) s[i] = (float)next(); break; }
            case DataType.Double: { var s = t.Span<double>(); for (int i = 0; i < s.Length; i++) s[i] = next(); break; }
            case DataType.Float16: { var s = t.Span<Half>(); for (int i = 0; i < s.Length; i++) s[i] = (Half)next(); break; }
            case DataType.BFloat16: { var s = t.Span<BFloat16>(); for (int i = 0; i < s.Length; i++) s[i] = (BFloat16)(float)next(); break; }
            default: throw new InvalidOperationException($"cannot fill {t.ElementType.OnnxName()} with random values");
        }
    }

    public static int[] Shape(KernelInfo info)
    {
        var s = info.GetInts("shape") ?? throw info.Error("requires the shape attribute");
        foreach (var d in s) if (d < 0) throw info.Error($"shape has a negative dimension {d}");
        return s.Select(d => checked((int)d)).ToArray();
    }
}

[OpKernel("RandomUniform", 1)]
public sealed class RandomUniform : OpKernel
{
    private readonly DataType _type;
    private readonly int[] _shape;
    private readonly double _low, _high;
    private readonly float? _seed;
    public RandomUniform(KernelInfo info)
    {
        _type = Rng.FloatType(info, info.GetInt("dtype", (long)DataType.Float));
        _shape = Rng.Shape(info);
        _low = info.GetFloat("low", 0);
        _high = info.GetFloat("high", 1);
        _seed = Rng.Seed(info);
    }
    public override void Compute(KernelContext ctx)
    {
        var r = Rng.For(_seed);
        Rng.Fill(ctx.OutputUninitialized(0, _type, _shape), () => _low + (_high - _low) * r.NextDouble());
    }
}

[OpKernel("RandomNormal", 1)]
public sealed class RandomNormal : OpKernel
{
    private readonly DataType _type;
    private readonly int[] _shape;
    private readonly double _mean, _scale;
    private readonly float? _seed;
    public RandomNormal(KernelInfo info)
    {
        _type = Rng.FloatType(info, info.GetInt("dtype", (long)DataType.Float));
        _shape = Rng.Shape(info);
        _mean = info.GetFloat("mean", 0);
        _scale = info.GetFloat("scale", 1);
        _seed = Rng.Seed(info);
    }
    public override void Compute(KernelContext ctx)
    {
        var r = Rng.For(_seed);
        Rng.Fill(ctx.OutputUninitialized(0, _type, _shape), () => _mean + _scale * Rng.Normal(r));
    }
}

/// <summary>RandomUniformLike / RandomNormalLike: the shape (and by default the type) of the input.</summary>
[OpKernel("RandomUniformLike", 1)]
[OpKernel("RandomNormalLike", 1)]
public sealed class RandomLike : OpKernel
{
    private readonly DataType? _type;
    private readonly bool _normal;
    private readonly double _a, _b;
    private readonly float? _seed;
    public RandomLike(KernelInfo info)
    {
        _normal = info.Node.OpType == "RandomNormalLike";
        if (info.Node.HasAttr("dtype")) _type = Rng.FloatType(info, info.GetInt("dtype", 1));
        _a = _normal ? info.GetFloat("mean", 0) : info.GetFloat("low", 0);
        _b = _normal ? info.GetFloat("scale", 1) : info.GetFloat("high", 1);
        _seed = Rng.Seed(info);
    }
    public override void Compute(KernelContext ctx)
    {
        var x = ctx.Input(0);
        var type = _type ?? x.ElementType;
        if (!type.IsFloat()) throw ctx.Error($"output type must be floating point (set dtype), got {type.OnnxName()}");
        var r = Rng.For(_seed);
        var y = ctx.OutputUninitialized(0, type, x.Shape);
        if (_normal) Rng.Fill(y, () => _a + _b * Rng.Normal(r));
        else Rng.Fill(y, () => _a + (_b - _a) * r.NextDouble());
    }
}

/// <summary>Bernoulli: 1 with the probability given by each input element, else 0, in dtype (default: the input's type).</summary>
[OpKernel("Bernoulli", 15)]
public sealed class Bernoulli : OpKernel
{
    private readonly DataType? _type;
    private readonly float? _seed;
    public Bernoulli(KernelInfo info)
    {
        if (info.Node.HasAttr("dtype")) _type = (DataType)info.GetInt("dtype", 1);
        _seed = Rng.Seed(info);
    }
    public override void Compute(KernelContext ctx)
    {
        var p = ctx.Input(0);
        if (!p.ElementType.IsFloat()) throw ctx.Error($"input must hold probabilities as floats, got {p.ElementType.OnnxName()}");
        var type = _type ?? p.ElementType;
        var r = Rng.For(_seed);
        var y = ctx.OutputUninitialized(0, type, p.Shape);
        for (int i = 0; i < p.Length; i++)
        {
            double q = p.GetDouble(i);
            if (q is < 0 or > 1 || double.IsNaN(q)) throw ctx.Error($"probability {q} at {i} is outside [0, 1]");
            bool one = r.NextDouble() < q;
            Write(y, i, one);
        }
    }

    private static void Write(Tensor y, int i, bool one)
    {
        switch (y.ElementType)
        {
            case DataType.Float: y.Span<float>()[i] = one ? 1 : 0; break;
            case DataType.Double: y.Span<double>()[i] = one ? 1 : 0; break;
            case DataType.Float16: y.Span<Half>()[i] = one ? Half.One : Half.Zero; break;
            case DataType.BFloat16: y.Span<BFloat16>()[i] = (BFloat16)(one ? 1f : 0f); break;
            case DataType.Bool: y.Span<bool>()[i] = one; break;
            case DataType.Int8: y.Span<sbyte>()[i] = (sbyte)(one ? 1 : 0); break;
            case DataType.UInt8: y.Span<byte>()[i] = (byte)(one ? 1 : 0); break;
            case DataType.Int16: y.Span<short>()[i] = (short)(one ? 1 : 0); break;
            case DataType.UInt16: y.Span<ushort>()[i] = (ushort)(one ? 1 : 0); break;
            case DataType.Int32: y.Span<int>()[i] = one ? 1 : 0; break;
            case DataType.UInt32: y.Span<uint>()[i] = one ? 1u : 0u; break;
            case DataType.Int64: y.Span<long>()[i] = one ? 1 : 0; break;
            case DataType.UInt64: y.Span<ulong>()[i] = one ? 1ul : 0ul; break;
            default: throw new InvalidOperationException($"Bernoulli cannot produce {y.ElementType.OnnxName()}");
        }
    }
}

/// <summary>Multinomial: sample_size class indices per batch row, drawn from the row's unnormalised log-probabilities.</summary>
[OpKernel("Multinomial", 7)]
public sealed class Multinomial : OpKernel
{
    private readonly DataType _type;
    private readonly int _samples;
    private readonly float? _seed;
    public Multinomial(KernelInfo info)
    {
        _type = (DataType)info.GetInt("dtype", (long)DataType.Int32);
        if (_type is not (DataType.Int32 or DataType.Int64)) throw info.Error($"dtype must be int32 or int64, got {_type.OnnxName()}");
        _samples = checked((int)info.GetInt("sample_size", 1));
        if (_samples < 0) throw info.Error("sample_size must not be negative");
        _seed = Rng.Seed(info);
    }
    public override void Compute(KernelContext ctx)
    {
        var x = ctx.Input(0);
        if (x.Rank != 2 || !x.ElementType.IsFloat()) throw ctx.Error($"input must be a 2-D float tensor [batch, classes], got {x}");
        int batch = x.Shape[0], classes = x.Shape[1];
        var r = Rng.For(_seed);
        var y = ctx.OutputUninitialized(0, _type, [batch, _samples]);
        var cdf = new double[classes];
        for (int b = 0; b < batch; b++)
        {
            double max = double.NegativeInfinity;
            for (int c = 0; c < classes; c++) max = Math.Max(max, x.GetDouble(b * classes + c));
            double sum = 0;
            for (int c = 0; c < classes; c++) { sum += Math.Exp(x.GetDouble(b * classes + c) - max); cdf[c] = sum; }
            for (int s = 0; s < _samples; s++)
            {
                double u = r.NextDouble() * sum;
                int k = 0;
                while (k < classes - 1 && cdf[k] <= u) k++;
                if (_type == DataType.Int32) y.Span<int>()[b * _samples + s] = k;
                else y.Span<long>()[b * _samples + s] = k;
            }
        }
    }
}
