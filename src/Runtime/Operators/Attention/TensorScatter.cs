namespace NetOnnx.Runtime.Operators.Attention;

/// <summary>
/// TensorScatter (opset 24): writes update into a copy of past_cache along the sequence axis, starting per batch
/// at write_indices[b] (default 0); mode "circular" wraps positions modulo the cache length.
/// </summary>
[OpKernel("TensorScatter", 24)]
public sealed class TensorScatter : OpKernel
{
    private readonly bool _circular;
    private readonly int _axisAttr;

    public TensorScatter(KernelInfo info)
    {
        string mode = info.GetString("mode", "linear");
        _circular = mode switch
        {
            "linear" => false,
            "circular" => true,
            _ => throw info.Error($"mode must be 'linear' or 'circular', got '{mode}'"),
        };
        _axisAttr = (int)info.GetInt("axis", -2);
    }

    public override void Compute(KernelContext ctx)
    {
        var cache = ctx.Input(0);
        var update = ctx.Input(1);
        var idxT = ctx.OptionalInput(2);
        int rank = cache.Rank;
        if (rank < 2) throw ctx.Error($"past_cache must have rank >= 2, got {Kernels.ShapeMath.Format(cache.Shape)}");
        int axis = _axisAttr < 0 ? _axisAttr + rank : _axisAttr;
        if (axis <= 0 || axis >= rank) throw ctx.Error($"axis {_axisAttr} must name a non-batch axis of a rank-{rank} tensor");
        if (update.Rank != rank || update.ElementType != cache.ElementType) throw ctx.Error("update must have the rank and element type of past_cache");
        for (int i = 0; i < rank; i++)
        {
            if (i == axis ? update.Shape[i] > cache.Shape[i] : update.Shape[i] != cache.Shape[i])
                throw ctx.Error($"update shape {Kernels.ShapeMath.Format(update.Shape)} is not compatible with past_cache {Kernels.ShapeMath.Format(cache.Shape)} along axis {i}");
        }
        int batch = cache.Shape[0];
        long[] writeIdx = idxT is null ? new long[batch] : idxT.ToInt64Array();
        if (writeIdx.Length != batch) throw ctx.Error($"write_indices has {writeIdx.Length} entries, expected batch size {batch}");

        var output = ctx.OutputUninitialized(0, cache.ElementType, (int[])cache.Shape.Clone());
        Array.Copy(cache.Buffer, output.Buffer, cache.Length);
        int maxSeq = cache.Shape[axis], seq = update.Shape[axis];
        int inner = 1;
        for (int i = axis + 1; i < rank; i++) inner *= cache.Shape[i];
        int outer = 1; // prefixes per batch entry
        for (int i = 1; i < axis; i++) outer *= cache.Shape[i];
        for (int b = 0; b < batch; b++)
        {
            long start = writeIdx[b];
            if (start < 0 || (!_circular && start + seq > maxSeq))
                throw ctx.Error($"write index {start} for batch {b} with {seq} updates does not fit a cache of length {maxSeq}");
            for (int o = 0; o < outer; o++)
            {
                int prefix = b * outer + o;
                for (int s = 0; s < seq; s++)
                {
                    long pos = start + s;
                    if (_circular) pos %= maxSeq;
                    Array.Copy(update.Buffer, (prefix * seq + s) * inner, output.Buffer, (prefix * maxSeq + pos) * inner, inner);
                }
            }
        }
    }
}
