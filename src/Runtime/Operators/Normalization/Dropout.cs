using NetOnnx.Runtime.Operators.Reduction;

namespace NetOnnx.Runtime.Operators.Normalization;

/// <summary>
/// Dropout. In inference (the default) the output is the input and the mask is all true (bool from opset
/// 10, the input's type before). Training, requested by the training_mode input from opset 12, keeps each
/// element when a uniform draw in [0, 1) is at least ratio and scales kept elements by 1/(1-ratio).
/// Before opset 7 the is_test attribute defaulted to training, but models of that era were exported for
/// inference (and this is an inference runtime), so they always run in inference mode. The draws come from MT19937 seeded by the seed attribute (random when absent) using the
/// 53-bit double construction, the generator the ONNX reference implementation uses.
/// </summary>
[OpKernel("Dropout", 1)]
public sealed class Dropout : OpKernel
{
    private readonly int _opset;
    private readonly float _ratioAttr;
    private readonly long? _seed;

    public Dropout(KernelInfo info)
    {
        _opset = info.OpsetVersion;
        _ratioAttr = info.GetFloat("ratio", 0.5f);
        _seed = info.Node.HasAttr("seed") ? info.GetInt("seed", 0) : null;
    }

    public override void Compute(KernelContext ctx)
    {
        var x = ctx.Input(0);
        float ratio = _ratioAttr;
        bool training = false;
        if (_opset >= 12)
        {
            if (ctx.OptionalInput(1) is { } r)
            {
                if (r.Length != 1 || !FloatingBridge.IsFloating(r.ElementType)) throw ctx.Error("ratio must be a floating scalar");
                ratio = (float)r.GetDouble(0);
            }
            if (ctx.OptionalInput(2) is { } tm)
            {
                if (tm.Length != 1 || tm.ElementType != DataType.Bool) throw ctx.Error("training_mode must be a bool scalar");
                training = tm.Item<bool>();
            }
        }
        bool wantMask = ctx.OutputCount > 1 && ctx.IsOutputRequested(1);
        DataType maskType = _opset >= 10 ? DataType.Bool : x.ElementType;

        if (!training || ratio == 0f)
        {
            ctx.SetOutput(0, x);
            if (wantMask)
            {
                var m = ctx.OutputUninitialized(1, maskType, (int[])x.Shape.Clone());
                FillMask(m, _ => true);
            }
            return;
        }
        if (!(ratio > 0f && ratio < 1f)) throw ctx.Error($"ratio {ratio} is outside [0, 1)");
        if (!FloatingBridge.IsFloating(x.ElementType)) throw ctx.Error($"does not support element type {x.ElementType.OnnxName()}");

        var rng = new MersenneTwister(unchecked((uint)(_seed ?? System.Random.Shared.NextInt64(0, uint.MaxValue))));
        var keep = new bool[x.Length];
        for (int i = 0; i < keep.Length; i++) keep[i] = rng.NextDouble() >= ratio;
        var y = ctx.OutputUninitialized(0, x.ElementType, (int[])x.Shape.Clone());
        if (x.ElementType == DataType.Double)
        {
            double scale = 1.0 / (1.0 - ratio);
            var xs = x.ReadOnlySpan<double>(); var ys = y.Span<double>();
            for (int i = 0; i < ys.Length; i++) ys[i] = keep[i] ? xs[i] * scale : 0.0;
        }
        else
        {
            float scale = 1f / (1f - ratio);
            var xs = FloatingBridge.Read<float>(x);
            var ys = FloatingBridge.Target<float>(y);
            for (int i = 0; i < ys.Length; i++) ys[i] = keep[i] ? xs[i] * scale : 0f;
            FloatingBridge.Commit<float>(ys, y);
        }
        if (wantMask)
        {
            var m = ctx.OutputUninitialized(1, maskType, (int[])x.Shape.Clone());
            FillMask(m, i => keep[i]);
        }
    }

    private static void FillMask(Tensor m, Func<int, bool> keep)
    {
        if (m.ElementType == DataType.Bool)
        {
            var s = m.Span<bool>();
            for (int i = 0; i < s.Length; i++) s[i] = keep(i);
            return;
        }
        var f = new float[m.Length];
        for (int i = 0; i < f.Length; i++) f[i] = keep(i) ? 1f : 0f;
        FloatingBridge.Commit<float>(f, m);
    }
}

/// <summary>MT19937 (Matsumoto and Nishimura) with init_genrand seeding and genrand_res53 doubles.</summary>
internal sealed class MersenneTwister
{
    private const int N = 624, M = 397;
    private const uint MatrixA = 0x9908B0DF, Upper = 0x80000000, Lower = 0x7FFFFFFF;
    private readonly uint[] _mt = new uint[N];
    private int _index;

    public MersenneTwister(uint seed)
    {
        _mt[0] = seed;
        for (int i = 1; i < N; i++) _mt[i] = unchecked(1812433253u * (_mt[i - 1] ^ (_mt[i - 1] >> 30)) + (uint)i);
        _index = N;
    }

    public uint NextUInt32()
    {
        if (_index >= N) Twist();
        uint y = _mt[_index++];
        y ^= y >> 11;
        y ^= (y << 7) & 0x9D2C5680;
        y ^= (y << 15) & 0xEFC60000;
        y ^= y >> 18;
        return y;
    }

    /// <summary>A double in [0, 1) from 53 random bits (27 + 26 from two draws).</summary>
    public double NextDouble()
    {
        uint a = NextUInt32() >> 5, b = NextUInt32() >> 6;
        return (a * 67108864.0 + b) / 9007199254740992.0;
    }

    private void Twist()
    {
        for (int k = 0; k < N; k++)
        {
            uint y = (_mt[k] & Upper) | (_mt[(k + 1) % N] & Lower);
            _mt[k] = _mt[(k + M) % N] ^ (y >> 1) ^ ((y & 1) != 0 ? MatrixA : 0u);
        }
        _index = 0;
    }
}
