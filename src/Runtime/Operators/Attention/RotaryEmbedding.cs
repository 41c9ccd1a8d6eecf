using System.Numerics;
using NetOnnx.Kernels.Recurrent;
using NetOnnx.Runtime.Operators.Recurrent;

namespace NetOnnx.Runtime.Operators.Attention;

/// <summary>
/// RotaryEmbedding (opset 23): X is [B, H, S, D] or [B, S, H*D] (num_heads given); cos/sin caches are
/// [maxPos, rot/2] indexed by position_ids [B, S], or [B, S, rot/2] when position_ids is absent.
/// </summary>
[OpKernel("RotaryEmbedding", 23)]
public sealed class RotaryEmbedding : OpKernel
{
    private readonly bool _interleaved;
    private readonly int _rotDimAttr, _numHeads;

    public RotaryEmbedding(KernelInfo info)
    {
        _interleaved = info.GetInt("interleaved", 0) != 0;
        _rotDimAttr = (int)info.GetInt("rotary_embedding_dim", 0);
        _numHeads = (int)info.GetInt("num_heads", 0);
        if (_rotDimAttr < 0 || _rotDimAttr % 2 != 0) throw info.Error($"rotary_embedding_dim must be even and non-negative, got {_rotDimAttr}");
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
        var cosT = ctx.Input(1);
        var sinT = ctx.Input(2);
        var posT = ctx.OptionalInput(3);
        int batch, seq, heads, d;
        // Element (b, s, h, :) starts at b*bs + s*ss + h*hs.
        int bs, ss, hs;
        if (xT.Rank == 4)
        {
            batch = xT.Shape[0]; heads = xT.Shape[1]; seq = xT.Shape[2]; d = xT.Shape[3];
            bs = heads * seq * d; hs = seq * d; ss = d;
        }
        else if (xT.Rank == 3)
        {
            if (_numHeads <= 0) throw ctx.Error("3-D input needs the num_heads attribute");
            batch = xT.Shape[0]; seq = xT.Shape[1]; heads = _numHeads;
            if (xT.Shape[2] % heads != 0) throw ctx.Error($"hidden size {xT.Shape[2]} is not divisible by num_heads {heads}");
            d = xT.Shape[2] / heads;
            bs = seq * heads * d; ss = heads * d; hs = d;
        }
        else throw ctx.Error($"input must be 3-D or 4-D, got {Kernels.ShapeMath.Format(xT.Shape)}");
        int rot = _rotDimAttr == 0 ? d : _rotDimAttr;
        if (rot > d || rot % 2 != 0) throw ctx.Error($"rotary dimension {rot} must be even and at most the head size {d}");
        int half = rot / 2;
        if (cosT.Shape.Length == 0 || cosT.Shape[^1] != half || sinT.Shape.Length == 0 || sinT.Shape[^1] != half)
            throw ctx.Error($"cos/sin caches must end in rotary_dim/2 = {half}, got {Kernels.ShapeMath.Format(cosT.Shape)} and {Kernels.ShapeMath.Format(sinT.Shape)}");
        int[]? pos = null;
        if (posT is not null)
        {
            if (posT.Length != batch * seq) throw ctx.Error($"position_ids shape {Kernels.ShapeMath.Format(posT.Shape)} must be [{batch},{seq}]");
            if (cosT.Rank != 2 || sinT.Rank != 2) throw ctx.Error("with position_ids, cos/sin caches must be 2-D [max_position, rotary_dim/2]");
            pos = SeqTensorData.ReadInts(posT);
            foreach (int p in pos) if (p < 0 || p >= cosT.Shape[0] || p >= sinT.Shape[0]) throw ctx.Error($"position id {p} is outside the cache of {cosT.Shape[0]} positions");
        }
        else if (cosT.Length != batch * seq * half || sinT.Length != batch * seq * half)
            throw ctx.Error($"without position_ids, cos/sin caches must be [{batch},{seq},{half}]");

        var x = SeqTensorData.Read<T>(xT);
        var cos = SeqTensorData.Read<T>(cosT);
        var sin = SeqTensorData.Read<T>(sinT);
        var y = new T[x.Length];
        for (int b = 0; b < batch; b++)
            for (int s = 0; s < seq; s++)
            {
                int row = pos is null ? b * seq + s : pos[b * seq + s];
                var c = cos.AsSpan(row * half, half);
                var sn = sin.AsSpan(row * half, half);
                for (int h = 0; h < heads; h++)
                {
                    int off = b * bs + s * ss + h * hs;
                    RotaryKernel.RotateHead<T>(x.AsSpan(off, d), y.AsSpan(off, d), c, sn, rot, _interleaved);
                }
            }
        SeqTensorData.Write<T>(ctx.OutputUninitialized(0, xT.ElementType, (int[])xT.Shape.Clone()), y);
    }
}
