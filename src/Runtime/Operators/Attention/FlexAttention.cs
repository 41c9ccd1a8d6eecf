using System.Numerics;
using NetOnnx.Kernels.Recurrent;
using NetOnnx.Runtime.Operators.Recurrent;

namespace NetOnnx.Runtime.Operators.Attention;

/// <summary>
/// FlexAttention (ai.onnx.preview 1): attention over 4-D Q [B,Hq,L,E], K [B,Hkv,S,E], V [B,Hkv,S,Ev] whose
/// scores pass through optional user subgraphs: score_mod and mask_mod on the scaled scores [B,Hq,L,S] before
/// softmax, prob_mod on the probabilities after it. Query heads are grouped onto kv heads.
/// </summary>
[OpKernel("FlexAttention", 1, Domain = "ai.onnx.preview")]
public sealed class FlexAttention : OpKernel
{
    private readonly float? _scale;
    private readonly ExecutionPlan? _scoreMod, _maskMod, _probMod;

    public FlexAttention(KernelInfo info)
    {
        _scale = info.Node.HasAttr("scale") ? info.GetFloat("scale", 1f) : null;
        _scoreMod = Compile(info, "score_mod");
        _maskMod = Compile(info, "mask_mod");
        _probMod = Compile(info, "prob_mod");
    }

    private static ExecutionPlan? Compile(KernelInfo info, string name)
    {
        var g = info.GetGraph(name);
        if (g is null) return null;
        if (g.Inputs.Count < 1 || g.Outputs.Count < 1) throw info.Error($"{name} must take the scores as input and produce one output");
        return info.CompileSubgraph(g);
    }

    public override void Compute(KernelContext ctx)
    {
        var q = ctx.Input(0);
        if (!SeqTensorData.IsSupported(q.ElementType)) throw ctx.Error($"unsupported element type {q.ElementType.OnnxName()}");
        if (SeqTensorData.UsesDouble(q.ElementType)) Run<double>(ctx);
        else Run<float>(ctx);
    }

    private void Run<T>(KernelContext ctx) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var qT = ctx.Input(0); var kT = ctx.Input(1); var vT = ctx.Input(2);
        if (qT.Rank != 4 || kT.Rank != 4 || vT.Rank != 4) throw ctx.Error("Q, K and V must be 4-D [batch, heads, sequence, head_size]");
        int b = qT.Shape[0], hq = qT.Shape[1], l = qT.Shape[2], e = qT.Shape[3];
        int hkv = kT.Shape[1], s = kT.Shape[2], ev = vT.Shape[3];
        if (kT.Shape[0] != b || vT.Shape[0] != b || kT.Shape[3] != e || vT.Shape[1] != hkv || vT.Shape[2] != s)
            throw ctx.Error($"incompatible shapes Q {Kernels.ShapeMath.Format(qT.Shape)}, K {Kernels.ShapeMath.Format(kT.Shape)}, V {Kernels.ShapeMath.Format(vT.Shape)}");
        if (hkv <= 0 || hq % hkv != 0) throw ctx.Error($"query heads {hq} must be a multiple of kv heads {hkv}");
        int group = hq / hkv;
        var q = SeqTensorData.Read<T>(qT);
        var k = SeqTensorData.Read<T>(kT);
        var v = SeqTensorData.Read<T>(vT);
        T scale = T.CreateTruncating(_scale ?? 1.0 / Math.Sqrt(e));
        int[] scoreShape = [b, hq, l, s];
        var scores = new T[b * hq * l * s];
        for (int bh = 0; bh < b * hq; bh++)
        {
            int kvh = (bh / hq) * hkv + (bh % hq) / group;
            for (int i = 0; i < l; i++)
            {
                var qr = q.AsSpan((bh * l + i) * e, e);
                var row = scores.AsSpan((bh * l + i) * s, s);
                for (int j = 0; j < s; j++) row[j] = SeqMath.Dot<T>(qr, k.AsSpan((kvh * s + j) * e, e)) * scale;
            }
        }
        if (_scoreMod is not null) scores = Apply<T>(ctx, _scoreMod, "score_mod", scores, qT.ElementType, scoreShape);
        if (_maskMod is not null) scores = Apply<T>(ctx, _maskMod, "mask_mod", scores, qT.ElementType, scoreShape);
        for (int r = 0; r < b * hq * l; r++)
        {
            var row = scores.AsSpan(r * s, s);
            T max = T.NegativeInfinity;
            foreach (var x in row) if (x > max) max = x;
            // A fully masked row attends to nothing rather than producing NaN.
            if (T.IsNegativeInfinity(max)) { row.Clear(); continue; }
            T sum = T.Zero;
            for (int j = 0; j < s; j++) { row[j] = T.Exp(row[j] - max); sum += row[j]; }
            for (int j = 0; j < s; j++) row[j] /= sum;
        }
        if (_probMod is not null) scores = Apply<T>(ctx, _probMod, "prob_mod", scores, qT.ElementType, scoreShape);
        var y = new T[b * hq * l * ev];
        for (int bh = 0; bh < b * hq; bh++)
        {
            int kvh = (bh / hq) * hkv + (bh % hq) / group;
            SeqMath.MatMul<T>(scores.AsSpan(bh * l * s), s, v.AsSpan(kvh * s * ev), ev, y.AsSpan(bh * l * ev), ev, l, ev, s, false);
        }
        SeqTensorData.Write<T>(ctx.OutputUninitialized(0, qT.ElementType, [b, hq, l, ev]), y);
    }

    /// <summary>Runs a modifier subgraph on a [B,Hq,L,S] tensor in the model's element type.</summary>
    private static T[] Apply<T>(KernelContext ctx, ExecutionPlan plan, string name, T[] data, DataType type, int[] shape)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var input = Tensor.Zeros(type, shape);
        SeqTensorData.Write<T>(input, data);
        var outs = ctx.RunSubgraph(plan, [input]);
        if (outs.Length != 1 || outs[0] is not Tensor r) throw ctx.Error($"{name} did not produce a tensor");
        if (r.Length != data.Length || r.Rank != 4) throw ctx.Error($"{name} produced shape {Kernels.ShapeMath.Format(r.Shape)}, expected {Kernels.ShapeMath.Format(shape)}");
        if (!SeqTensorData.IsSupported(r.ElementType)) throw ctx.Error($"{name} produced {r.ElementType.OnnxName()}, expected a float type");
        return SeqTensorData.Read<T>(r);
    }
}
