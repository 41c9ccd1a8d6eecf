using System.Numerics;
using NetOnnx.Kernels.Recurrent;

namespace NetOnnx.Runtime.Operators.Recurrent;

/// <summary>
/// Shared driver for RNN, GRU and LSTM: reads attributes once, then per run converts inputs to the compute type,
/// runs each direction and writes Y, Y_h (and Y_c) in the requested layout.
/// </summary>
public abstract class RecurrentBase : OpKernel
{
    private readonly RecurrentCellKind _kind;
    private readonly int _numDirections;
    private readonly bool _reverseOnly;
    private readonly int _layout;
    private readonly long _hiddenAttr;
    private readonly float _clip;
    private readonly bool _inputForget, _linearBeforeReset;
    private readonly RnnActivation[] _acts; // per direction: ActsPerDirection entries

    protected RecurrentBase(KernelInfo info, RecurrentCellKind kind)
    {
        _kind = kind;
        string dir = info.GetString("direction", "forward");
        (_numDirections, _reverseOnly) = dir switch
        {
            "forward" => (1, false),
            "reverse" => (1, true),
            "bidirectional" => (2, false),
            _ => throw info.Error($"direction '{dir}' is not forward, reverse or bidirectional"),
        };
        _layout = (int)info.GetInt("layout", 0);
        if (_layout is not (0 or 1)) throw info.Error($"layout must be 0 or 1, got {_layout}");
        _hiddenAttr = info.GetInt("hidden_size", 0);
        _clip = info.GetFloat("clip", 0f);
        if (info.Node.HasAttr("clip") && _clip <= 0) throw info.Error($"clip must be positive, got {_clip}");
        _inputForget = info.GetInt("input_forget", 0) != 0;
        _linearBeforeReset = info.GetInt("linear_before_reset", 0) != 0;

        string[] defaults = kind switch
        {
            RecurrentCellKind.Lstm => ["Sigmoid", "Tanh", "Tanh"],
            RecurrentCellKind.Gru => ["Sigmoid", "Tanh"],
            _ => ["Tanh"],
        };
        int per = defaults.Length;
        string[] names = info.GetStrings("activations") ?? [];
        if (names.Length == 0) names = _numDirections == 2 ? [.. defaults, .. defaults] : defaults;
        else if (names.Length == per && _numDirections == 2) names = [.. names, .. names];
        if (names.Length != per * _numDirections)
            throw info.Error($"activations has {names.Length} entries, expected {per * _numDirections}");
        float[] alphas = info.GetFloats("activation_alpha") ?? [];
        float[] betas = info.GetFloats("activation_beta") ?? [];
        int ai = 0, bi = 0;
        _acts = new RnnActivation[names.Length];
        for (int i = 0; i < names.Length; i++)
        {
            var k = RnnActivation.Parse(names[i]) ?? throw info.Error($"unsupported activation '{names[i]}'");
            float a = RnnActivation.DefaultAlpha(k), b = RnnActivation.DefaultBeta(k);
            if (RnnActivation.UsesAlpha(k) && ai < alphas.Length) a = alphas[ai++];
            if (RnnActivation.UsesBeta(k) && bi < betas.Length) b = betas[bi++];
            _acts[i] = new RnnActivation(k, a, b);
        }
    }

    public override void Compute(KernelContext ctx)
    {
        var x = ctx.Input(0);
        if (!SeqTensorData.IsSupported(x.ElementType)) throw ctx.Error($"unsupported element type {x.ElementType.OnnxName()}");
        if (SeqTensorData.UsesDouble(x.ElementType)) Run<double>(ctx);
        else Run<float>(ctx);
    }

    private void Run<T>(KernelContext ctx) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var xT = ctx.Input(0);
        var wT = ctx.Input(1);
        var rT = ctx.Input(2);
        int gates = RecurrentKernel.GateCount(_kind);
        if (xT.Rank != 3) throw ctx.Error($"X must be rank 3, got {Kernels.ShapeMath.Format(xT.Shape)}");
        if (wT.Rank != 3 || rT.Rank != 3) throw ctx.Error("W and R must be rank 3");
        int seq = _layout == 0 ? xT.Shape[0] : xT.Shape[1];
        int batch = _layout == 0 ? xT.Shape[1] : xT.Shape[0];
        int inp = xT.Shape[2];
        int hs = rT.Shape[2];
        if (_hiddenAttr > 0 && _hiddenAttr != hs) throw ctx.Error($"hidden_size {_hiddenAttr} does not match R's last dimension {hs}");
        int nd = _numDirections;
        if (wT.Shape[0] != nd || wT.Shape[1] != gates * hs || wT.Shape[2] != inp)
            throw ctx.Error($"W has shape {Kernels.ShapeMath.Format(wT.Shape)}, expected [{nd},{gates * hs},{inp}]");
        if (rT.Shape[0] != nd || rT.Shape[1] != gates * hs)
            throw ctx.Error($"R has shape {Kernels.ShapeMath.Format(rT.Shape)}, expected [{nd},{gates * hs},{hs}]");

        var bT = ctx.OptionalInput(3);
        var lensT = ctx.OptionalInput(4);
        var h0T = ctx.OptionalInput(5);
        var c0T = _kind == RecurrentCellKind.Lstm ? ctx.OptionalInput(6) : null;
        var pT = _kind == RecurrentCellKind.Lstm ? ctx.OptionalInput(7) : null;
        if (bT is not null && bT.Length != nd * 2 * gates * hs) throw ctx.Error($"B has shape {Kernels.ShapeMath.Format(bT.Shape)}, expected [{nd},{2 * gates * hs}]");
        int stateLen = nd * batch * hs;
        if (h0T is not null && h0T.Length != stateLen) throw ctx.Error($"initial_h has shape {Kernels.ShapeMath.Format(h0T.Shape)}, expected {nd * batch * hs} elements");
        if (c0T is not null && c0T.Length != stateLen) throw ctx.Error($"initial_c has shape {Kernels.ShapeMath.Format(c0T.Shape)}, expected {nd * batch * hs} elements");
        if (pT is not null && pT.Length != nd * 3 * hs) throw ctx.Error($"P has shape {Kernels.ShapeMath.Format(pT.Shape)}, expected [{nd},{3 * hs}]");
        int[]? lens = null;
        if (lensT is not null)
        {
            if (lensT.Length != batch) throw ctx.Error($"sequence_lens has {lensT.Length} entries, expected batch size {batch}");
            lens = SeqTensorData.ReadInts(lensT);
            foreach (int l in lens) if (l < 0 || l > seq) throw ctx.Error($"sequence_lens value {l} is outside [0, {seq}]");
        }

        // Weights, biases and states are only read: use the tensors' own buffers when they already hold T, so a
        // run copies nothing (silero_vad's LSTM copied 512 KiB of W/R per step before).
        var x = SeqTensorData.ReadShared<T>(xT);
        var w = SeqTensorData.ReadShared<T>(wT);
        var r = SeqTensorData.ReadShared<T>(rT);
        var bias = bT is null ? null : SeqTensorData.ReadShared<T>(bT);
        var h0 = h0T is null ? null : SeqTensorData.ReadShared<T>(h0T);
        var c0 = c0T is null ? null : SeqTensorData.ReadShared<T>(c0T);
        var p = pT is null ? null : SeqTensorData.ReadShared<T>(pT);

        var et = xT.ElementType;
        bool direct = et == DataType.Float && typeof(T) == typeof(float) || et == DataType.Double && typeof(T) == typeof(double);
        int[] stateShape = _layout == 0 ? [nd, batch, hs] : [batch, nd, hs];
        // Outputs of the compute type are written in place; others go through a scratch array and a conversion.
        bool wantY = ctx.IsOutputRequested(0);
        Tensor? yT = wantY ? ctx.Output(0, et, _layout == 0 ? [seq, nd, batch, hs] : [batch, seq, nd, hs]) : null;
        Tensor? yhT = ctx.IsOutputRequested(1) ? ctx.OutputUninitialized(1, et, stateShape) : null;
        Tensor? ycT = _kind == RecurrentCellKind.Lstm && ctx.IsOutputRequested(2) ? ctx.OutputUninitialized(2, et, stateShape) : null;
        var y = yT is null ? [] : direct ? (T[])yT.Buffer : new T[seq * nd * batch * hs];
        var yh = yhT is not null && direct ? (T[])yhT.Buffer : new T[stateLen];
        var yc = _kind != RecurrentCellKind.Lstm ? [] : ycT is not null && direct ? (T[])ycT.Buffer : new T[stateLen];
        int per = _acts.Length / nd;
        for (int d = 0; d < nd; d++)
        {
            var dir = new RecurrentDirection<T>
            {
                Kind = _kind, SeqLength = seq, Batch = batch, InputSize = inp, Hidden = hs,
                Reverse = _reverseOnly || d == 1,
                W = w, WOffset = d * gates * hs * inp,
                R = r, ROffset = d * gates * hs * hs,
                B = bias, BOffset = d * 2 * gates * hs,
                P = p, POffset = d * 3 * hs,
                SeqLens = lens, H0 = h0, C0 = c0,
                F = _acts[d * per], G = per > 1 ? _acts[d * per + 1] : default, H = per > 2 ? _acts[d * per + 2] : default,
                Clip = _clip, InputForget = _inputForget, LinearBeforeReset = _linearBeforeReset,
            };
            var strides = _layout == 0
                ? new RecurrentStrides(batch * inp, inp, d * batch * hs, nd * batch * hs, hs, d * batch * hs, hs)
                : new RecurrentStrides(inp, seq * inp, d * hs, nd * hs, seq * nd * hs, d * hs, nd * hs);
            RecurrentKernel.Run(dir, x, strides, y, yh, yc, ctx.Threads);
        }

        if (direct) return;
        if (yT is not null) SeqTensorData.Write<T>(yT, y);
        if (yhT is not null) SeqTensorData.Write<T>(yhT, yh);
        if (ycT is not null) SeqTensorData.Write<T>(ycT, yc);
    }
}

[OpKernel("RNN", 1)]
public sealed class Rnn(KernelInfo info) : RecurrentBase(info, RecurrentCellKind.Rnn);

[OpKernel("GRU", 1)]
public sealed class Gru(KernelInfo info) : RecurrentBase(info, RecurrentCellKind.Gru);

[OpKernel("LSTM", 1)]
public sealed class Lstm(KernelInfo info) : RecurrentBase(info, RecurrentCellKind.Lstm);
