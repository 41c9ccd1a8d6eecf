using System.Numerics;

namespace NetOnnx.Kernels.Recurrent;

/// <summary>
/// Recurrent (linear) attention over a per-head state matrix S [dk, dv]:
/// optional decay S *= exp(g_t), optional delta rule v_t = beta_t * (v_t - S^T k_t), write S += k_t v_t^T,
/// read o_t = scale * q_t S (query heads grouped onto kv heads).
/// </summary>
public sealed class LinearAttentionProblem<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    public int Batch, Steps, QHeads, KvHeads, Dk, Dv;
    /// <summary>Q [B, T, Hq*dk], K [B, T, Hkv*dk], V [B, T, Hkv*dv].</summary>
    public T[] Q = [], K = [], V = [];
    /// <summary>Decay [B, T, Hkv] (per head) or [B, T, Hkv*dk] (per key dim); null when not gated.</summary>
    public T[]? Decay;
    public bool DecayPerKeyDim;
    /// <summary>Beta [B, T, Hkv] or [B, T, 1]; null when no delta rule.</summary>
    public T[]? Beta;
    public int BetaWidth;
    /// <summary>Erase gate [B, T, Hkv*dk] applied to the key used for retrieval, or null.</summary>
    public T[]? EraseGate;
    /// <summary>State [B, Hkv, dk, dv], updated in place.</summary>
    public T[] State = [];
    public T Scale;
    /// <summary>Output [B, T, Hq*dv].</summary>
    public T[] Output = [];
}

public static class LinearAttentionKernel
{
    public static void Run<T>(LinearAttentionProblem<T> p) where T : unmanaged, IFloatingPointIeee754<T>
    {
        int dk = p.Dk, dv = p.Dv, hkv = p.KvHeads, hq = p.QHeads, group = hq / hkv;
        var retrieved = new T[dv];
        var vt = new T[dv];
        var kErase = new T[dk];
        for (int b = 0; b < p.Batch; b++)
            for (int h = 0; h < hkv; h++)
            {
                var s = p.State.AsSpan((b * hkv + h) * dk * dv, dk * dv);
                for (int t = 0; t < p.Steps; t++)
                {
                    int bt = b * p.Steps + t;
                    var k = p.K.AsSpan((bt * hkv + h) * dk, dk);
                    p.V.AsSpan((bt * hkv + h) * dv, dv).CopyTo(vt);
                    if (p.Decay is { } decay)
                    {
                        for (int i = 0; i < dk; i++)
                        {
                            T g = p.DecayPerKeyDim ? decay[(bt * hkv + h) * dk + i] : decay[bt * hkv + h];
                            T f = T.Exp(g);
                            var row = s.Slice(i * dv, dv);
                            for (int j = 0; j < dv; j++) row[j] *= f;
                        }
                    }
                    if (p.Beta is { } beta)
                    {
                        ReadOnlySpan<T> ke = k;
                        if (p.EraseGate is { } eg)
                        {
                            var e = eg.AsSpan((bt * hkv + h) * dk, dk);
                            for (int i = 0; i < dk; i++) kErase[i] = e[i] * k[i];
                            ke = kErase;
                        }
                        Array.Clear(retrieved);
                        for (int i = 0; i < dk; i++) SeqMath.Axpy(ke[i], s.Slice(i * dv, dv), retrieved);
                        T bv = beta[bt * p.BetaWidth + (p.BetaWidth == 1 ? 0 : h)];
                        for (int j = 0; j < dv; j++) vt[j] = bv * (vt[j] - retrieved[j]);
                    }
                    for (int i = 0; i < dk; i++) SeqMath.Axpy<T>(k[i], vt, s.Slice(i * dv, dv));
                    // Read for every query head of this group.
                    for (int g = 0; g < group; g++)
                    {
                        int qh = h * group + g;
                        var q = p.Q.AsSpan((bt * hq + qh) * dk, dk);
                        var o = p.Output.AsSpan((bt * hq + qh) * dv, dv);
                        o.Clear();
                        for (int i = 0; i < dk; i++) SeqMath.Axpy(q[i], s.Slice(i * dv, dv), o);
                        for (int j = 0; j < dv; j++) o[j] *= p.Scale;
                    }
                }
            }
    }
}

public static class CausalConvKernel
{
    /// <summary>
    /// Depthwise causal conv1d: x [B, C, L], w [C, K], optional bias [C], state [B, C, K-1] holding the previous
    /// K-1 inputs. Writes y [B, C, L] and the new state (the last K-1 positions of state ++ x).
    /// </summary>
    public static void Run<T>(ReadOnlySpan<T> x, ReadOnlySpan<T> w, ReadOnlySpan<T> bias, ReadOnlySpan<T> state,
        Span<T> y, Span<T> newState, int batch, int channels, int length, int k, bool silu)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int pad = k - 1;
        var padded = new T[pad + length];
        for (int b = 0; b < batch; b++)
            for (int c = 0; c < channels; c++)
            {
                int bc = b * channels + c;
                if (state.IsEmpty) Array.Clear(padded, 0, pad);
                else state.Slice(bc * pad, pad).CopyTo(padded);
                x.Slice(bc * length, length).CopyTo(padded.AsSpan(pad));
                var wc = w.Slice(c * k, k);
                T bv = bias.IsEmpty ? T.Zero : bias[c];
                var yr = y.Slice(bc * length, length);
                for (int t = 0; t < length; t++)
                {
                    T acc = SeqMath.Dot(padded.AsSpan(t, k), wc) + bv;
                    if (silu) acc = acc * (acc >= T.Zero ? T.One / (T.One + T.Exp(-acc)) : T.Exp(acc) / (T.One + T.Exp(acc)));
                    yr[t] = acc;
                }
                padded.AsSpan(length, pad).CopyTo(newState.Slice(bc * pad, pad));
            }
    }
}
