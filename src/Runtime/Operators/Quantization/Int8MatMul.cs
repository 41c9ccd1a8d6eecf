using System.Buffers;
using NetOnnx.Kernels.Quantization;

namespace NetOnnx.Runtime.Operators.Quantization;

/// <summary>
/// The integer product of MatMulInteger and QLinearMatMul, sum_k (A - a_zp)(B - b_zp) in int32, on the u8 x s8
/// <see cref="Int8Gemm"/>: int8 A is shifted to uint8 and uint8 B to int8 by 128 (with their zero points, so the
/// differences are unchanged), a per-tensor A zero point goes into the GEMM and a per-row one is subtracted
/// as za[i] * (column sum of B - K * zb[j]) afterwards. Weights outside [-64, 64] take Int8Gemm's exact
/// split-activation path. A constant B is packed once (each of its batches), others per call.
/// </summary>
internal sealed class Int8MatMul
{
    private readonly PackedInt8Weights[]? _packed;
    private readonly Tensor? _packedFrom;

    /// <summary>Packs input <paramref name="bIndex"/> when it is a constant uint8/int8 tensor with no empty dimension.</summary>
    public Int8MatMul(KernelInfo info, int bIndex)
    {
        if (info.ConstantInput(bIndex) is { ElementType: DataType.UInt8 or DataType.Int8, Rank: >= 1 } b && b.Length > 0)
        {
            int k = b.Rank == 1 ? b.Shape[0] : b.Shape[^2], n = b.Rank == 1 ? 1 : b.Shape[^1];
            _packed = new PackedInt8Weights[b.Length / (k * n)];
            for (int i = 0; i < _packed.Length; i++) _packed[i] = Pack(b, i, k, n);
            _packedFrom = b;
        }
    }

    private static PackedInt8Weights Pack(Tensor b, int batch, int k, int n)
    {
        if (b.ElementType == DataType.Int8) return PackedInt8Weights.Pack(b.ReadOnlySpan<sbyte>().Slice(batch * k * n, k * n), k, n);
        var src = b.ReadOnlySpan<byte>().Slice(batch * k * n, k * n);
        var s8 = new sbyte[src.Length];
        for (int i = 0; i < s8.Length; i++) s8[i] = (sbyte)(src[i] ^ 0x80); // b - 128
        return PackedInt8Weights.Pack(s8, k, n);
    }

    /// <summary>Writes the [Batches, M, N] int32 products to <paramref name="acc"/>.</summary>
    public void Run(KernelContext ctx, MatMulPlan p, Tensor a, Tensor b, Tensor? aZp, Tensor? bZp, Span<int> acc)
    {
        IntegerMatMul.CheckType(ctx, a, "A");
        IntegerMatMul.CheckType(ctx, b, "B");
        int m = p.M, k = p.K, n = p.N;
        int[] za = IntegerMatMul.ZeroPoints(ctx, aZp, a, "a_zero_point", m, p.BatchesA);
        int[] zb = IntegerMatMul.ZeroPoints(ctx, bZp, b, "b_zero_point", n, p.BatchesB);
        if (m == 0 || n == 0 || p.Batches == 0) return;
        if (k == 0) { acc.Clear(); return; }
        int aShift = a.ElementType == DataType.Int8 ? 128 : 0, bShift = b.ElementType == DataType.UInt8 ? 128 : 0;
        var packed = ReferenceEquals(b, _packedFrom) ? _packed : null;
        var own = packed is null ? new PackedInt8Weights?[p.BatchesB] : null;
        int kp = (k + 3) & ~3;
        var aq = ArrayPool<byte>.Shared.Rent(m * kp);
        var rowSums = ArrayPool<int>.Shared.Rent(m);
        var zbCol = new int[n];
        var colB = new int[n];
        try
        {
            ReadOnlySpan<byte> au = a.ElementType == DataType.UInt8 ? a.ReadOnlySpan<byte>() : System.Runtime.InteropServices.MemoryMarshal.AsBytes(a.ReadOnlySpan<sbyte>());
            for (int bi = 0; bi < p.Batches; bi++)
            {
                int ia = p.IndexA[bi], ib = p.IndexB[bi];
                var w = packed?[ib] ?? (own![ib] ??= Pack(b, ib, k, n));
                bool anyZb = false;
                for (int j = 0; j < n; j++)
                {
                    zbCol[j] = zb[MatMulPlan.ParamIndex(zb.Length, n, ib, j)] - bShift;
                    anyZb |= zbCol[j] != 0;
                    colB[j] = w.ColumnSums[j] - k * zbCol[j];
                }
                // A's rows at stride K rounded up to 4 (the bytes past K meet zero weights), as uint8.
                for (int r = 0; r < m; r++)
                {
                    var src = au.Slice((ia * m + r) * k, k);
                    var dst = aq.AsSpan(r * kp, k);
                    if (aShift == 0) src.CopyTo(dst);
                    else for (int q = 0; q < k; q++) dst[q] = (byte)(src[q] ^ 0x80); // a + 128
                    if (anyZb) { int s = 0; foreach (var v in dst) s += v; rowSums[r] = s; }
                }
                int za0 = za[MatMulPlan.ParamIndex(za.Length, m, ia, 0)];
                bool uniformZa = true;
                for (int r = 1; r < m && uniformZa; r++) uniformZa = za[MatMulPlan.ParamIndex(za.Length, m, ia, r)] == za0;
                var c = acc.Slice(bi * m * n, m * n);
                Int8Gemm.Multiply(aq, m, uniformZa ? za0 + aShift : 0, anyZb ? rowSums.AsSpan(0, m) : default, w, anyZb ? zbCol : null, c, ctx.Threads);
                if (uniformZa) continue;
                // Per-row zero points: sum (a - za_i)(b - zb_j) = sum a (b - zb_j) - za_i * (colsum_j - K zb_j).
                for (int r = 0; r < m; r++)
                {
                    int zi = za[MatMulPlan.ParamIndex(za.Length, m, ia, r)] + aShift;
                    if (zi == 0) continue;
                    var row = c.Slice(r * n, n);
                    for (int j = 0; j < n; j++) row[j] -= zi * colB[j];
                }
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(aq);
            ArrayPool<int>.Shared.Return(rowSums);
        }
    }
}
