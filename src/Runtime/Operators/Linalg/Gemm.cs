using System.Numerics;
using NetOnnx.Kernels;
using NetOnnx.Kernels.Elementwise;
using NetOnnx.Kernels.Gemm;
using NetOnnx.Kernels.SmallShapes;

namespace NetOnnx.Runtime.Operators.Linalg;

/// <summary>
/// Gemm: Y = alpha*op(A)*op(B) + beta*C with C broadcast to (M, N). Before opset 7 C broadcasts only when
/// the broadcast attribute is set; models exported then rely on it, so a mismatched C without it is an error.
/// </summary>
[OpKernel("Gemm", 1)]
public class Gemm : OpKernel
{
    private readonly bool _transA, _transB, _legacyNoBroadcast;
    private readonly float _alpha, _beta;
    /// <summary>Applied to the output in the pass that writes it (fused kernels only).</summary>
    private readonly FusedActivation _activation;

    public Gemm(KernelInfo info) : this(info, FusedActivation.None) { }

    protected Gemm(KernelInfo info, FusedActivation activation)
    {
        _activation = activation;
        _transA = info.GetInt("transA", 0) != 0;
        _transB = info.GetInt("transB", 0) != 0;
        _alpha = info.GetFloat("alpha", 1f);
        _beta = info.GetFloat("beta", 1f);
        // Fused kernels have their own domain version; they always broadcast C like Gemm-7+.
        _legacyNoBroadcast = info.Node.Domain.Length == 0 && info.OpsetVersion < 7 && info.GetInt("broadcast", 0) == 0;
        TryPack(info);
    }

    /// <summary>alpha*op(B) packed once, when B is a constant float matrix and every run can use it.</summary>
    private PackedB? _packed;
    /// <summary>beta*C as a column bias for the packed path (null: no C).</summary>
    private float[]? _packedBias;
    private int[]? _packedShape;

    /// <summary>
    /// Packs a constant float B when A is used as is (no transA) and C is absent or a constant row of N (so beta*C
    /// rides in the epilogue): then every valid run takes the packed path and the original B is released.
    /// </summary>
    private void TryPack(KernelInfo info)
    {
        if (_transA || _legacyNoBroadcast || info.ConstantInput(1) is not { ElementType: DataType.Float, Rank: 2 } w || w.Length == 0) return;
        int k = _transB ? w.Shape[1] : w.Shape[0], n = _transB ? w.Shape[0] : w.Shape[1];
        float[]? bias = null;
        if (info.HasInput(2) && _beta != 0)
        {
            if (info.ConstantInput(2) is not { ElementType: DataType.Float } c || c.Length != n || c.Rank > 2 || (c.Rank == 2 && c.Shape[0] != 1)) return;
            bias = c.ToArray<float>();
            for (int j = 0; j < n; j++) bias[j] *= _beta;
        }
        var wv = w.ReadOnlySpan<float>();
        float[]? scaled = null;
        if (_alpha != 1f)
        {
            scaled = wv.ToArray();
            for (int i = 0; i < scaled.Length; i++) scaled[i] *= _alpha;
        }
        _packed = Sgemm.PackB(_transB, k, n, scaled ?? wv, w.Shape[1]);
        _packedBias = bias;
        _packedShape = w.Shape;
        info.ReleaseConstantInput(1); // runs read the packed copy and _packedShape only
        if (bias is not null) info.ReleaseConstantInput(2);
    }

    /// <summary>Y = act(A·packed + bias) for float A [M, K]; the output shape array is reused while M stays the same.</summary>
    private void ComputePacked(KernelContext ctx, PackedB packed)
    {
        var a = ctx.Input(0);
        if (a.ElementType != DataType.Float) throw ctx.Error($"A is {a.ElementType.OnnxName()} but B is float");
        if (a.Rank != 2 || a.Shape[1] != packed.K)
            throw ctx.Error($"A {ShapeMath.Format(a.Shape)} must be 2-D with {packed.K} columns (B is {ShapeMath.Format(_packedShape!)}{(_transB ? ", transposed" : "")})");
        int m = a.Shape[0], n = packed.N;
        var shape = _outShape;
        if (shape is null || shape[0] != m) _outShape = shape = [m, n];
        var y = ctx.OutputUninitialized(0, DataType.Float, shape);
        if (y.Length == 0) return;
        Sgemm.Multiply(m, a.ReadOnlySpan<float>(), packed.K, packed, y.Span<float>(), n, _packedBias, _activation, ctx.Threads);
    }

    // Read and replaced whole by concurrent runs: each sees some array of the right shape (never written after publication).
    private int[]? _outShape;

    public override void Compute(KernelContext ctx)
    {
        if (_packed is not null) { ComputePacked(ctx, _packed); return; }
        var a = ctx.Input(0);
        var b = ctx.Input(1);
        var c = ctx.OptionalInput(2);
        if (a.Rank != 2 || b.Rank != 2)
            throw ctx.Error($"A and B must be 2-D, got {ShapeMath.Format(a.Shape)} and {ShapeMath.Format(b.Shape)}");
        if (a.ElementType != b.ElementType || c is not null && c.ElementType != a.ElementType)
            throw ctx.Error("A, B and C must have the same element type");
        int m = _transA ? a.Shape[1] : a.Shape[0], k = _transA ? a.Shape[0] : a.Shape[1];
        int kb = _transB ? b.Shape[1] : b.Shape[0], n = _transB ? b.Shape[0] : b.Shape[1];
        if (k != kb)
            throw ctx.Error($"inner dimensions differ: op(A) is {m}x{k}, op(B) is {kb}x{n}");
        bool useC = c is not null && _beta != 0;
        if (c is not null)
        {
            bool ok = c.Rank <= 2 && (c.Rank < 2 || c.Shape[0] == m || c.Shape[0] == 1) && (c.Rank < 1 || c.Shape[^1] == n || c.Shape[^1] == 1);
            if (!ok || _legacyNoBroadcast && !(c.Rank == 2 && c.Shape[0] == m && c.Shape[1] == n) && c.Length != 1)
                throw ctx.Error($"C of shape {ShapeMath.Format(c.Shape)} cannot be broadcast to ({m}, {n})");
        }
        var y = ctx.OutputUninitialized(0, a.ElementType, [m, n]);
        if (y.Length == 0) return;
        int lda = a.Shape[1], ldb = b.Shape[1];
        switch (a.ElementType)
        {
            case DataType.Float:
            {
                var ys = y.Span<float>();
                if (useC) FillC(c!.ReadOnlySpan<float>(), c.Shape, ys, m, n);
                if (m == 1 && _transB && !_transA && k > 0)
                {
                    // Batch-1 classifier: a stream over B's rows, split across threads (RowGemv).
                    RowGemv.Run(new ReadOnlyMemory<float>((float[])a.Buffer, 0, k), new ReadOnlyMemory<float>((float[])b.Buffer, 0, b.Length),
                        ldb, n, k, _alpha, useC ? _beta : 0f, new Memory<float>((float[])y.Buffer, 0, n), _activation, ctx.Threads);
                    break;
                }
                Sgemm.Multiply(_transA, _transB, m, n, k, _alpha, a.ReadOnlySpan<float>(), lda, b.ReadOnlySpan<float>(), ldb,
                    useC ? _beta : 0f, ys, n, default, default, 0, _activation, ctx.Threads);
                break;
            }
            case DataType.Float16 or DataType.BFloat16:
            {
                var yf = new float[m * n];
                if (useC) FillC<float>(FloatData.Read(c!).AsSpan(0, c!.Length), c.Shape, yf, m, n);
                Sgemm.Multiply(_transA, _transB, m, n, k, _alpha, FloatData.Read(a), lda, FloatData.Read(b), ldb,
                    useC ? _beta : 0f, yf, n, default, default, 0, _activation, ctx.Threads);
                FloatData.Write(yf, y);
                break;
            }
            case DataType.Double:
                Generic<double>(a, b, c, y, m, n, k, useC);
                if (!_activation.IsNone) { var yd = y.Span<double>(); for (int i = 0; i < yd.Length; i++) yd[i] = _activation.Scalar((float)yd[i]); }
                break;
            case DataType.Int32 or DataType.Int64 or DataType.UInt32 or DataType.UInt64 when !_activation.IsNone:
                throw ctx.Error("fused activations apply to floating-point Gemm only");
            case DataType.Int32: Generic<int>(a, b, c, y, m, n, k, useC); break;
            case DataType.Int64: Generic<long>(a, b, c, y, m, n, k, useC); break;
            case DataType.UInt32: Generic<uint>(a, b, c, y, m, n, k, useC); break;
            case DataType.UInt64: Generic<ulong>(a, b, c, y, m, n, k, useC); break;
            default: throw ctx.Error($"element type {a.ElementType.OnnxName()} is not supported");
        }
    }

    private void Generic<T>(Tensor a, Tensor b, Tensor? c, Tensor y, int m, int n, int k, bool useC) where T : INumber<T>
    {
        var ys = y.Span<T>();
        if (useC) FillC(c!.ReadOnlySpan<T>(), c.Shape, ys, m, n);
        NaiveGemm.Multiply(_transA, _transB, m, n, k, T.CreateTruncating(_alpha), a.ReadOnlySpan<T>(), a.Shape[1],
            b.ReadOnlySpan<T>(), b.Shape[1], useC ? T.CreateTruncating(_beta) : T.Zero, ys, n);
    }

    /// <summary>Copies C, broadcast unidirectionally, into every row and column of Y.</summary>
    private static void FillC<T>(ReadOnlySpan<T> c, int[] shape, Span<T> y, int m, int n)
    {
        int rows = shape.Length == 2 ? shape[0] : 1;
        int cols = shape.Length >= 1 ? shape[^1] : 1;
        for (int i = 0; i < m; i++)
        {
            var row = y.Slice(i * n, n);
            var src = c.Slice((rows == 1 ? 0 : i) * cols, cols);
            if (cols == n) src.CopyTo(row);
            else row.Fill(src[0]);
        }
    }
}
