using System.Buffers;
using System.Numerics;
using System.Runtime.InteropServices;
using NetOnnx.Kernels;
using NetOnnx.Kernels.Threading;
using NetOnnx.Kernels.Gemm;
using NetOnnx.Kernels.Reduction;

namespace NetOnnx.Runtime.Operators.Transformer;

/// <summary>
/// The attention core the optimizer fuses from MatMul -> scale -> (+mask) -> (Where mask) -> Softmax -> MatMul:
/// Y = softmax(mask(scale * Q·Kt)) · V over the last axis, batched over the leading dimensions (numpy
/// broadcasting, as MatMul does). Inputs: Q [..., M, D], Kt [..., D, N] (K already transposed, as the graph's
/// MatMul reads it), V [..., N, Dv], optional additive mask and optional boolean mask, each broadcasting to
/// [..., M, N]. Attributes: scale; fill and fill_where_true for the boolean mask (scores become fill where the
/// mask equals fill_where_true). One (batch, head) block at a time per thread: its M x N score block stays in
/// cache between the two products.
/// </summary>
[OpKernel("ScaledDotProductAttention", 1, Domain = FusedOps.Domain)]
public sealed class ScaledDotProductAttention : OpKernel
{
    private readonly float _scale;
    private readonly float _fill;
    private readonly bool _fillWhereTrue;

    /// <summary>
    /// When the boolean mask is a constant whose every row attends exactly a non-empty prefix of the keys (a
    /// causal mask) and masked scores become -inf: that prefix length per query row. Rows are then processed in
    /// chunks that compute scores only up to the chunk's longest prefix (about 5/8 of the work at 4 chunks).
    /// </summary>
    private readonly int[]? _prefix;
    private readonly Tensor? _prefixMask;
    private const int PrefixChunk = 32;

    public ScaledDotProductAttention(KernelInfo info)
    {
        _scale = info.GetFloat("scale", 1f);
        _fill = info.GetFloat("fill", float.NegativeInfinity);
        _fillWhereTrue = info.GetInt("fill_where_true", 1) != 0;
        if (float.IsNegativeInfinity(_fill) && !info.HasInput(3) && info.ConstantInput(4) is { ElementType: DataType.Bool, Rank: >= 2 } mask
            && mask.Shape[..^2].All(d => d == 1))
        {
            _prefix = PrefixLengths(mask.ReadOnlySpan<bool>(), mask.Shape[^2], mask.Shape[^1], _fillWhereTrue);
            if (_prefix is not null) _prefixMask = mask;
        }
    }

    /// <summary>Per row, how many leading keys are attended, or null unless each row attends exactly such a non-empty prefix.</summary>
    private static int[]? PrefixLengths(ReadOnlySpan<bool> mask, int rows, int cols, bool fillWhereTrue)
    {
        if (rows == 0 || cols == 0) return null;
        var prefix = new int[rows];
        for (int i = 0; i < rows; i++)
        {
            var row = mask.Slice(i * cols, cols);
            int p = 0;
            while (p < cols && row[p] != fillWhereTrue) p++;
            if (p == 0) return null;
            for (int j = p; j < cols; j++) if (row[j] != fillWhereTrue) return null;
            prefix[i] = p;
        }
        return prefix;
    }

    public override void Compute(KernelContext ctx)
    {
        var q = ctx.Input(0);
        var kt = ctx.Input(1);
        var v = ctx.Input(2);
        var add = ctx.OptionalInput(3);
        var keep = ctx.OptionalInput(4);
        foreach (var t in new[] { q, kt, v })
        {
            if (t.ElementType != DataType.Float) throw ctx.Error($"supports float inputs, got {t.ElementType.OnnxName()}");
            if (t.Rank < 2) throw ctx.Error($"inputs need rank 2 or more, got shape {ShapeMath.Format(t.Shape)}");
        }
        if (add is not null && add.ElementType != DataType.Float) throw ctx.Error($"the additive mask must be float, got {add.ElementType.OnnxName()}");
        if (keep is not null && keep.ElementType != DataType.Bool) throw ctx.Error($"the boolean mask must be bool, got {keep.ElementType.OnnxName()}");

        int m = q.Shape[^2], d = q.Shape[^1], n = kt.Shape[^1], dv = v.Shape[^1];
        if (kt.Shape[^2] != d || v.Shape[^2] != n)
            throw ctx.Error($"shapes {ShapeMath.Format(q.Shape)}, {ShapeMath.Format(kt.Shape)}, {ShapeMath.Format(v.Shape)} do not chain as Q·Kt·V");

        // Batch shape: every operand's leading dimensions broadcast (masks align with [..., M, N]).
        int rank = Math.Max(Math.Max(q.Rank, kt.Rank), Math.Max(v.Rank, Math.Max(add?.Rank ?? 0, keep?.Rank ?? 0)));
        int[] batch;
        try
        {
            var shapes = new List<int[]> { q.Shape[..^2], kt.Shape[..^2], v.Shape[..^2] };
            foreach (var mk in new[] { add, keep })
                if (mk is not null) shapes.Add(MaskBatch(ctx, mk, m, n));
            batch = ShapeMath.BroadcastAll([.. shapes]);
        }
        catch (ArgumentException e) { throw ctx.Error(e.Message); }

        var outShape = new int[batch.Length + 2];
        batch.CopyTo(outShape, 0);
        outShape[^2] = m;
        outShape[^1] = dv;
        var y = ctx.OutputUninitialized(0, DataType.Float, outShape);
        int count = ShapeMath.Size(batch);
        if (count == 0 || m == 0 || dv == 0) return;

        var qOff = BatchOffsets(q.Shape[..^2], batch, m * d);
        var kOff = BatchOffsets(kt.Shape[..^2], batch, d * n);
        var vOff = BatchOffsets(v.Shape[..^2], batch, n * dv);
        var addView = add is null ? default : new MaskView(add, batch, m, n);
        var keepView = keep is null ? default : new MaskView(keep, batch, m, n);
        var qa = (float[])q.Buffer; var ka = (float[])kt.Buffer; var va = (float[])v.Buffer; var ya = (float[])y.Buffer;
        var addA = add?.Buffer as float[];
        var keepA = keep?.Buffer as bool[];

        // The constant causal mask this kernel was built with, at the shape it was analysed for.
        var prefix = _prefix is not null && _prefixMask is not null && ReferenceEquals(keep, _prefixMask) && _prefixMask.Shape[^2] == m && _prefixMask.Shape[^1] == n ? _prefix : null;

        void Block(int b, float[] scores)
        {
            var s = scores.AsSpan(0, m * n);
            if (n == 0) { ya.AsSpan(b * m * dv, m * dv).Clear(); return; }
            if (prefix is not null) { PrefixBlock(b, s); return; }
            Sgemm.Multiply(false, false, m, n, d, _scale, qa.AsSpan(qOff[b]), d, ka.AsSpan(kOff[b]), n, 0f, s, n);
            for (int i = 0; i < m; i++)
            {
                var row = s.Slice(i * n, n);
                if (addA is not null) addView.AddRow(addA, b, i, row);
                if (keepA is not null) keepView.FillRow(keepA, b, i, row, _fill, _fillWhereTrue);
                SoftmaxKernels.SoftmaxRow<float>(row, row, log: false);
            }
            Sgemm.Multiply(false, false, m, dv, n, 1f, s, n, va.AsSpan(vOff[b]), dv, 0f, ya.AsSpan(b * m * dv, m * dv), dv);
        }

        void PrefixBlock(int b, Span<float> s)
        {
            var pre = prefix!;
            for (int r0 = 0; r0 < m; r0 += PrefixChunk)
            {
                int rows = Math.Min(PrefixChunk, m - r0);
                int len = 0;
                for (int i = r0; i < r0 + rows; i++) len = Math.Max(len, pre[i]);
                // Scores of the chunk against the first len keys (row stride len), masked past each row's prefix.
                var cs = s.Slice(0, rows * len);
                Sgemm.Multiply(false, false, rows, len, d, _scale, qa.AsSpan(qOff[b] + r0 * d), d, ka.AsSpan(kOff[b]), n, 0f, cs, len);
                for (int i = 0; i < rows; i++)
                {
                    var row = cs.Slice(i * len, len);
                    row[pre[r0 + i]..].Fill(float.NegativeInfinity);
                    SoftmaxKernels.SoftmaxRow<float>(row, row, log: false);
                }
                Sgemm.Multiply(false, false, rows, dv, len, 1f, cs, len, va.AsSpan(vOff[b]), dv, 0f, ya.AsSpan(b * m * dv + r0 * dv, rows * dv), dv);
            }
        }

        int threads = Math.Clamp(Math.Min(ctx.Threads, count), 1, count);
        // Small blocks do not pay for a thread hop.
        if ((long)m * n * (d + dv) * count < 1 << 16) threads = 1;
        if (threads == 1)
        {
            var scores = ArrayPool<float>.Shared.Rent(m * n);
            for (int b = 0; b < count; b++) Block(b, scores);
            ArrayPool<float>.Shared.Return(scores);
            return;
        }
        IntraOpPool.ForRanges(count, threads, (start, end) =>
        {
            var scores = ArrayPool<float>.Shared.Rent(m * n);
            for (int b = start; b < end; b++) Block(b, scores);
            ArrayPool<float>.Shared.Return(scores);
        });
    }

    /// <summary>A mask's leading dimensions, after checking its last two broadcast to [M, N] without enlarging them.</summary>
    private static int[] MaskBatch(KernelContext ctx, Tensor mask, int m, int n)
    {
        var s = mask.Shape;
        int rows = s.Length >= 2 ? s[^2] : 1, cols = s.Length >= 1 ? s[^1] : 1;
        if ((rows != 1 && rows != m) || (cols != 1 && cols != n))
            throw ctx.Error($"mask of shape {ShapeMath.Format(s)} does not broadcast to the [{m}, {n}] score block");
        return s.Length > 2 ? s[..^2] : [];
    }

    /// <summary>Element offset of each flat batch index's block in an operand whose batch dimensions broadcast to <paramref name="batch"/>.</summary>
    private static int[] BatchOffsets(int[] own, int[] batch, int blockSize)
    {
        var strides = ShapeMath.BroadcastStrides(own, batch);
        int count = ShapeMath.Size(batch);
        var offs = new int[count];
        var idx = new int[batch.Length];
        for (int b = 0; b < count; b++)
        {
            int o = 0;
            for (int k = 0; k < batch.Length; k++) o += idx[k] * strides[k];
            offs[b] = o * blockSize;
            for (int k = batch.Length - 1; k >= 0; k--) { if (++idx[k] < batch[k]) break; idx[k] = 0; }
        }
        return offs;
    }

    /// <summary>Addresses a mask broadcast to [batch..., M, N]: block offset per batch index, row and column strides.</summary>
    private readonly struct MaskView
    {
        private readonly int[] _blockOffset;
        private readonly int _rowStride, _colStride, _n;

        public MaskView(Tensor mask, int[] batch, int m, int n)
        {
            var s = mask.Shape;
            int rows = s.Length >= 2 ? s[^2] : 1, cols = s.Length >= 1 ? s[^1] : 1;
            _colStride = cols == 1 ? 0 : 1;
            _rowStride = rows == 1 ? 0 : cols;
            _n = n;
            _blockOffset = BatchOffsets(s.Length > 2 ? s[..^2] : [], batch, rows * cols);
        }

        public void AddRow(float[] mask, int b, int i, Span<float> row)
        {
            int o = _blockOffset[b] + i * _rowStride;
            if (_colStride == 0) { float c = mask[o]; for (int j = 0; j < row.Length; j++) row[j] += c; return; }
            var src = mask.AsSpan(o, _n);
            int k = 0;
            if (Vector.IsHardwareAccelerated)
            {
                var rv = MemoryMarshal.Cast<float, Vector<float>>(row);
                var sv = MemoryMarshal.Cast<float, Vector<float>>(src);
                for (int x = 0; x < rv.Length; x++) rv[x] += sv[x];
                k = rv.Length * Vector<float>.Count;
            }
            for (; k < row.Length; k++) row[k] += src[k];
        }

        public void FillRow(bool[] mask, int b, int i, Span<float> row, float fill, bool whereTrue)
        {
            int o = _blockOffset[b] + i * _rowStride;
            for (int j = 0; j < row.Length; j++)
                if (mask[o + j * _colStride] == whereTrue) row[j] = fill;
        }
    }
}
