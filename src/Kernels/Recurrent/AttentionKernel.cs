using System.Numerics;
using NetOnnx.Kernels.Threading;

namespace NetOnnx.Kernels.Recurrent;

/// <summary>
/// One scaled-dot-product attention problem. Q and Y are addressed by (batch, head, position) strides with a
/// contiguous last dimension, so 3-D [B,S,H*D] and 4-D [B,H,S,D] layouts share one kernel; K and V are the
/// present (past + new) caches laid out [B, kvHeads, total, D].
/// </summary>
public sealed class AttentionProblem<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    public int Batch, QHeads, KvHeads, QSeq, TotalSeq, HeadDim, VHeadDim;
    public T[] Q = [];
    public int QBatchStride, QHeadStride, QSeqStride;
    public T[] K = [], V = [];
    public T Scale;
    /// <summary>Softcap value; zero or negative disables it.</summary>
    public T Softcap;
    /// <summary>Additive float mask or boolean mask (true = attend), broadcast over 4-D strides (0 = broadcast).</summary>
    public T[]? MaskFloat;
    public bool[]? MaskBool;
    public int MaskBatchStride, MaskHeadStride, MaskSeqStride, MaskLength;
    public bool Causal;
    /// <summary>Per batch: a query at position i may see keys j &lt;= i + offset (causal only).</summary>
    public int[] CausalOffset = [];
    /// <summary>Per batch count of valid keys, or null.</summary>
    public int[]? NonPadKv;
    public T[] Y = [];
    public int YBatchStride, YHeadStride, YSeqStride;
    /// <summary>Optional [B, QHeads, QSeq, TotalSeq] output of an intermediate score stage.</summary>
    public T[]? QkOut;
    /// <summary>0: scaled (softcapped) QK; 1: same; 2: plus the mask bias; 3: after softmax.</summary>
    public int QkMode;
}

public static class AttentionKernel
{
    public static void Run<T>(AttentionProblem<T> p, int threads) where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (p.QHeads % p.KvHeads != 0) throw new ArgumentException($"q heads {p.QHeads} is not a multiple of kv heads {p.KvHeads}");
        int work = p.Batch * p.QHeads;
        if (threads > 1 && work > 1)
            IntraOpPool.For(work, threads, i => RunHead(p, i / p.QHeads, i % p.QHeads));
        else
            for (int i = 0; i < work; i++) RunHead(p, i / p.QHeads, i % p.QHeads);
    }

    private static void RunHead<T>(AttentionProblem<T> p, int b, int h) where T : unmanaged, IFloatingPointIeee754<T>
    {
        int total = p.TotalSeq, d = p.HeadDim, dv = p.VHeadDim;
        // Grouped heads share a kv head: q heads [g*rep, (g+1)*rep) map to kv head g.
        int kvh = h / (p.QHeads / p.KvHeads);
        var k = p.K.AsSpan((b * p.KvHeads + kvh) * total * d, total * d);
        var v = p.V.AsSpan((b * p.KvHeads + kvh) * total * dv, total * dv);
        var row = new T[total];
        bool soft = p.Softcap > T.Zero;
        T negInf = T.NegativeInfinity;
        for (int i = 0; i < p.QSeq; i++)
        {
            var q = p.Q.AsSpan(b * p.QBatchStride + h * p.QHeadStride + i * p.QSeqStride, d);
            for (int j = 0; j < total; j++)
            {
                T s = SeqMath.Dot<T>(q, k.Slice(j * d, d)) * p.Scale;
                if (soft) s = p.Softcap * T.Tanh(s / p.Softcap);
                row[j] = s;
            }
            Span<T> qk = p.QkOut is null ? default : p.QkOut.AsSpan(((b * p.QHeads + h) * p.QSeq + i) * total, total);
            if (!qk.IsEmpty && p.QkMode <= 1) row.AsSpan().CopyTo(qk);

            // Bias: mask (padded with "masked" past its last dimension), causal frontier, key padding.
            int mBase = b * p.MaskBatchStride + h * p.MaskHeadStride + i * p.MaskSeqStride;
            int limit = p.Causal ? i + p.CausalOffset[b] : int.MaxValue;
            int valid = p.NonPadKv is null ? total : p.NonPadKv[b];
            for (int j = 0; j < total; j++)
            {
                T bias = T.Zero;
                if (p.MaskFloat is not null) bias = j < p.MaskLength ? p.MaskFloat[mBase + j] : negInf;
                else if (p.MaskBool is not null && (j >= p.MaskLength || !p.MaskBool[mBase + j])) bias = negInf;
                if (j > limit || j >= valid) bias = negInf;
                row[j] += bias;
            }
            if (!qk.IsEmpty && p.QkMode == 2) row.AsSpan().CopyTo(qk);

            // Softmax; a row with nothing to attend to yields zeros rather than NaN.
            T max = negInf;
            for (int j = 0; j < total; j++) if (row[j] > max) max = row[j];
            var y = p.Y.AsSpan(b * p.YBatchStride + h * p.YHeadStride + i * p.YSeqStride, dv);
            y.Clear();
            if (T.IsNegativeInfinity(max) || T.IsNaN(max))
            {
                Array.Clear(row);
            }
            else
            {
                T sum = T.Zero;
                for (int j = 0; j < total; j++) { T e = T.Exp(row[j] - max); row[j] = e; sum += e; }
                T inv = T.One / sum;
                for (int j = 0; j < total; j++) row[j] *= inv;
                for (int j = 0; j < total; j++) SeqMath.Axpy<T>(row[j], v.Slice(j * dv, dv), y);
            }
            if (!qk.IsEmpty && p.QkMode == 3) row.AsSpan().CopyTo(qk);
        }
    }
}
