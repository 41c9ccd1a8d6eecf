using NetOnnx.Runtime;
using Xunit;
using static NetOnnx.Tests.ModelWeightReleaseTests;

namespace NetOnnx.Tests;

/// <summary>Gemm with a constant B packs alpha*op(B) (and a constant row C as beta*C) once; results match a naive Gemm.</summary>
public class PackedGemmTests
{
    private const int M = 4, K = 7, N = 9;

    private static float[] Naive(float[] a, float[] b, float alpha, float beta, float[]? c, int[]? cShape)
    {
        var y = new float[M * N];
        for (int i = 0; i < M; i++)
            for (int j = 0; j < N; j++)
            {
                double s = 0;
                for (int p = 0; p < K; p++) s += (double)a[i * K + p] * b[p * N + j];
                double cv = c is null ? 0 : cShape!.Length == 2 && cShape[0] == M ? c[i * N + j] : c.Length == 1 ? c[0] : c[j];
                y[i * N + j] = (float)(alpha * s + beta * cv);
            }
        return y;
    }

    [Theory]
    [InlineData(false, 1f, 1f, "row")]
    [InlineData(true, 0.5f, 2f, "row")]
    [InlineData(true, 1.5f, 0.25f, "matrix")]
    [InlineData(false, 1f, 1f, "none")]
    [InlineData(false, 2f, 1f, "input")]
    public void PackedAndUnpackedGemmMatchNaive(bool transB, float alpha, float beta, string cKind)
    {
        var b = Values(K * N, 1);
        float[]? c = cKind switch { "row" => Values(N, 2), "matrix" => Values(M * N, 3), "input" => Values(N, 4), _ => null };
        int[]? cShape = cKind switch { "row" => [N], "matrix" => [M, N], "input" => [N], _ => null };
        var m = new Model();
        m.Opsets[""] = 13;
        var g = m.Graph;
        g.Inputs.Add(new ValueInfo("a", OnnxType.Tensor(DataType.Float, [Dim.Known(M), Dim.Known(K)])));
        if (cKind == "input") g.Inputs.Add(new ValueInfo("c", OnnxType.Tensor(DataType.Float, [Dim.Known(N)])));
        g.Outputs.Add(new ValueInfo("y", OnnxType.Tensor(DataType.Float)));
        g.Initializers["B"] = transB ? Transposed(b) : Tensor.Create((float[])b.Clone(), K, N);
        if (c is not null && cKind != "input") g.Initializers["C"] = Tensor.Create((float[])c.Clone(), cShape!);
        var node = new Node("Gemm", c is null ? ["a", "B"] : ["a", "B", cKind == "input" ? "c" : "C"], ["y"], "gemm");
        node.Attributes["transB"] = new NodeAttribute("transB", AttributeKind.Int) { Int = transB ? 1 : 0 };
        node.Attributes["alpha"] = new NodeAttribute("alpha", AttributeKind.Float) { Float = alpha };
        node.Attributes["beta"] = new NodeAttribute("beta", AttributeKind.Float) { Float = beta };
        g.Nodes.Add(node);
        using var s = new Session(m, new SessionOptions { IntraOpThreads = 1 });
        // B is packed (so released) when C is absent or a constant row: a full matrix or a run-time C takes the general path.
        Assert.Equal(cKind is "row" or "none", s.Plan.ReleasedConstants.Contains("B"));
        for (int run = 0; run < 3; run++)
        {
            var a = Values(M * K, 10 + run);
            var feed = new Dictionary<string, Tensor> { ["a"] = Tensor.Create(a, M, K) };
            if (cKind == "input") feed["c"] = Tensor.Create((float[])c!.Clone(), N);
            AssertClose(Naive(a, b, alpha, beta, c, cShape), s.Run(feed)["y"], 1e-4f);
        }
        var bad = new Dictionary<string, Tensor> { ["a"] = Tensor.Create(Values(M * (K + 1), 5), M, K + 1) };
        if (cKind == "input") bad["c"] = Tensor.Create((float[])c!.Clone(), N);
        Assert.Throws<InferenceException>(() => s.Run(bad));
    }

    /// <summary>The logical B [K, N] stored as [N, K] (what transB = 1 reads); the naive product still reads b [K, N].</summary>
    private static Tensor Transposed(float[] b)
    {
        var t = new float[N * K];
        for (int p = 0; p < K; p++) for (int j = 0; j < N; j++) t[j * K + p] = b[p * N + j];
        return Tensor.Create(t, N, K);
    }
}
