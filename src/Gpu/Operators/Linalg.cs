using ILGPU;
using ILGPU.Runtime.Cuda;
using NetOnnx.Gpu.Kernels;
using NetOnnx.Kernels;
using NetOnnx.Kernels.Elementwise;

namespace NetOnnx.Gpu.Operators;

/// <summary>Queues a GEMM on the tiled ILGPU kernel, or on cuBLAS when the device was opened with it.</summary>
internal static class GemmLauncher
{
    public static void Launch(GpuOpContext ctx, ArrayView<float> a, ArrayView<float> b, ArrayView<float>? bias, ArrayView<float>? res,
        ArrayView<float> c, GemmArgs p, int batches)
    {
        if (p.M == 0 || p.N == 0 || batches == 0) return;
        var dev = ctx.Device;
        if (dev.CuBlas is { } blas && p.HasBias == 0 && p.HasResidual == 0 && p.Act == 0 && (p.Ak == 1 || p.Am == 1) && (p.Bn == 1 || p.Bk == 1))
        {
            // Row-major C = A·B is column-major Cᵀ = Bᵀ·Aᵀ: cuBLAS gets B first, with m = N and n = M.
            blas.Stream = (CudaStream)ctx.Stream;
            var opB = p.Bn == 1 ? CuBlasOperation.NonTranspose : CuBlasOperation.Transpose;
            var opA = p.Ak == 1 ? CuBlasOperation.NonTranspose : CuBlasOperation.Transpose;
            int ldb = p.Bn == 1 ? p.Bk : p.Bn, lda = p.Ak == 1 ? p.Am : p.Ak;
            for (int z = 0; z < batches; z++)
                blas.Gemm(opB, opA, p.N, p.M, p.K, p.Alpha, b.SubView((long)z * p.BatchB), ldb, a.SubView((long)z * p.BatchA), lda,
                    0f, c.SubView((long)z * p.BatchC), p.N);
            return;
        }
        if (dev.TiledKernels) dev.Gemm(ctx.Stream, dev.GemmConfig(p.M, p.N, batches), a, b, bias ?? dev.DummyFloats, res ?? dev.DummyFloats, c, p);
        else dev.GemmDirect(ctx.Stream, p.M * p.N * batches, a, b, bias ?? dev.DummyFloats, res ?? dev.DummyFloats, c, p);
    }

    /// <summary>
    /// y[batch] = alpha * a[batch] · b[batch] for row-major [.., M, K] and [.., K, N] operands whose batch dims
    /// broadcast to <paramref name="batch"/>; an operand broadcast only partly is first expanded into a temporary.
    /// </summary>
    public static void BatchedMatMul(GpuOpContext ctx, DeviceTensor a, DeviceTensor b, DeviceTensor y, int[] batch, int m, int k, int n, float alpha)
    {
        int nb = ShapeMath.Size(batch);
        (DeviceTensor, int) Prep(DeviceTensor t, int rows, int cols)
        {
            int tb = t.Length / Math.Max(rows * cols, 1);
            if (tb == 1 || rows * cols == 0) return (t, 0);
            if (tb == nb) return (t, rows * cols);
            int[] full = [.. batch, rows, cols];
            var tmp = ctx.Temp(full);
            Strided.Launch(ctx, t, tmp, BinaryOps.BroadcastStrides(t.Shape.Length >= 2 ? t.Shape : [rows, cols], full), 0);
            return (tmp, rows * cols);
        }
        var (ta, sa) = Prep(a, m, k);
        var (tb2, sb) = Prep(b, k, n);
        var p = new GemmArgs { M = m, N = n, K = k, Am = k, Ak = 1, Bk = n, Bn = 1, BatchA = sa, BatchB = sb, BatchC = m * n, Alpha = alpha, Beta = 1f };
        Launch(ctx, ta.Floats, tb2.Floats, null, null, y.Floats, p, nb);
    }
}

/// <summary>MatMul with numpy semantics: 1-D operands are promoted and the added axis dropped; batch dims broadcast.</summary>
internal sealed class MatMulOp : GpuOp
{
    public static GpuOp? Create(KernelInfo info) => IsFloat(info, 0) && IsFloat(info, 1) ? new MatMulOp() : null;

    public override void Run(GpuOpContext ctx)
    {
        var a = ctx.Input(0);
        var b = ctx.Input(1);
        if (a.Rank == 0 || b.Rank == 0) throw new ArgumentException("MatMul: operands must have rank 1 or more");
        var sa = a.Rank == 1 ? [1, a.Shape[0]] : a.Shape;
        var sb = b.Rank == 1 ? [b.Shape[0], 1] : b.Shape;
        int m = sa[^2], k = sa[^1], n = sb[^1];
        if (sb[^2] != k) throw new ArgumentException($"MatMul: {ShapeMath.Format(a.Shape)} and {ShapeMath.Format(b.Shape)} do not chain");
        var batch = ShapeMath.Broadcast(sa[..^2], sb[..^2]);
        var shape = new List<int>(batch);
        if (a.Rank > 1) shape.Add(m);
        if (b.Rank > 1) shape.Add(n);
        var y = ctx.Output(0, DataType.Float, shape.ToArray());
        var va = new DeviceTensor(a.ElementType, sa, a.Buffer);
        var vb = new DeviceTensor(b.ElementType, sb, b.Buffer);
        GemmLauncher.BatchedMatMul(ctx, va, vb, y, batch, m, k, n, 1f);
    }
}

/// <summary>Gemm and com.netonnx FusedGemm: act(alpha·op(A)·op(B) + beta·C), the bias and activation applied by the tile epilogue.</summary>
internal sealed class GemmOp : GpuOp
{
    private readonly bool _transA, _transB;
    private readonly float _alpha, _beta;
    private readonly FusedActivation _act;

    private GemmOp(KernelInfo info, FusedActivation act)
    {
        _transA = info.GetInt("transA", 0) != 0;
        _transB = info.GetInt("transB", 0) != 0;
        _alpha = info.GetFloat("alpha", 1f);
        _beta = info.GetFloat("beta", 1f);
        _act = act;
    }

    public static GpuOp? Create(KernelInfo info)
    {
        if (!AllFloat(info)) return null;
        var act = FusedActivation.None;
        if (info.Node.OpType == "FusedGemm") act = FusedActivation.Parse(info.GetString("activation", ""), info.GetFloats("activation_params"));
        return new GemmOp(info, act);
    }

    public override void Run(GpuOpContext ctx)
    {
        var a = ctx.Input(0);
        var b = ctx.Input(1);
        var c = ctx.OptionalInput(2);
        if (a.Rank != 2 || b.Rank != 2) throw new ArgumentException($"Gemm: A {ShapeMath.Format(a.Shape)} and B {ShapeMath.Format(b.Shape)} must be matrices");
        int m = _transA ? a.Shape[1] : a.Shape[0], k = _transA ? a.Shape[0] : a.Shape[1];
        int kb = _transB ? b.Shape[1] : b.Shape[0], n = _transB ? b.Shape[0] : b.Shape[1];
        if (k != kb) throw new ArgumentException($"Gemm: inner dimensions {k} and {kb} differ");
        var p = new GemmArgs
        {
            M = m, N = n, K = k,
            Am = _transA ? 1 : k, Ak = _transA ? m : 1, Bk = _transB ? 1 : n, Bn = _transB ? k : 1,
            Alpha = _alpha, Beta = _beta, Act = (int)_act.Kind, ActA = _act.A, ActB = _act.B,
        };
        if (c is not null && _beta != 0f)
        {
            var cs = c.Shape;
            if (cs.Length > 2) throw new ArgumentException($"Gemm: C {ShapeMath.Format(cs)} must have rank 2 or less");
            int cm = cs.Length == 2 ? cs[0] : 1, cn = cs.Length >= 1 ? cs[^1] : 1;
            if ((cm != 1 && cm != m) || (cn != 1 && cn != n)) throw new ArgumentException($"Gemm: C {ShapeMath.Format(cs)} does not broadcast to [{m},{n}]");
            p.HasBias = 1;
            p.BiasM = cm == 1 ? 0 : cn;
            p.BiasN = cn == 1 ? 0 : 1;
        }
        var y = ctx.Output(0, DataType.Float, [m, n]);
        if (ctx.Device.UseCuBlas && (p.HasBias != 0 || p.Act != 0))
        {
            // cuBLAS computes the product; bias and activation follow as elementwise passes.
            var plain = p;
            plain.HasBias = 0; plain.Act = 0;
            GemmLauncher.Launch(ctx, a.Floats, b.Floats, null, null, y.Floats, plain, 1);
            if (p.HasBias != 0)
            {
                var scaled = c!;
                if (_beta != 1f) { scaled = ctx.Temp((int[])c!.Shape.Clone()); UnaryOps.Launch(ctx, c, scaled, UnaryOp.Scale, _beta); }
                BinaryOps.Launch(ctx, y, scaled, y, BinaryOp.Add);
            }
            if (p.Act != 0) UnaryOps.Launch(ctx, y, y, (UnaryOp)p.Act, p.ActA, p.ActB);
            return;
        }
        GemmLauncher.Launch(ctx, a.Floats, b.Floats, c?.Floats, null, y.Floats, p, 1);
    }
}

/// <summary>
/// com.netonnx MatMulBias: act(A·B + bias) for A [.., K], B [K, N], bias [N]; A's leading dimensions are rows of
/// one GEMM whose epilogue adds the bias and applies the activation.
/// </summary>
internal sealed class MatMulBiasOp : GpuOp
{
    private readonly FusedActivation _act;

    private MatMulBiasOp(FusedActivation act) => _act = act;

    public static GpuOp? Create(KernelInfo info) =>
        AllFloat(info) ? new MatMulBiasOp(FusedActivation.Parse(info.GetString("activation", ""), info.GetFloats("activation_params"))) : null;

    public override void Run(GpuOpContext ctx)
    {
        var a = ctx.Input(0);
        var b = ctx.Input(1);
        var bias = ctx.OptionalInput(2);
        if (a.Rank < 2 || b.Rank != 2 || b.Shape[0] != a.Shape[^1])
            throw new ArgumentException($"MatMulBias: A {ShapeMath.Format(a.Shape)} and B {ShapeMath.Format(b.Shape)} do not chain as [.., K] x [K, N]");
        int k = a.Shape[^1], n = b.Shape[1], m = a.Length / Math.Max(k, 1);
        if (k == 0) m = ShapeMath.Size(a.Shape[..^1]);
        if (bias is not null && (bias.Length != n || bias.Shape[^1] != n))
            throw new ArgumentException($"MatMulBias: bias {ShapeMath.Format(bias.Shape)} is not a row of {n} values");
        var shape = (int[])a.Shape.Clone();
        shape[^1] = n;
        var y = ctx.Output(0, DataType.Float, shape);
        var p = new GemmArgs
        {
            M = m, N = n, K = k, Am = k, Ak = 1, Bk = n, Bn = 1, Alpha = 1f, Beta = 1f,
            Act = (int)_act.Kind, ActA = _act.A, ActB = _act.B,
            HasBias = bias is null ? 0 : 1, BiasM = 0, BiasN = 1,
        };
        if (ctx.Device.UseCuBlas && (p.HasBias != 0 || p.Act != 0))
        {
            // cuBLAS computes the product; bias and activation follow as elementwise passes.
            var plain = p;
            plain.HasBias = 0; plain.Act = 0;
            GemmLauncher.Launch(ctx, a.Floats, b.Floats, null, null, y.Floats, plain, 1);
            if (bias is not null) BinaryOps.Launch(ctx, y, bias, y, BinaryOp.Add);
            if (p.Act != 0) UnaryOps.Launch(ctx, y, y, (UnaryOp)p.Act, p.ActA, p.ActB);
            return;
        }
        GemmLauncher.Launch(ctx, a.Floats, b.Floats, bias?.Floats, null, y.Floats, p, 1);
    }
}

/// <summary>
/// com.netonnx ScaledDotProductAttention: softmax(mask(scale·Q·Kt))·V as two batched GEMMs around a masked row
/// softmax; the score block lives in a temporary device buffer.
/// </summary>
internal sealed class AttentionOp : GpuOp
{
    private readonly float _scale, _fill;
    private readonly bool _fillWhereTrue;

    private AttentionOp(KernelInfo info)
    {
        _scale = info.GetFloat("scale", 1f);
        _fill = info.GetFloat("fill", float.NegativeInfinity);
        _fillWhereTrue = info.GetInt("fill_where_true", 1) != 0;
    }

    public static GpuOp? Create(KernelInfo info) =>
        IsFloat(info, 0) && IsFloat(info, 1) && IsFloat(info, 2) && (!info.HasInput(3) || IsFloat(info, 3))
        && (!info.HasInput(4) || info.InputElementType(4) == DataType.Bool) ? new AttentionOp(info) : null;

    public override void Run(GpuOpContext ctx)
    {
        var q = ctx.Input(0);
        var kt = ctx.Input(1);
        var v = ctx.Input(2);
        var add = ctx.OptionalInput(3);
        var keep = ctx.OptionalInput(4);
        if (q.Rank < 2 || kt.Rank < 2 || v.Rank < 2) throw new ArgumentException("ScaledDotProductAttention: inputs need rank 2 or more");
        int m = q.Shape[^2], d = q.Shape[^1], n = kt.Shape[^1], dv = v.Shape[^1];
        if (kt.Shape[^2] != d || v.Shape[^2] != n)
            throw new ArgumentException($"ScaledDotProductAttention: {ShapeMath.Format(q.Shape)}, {ShapeMath.Format(kt.Shape)}, {ShapeMath.Format(v.Shape)} do not chain as Q·Kt·V");
        var batch = ShapeMath.BroadcastAll(q.Shape[..^2], kt.Shape[..^2], v.Shape[..^2]);
        foreach (var mk in new[] { add, keep })
            if (mk is not null) batch = ShapeMath.Broadcast(batch, mk.Rank >= 2 ? mk.Shape[..^2] : []);
        var scores = ctx.Temp([.. batch, m, n]);
        GemmLauncher.BatchedMatMul(ctx, q, kt, scores, batch, m, d, n, _scale);
        if (add is not null) BinaryOps.Launch(ctx, scores, add, scores, BinaryOp.Add);
        if (keep is not null) BinaryOps.Launch(ctx, scores, keep, scores, BinaryOp.FillWhereEqual, _fillWhereTrue ? 1f : 0f, _fill);
        int rows = scores.Length / Math.Max(n, 1);
        if (rows > 0 && n > 0) ctx.Device.RowSoftmax(ctx.Stream, ctx.Device.RowConfig(rows), scores.Floats, scores.Floats, new RowArgs { Rows = rows, N = n });
        var y = ctx.Output(0, DataType.Float, [.. batch, m, dv]);
        GemmLauncher.BatchedMatMul(ctx, scores, v, y, batch, m, n, dv, 1f);
    }
}
