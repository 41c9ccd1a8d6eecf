using System.Numerics;
using NetOnnx.Kernels;
using NetOnnx.Kernels.Normalization;
using NetOnnx.Kernels.Reduction;
using NetOnnx.Runtime.Operators.Reduction;

namespace NetOnnx.Runtime.Operators.Normalization;

/// <summary>
/// BatchNormalization over [N, C, D1...]. Inference: y = (x - mean) / sqrt(var + epsilon) * scale + B with the
/// given running statistics. From opset 14, training_mode=1 normalises with the batch statistics and also
/// returns the updated running mean and variance (running * momentum + batch * (1 - momentum)). Before
/// opset 9, spatial=0 gives statistics per activation (shape [C, D1...]) rather than per channel.
/// Older opsets' training-only outputs, when a model asks for them, get the running statistics.
/// </summary>
[OpKernel("BatchNormalization", 1)]
public sealed class BatchNormalization : OpKernel
{
    private readonly float _epsilon;
    private readonly float _momentum;
    private readonly bool _training;
    private readonly bool _spatial;

    public BatchNormalization(KernelInfo info)
    {
        _epsilon = info.GetFloat("epsilon", 1e-5f);
        _momentum = info.GetFloat("momentum", 0.9f);
        _training = info.OpsetVersion >= 14 && info.GetInt("training_mode", 0) != 0;
        _spatial = info.OpsetVersion >= 9 || info.GetInt("spatial", 1) != 0;
    }

    public override void Compute(KernelContext ctx)
    {
        var x = ctx.Input(0);
        if (NormalizationHelpers.UsesDouble(ctx, x)) Run<double>(ctx, x); else Run<float>(ctx, x);
    }

    private void Run<T>(KernelContext ctx, Tensor x) where T : struct, IFloatingPointIeee754<T>
    {
        if (x.Rank < 2) throw ctx.Error($"input has shape {ShapeMath.Format(x.Shape)}, expected [N, C, ...]");
        int n = x.Shape[0], c = x.Shape[1], inner = ShapeMath.SizeFrom(x.Shape, 2);
        var xs = x.Buffer as T[] ?? FloatingBridge.ToArray<T>(x);
        var y = ctx.OutputUninitialized(0, x.ElementType, (int[])x.Shape.Clone());
        var ys = y.Buffer as T[] ?? new T[y.Length];
        Tensor meanT = ctx.Input(3), varT = ctx.Input(4);
        T eps = T.CreateTruncating(_epsilon);

        // Per-activation statistics (spatial=0) apply to each of the C*inner positions; otherwise per channel.
        int pc = !_spatial && ctx.Input(1).Length == c * inner && c * inner != c ? c * inner : c;
        int pinner = pc == c ? inner : 1;
        var scale = NormalizationHelpers.Param<T>(ctx, ctx.Input(1), pc, "scale");
        var bias = NormalizationHelpers.Param<T>(ctx, ctx.Input(2), pc, "B");
        var mean = NormalizationHelpers.Param<T>(ctx, meanT, pc, "input_mean");
        var variance = NormalizationHelpers.Param<T>(ctx, varT, pc, "input_var");

        if (_training)
        {
            // Batch statistics per channel over N and the spatial dimensions (population variance).
            var bm = new T[c];
            var bv = new T[c];
            T count = T.CreateTruncating((long)n * inner);
            for (int ch = 0; ch < c; ch++)
            {
                T s = T.Zero;
                for (int b = 0; b < n; b++) s += ReduceKernels.ReduceRow<T, SumReduce<T>>(xs.AsSpan((b * c + ch) * inner, inner));
                bm[ch] = s / count;
                T q = T.Zero;
                for (int b = 0; b < n; b++) q += NormalizationKernels.SumSquaredDeviation<T>(xs.AsSpan((b * c + ch) * inner, inner), bm[ch]);
                bv[ch] = q / count;
            }
            Apply(xs, ys, n, c, inner, scale, bias, bm, bv, eps, ctx.Threads);
            T mom = T.CreateTruncating(_momentum);
            if (ctx.IsOutputRequested(1))
            {
                var rm = new T[c];
                for (int ch = 0; ch < c; ch++) rm[ch] = mean[ch] * mom + bm[ch] * (T.One - mom);
                FloatingBridge.Commit<T>(rm, ctx.OutputUninitialized(1, meanT.ElementType, (int[])meanT.Shape.Clone()));
            }
            if (ctx.IsOutputRequested(2))
            {
                var rv = new T[c];
                for (int ch = 0; ch < c; ch++) rv[ch] = variance[ch] * mom + bv[ch] * (T.One - mom);
                FloatingBridge.Commit<T>(rv, ctx.OutputUninitialized(2, varT.ElementType, (int[])varT.Shape.Clone()));
            }
        }
        else
        {
            Apply(xs, ys, n, pc, pinner, scale, bias, mean, variance, eps, ctx.Threads);
            for (int i = 1; i < ctx.OutputCount; i++)
                if (ctx.IsOutputRequested(i)) ctx.SetOutput(i, (i % 2 == 1 ? meanT : varT).Clone());
        }
        FloatingBridge.Commit<T>(ys.AsSpan(0, y.Length), y);
    }

    /// <summary>y = x * a[c] + b[c] with a = scale / sqrt(var + eps), b = bias - mean * a, over [n, c, inner].</summary>
    private static void Apply<T>(T[] xs, T[] ys, int n, int c, int inner, T[] scale, T[] bias, T[] mean, T[] variance, T eps, int threads)
        where T : struct, IFloatingPointIeee754<T>
    {
        NormalizationHelpers.ForRows(c, n * inner, threads, (s, e) =>
        {
            for (int ch = s; ch < e; ch++)
            {
                T a = scale[ch] / T.Sqrt(variance[ch] + eps);
                T b = bias[ch] - mean[ch] * a;
                for (int bi = 0; bi < n; bi++)
                {
                    int o = (bi * c + ch) * inner;
                    NormalizationKernels.Affine<T>(xs.AsSpan(o, inner), ys.AsSpan(o, inner), a, b);
                }
            }
        });
    }
}

/// <summary>InstanceNormalization: each (n, c) plane normalised by its own mean and variance, then scale[c] and B[c].</summary>
[OpKernel("InstanceNormalization", 1)]
public sealed class InstanceNormalization : OpKernel
{
    private readonly float _epsilon;

    public InstanceNormalization(KernelInfo info) => _epsilon = info.GetFloat("epsilon", 1e-5f);

    public override void Compute(KernelContext ctx)
    {
        var x = ctx.Input(0);
        if (NormalizationHelpers.UsesDouble(ctx, x)) Run<double>(ctx, x); else Run<float>(ctx, x);
    }

    private void Run<T>(KernelContext ctx, Tensor x) where T : struct, IFloatingPointIeee754<T>
    {
        if (x.Rank < 2) throw ctx.Error($"input has shape {ShapeMath.Format(x.Shape)}, expected [N, C, ...]");
        int n = x.Shape[0], c = x.Shape[1], inner = ShapeMath.SizeFrom(x.Shape, 2);
        var scale = NormalizationHelpers.Param<T>(ctx, ctx.Input(1), c, "scale");
        var bias = NormalizationHelpers.Param<T>(ctx, ctx.Input(2), c, "B");
        var xs = x.Buffer as T[] ?? FloatingBridge.ToArray<T>(x);
        var y = ctx.OutputUninitialized(0, x.ElementType, (int[])x.Shape.Clone());
        var ys = y.Buffer as T[] ?? new T[y.Length];
        T eps = T.CreateTruncating(_epsilon);
        NormalizationHelpers.ForRows(n * c, inner, ctx.Threads, (s, e) =>
        {
            for (int plane = s; plane < e; plane++)
            {
                int ch = plane % c, o = plane * inner;
                var (mean, variance) = NormalizationKernels.Moments<T>(xs.AsSpan(o, inner));
                T a = scale[ch] / T.Sqrt(variance + eps);
                NormalizationKernels.Affine<T>(xs.AsSpan(o, inner), ys.AsSpan(o, inner), a, bias[ch] - mean * a);
            }
        });
        FloatingBridge.Commit<T>(ys.AsSpan(0, y.Length), y);
    }
}

/// <summary>
/// GroupNormalization: channels split into num_groups groups, each (n, group) normalised by its own statistics,
/// then a per-channel (opset 21) or per-group (opset 18) scale and bias.
/// </summary>
[OpKernel("GroupNormalization", 18)]
public sealed class GroupNormalization : OpKernel
{
    private readonly float _epsilon;
    private readonly int _groups;

    public GroupNormalization(KernelInfo info)
    {
        _epsilon = info.GetFloat("epsilon", 1e-5f);
        long g = info.GetInt("num_groups", 0);
        if (g <= 0) throw info.Error("needs a positive num_groups attribute");
        _groups = (int)g;
    }

    public override void Compute(KernelContext ctx)
    {
        var x = ctx.Input(0);
        if (NormalizationHelpers.UsesDouble(ctx, x)) Run<double>(ctx, x); else Run<float>(ctx, x);
    }

    private void Run<T>(KernelContext ctx, Tensor x) where T : struct, IFloatingPointIeee754<T>
    {
        if (x.Rank < 2) throw ctx.Error($"input has shape {ShapeMath.Format(x.Shape)}, expected [N, C, ...]");
        int n = x.Shape[0], c = x.Shape[1], inner = ShapeMath.SizeFrom(x.Shape, 2), g = _groups;
        if (c % g != 0) throw ctx.Error($"{c} channels do not split into num_groups={g} groups");
        int per = c / g;
        var st = ctx.Input(1);
        // Opset 21 has one scale per channel, opset 18 one per group; the length tells which.
        int pc = st.Length == c ? c : g;
        var scale = NormalizationHelpers.Param<T>(ctx, st, pc, "scale");
        var bias = NormalizationHelpers.Param<T>(ctx, ctx.Input(2), pc, "bias");
        var xs = FloatingBridge.Read<T>(x);
        var y = ctx.OutputUninitialized(0, x.ElementType, (int[])x.Shape.Clone());
        var ys = FloatingBridge.Target<T>(y);
        T eps = T.CreateTruncating(_epsilon);
        int block = per * inner;
        for (int b = 0; b < n; b++)
            for (int gi = 0; gi < g; gi++)
            {
                int o = (b * g + gi) * block;
                var (mean, variance) = NormalizationKernels.Moments(xs.Slice(o, block));
                T inv = T.One / T.Sqrt(variance + eps);
                for (int k = 0; k < per; k++)
                {
                    int ch = gi * per + k;
                    int p = pc == c ? ch : gi;
                    T a = scale[p] * inv;
                    NormalizationKernels.Affine(xs.Slice(o + k * inner, inner), ys.Slice(o + k * inner, inner), a, bias[p] - mean * a);
                }
            }
        FloatingBridge.Commit<T>(ys, y);
    }
}
