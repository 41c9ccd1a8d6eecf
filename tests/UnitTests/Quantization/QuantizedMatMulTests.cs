using NetOnnx.Kernels.Quantization;
using NetOnnx.Runtime;
using Xunit;
using static NetOnnx.Tests.IrBuilder;

namespace NetOnnx.Tests;

/// <summary>
/// MatMulInteger and QLinearMatMul (on Int8Gemm) against a naive integer triple loop, exactly: random shapes and
/// batches, uint8 and int8 on either side, per-tensor and per-row / per-column zero points, full-range values,
/// B constant (packed at load) or a graph input.
/// </summary>
public class QuantizedMatMulTests
{
    private static ValueInfo T(string name, DataType type, params int[] dims) =>
        new(name, OnnxType.Tensor(type, dims.Select(d => Dim.Known(d)).ToArray()));

    private static Tensor RandomInts(Random rng, DataType type, int[] shape, int lo = int.MinValue, int hi = int.MaxValue)
    {
        int n = shape.Aggregate(1, (p, d) => p * d);
        int min = Math.Max(lo, type == DataType.UInt8 ? 0 : -128), max = Math.Min(hi, type == DataType.UInt8 ? 255 : 127);
        // Now and then all extremes, the sums that stress int16 pair sums.
        bool extreme = rng.Next(4) == 0;
        var v = Enumerable.Range(0, n).Select(_ => extreme ? (rng.Next(2) == 0 ? min : max) : rng.Next(min, max + 1)).ToArray();
        return type == DataType.UInt8 ? Tensor.Create(v.Select(x => (byte)x).ToArray(), shape) : Tensor.Create(v.Select(x => (sbyte)x).ToArray(), shape);
    }

    private static int[] Ints(Tensor t) => t.ElementType == DataType.UInt8
        ? t.ReadOnlySpan<byte>().ToArray().Select(x => (int)x).ToArray() : t.ReadOnlySpan<sbyte>().ToArray().Select(x => (int)x).ToArray();

    /// <summary>acc[batch, i, j] = sum_k (A - za)(B - zb); A [batch?, M, K], B [K, N] or [batch, K, N] (batch broadcast).</summary>
    private static long[] Naive(int[] a, int[] b, int batch, bool batchedB, int m, int k, int n, int[] za, int[] zb)
    {
        var c = new long[batch * m * n];
        for (int bi = 0; bi < batch; bi++)
            for (int i = 0; i < m; i++)
                for (int j = 0; j < n; j++)
                {
                    long s = 0;
                    int zi = za.Length == 1 ? za[0] : za[i], zj = zb.Length == 1 ? zb[0] : zb[j];
                    for (int p = 0; p < k; p++)
                        s += (long)(a[(bi * m + i) * k + p] - zi) * (b[((batchedB ? bi : 0) * k + p) * n + j] - zj);
                    c[(bi * m + i) * n + j] = s;
                }
        return c;
    }

    private sealed record Case(int Batch, bool BatchedB, int M, int K, int N, DataType TA, DataType TB, bool RowZa, bool ColZb, bool ConstB);

    private static Case RandomCase(Random rng) => new(rng.Next(1, 4), rng.Next(3) == 0, rng.Next(1, 20), rng.Next(1, 300), rng.Next(1, 40),
        rng.Next(2) == 0 ? DataType.UInt8 : DataType.Int8, rng.Next(2) == 0 ? DataType.UInt8 : DataType.Int8,
        rng.Next(2) == 0, rng.Next(2) == 0, rng.Next(3) != 0);

    private static (Tensor A, Tensor B, Tensor Za, Tensor Zb, int[] AShape, int[] BShape) Operands(Random rng, Case c)
    {
        int[] aShape = [c.Batch, c.M, c.K], bShape = c.BatchedB ? [c.Batch, c.K, c.N] : [c.K, c.N];
        var a = RandomInts(rng, c.TA, aShape);
        var b = RandomInts(rng, c.TB, bShape);
        var za = RandomInts(rng, c.TA, c.RowZa ? [c.M] : [1]);
        var zb = RandomInts(rng, c.TB, c.ColZb ? [c.N] : [1]);
        return (a, b, za, zb, aShape, bShape);
    }

    [Fact]
    public void MatMulIntegerMatchesNaiveIntegerProduct()
    {
        var rng = new Random(21);
        for (int trial = 0; trial < 60; trial++)
        {
            var c = RandomCase(rng);
            // MatMulInteger's a_zero_point may be per row of A ([M]), b_zero_point per column of B ([N]).
            var (a, b, za, zb, aShape, bShape) = Operands(rng, c);
            var inits = new Dictionary<string, Tensor> { ["za"] = za, ["zb"] = zb };
            var inputs = new List<ValueInfo> { T("a", c.TA, aShape) };
            if (c.ConstB) inits["b"] = b; else inputs.Add(T("b", c.TB, bShape));
            var model = Model(inputs, [T("y", DataType.Int32, c.Batch, c.M, c.N)], [N("MatMulInteger", ["a", "b", "za", "zb"], ["y"])], inits, opset: 13);
            using var s = new InferenceSession(model, new SessionOptions { IntraOpThreads = 1 + trial % 2 });
            var feeds = new Dictionary<string, Tensor> { ["a"] = a };
            if (!c.ConstB) feeds["b"] = b;
            var got = s.Run(feeds)["y"].ReadOnlySpan<int>().ToArray();
            var expect = Naive(Ints(a), Ints(b), c.Batch, c.BatchedB, c.M, c.K, c.N, Ints(za), Ints(zb));
            for (int i = 0; i < expect.Length; i++)
                if (got[i] != expect[i]) Assert.Fail($"{c} [{i}]: {got[i]} != {expect[i]}");
        }
    }

    [Fact]
    public void QLinearMatMulMatchesNaiveRequantizedProduct()
    {
        var rng = new Random(22);
        for (int trial = 0; trial < 60; trial++)
        {
            var c = RandomCase(rng);
            var (a, b, za, zb, aShape, bShape) = Operands(rng, c);
            var ty = rng.Next(2) == 0 ? DataType.UInt8 : DataType.Int8;
            int m = c.M, n = c.N;
            var sa = Enumerable.Range(0, c.RowZa ? m : 1).Select(_ => (float)(0.005 + rng.NextDouble() * 0.02)).ToArray();
            var sb = Enumerable.Range(0, c.ColZb ? n : 1).Select(_ => (float)(0.005 + rng.NextDouble() * 0.02)).ToArray();
            float sy = (float)(0.05 + rng.NextDouble() * 2);
            var zy = RandomInts(rng, ty, [1]);
            var inits = new Dictionary<string, Tensor>
            {
                ["sa"] = Tensor.Create(sa, sa.Length), ["za"] = za, ["sb"] = Tensor.Create(sb, sb.Length), ["zb"] = zb,
                ["sy"] = Tensor.Create(new[] { sy }, 1), ["zy"] = zy,
            };
            var inputs = new List<ValueInfo> { T("a", c.TA, aShape) };
            if (c.ConstB) inits["b"] = b; else inputs.Add(T("b", c.TB, bShape));
            var model = Model(inputs, [T("y", ty, c.Batch, m, n)],
                [N("QLinearMatMul", ["a", "sa", "za", "b", "sb", "zb", "sy", "zy"], ["y"])], inits, opset: 21);
            using var s = new InferenceSession(model, new SessionOptions { IntraOpThreads = 1 + trial % 2 });
            var feeds = new Dictionary<string, Tensor> { ["a"] = a };
            if (!c.ConstB) feeds["b"] = b;
            var y = Ints(s.Run(feeds)["y"]);
            var acc = Naive(Ints(a), Ints(b), c.Batch, c.BatchedB, m, c.K, n, Ints(za), Ints(zb));
            int lo = ty == DataType.UInt8 ? 0 : -128, hi = ty == DataType.UInt8 ? 255 : 127, z = Ints(zy)[0];
            for (int bi = 0; bi < c.Batch; bi++)
                for (int i = 0; i < m; i++)
                    for (int j = 0; j < n; j++)
                    {
                        // The spec's float32 multiplier (a_scale * b_scale / y_scale), round half to even, saturate.
                        float mult = sa[sa.Length == 1 ? 0 : i] * sb[sb.Length == 1 ? 0 : j] / sy;
                        int at = (bi * m + i) * n + j;
                        double v = Math.Round(acc[at] * (double)mult, MidpointRounding.ToEven) + z;
                        int e = (int)Math.Clamp(v, lo, hi);
                        if (y[at] != e) Assert.Fail($"{c} y {ty} [{at}]: {y[at]} != {e} (acc {acc[at]})");
                    }
        }
    }

    [Fact]
    public void Int8GemmInt32OutputIsExactBeyondFloatPrecision()
    {
        // K = 1000 of 255 x -128: sums near 2^25, past what float output could hold exactly.
        var rng = new Random(3);
        int m = 9, k = 1000, n = 35;
        var a = new byte[m * ((k + 3) & ~3)];
        var b = new sbyte[k * n];
        for (int i = 0; i < b.Length; i++) b[i] = (sbyte)(rng.Next(4) == 0 ? rng.Next(-128, 128) : -128);
        var w = PackedInt8Weights.Pack(b, k, n);
        var rowSums = new int[m];
        for (int i = 0; i < m; i++)
            for (int p = 0; p < k; p++) { a[i * w.PaddedK + p] = (byte)(rng.Next(4) == 0 ? rng.Next(256) : 255); rowSums[i] += a[i * w.PaddedK + p]; }
        var zb = Enumerable.Range(0, n).Select(_ => rng.Next(-128, 128)).ToArray();
        int za = 3;
        var c = new int[m * n];
        Int8Gemm.Multiply(a, m, za, rowSums, w, zb, c, 2);
        for (int i = 0; i < m; i++)
            for (int j = 0; j < n; j++)
            {
                long s = 0;
                for (int p = 0; p < k; p++) s += (long)(a[i * w.PaddedK + p] - za) * (b[p * n + j] - zb[j]);
                Assert.Equal(s, c[i * n + j]);
            }
    }

    [Fact]
    public void MismatchedZeroPointIsRejected()
    {
        var model = Model([T("a", DataType.UInt8, 2, 3)], [T("y", DataType.Int32, 2, 4)], [N("MatMulInteger", ["a", "b", "za"], ["y"])],
            new Dictionary<string, Tensor> { ["b"] = Tensor.Create(new sbyte[12], 3, 4), ["za"] = Tensor.Create(new byte[5], 5) }, opset: 13);
        using var s = new InferenceSession(model);
        var e = Assert.ThrowsAny<Exception>(() => s.Run(new Dictionary<string, Tensor> { ["a"] = Tensor.Create(new byte[6], 2, 3) }));
        Assert.Contains("a_zero_point", e.Message);
    }
}
