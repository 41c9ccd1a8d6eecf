using NetOnnx.Runtime;
using NetOnnx.Kernels.ConvPool;
using NetOnnx.Kernels.Gemm;
using Xunit;

namespace NetOnnx.Tests;

public class LinalgKernelTests
{
    private static float[] Random(Random r, int n)
    {
        var a = new float[n];
        for (int i = 0; i < n; i++) a[i] = (float)r.NextDouble() - 0.5f;
        return a;
    }

    [Theory]
    [InlineData(1, 1, 1, false, false)]
    [InlineData(7, 33, 5, false, true)]
    [InlineData(13, 70, 300, true, false)]
    [InlineData(100, 65, 517, true, true)]
    [InlineData(3, 9, 4, false, false)]
    [InlineData(64, 300, 40, false, false)]
    [InlineData(257, 129, 33, false, true)]
    public void SgemmMatchesReference(int m, int n, int k, bool ta, bool tb)
    {
        var r = new Random(m * 31 + n * 7 + k);
        var a = Random(r, m * k); var b = Random(r, k * n); var c = Random(r, m * n);
        int lda = ta ? m : k, ldb = tb ? k : n;
        var expected = new double[m * n];
        for (int i = 0; i < m; i++)
            for (int j = 0; j < n; j++)
            {
                double s = 0;
                for (int p = 0; p < k; p++) s += (ta ? a[p * lda + i] : a[i * lda + p]) * (double)(tb ? b[j * ldb + p] : b[p * ldb + j]);
                expected[i * n + j] = 0.5 * s + 0.25 * c[i * n + j];
            }
        foreach (int threads in new[] { 1, 2 })
        {
            var got = (float[])c.Clone();
            Sgemm.Multiply(ta, tb, m, n, k, 0.5f, a, lda, b, ldb, 0.25f, got, n, threads);
            for (int i = 0; i < got.Length; i++) Assert.True(Math.Abs(got[i] - expected[i]) < 1e-4, $"element {i}: {got[i]} vs {expected[i]}");
        }
        // Packed A, and beta 0 must ignore garbage (NaN) already in C.
        var packed = Sgemm.Pack(ta, m, k, a, lda);
        var out2 = new float[m * n];
        Array.Fill(out2, float.NaN);
        Sgemm.Multiply(packed, tb, n, 0.5f, b, ldb, 0f, out2, n, 2);
        for (int i = 0; i < out2.Length; i++)
            Assert.True(Math.Abs(out2[i] - (expected[i] - 0.25 * c[i])) < 1e-4, $"packed element {i}");
    }

    [Fact]
    public void PoolGeometryFollowsOnnxRules()
    {
        // SAME_UPPER puts the odd padding at the end; ceil mode drops a window starting in the end padding.
        var g = ConvGeometry.Create([5, 5], [2, 2], [2, 2], null, null, "SAME_UPPER", false);
        Assert.Equal([3, 3], g.OutShape);
        Assert.Equal(0, g.PadBegin[2]);
        Assert.Equal(1, g.PadEnd[2]);
        var c = ConvGeometry.Create([4], [3], [2], null, [1, 1], "NOTSET", true);
        Assert.Equal([3], c.OutShape);
        var v = ConvGeometry.Create([7, 7], [3, 3], [2, 2], [2, 2], null, "VALID", false);
        Assert.Equal([2, 2], v.OutShape);
    }
}

public class EinsumTests
{
    [Theory]
    [InlineData("bhqd,bhkd->bhqk", new[] { 2, 3, 4, 5 }, new[] { 2, 3, 6, 5 })]
    [InlineData("ij,jk", new[] { 3, 4 }, new[] { 4, 5 })]
    [InlineData("i,j->ij", new[] { 3 }, new[] { 4 })]
    [InlineData("bij,jk->bki", new[] { 2, 3, 4 }, new[] { 4, 5 })]
    [InlineData("...ij,...jk->...ik", new[] { 2, 3, 4 }, new[] { 2, 4, 5 })]
    [InlineData("ij,ij->", new[] { 3, 4 }, new[] { 3, 4 })]
    public void FloatContractionMatchesGeneralWalk(string equation, int[] sa, int[] sb)
    {
        var r = new Random(equation.Length);
        Tensor Make<T>(int[] shape, Func<double, T> conv)
        {
            int n = NetOnnx.Kernels.ShapeMath.Size(shape);
            var data = new T[n];
            var rr = new Random(n + shape.Length);
            for (int i = 0; i < n; i++) data[i] = conv(rr.NextDouble() - 0.5);
            return Tensor.Create(data, shape);
        }
        var node = new Node("Einsum", ["a", "b"], ["y"]);
        node.Attributes["equation"] = NodeAttribute.Of("equation", equation);
        var opsets = new Dictionary<string, long> { [""] = 12 };
        var yf = (Tensor)NodeEvaluator.Evaluate(node, [Make(sa, v => (float)v), Make(sb, v => (float)v)], opsets)[0];
        var yd = (Tensor)NodeEvaluator.Evaluate(node, [Make(sa, v => (double)(float)v), Make(sb, v => (double)(float)v)], opsets)[0];
        Assert.Equal(yd.Shape, yf.Shape);
        for (int i = 0; i < yf.Length; i++) Assert.True(Math.Abs(yf.Span<float>()[i] - yd.Span<double>()[i]) < 1e-5, $"element {i}");
        _ = r;
    }
}
