using NetOnnx.Kernels.Quantization;
using NetOnnx.Runtime.Operators.Fused;

namespace NetOnnx.Runtime.Operators.Quantization;

/// <summary>
/// DynamicQuantizeMatMul (com.netonnx): A [..., K] float times int8 B [K, N] with b_scale and b_zero_point
/// (scalar or per column) and an optional float bias [N]. It computes exactly what the standard chain
/// DynamicQuantizeLinear(A) -> MatMulInteger -> Cast(float) -> Mul(a_scale * b_scale) [-> Add(bias)] computes
/// (the form quantize_dynamic writes; the optimizer fuses that chain into this node): A is quantized to uint8
/// with one scale/zero point over the whole tensor, the product runs in <see cref="Int8Gemm"/> and the
/// dequantize and bias are its epilogue. Constant B is packed once, at load.
/// </summary>
[OpKernel("DynamicQuantizeMatMul", 1, Domain = FusedDomain.Name)]
public sealed class DynamicQuantizeMatMul : OpKernel
{
    private readonly PackedInt8Weights? _packed;
    private readonly float[]? _bScale;
    private readonly int[]? _bZero;
    private readonly float[]? _bias;

    public DynamicQuantizeMatMul(KernelInfo info)
    {
        if (info.ConstantInput(1) is { } b && info.ConstantInput(2) is { } s && (!info.HasInput(3) || info.ConstantInput(3) is not null))
        {
            _packed = Pack(null, b);
            _bScale = QuantCommon.Floats(s);
            _bZero = info.ConstantInput(3) is { } z ? ZeroPoints(null, z) : null;
            if (info.ConstantInput(4) is { ElementType: DataType.Float } bias) _bias = bias.ReadOnlySpan<float>().ToArray();
        }
    }

    private static PackedInt8Weights Pack(KernelContext? ctx, Tensor b)
    {
        if (b.ElementType != DataType.Int8 || b.Rank != 2)
            throw Fail(ctx, $"B must be a 2-D int8 tensor, got {b.ElementType.OnnxName()} of rank {b.Rank}");
        return PackedInt8Weights.Pack(b.ReadOnlySpan<sbyte>(), b.Shape[0], b.Shape[1]);
    }

    private static int[] ZeroPoints(KernelContext? ctx, Tensor z)
    {
        if (z.ElementType != DataType.Int8) throw Fail(ctx, $"b_zero_point must be int8, got {z.ElementType.OnnxName()}");
        var s = z.ReadOnlySpan<sbyte>();
        var r = new int[s.Length];
        for (int i = 0; i < r.Length; i++) r[i] = s[i];
        return r;
    }

    private static Exception Fail(KernelContext? ctx, string problem) =>
        ctx is not null ? ctx.Error(problem) : new OnnxException($"DynamicQuantizeMatMul: {problem}");

    public override void Compute(KernelContext ctx)
    {
        var x = ctx.Input(0);
        if (x.ElementType != DataType.Float) throw ctx.Error($"A must be float, got {x.ElementType.OnnxName()}");
        if (x.Rank < 1) throw ctx.Error("A must have rank >= 1");
        var w = _packed ?? Pack(ctx, ctx.Input(1));
        float[] bScale = _bScale ?? QuantCommon.Floats(ctx.Input(2));
        int[]? bZero = _packed is not null ? _bZero : ctx.OptionalInput(3) is { } zt ? ZeroPoints(ctx, zt) : null;
        float[]? bias = _packed is not null ? _bias : ctx.OptionalInput(4)?.ReadOnlySpan<float>().ToArray();
        int k = x.Shape[^1], n = w.N;
        if (k != w.K) throw ctx.Error($"A's last dimension is {k}, B has {w.K} rows");
        if (bScale.Length != 1 && bScale.Length != n) throw ctx.Error($"b_scale has {bScale.Length} values; expected 1 or {n}");
        if (bZero is not null && bZero.Length != 1 && bZero.Length != n) throw ctx.Error($"b_zero_point has {bZero.Length} values; expected 1 or {n}");
        if (bias is not null && bias.Length != n) throw ctx.Error($"bias has {bias.Length} values; expected {n}");
        int m = k == 0 ? 0 : x.Length / k;
        var outShape = x.Shape.ToArray();
        outShape[^1] = n;
        var y = ctx.OutputUninitialized(0, DataType.Float, outShape);
        if (m == 0) return;

        // DynamicQuantizeLinear's scale and zero point over the whole tensor.
        var xs = x.ReadOnlySpan<float>();
        var (mn, mx) = QuantizeKernels.MinMax(xs);
        mn = MathF.Min(mn, 0f);
        mx = MathF.Max(mx, 0f);
        if (!float.IsFinite(mn) || !float.IsFinite(mx)) throw ctx.Error("A contains NaN or infinity, so no scale can be computed");
        float aScale = (mx - mn) / 255f;
        float aZero = aScale == 0f ? 0f : MathF.Round(Math.Clamp(0f - mn / aScale, 0f, 255f), MidpointRounding.ToEven);

        int kp = w.PaddedK;
        var aq = new byte[(long)m * kp];
        int[] rowSums = [];
        bool zb = bZero is not null && Array.Exists(bZero, z => z != 0);
        if (zb) rowSums = new int[m];
        for (int i = 0; i < m; i++)
        {
            var dst = aq.AsSpan(i * kp, k);
            if (aScale == 0f) dst.Clear();
            else QuantizeKernels.Quantize(xs.Slice(i * k, k), aScale, aZero, 0f, 255f, dst);
            if (zb) { int s = 0; foreach (var v in dst) s += v; rowSums[i] = s; }
        }
        // Mul(a_scale, b_scale) in float, as the standard chain does, then acc * that product.
        var colScale = new float[n];
        for (int j = 0; j < n; j++) colScale[j] = aScale * bScale[bScale.Length == 1 ? 0 : j];
        int[]? zeroPerCol = null;
        if (zb)
        {
            zeroPerCol = new int[n];
            for (int j = 0; j < n; j++) zeroPerCol[j] = bZero![bZero.Length == 1 ? 0 : j];
        }
        var ep = new Int8GemmEpilogue(colScale, bias, zeroPerCol);
        Int8Gemm.Multiply(aq, m, (int)aZero, rowSums, w, ep, y.Span<float>(), default, ctx.Threads);
    }
}
