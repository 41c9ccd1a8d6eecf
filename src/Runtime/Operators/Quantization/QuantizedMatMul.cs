using NetOnnx.Kernels;
using NetOnnx.Kernels.Quantization;

namespace NetOnnx.Runtime.Operators.Quantization;

/// <summary>
/// Batched integer matmul with numpy broadcasting of batch dimensions, shared by MatMulInteger and
/// QLinearMatMul. Zero points are a scalar, one per row of A (per column of B), or one per batch row/column.
/// </summary>
internal static class IntegerMatMul
{
    public sealed record Result(int[] Acc, int[] Shape, int M, int N, int Batches, int[] BatchA, int[] BatchB);

    public static Result Run(KernelContext ctx, Tensor a, Tensor b, Tensor? aZp, Tensor? bZp)
    {
        CheckType(ctx, a, "A");
        CheckType(ctx, b, "B");
        if (a.Rank == 0 || b.Rank == 0) throw ctx.Error("matmul inputs must have rank >= 1");
        int[] sa = a.Rank == 1 ? [1, a.Shape[0]] : a.Shape;
        int[] sb = b.Rank == 1 ? [b.Shape[0], 1] : b.Shape;
        int m = sa[^2], k = sa[^1], k2 = sb[^2], n = sb[^1];
        if (k != k2) throw ctx.Error($"inner dimensions differ: A {ShapeMath.Format(a.Shape)}, B {ShapeMath.Format(b.Shape)}");
        int[] batchA = sa[..^2], batchB = sb[..^2];
        int rank = Math.Max(batchA.Length, batchB.Length);
        var batch = new int[rank];
        for (int i = 0; i < rank; i++)
        {
            int da = i - (rank - batchA.Length) >= 0 ? batchA[i - (rank - batchA.Length)] : 1;
            int db = i - (rank - batchB.Length) >= 0 ? batchB[i - (rank - batchB.Length)] : 1;
            if (da != db && da != 1 && db != 1) throw ctx.Error($"batch dimensions of {ShapeMath.Format(a.Shape)} and {ShapeMath.Format(b.Shape)} cannot be broadcast");
            batch[i] = Math.Max(da, db);
        }
        int batches = ShapeMath.Size(batch);
        int batchesA = ShapeMath.Size(batchA), batchesB = ShapeMath.Size(batchB);

        var outShape = new List<int>(batch);
        if (a.Rank > 1) outShape.Add(m);
        if (b.Rank > 1) outShape.Add(n);

        int[] za = ZeroPoints(ctx, aZp, a, "a_zero_point", m, batchesA);
        int[] zb = ZeroPoints(ctx, bZp, b, "b_zero_point", n, batchesB);
        var av = Widen(a);
        var bv = Widen(b);
        var acc = new int[batches * m * n];
        var aw = new int[m * k];
        var bw = new int[k * n];
        int[] idxA = new int[batches], idxB = new int[batches];
        BatchIndices(batch, batchA, idxA);
        BatchIndices(batch, batchB, idxB);
        for (int bi = 0; bi < batches; bi++)
        {
            int ia = idxA[bi], ib = idxB[bi];
            for (int r = 0; r < m; r++)
            {
                int z = za.Length == 1 ? za[0] : za.Length == m ? za[r] : za[ia * m + r];
                for (int c = 0; c < k; c++) aw[r * k + c] = av[(ia * m + r) * k + c] - z;
            }
            for (int r = 0; r < k; r++)
                for (int c = 0; c < n; c++)
                {
                    int z = zb.Length == 1 ? zb[0] : zb.Length == n ? zb[c] : zb[ib * n + c];
                    bw[r * n + c] = bv[(ib * k + r) * n + c] - z;
                }
            IntegerGemm.Multiply(aw, 0, bw, 0, acc, bi * m * n, m, k, n, ctx.Threads);
        }
        return new Result(acc, outShape.ToArray(), m, n, batches, idxA, idxB);
    }

    private static void CheckType(KernelContext ctx, Tensor t, string name)
    {
        if (t.ElementType is not (DataType.UInt8 or DataType.Int8))
            throw ctx.Error($"{name} must be uint8 or int8, got {t.ElementType.OnnxName()}");
    }

    /// <summary>Maps each output batch index to the flat batch index of an operand with broadcast dims.</summary>
    private static void BatchIndices(int[] batch, int[] own, int[] result)
    {
        int rank = batch.Length, off = rank - own.Length;
        var idx = new int[rank];
        for (int bi = 0; bi < result.Length; bi++)
        {
            int flat = 0;
            for (int d = off; d < rank; d++) flat = flat * own[d - off] + (own[d - off] == 1 ? 0 : idx[d]);
            result[bi] = flat;
            for (int d = rank - 1; d >= 0; d--) { if (++idx[d] < batch[d]) break; idx[d] = 0; }
        }
    }

    public static int[] Widen(Tensor t)
    {
        var r = new int[t.Length];
        if (t.ElementType == DataType.UInt8) { var s = t.ReadOnlySpan<byte>(); for (int i = 0; i < r.Length; i++) r[i] = s[i]; }
        else if (t.ElementType == DataType.Int8) { var s = t.ReadOnlySpan<sbyte>(); for (int i = 0; i < r.Length; i++) r[i] = s[i]; }
        else if (t.ElementType == DataType.Int32) t.ReadOnlySpan<int>().CopyTo(r);
        else throw new NotSupportedException($"{t.ElementType.OnnxName()} is not a quantized integer type");
        return r;
    }

    private static int[] ZeroPoints(KernelContext ctx, Tensor? zp, Tensor operand, string name, int perAxis, int batches)
    {
        if (zp is null) return [0];
        if (zp.ElementType != operand.ElementType)
            throw ctx.Error($"{name} has type {zp.ElementType.OnnxName()}, its operand {operand.ElementType.OnnxName()}");
        if (zp.Length != 1 && zp.Length != perAxis && zp.Length != perAxis * batches)
            throw ctx.Error($"{name} has {zp.Length} elements; expected 1, {perAxis} or {perAxis * batches}");
        return Widen(zp);
    }
}

/// <summary>MatMulInteger (opset 10): int32 product of (A - a_zero_point) and (B - b_zero_point), uint8/int8 inputs.</summary>
[OpKernel("MatMulInteger", 10)]
public sealed class MatMulInteger : OpKernel
{
    public MatMulInteger(KernelInfo info) { }

    public override void Compute(KernelContext ctx)
    {
        var r = IntegerMatMul.Run(ctx, ctx.Input(0), ctx.Input(1), ctx.OptionalInput(2), ctx.OptionalInput(3));
        var y = ctx.OutputUninitialized(0, DataType.Int32, r.Shape);
        r.Acc.AsSpan().CopyTo(y.Span<int>());
    }
}

/// <summary>
/// QLinearMatMul (opset 10, 21): integer matmul of quantized A and B, requantized to y's scale and zero point:
/// y = saturate(round((a_scale * b_scale / y_scale) * acc) + y_zero_point). Scales may be per row of A and
/// per column of B.
/// </summary>
[OpKernel("QLinearMatMul", 10)]
public sealed class QLinearMatMul : OpKernel
{
    public QLinearMatMul(KernelInfo info) { }

    public override void Compute(KernelContext ctx)
    {
        var a = ctx.Input(0);
        var aScale = ctx.Input(1);
        var b = ctx.Input(3);
        var bScale = ctx.Input(4);
        var yScale = ctx.Input(6);
        var yZp = ctx.OptionalInput(7);
        var r = IntegerMatMul.Run(ctx, a, b, ctx.OptionalInput(2), ctx.OptionalInput(5));
        DataType outType = yZp?.ElementType ?? DataType.UInt8;
        var range = QuantCommon.IntRange(outType) ?? throw ctx.Error($"y_zero_point type {outType.OnnxName()} is not supported");
        if (outType is not (DataType.UInt8 or DataType.Int8)) throw ctx.Error($"output type {outType.OnnxName()} is not uint8 or int8");
        float[] sa = QuantCommon.Floats(aScale), sb = QuantCommon.Floats(bScale), sy = QuantCommon.Floats(yScale);
        int m = r.M, n = r.N;
        if (sa.Length != 1 && sa.Length != m) throw ctx.Error($"a_scale has {sa.Length} elements; expected 1 or {m}");
        if (sb.Length != 1 && sb.Length != n) throw ctx.Error($"b_scale has {sb.Length} elements; expected 1 or {n}");
        if (sy.Length != 1 && sy.Length != m) throw ctx.Error($"y_scale has {sy.Length} elements; expected 1 or {m}");
        int[] zy = yZp is null ? [0] : IntegerMatMul.Widen(yZp);
        if (zy.Length != 1 && zy.Length != m) throw ctx.Error($"y_zero_point has {zy.Length} elements; expected 1 or {m}");
        // The multiplier is formed in the scales' precision (as the reference does), then applied in double.
        DataType prec = aScale.ElementType;
        var y = ctx.OutputUninitialized(0, outType, r.Shape);
        var mults = new double[n];
        for (int bi = 0; bi < r.Batches; bi++)
            for (int i = 0; i < m; i++)
            {
                float fa = sa.Length == 1 ? sa[0] : sa[i], fy = sy.Length == 1 ? sy[0] : sy[i];
                int z = zy.Length == 1 ? zy[0] : zy[i];
                for (int j = 0; j < n; j++) mults[j] = Requant.Multiplier(fa, sb.Length == 1 ? sb[0] : sb[j], fy, prec);
                int row = (bi * m + i) * n;
                if (outType == DataType.UInt8)
                {
                    var yr = y.Span<byte>().Slice(row, n);
                    for (int j = 0; j < n; j++) yr[j] = (byte)Requant.Apply(r.Acc[row + j], mults[j], z, range.Min, range.Max);
                }
                else
                {
                    var yr = y.Span<sbyte>().Slice(row, n);
                    for (int j = 0; j < n; j++) yr[j] = (sbyte)Requant.Apply(r.Acc[row + j], mults[j], z, range.Min, range.Max);
                }
            }
    }
}

/// <summary>Requantization of int32 accumulators.</summary>
internal static class Requant
{
    public static double Multiplier(float s1, float s2, float sy, DataType precision)
    {
        switch (precision)
        {
            case DataType.Float16: return (double)(Half)((float)(Half)(s1 * s2) / sy);
            case DataType.BFloat16: return (float)(BFloat16)((float)(BFloat16)(s1 * s2) / sy);
            default: return s1 * s2 / sy;
        }
    }

    public static int Apply(int acc, double multiplier, int zp, int lo, int hi)
    {
        double v = Math.Round(acc * multiplier, MidpointRounding.ToEven) + zp;
        if (!(v >= lo)) return lo;
        return v > hi ? hi : (int)v;
    }
}
