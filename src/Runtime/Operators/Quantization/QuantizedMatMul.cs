using NetOnnx.Kernels;
using NetOnnx.Kernels.Quantization;
using NetOnnx.Runtime.Operators.Conversion;

namespace NetOnnx.Runtime.Operators.Quantization;

/// <summary>
/// Shapes of a numpy-style batched matmul: A [..., M, K] x B [..., K, N] with broadcast batch dimensions
/// (1-D operands get a unit row/column that is dropped from the output).
/// </summary>
internal sealed record MatMulPlan(int M, int K, int N, int Batches, int BatchesA, int BatchesB, int[] IndexA, int[] IndexB, int[] OutShape)
{
    public static MatMulPlan Create(KernelContext ctx, Tensor a, Tensor b)
    {
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
        var outShape = new List<int>(batch);
        if (a.Rank > 1) outShape.Add(m);
        if (b.Rank > 1) outShape.Add(n);
        int[] idxA = new int[batches], idxB = new int[batches];
        BatchIndices(batch, batchA, idxA);
        BatchIndices(batch, batchB, idxB);
        return new MatMulPlan(m, k, n, batches, ShapeMath.Size(batchA), ShapeMath.Size(batchB), idxA, idxB, outShape.ToArray());
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

    /// <summary>
    /// Index into a per-tensor (1 value), per-row/column (<paramref name="perAxis"/> values) or per-batch
    /// row/column (<paramref name="batchesOwn"/> x perAxis values, e.g. shape [D1, D2, M, 1]) parameter.
    /// </summary>
    public static int ParamIndex(int length, int perAxis, int ownBatch, int i) =>
        length == 1 ? 0 : length == perAxis ? i : ownBatch * perAxis + i;

    public static void CheckParam(KernelContext ctx, Tensor? t, string name, int perAxis, int batches)
    {
        if (t is not null && t.Length != 1 && t.Length != perAxis && t.Length != perAxis * batches)
            throw ctx.Error($"{name} has {t.Length} elements; expected 1, {perAxis} or {perAxis * batches}");
    }
}

/// <summary>Operand checks and integer widening shared by MatMulInteger, QLinearMatMul and the quantized convolutions.</summary>
internal static class IntegerMatMul
{
    internal static void CheckType(KernelContext ctx, Tensor t, string name)
    {
        if (t.ElementType is not (DataType.UInt8 or DataType.Int8))
            throw ctx.Error($"{name} must be uint8 or int8, got {t.ElementType.OnnxName()}");
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

    internal static int[] ZeroPoints(KernelContext ctx, Tensor? zp, Tensor operand, string name, int perAxis, int batches)
    {
        if (zp is null) return [0];
        if (zp.ElementType != operand.ElementType)
            throw ctx.Error($"{name} has type {zp.ElementType.OnnxName()}, its operand {operand.ElementType.OnnxName()}");
        MatMulPlan.CheckParam(ctx, zp, name, perAxis, batches);
        return Widen(zp);
    }
}

/// <summary>MatMulInteger (opset 10): int32 product of (A - a_zero_point) and (B - b_zero_point), uint8/int8 inputs.</summary>
[OpKernel("MatMulInteger", 10)]
public sealed class MatMulInteger : OpKernel
{
    private readonly Int8MatMul _gemm;

    public MatMulInteger(KernelInfo info) => _gemm = new Int8MatMul(info, 1);

    public override void Compute(KernelContext ctx)
    {
        var a = ctx.Input(0);
        var b = ctx.Input(1);
        var p = MatMulPlan.Create(ctx, a, b);
        var y = ctx.OutputUninitialized(0, DataType.Int32, p.OutShape);
        _gemm.Run(ctx, p, a, b, ctx.OptionalInput(2), ctx.OptionalInput(3), y.Span<int>());
    }
}

/// <summary>
/// QLinearMatMul (opset 10, 21): matmul of quantized A and B requantized to y's scale and zero point:
/// y = saturate(round((a_scale * b_scale / y_scale) * acc) + y_zero_point). Scales and zero points may be
/// per row of A / per column of B (optionally per batch). Opset 21 adds float8 operands, whose product is
/// accumulated in float and rounded into y's float8 type.
/// </summary>
[OpKernel("QLinearMatMul", 10)]
public sealed class QLinearMatMul : OpKernel
{
    private readonly Int8MatMul _gemm;

    public QLinearMatMul(KernelInfo info) => _gemm = new Int8MatMul(info, 3);

    public override void Compute(KernelContext ctx)
    {
        var a = ctx.Input(0);
        var aScale = ctx.Input(1);
        var aZp = ctx.OptionalInput(2);
        var b = ctx.Input(3);
        var bScale = ctx.Input(4);
        var bZp = ctx.OptionalInput(5);
        var yScale = ctx.Input(6);
        var yZp = ctx.OptionalInput(7);
        var p = MatMulPlan.Create(ctx, a, b);
        int m = p.M, n = p.N;
        MatMulPlan.CheckParam(ctx, aScale, "a_scale", m, p.BatchesA);
        MatMulPlan.CheckParam(ctx, bScale, "b_scale", n, p.BatchesB);
        if (yScale.Length != 1 && yScale.Length != m) throw ctx.Error($"y_scale has {yScale.Length} elements; expected 1 or {m}");
        if (yZp is not null && yZp.Length != yScale.Length) throw ctx.Error($"y_zero_point has {yZp.Length} elements, y_scale {yScale.Length}");
        float[] sa = QuantCommon.Floats(aScale), sb = QuantCommon.Floats(bScale), sy = QuantCommon.Floats(yScale);
        DataType outType = yZp?.ElementType ?? DataType.UInt8;
        DataType prec = aScale.ElementType;

        if (ElementConverter.MiniFloat(a.ElementType) is not null)
        {
            FloatPath(ctx, p, a, aZp, b, bZp, sa, sb, sy, yZp, outType, prec);
            return;
        }
        if (outType is not (DataType.UInt8 or DataType.Int8)) throw ctx.Error($"output type {outType.OnnxName()} is not uint8 or int8");
        var acc = new int[p.Batches * m * n];
        _gemm.Run(ctx, p, a, b, aZp, bZp, acc);
        var (lo, hi) = QuantCommon.IntRange(outType)!.Value;
        int[] zy = yZp is null ? [0] : IntegerMatMul.Widen(yZp);
        // The multiplier is formed in the scales' precision (as the reference does), then applied in double.
        var y = ctx.OutputUninitialized(0, outType, p.OutShape);
        var mults = new double[n];
        bool perRow = sa.Length != 1 || sy.Length != 1;
        for (int bi = 0; bi < p.Batches; bi++)
            for (int i = 0; i < m; i++)
            {
                float fa = sa[MatMulPlan.ParamIndex(sa.Length, m, p.IndexA[bi], i)], fy = sy.Length == 1 ? sy[0] : sy[i];
                int z = zy.Length == 1 ? zy[0] : zy[i];
                // The multipliers change per row only with per-row scales, and per batch only with per-batch ones.
                if (i == 0 || perRow)
                    for (int j = 0; j < n; j++) mults[j] = Requant.Multiplier(fa, sb[MatMulPlan.ParamIndex(sb.Length, n, p.IndexB[bi], j)], fy, prec);
                int row = (bi * m + i) * n;
                if (outType == DataType.UInt8)
                {
                    var yr = y.Span<byte>().Slice(row, n);
                    for (int j = 0; j < n; j++) yr[j] = (byte)Requant.Apply(acc[row + j], mults[j], z, lo, hi);
                }
                else
                {
                    var yr = y.Span<sbyte>().Slice(row, n);
                    for (int j = 0; j < n; j++) yr[j] = (sbyte)Requant.Apply(acc[row + j], mults[j], z, lo, hi);
                }
            }
    }

    private static void FloatPath(KernelContext ctx, MatMulPlan p, Tensor a, Tensor? aZp, Tensor b, Tensor? bZp,
        float[] sa, float[] sb, float[] sy, Tensor? yZp, DataType outType, DataType prec)
    {
        if (ElementConverter.MiniFloat(b.ElementType) is null) throw ctx.Error($"b must be float8 like a, got {b.ElementType.OnnxName()}");
        var yFormat = ElementConverter.MiniFloat(outType) ?? throw ctx.Error($"y must be float8 when a is, got {outType.OnnxName()}");
        int m = p.M, k = p.K, n = p.N;
        float[] av = QuantCommon.Floats(a), bv = QuantCommon.Floats(b);
        float[] za = aZp is null ? [0f] : QuantCommon.Floats(aZp), zb = bZp is null ? [0f] : QuantCommon.Floats(bZp);
        float[] zy = yZp is null ? [0f] : QuantCommon.Floats(yZp);
        MatMulPlan.CheckParam(ctx, aZp, "a_zero_point", m, p.BatchesA);
        MatMulPlan.CheckParam(ctx, bZp, "b_zero_point", n, p.BatchesB);
        var y = ctx.OutputUninitialized(0, outType, p.OutShape).Span<byte>();
        var row = new double[n];
        for (int bi = 0; bi < p.Batches; bi++)
        {
            int ia = p.IndexA[bi], ib = p.IndexB[bi];
            for (int i = 0; i < m; i++)
            {
                Array.Clear(row);
                float zai = za[MatMulPlan.ParamIndex(za.Length, m, ia, i)];
                for (int q = 0; q < k; q++)
                {
                    double x = av[(ia * m + i) * k + q] - zai;
                    int bo = (ib * k + q) * n;
                    for (int j = 0; j < n; j++) row[j] += x * (bv[bo + j] - zb[MatMulPlan.ParamIndex(zb.Length, n, ib, j)]);
                }
                float fa = sa[MatMulPlan.ParamIndex(sa.Length, m, ia, i)], fy = sy.Length == 1 ? sy[0] : sy[i];
                float z = zy.Length == 1 ? zy[0] : zy[i];
                for (int j = 0; j < n; j++)
                {
                    double mult = Requant.Multiplier(fa, sb[MatMulPlan.ParamIndex(sb.Length, n, ib, j)], fy, prec);
                    y[(bi * m + i) * n + j] = yFormat.Encode((float)(row[j] * mult + z), saturate: true);
                }
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
