using System.Numerics;
using NetOnnx.Kernels.Recurrent;
using NetOnnx.Runtime.Operators.Recurrent;

namespace NetOnnx.Runtime.Operators.Attention;

/// <summary>
/// Attention (opset 23/24): scaled dot-product attention over 3-D or 4-D Q/K/V with grouped kv heads, boolean or
/// additive masks, causal masking, a past/present KV cache, softcap, an optional intermediate-score output and
/// (opset 24) per-batch valid key counts.
/// </summary>
[OpKernel("Attention", 23)]
public sealed class AttentionOp : OpKernel
{
    private readonly bool _causal;
    private readonly int _qHeadsAttr, _kvHeadsAttr, _qkMode;
    private readonly float? _scale;
    private readonly float _softcap;

    public AttentionOp(KernelInfo info)
    {
        _causal = info.GetInt("is_causal", 0) != 0;
        _qHeadsAttr = (int)info.GetInt("q_num_heads", 0);
        _kvHeadsAttr = (int)info.GetInt("kv_num_heads", 0);
        _qkMode = (int)info.GetInt("qk_matmul_output_mode", 0);
        if (_qkMode is < 0 or > 3) throw info.Error($"qk_matmul_output_mode must be 0..3, got {_qkMode}");
        _scale = info.Node.HasAttr("scale") ? info.GetFloat("scale", 1f) : null;
        _softcap = info.GetFloat("softcap", 0f);
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
        var qT = ctx.Input(0);
        var kT = ctx.Input(1);
        var vT = ctx.Input(2);
        var maskT = ctx.OptionalInput(3);
        var pastKT = ctx.OptionalInput(4);
        var pastVT = ctx.OptionalInput(5);
        var nonPadT = ctx.OptionalInput(6);
        int rank = qT.Rank;
        if (rank is not (3 or 4) || kT.Rank != rank || vT.Rank != rank)
            throw ctx.Error($"Q, K and V must all be 3-D or all 4-D, got {Kernels.ShapeMath.Format(qT.Shape)}, {Kernels.ShapeMath.Format(kT.Shape)}, {Kernels.ShapeMath.Format(vT.Shape)}");
        if ((pastKT is null) != (pastVT is null)) throw ctx.Error("past_key and past_value must be given together");

        int batch = qT.Shape[0];
        int qHeads, kvHeads, qSeq, kvSeq, d, dv;
        if (rank == 4)
        {
            qHeads = qT.Shape[1]; qSeq = qT.Shape[2]; d = qT.Shape[3];
            kvHeads = kT.Shape[1]; kvSeq = kT.Shape[2];
            if (kT.Shape[3] != d) throw ctx.Error($"K head size {kT.Shape[3]} differs from Q head size {d}");
            if (vT.Shape[1] != kvHeads || vT.Shape[2] != kvSeq) throw ctx.Error($"V shape {Kernels.ShapeMath.Format(vT.Shape)} does not match K {Kernels.ShapeMath.Format(kT.Shape)}");
            dv = vT.Shape[3];
        }
        else
        {
            if (_qHeadsAttr <= 0 || _kvHeadsAttr <= 0) throw ctx.Error("3-D inputs need the q_num_heads and kv_num_heads attributes");
            qHeads = _qHeadsAttr; kvHeads = _kvHeadsAttr;
            qSeq = qT.Shape[1]; kvSeq = kT.Shape[1];
            if (qT.Shape[2] % qHeads != 0 || kT.Shape[2] % kvHeads != 0 || vT.Shape[2] % kvHeads != 0)
                throw ctx.Error("Q/K/V hidden sizes must be divisible by their head counts");
            d = qT.Shape[2] / qHeads;
            if (kT.Shape[2] / kvHeads != d) throw ctx.Error($"K head size {kT.Shape[2] / kvHeads} differs from Q head size {d}");
            dv = vT.Shape[2] / kvHeads;
            if (vT.Shape[1] != kvSeq) throw ctx.Error("K and V sequence lengths differ");
        }
        if (kT.Shape[0] != batch || vT.Shape[0] != batch) throw ctx.Error("Q, K and V batch sizes differ");
        if (kvHeads <= 0 || qHeads % kvHeads != 0) throw ctx.Error($"q heads {qHeads} must be a multiple of kv heads {kvHeads}");

        int past = 0;
        if (pastKT is not null)
        {
            if (pastKT.Rank != 4 || pastKT.Shape[0] != batch || pastKT.Shape[1] != kvHeads || pastKT.Shape[3] != d)
                throw ctx.Error($"past_key shape {Kernels.ShapeMath.Format(pastKT.Shape)} does not match [B={batch}, kv_heads={kvHeads}, *, {d}]");
            past = pastKT.Shape[2];
            if (pastVT!.Rank != 4 || pastVT.Shape[0] != batch || pastVT.Shape[1] != kvHeads || pastVT.Shape[2] != past || pastVT.Shape[3] != dv)
                throw ctx.Error($"past_value shape {Kernels.ShapeMath.Format(pastVT.Shape)} does not match [B={batch}, kv_heads={kvHeads}, {past}, {dv}]");
        }
        int total = past + kvSeq;

        // Present caches: past followed by the new keys/values, in [B, kvHeads, total, D].
        var presentK = BuildCache<T>(kT, pastKT, rank, batch, kvHeads, kvSeq, past, d);
        var presentV = BuildCache<T>(vT, pastVT, rank, batch, kvHeads, kvSeq, past, dv);

        var prob = new AttentionProblem<T>
        {
            Batch = batch, QHeads = qHeads, KvHeads = kvHeads, QSeq = qSeq, TotalSeq = total, HeadDim = d, VHeadDim = dv,
            Q = SeqTensorData.Read<T>(qT), K = presentK, V = presentV,
            Scale = T.CreateTruncating(_scale ?? 1.0 / Math.Sqrt(d)),
            Softcap = T.CreateTruncating(_softcap),
            Causal = _causal, QkMode = _qkMode,
            Y = new T[batch * qHeads * qSeq * dv],
        };
        if (rank == 4) { prob.QBatchStride = qHeads * qSeq * d; prob.QHeadStride = qSeq * d; prob.QSeqStride = d; }
        else { prob.QBatchStride = qSeq * qHeads * d; prob.QHeadStride = d; prob.QSeqStride = qHeads * d; }
        if (rank == 4) { prob.YBatchStride = qHeads * qSeq * dv; prob.YHeadStride = qSeq * dv; prob.YSeqStride = dv; }
        else { prob.YBatchStride = qSeq * qHeads * dv; prob.YHeadStride = dv; prob.YSeqStride = qHeads * dv; }

        if (maskT is not null)
        {
            if (maskT.Rank is < 1 or > 4) throw ctx.Error($"attn_mask must have rank 1..4, got {Kernels.ShapeMath.Format(maskT.Shape)}");
            var dims = new int[4];
            for (int i = 0; i < 4; i++) dims[i] = i < 4 - maskT.Rank ? 1 : maskT.Shape[i - (4 - maskT.Rank)];
            int[] expect = [batch, qHeads, qSeq];
            for (int i = 0; i < 3; i++)
                if (dims[i] != 1 && dims[i] != expect[i])
                    throw ctx.Error($"attn_mask shape {Kernels.ShapeMath.Format(maskT.Shape)} does not broadcast to [{batch},{qHeads},{qSeq},{total}]");
            if (dims[3] > total) throw ctx.Error($"attn_mask last dimension {dims[3]} exceeds the total sequence length {total}");
            prob.MaskLength = dims[3];
            prob.MaskSeqStride = dims[2] == 1 ? 0 : dims[3];
            prob.MaskHeadStride = dims[1] == 1 ? 0 : dims[2] * dims[3];
            prob.MaskBatchStride = dims[0] == 1 ? 0 : dims[1] * dims[2] * dims[3];
            if (maskT.ElementType == DataType.Bool) prob.MaskBool = maskT.ToArray<bool>();
            else if (SeqTensorData.IsSupported(maskT.ElementType)) prob.MaskFloat = SeqTensorData.Read<T>(maskT);
            else throw ctx.Error($"attn_mask must be bool or a float type, got {maskT.ElementType.OnnxName()}");
        }

        int[]? nonPad = null;
        if (nonPadT is not null)
        {
            if (nonPadT.Length != batch) throw ctx.Error($"nonpad_kv_seqlen has {nonPadT.Length} entries, expected batch size {batch}");
            nonPad = SeqTensorData.ReadInts(nonPadT);
            foreach (int n in nonPad) if (n < 0 || n > total) throw ctx.Error($"nonpad_kv_seqlen value {n} is outside [0, {total}]");
            prob.NonPadKv = nonPad;
        }
        prob.CausalOffset = new int[batch];
        for (int b = 0; b < batch; b++)
            prob.CausalOffset[b] = pastKT is not null ? past : nonPad is not null ? nonPad[b] - qSeq : 0;

        bool wantQk = ctx.OutputCount > 3 && ctx.IsOutputRequested(3);
        if (wantQk) prob.QkOut = new T[batch * qHeads * qSeq * total];

        AttentionKernel.Run(prob, ctx.Threads);

        var et = qT.ElementType;
        int[] yShape = rank == 4 ? [batch, qHeads, qSeq, dv] : [batch, qSeq, qHeads * dv];
        SeqTensorData.Write<T>(ctx.OutputUninitialized(0, et, yShape), prob.Y);
        if (ctx.OutputCount > 1 && ctx.IsOutputRequested(1))
            SeqTensorData.Write<T>(ctx.OutputUninitialized(1, kT.ElementType, [batch, kvHeads, total, d]), presentK);
        if (ctx.OutputCount > 2 && ctx.IsOutputRequested(2))
            SeqTensorData.Write<T>(ctx.OutputUninitialized(2, vT.ElementType, [batch, kvHeads, total, dv]), presentV);
        if (wantQk)
            SeqTensorData.Write<T>(ctx.OutputUninitialized(3, et, [batch, qHeads, qSeq, total]), prob.QkOut!);
    }

    /// <summary>Concatenates past (already [B,H,P,D]) and the new 3-D or 4-D keys/values along the sequence axis.</summary>
    private static T[] BuildCache<T>(Tensor cur, Tensor? pastT, int rank, int batch, int heads, int seq, int past, int dim)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int total = past + seq;
        var c = SeqTensorData.Read<T>(cur);
        if (rank == 4 && pastT is null) return c;
        var r = new T[batch * heads * total * dim];
        var p = pastT is null ? null : SeqTensorData.Read<T>(pastT);
        for (int b = 0; b < batch; b++)
            for (int h = 0; h < heads; h++)
            {
                int dst = (b * heads + h) * total * dim;
                if (p is not null) p.AsSpan((b * heads + h) * past * dim, past * dim).CopyTo(r.AsSpan(dst));
                dst += past * dim;
                for (int s = 0; s < seq; s++)
                {
                    int src = rank == 4 ? ((b * heads + h) * seq + s) * dim : (b * seq + s) * heads * dim + h * dim;
                    c.AsSpan(src, dim).CopyTo(r.AsSpan(dst + s * dim, dim));
                }
            }
        return r;
    }
}
