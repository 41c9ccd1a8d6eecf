using System.Numerics;
using NetOnnx.Kernels.Recurrent;
using NetOnnx.Runtime.Operators.Recurrent;

namespace NetOnnx.Runtime.Operators.Attention;

/// <summary>
/// LinearAttention (opset 27): recurrent linear attention with update_rule linear / gated / delta / gated_delta.
/// Inputs query, key, value [B, T, H*D], past_state [B, Hkv, dk, dv], decay, beta, erase_gate; outputs the
/// attention output [B, T, Hq*dv] and present_state. The state accumulates in float (double for double inputs).
/// </summary>
[OpKernel("LinearAttention", 27)]
public sealed class LinearAttention : OpKernel
{
    private readonly int _qHeads, _kvHeads;
    private readonly float _scale;
    private readonly bool _gating, _delta;

    public LinearAttention(KernelInfo info)
    {
        _qHeads = (int)info.GetInt("q_num_heads", 0);
        _kvHeads = (int)info.GetInt("kv_num_heads", 0);
        if (_qHeads <= 0 || _kvHeads <= 0 || _qHeads % _kvHeads != 0)
            throw info.Error($"q_num_heads ({_qHeads}) must be a positive multiple of kv_num_heads ({_kvHeads})");
        _scale = info.GetFloat("scale", 0f);
        string rule = info.GetString("update_rule", "gated_delta");
        (_gating, _delta) = rule switch
        {
            "linear" => (false, false),
            "gated" => (true, false),
            "delta" => (false, true),
            "gated_delta" => (true, true),
            _ => throw info.Error($"update_rule '{rule}' is not linear, gated, delta or gated_delta"),
        };
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
        var pastT = ctx.OptionalInput(3);
        var decayT = ctx.OptionalInput(4);
        var betaT = ctx.OptionalInput(5);
        var eraseT = ctx.OptionalInput(6);
        if (qT.Rank != 3 || kT.Rank != 3 || vT.Rank != 3) throw ctx.Error("query, key and value must be rank 3 [B, T, H*D]");
        int b = qT.Shape[0], t = qT.Shape[1];
        if (kT.Shape[0] != b || vT.Shape[0] != b || kT.Shape[1] != t || vT.Shape[1] != t) throw ctx.Error("query, key and value batch/sequence sizes differ");
        if (qT.Shape[2] % _qHeads != 0 || vT.Shape[2] % _kvHeads != 0) throw ctx.Error("hidden sizes must be divisible by the head counts");
        int dk = qT.Shape[2] / _qHeads, dv = vT.Shape[2] / _kvHeads;
        if (kT.Shape[2] != _kvHeads * dk) throw ctx.Error($"key hidden size {kT.Shape[2]} must be kv_num_heads*dk = {_kvHeads * dk}");
        if (_gating != (decayT is not null)) throw ctx.Error(_gating ? "this update_rule requires the decay input" : "this update_rule forbids the decay input");
        if (_delta != (betaT is not null)) throw ctx.Error(_delta ? "this update_rule requires the beta input" : "this update_rule forbids the beta input");
        if (eraseT is not null && !_delta) throw ctx.Error("erase_gate needs a delta update_rule");

        var p = new LinearAttentionProblem<T>
        {
            Batch = b, Steps = t, QHeads = _qHeads, KvHeads = _kvHeads, Dk = dk, Dv = dv,
            Q = SeqTensorData.Read<T>(qT), K = SeqTensorData.Read<T>(kT), V = SeqTensorData.Read<T>(vT),
            Scale = T.CreateTruncating(_scale == 0f ? 1.0 / Math.Sqrt(dk) : _scale),
            Output = new T[b * t * _qHeads * dv],
        };
        if (decayT is not null)
        {
            int last = decayT.Rank == 3 ? decayT.Shape[2] : -1;
            if (decayT.Rank != 3 || decayT.Shape[0] != b || decayT.Shape[1] != t || (last != _kvHeads && last != _kvHeads * dk))
                throw ctx.Error($"decay shape {Kernels.ShapeMath.Format(decayT.Shape)} must be [{b},{t},{_kvHeads}] or [{b},{t},{_kvHeads * dk}]");
            p.Decay = SeqTensorData.Read<T>(decayT);
            p.DecayPerKeyDim = last == _kvHeads * dk && !(last == _kvHeads && dk == 1);
        }
        if (betaT is not null)
        {
            int last = betaT.Rank == 3 ? betaT.Shape[2] : -1;
            if (betaT.Rank != 3 || betaT.Shape[0] != b || betaT.Shape[1] != t || (last != _kvHeads && last != 1))
                throw ctx.Error($"beta shape {Kernels.ShapeMath.Format(betaT.Shape)} must be [{b},{t},{_kvHeads}] or [{b},{t},1]");
            p.Beta = SeqTensorData.Read<T>(betaT);
            p.BetaWidth = last;
        }
        if (eraseT is not null)
        {
            if (eraseT.Length != b * t * _kvHeads * dk) throw ctx.Error($"erase_gate shape {Kernels.ShapeMath.Format(eraseT.Shape)} must be [{b},{t},{_kvHeads * dk}]");
            p.EraseGate = SeqTensorData.Read<T>(eraseT);
        }
        if (pastT is not null)
        {
            if (pastT.Rank != 4 || pastT.Shape[0] != b || pastT.Shape[1] != _kvHeads || pastT.Shape[2] != dk || pastT.Shape[3] != dv)
                throw ctx.Error($"past_state shape {Kernels.ShapeMath.Format(pastT.Shape)} must be [{b},{_kvHeads},{dk},{dv}]");
            p.State = SeqTensorData.Read<T>(pastT);
        }
        else p.State = new T[b * _kvHeads * dk * dv];

        LinearAttentionKernel.Run(p);

        SeqTensorData.Write<T>(ctx.OutputUninitialized(0, qT.ElementType, [b, t, _qHeads * dv]), p.Output);
        if (ctx.OutputCount > 1 && ctx.IsOutputRequested(1))
            SeqTensorData.Write<T>(ctx.OutputUninitialized(1, pastT?.ElementType ?? qT.ElementType, [b, _kvHeads, dk, dv]), p.State);
    }
}
