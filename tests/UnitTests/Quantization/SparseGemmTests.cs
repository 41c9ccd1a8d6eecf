using FsCheck;
using FsCheck.Fluent;
using NetOnnx.Kernels.Sparse;
using NetOnnx.Runtime;
using Xunit;
using static NetOnnx.Tests.IrBuilder;

namespace NetOnnx.Tests;

public class SparseGemmTests
{
    [FsCheck.Xunit.Property(MaxTest = 60)]
    public Property MatchesADenseTripleLoop(int seed)
    {
        var rng = new Random(seed);
        int m = rng.Next(1, 70), k = rng.Next(1, 40), n = rng.Next(1, 30);
        double sparsity = rng.NextDouble();
        var a = Enumerable.Range(0, m * k).Select(_ => (float)(rng.NextDouble() * 2 - 1)).ToArray();
        var b = Enumerable.Range(0, k * n).Select(_ => rng.NextDouble() < sparsity ? 0f : (float)(rng.NextDouble() * 2 - 1)).ToArray();
        var bias = rng.Next(2) == 0 ? [] : Enumerable.Range(0, n).Select(j => j * 0.1f).ToArray();
        var w = SparseWeights.FromDense(b, k, n);
        var c = new float[m * n];
        SparseGemm.Multiply(a, m, w, bias, c, rng.Next(1, 4));
        bool ok = w.NonZeros == b.Count(v => v != 0);
        for (int i = 0; i < m && ok; i++)
            for (int j = 0; j < n && ok; j++)
            {
                double s = bias.Length > 0 ? bias[j] : 0;
                for (int p = 0; p < k; p++) s += (double)a[i * k + p] * b[p * n + j];
                ok = Math.Abs(s - c[i * n + j]) <= 1e-4 * (1 + Math.Abs(s));
            }
        return ok.Label($"m={m} k={k} n={n} sparsity={sparsity:F2}");
    }

    [Fact]
    public void PrunedMatMulRunsOnTheSparseKernelWithTheSameResult()
    {
        var rng = new Random(6);
        var w = RandomFloats(rng, 48, 20);
        var ws = w.Span<float>();
        for (int i = 0; i < ws.Length; i++) if (i % 10 != 3) ws[i] = 0; // 90% zeros
        Model Build() => Model([F("x", 1, 7, 48)], [F("y", 1, 7, 20)],
            [N("MatMul", ["x", "w"], ["m"]), N("Add", ["m", "b"], ["y"])],
            new Dictionary<string, Tensor> { ["w"] = w, ["b"] = RandomFloats(new Random(1), 20) }, opset: 13);
        var feeds = new Dictionary<string, Tensor> { ["x"] = RandomFloats(rng, 1, 7, 48) };
        var optimized = AssertSameOutputs(Build, feeds);
        Assert.Contains(optimized.Graph.Nodes, n => n.OpType == "SparseMatMul");
        Assert.DoesNotContain(optimized.Graph.Nodes, n => n.OpType is "MatMul" or "Add");
    }

    [Fact]
    public void DenseWeightsKeepTheDenseKernel()
    {
        Model Build() => Model([F("x", 3, 16)], [F("y", 3, 8)], [N("MatMul", ["x", "w"], ["y"])],
            new Dictionary<string, Tensor> { ["w"] = RandomFloats(new Random(2), 16, 8) }, opset: 13);
        var optimized = AssertSameOutputs(Build, new Dictionary<string, Tensor> { ["x"] = RandomFloats(new Random(3), 3, 16) });
        Assert.DoesNotContain(optimized.Graph.Nodes, n => n.OpType == "SparseMatMul");
    }
}
