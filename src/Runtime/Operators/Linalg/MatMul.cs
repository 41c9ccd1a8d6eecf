using System.Numerics;
using NetOnnx.Kernels;
using NetOnnx.Kernels.Elementwise;
using NetOnnx.Kernels.Gemm;
using NetOnnx.Kernels.Threading;

namespace NetOnnx.Runtime.Operators.Linalg;

/// <summary>How a (batched, broadcast) MatMul maps onto a list of 2-D products.</summary>
internal sealed class MatMulPlan
{
    public int M, N, K;
    public int[] OutShape = [];
    /// <summary>Element offsets of each product's A and B; product i writes C at i*M*N.</summary>
    public int[] AOffsets = [], BOffsets = [];

    public int Count => AOffsets.Length;

    /// <summary>
    /// Numpy matmul semantics: 1-D operands are promoted and the promoted dimension dropped again. With
    /// <paramref name="mergeSharedB"/>, a B shared by every product turns A's batches into one tall product.
    /// </summary>
    public static MatMulPlan Create(int[] a, int[] b, bool mergeSharedB = true)
    {
        if (a.Length == 0 || b.Length == 0) throw new ArgumentException("MatMul operands must have rank >= 1, got a scalar");
        int[] a2 = a.Length == 1 ? [1, a[0]] : a;
        int[] b2 = b.Length == 1 ? [b[0], 1] : b;
        var p = new MatMulPlan { M = a2[^2], K = a2[^1], N = b2[^1] };
        if (b2[^2] != p.K)
            throw new ArgumentException($"inner dimensions differ: A {ShapeMath.Format(a)} has {p.K} columns, B {ShapeMath.Format(b)} has {b2[^2]} rows");
        var batchA = a2[..^2]; var batchB = b2[..^2];
        var batch = ShapeMath.Broadcast(batchA, batchB);
        var outShape = new List<int>(batch);
        if (a.Length > 1) outShape.Add(p.M);
        if (b.Length > 1) outShape.Add(p.N);
        p.OutShape = outShape.ToArray();

        int count = ShapeMath.Size(batch);
        int sizeB = ShapeMath.Size(batchB);
        if (mergeSharedB && sizeB == 1 && count > 0)
        {
            // B is shared by every product: A's batches are consecutive rows, so one tall product covers all.
            p.M *= count;
            p.AOffsets = [0];
            p.BOffsets = [0];
            return p;
        }
        var sa = ShapeMath.BroadcastStrides(batchA, batch);
        var sb = ShapeMath.BroadcastStrides(batchB, batch);
        p.AOffsets = new int[count];
        p.BOffsets = new int[count];
        var idx = new int[batch.Length];
        int matA = p.M * p.K, matB = p.K * p.N;
        for (int i = 0; i < count; i++)
        {
            int oa = 0, ob = 0;
            for (int d = 0; d < batch.Length; d++) { oa += idx[d] * sa[d]; ob += idx[d] * sb[d]; }
            p.AOffsets[i] = oa * matA;
            p.BOffsets[i] = ob * matB;
            for (int d = batch.Length - 1; d >= 0; d--)
            {
                if (++idx[d] < batch[d]) break;
                idx[d] = 0;
            }
        }
        return p;
    }
}

/// <summary>Runs a <see cref="MatMulPlan"/> for any numeric element type.</summary>
internal static class BatchedMatMul
{
    public static void Run(Tensor a, Tensor b, Tensor y, MatMulPlan p, int threads)
    {
        if (y.Length == 0) return;
        switch (a.ElementType)
        {
            case DataType.Float: RunFloat((float[])a.Buffer, (float[])b.Buffer, (float[])y.Buffer, p, threads); break;
            case DataType.Float16 or DataType.BFloat16:
            {
                var yf = new float[y.Length];
                RunFloat(FloatData.Read(a), FloatData.Read(b), yf, p, threads);
                FloatData.Write(yf, y);
                break;
            }
            case DataType.Double: RunGeneric<double>(a, b, y, p); break;
            case DataType.Int32: RunGeneric<int>(a, b, y, p); break;
            case DataType.Int64: RunGeneric<long>(a, b, y, p); break;
            case DataType.UInt32: RunGeneric<uint>(a, b, y, p); break;
            case DataType.UInt64: RunGeneric<ulong>(a, b, y, p); break;
            case DataType.Int16: RunGeneric<short>(a, b, y, p); break;
            case DataType.UInt16: RunGeneric<ushort>(a, b, y, p); break;
            case DataType.Int8: RunGeneric<sbyte>(a, b, y, p); break;
            case DataType.UInt8: RunGeneric<byte>(a, b, y, p); break;
            default: throw new NotSupportedException($"MatMul does not support {a.ElementType.OnnxName()}");
        }
    }

    private static void RunFloat(float[] a, float[] b, float[] y, MatMulPlan p, int threads)
    {
        int m = p.M, n = p.N, k = p.K, count = p.Count;
        long work = (long)m * n * k;
        if (count > 1 && threads > 1 && work < (1 << 21) && work * count >= (1 << 21))
        {
            // Many small products (attention heads): one product per task beats splitting each one.
            IntraOpPool.For(count, threads, i =>
                Sgemm.Multiply(false, false, m, n, k, 1f, a.AsSpan(p.AOffsets[i]), k, b.AsSpan(p.BOffsets[i]), n,
                    0f, y.AsSpan(i * m * n, m * n), n, 1));
            return;
        }
        for (int i = 0; i < count; i++)
            Sgemm.Multiply(false, false, m, n, k, 1f, a.AsSpan(p.AOffsets[i]), k, b.AsSpan(p.BOffsets[i]), n,
                0f, y.AsSpan(i * m * n, m * n), n, threads);
    }

    private static void RunGeneric<T>(Tensor a, Tensor b, Tensor y, MatMulPlan p) where T : INumber<T>
    {
        var sa = a.ReadOnlySpan<T>(); var sb = b.ReadOnlySpan<T>(); var sy = y.Span<T>();
        int m = p.M, n = p.N, k = p.K;
        for (int i = 0; i < p.Count; i++)
            NaiveGemm.Multiply(false, false, m, n, k, T.One, sa.Slice(p.AOffsets[i]), k, sb.Slice(p.BOffsets[i]), n,
                T.Zero, sy.Slice(i * m * n, m * n), n);
    }
}

/// <summary>
/// MatMul: numpy-style batched matrix product with broadcasting and 1-D promotion. A constant float 2-D B
/// (a weight matrix) is packed once at creation and reused by every run.
/// </summary>
[OpKernel("MatMul", 1)]
public sealed class MatMul : OpKernel
{
    private readonly PackedB? _packed;
    private readonly int[]? _packedShape;

    public MatMul(KernelInfo info)
    {
        if (info.ConstantInput(1) is { ElementType: DataType.Float, Rank: 2 } w && w.Shape[0] > 0)
        {
            _packed = Sgemm.PackB(false, w.Shape[0], w.Shape[1], w.ReadOnlySpan<float>(), w.Shape[1]);
            _packedShape = w.Shape;
            // The packed path below serves every valid A, so the original B is never read again.
            info.ReleaseConstantInput(1);
        }
    }

    // Read and replaced whole by concurrent runs: each sees some array of the right shape (never written after publication).
    private int[]? _outShape;

    /// <summary>A's shape with the last dimension N: the array from the last run while it still fits (no allocation per run).</summary>
    private int[] OutShape(int[] a, int n)
    {
        var s = _outShape;
        if (s is not null && s.Length == a.Length && s[^1] == n && s.AsSpan(0, s.Length - 1).SequenceEqual(a.AsSpan(0, a.Length - 1))) return s;
        s = (int[])a.Clone();
        s[^1] = n;
        _outShape = s;
        return s;
    }

    public override void Compute(KernelContext ctx)
    {
        var a = ctx.Input(0);
        if (_packed is not null)
        {
            if (a.ElementType != DataType.Float) throw ctx.Error($"A is {a.ElementType.OnnxName()} but B is float");
            if (a.Rank == 0 || a.Shape[^1] != _packed.K)
                throw ctx.Error($"inner dimensions differ: A {ShapeMath.Format(a.Shape)}, B {ShapeMath.Format(_packedShape!)}");
            // A [..., K] times the packed B [K, N]: every batch of A is rows of one tall product (1-D A is one row).
            var shape = OutShape(a.Shape, _packed.N);
            var yp = ctx.OutputUninitialized(0, DataType.Float, shape);
            if (yp.Length > 0)
                PackedBRowSplit.Multiply(yp.Length / _packed.N, a.ReadOnlySpan<float>(), _packed.K, _packed, yp.Span<float>(), _packed.N,
                    default, FusedActivation.None, ctx.Threads);
            return;
        }
        var b = ctx.Input(1);
        if (a.ElementType != b.ElementType)
            throw ctx.Error($"A is {a.ElementType.OnnxName()} but B is {b.ElementType.OnnxName()}");
        MatMulPlan plan;
        try { plan = MatMulPlan.Create(a.Shape, b.Shape); }
        catch (ArgumentException e) { throw ctx.Error(e.Message); }
        var y = ctx.OutputUninitialized(0, a.ElementType, plan.OutShape);
        if (plan.K == 0) { y.Bytes().Clear(); return; }
        try { BatchedMatMul.Run(a, b, y, plan, ctx.Threads); }
        catch (NotSupportedException e) { throw ctx.Error(e.Message); }
    }
}
