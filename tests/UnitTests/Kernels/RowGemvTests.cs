using NetOnnx.Kernels.Elementwise;
using NetOnnx.Kernels.SmallShapes;
using Xunit;

namespace NetOnnx.Tests;

/// <summary>RowGemv (batch-1 a * B^T) against a naive double loop: odd N and K, row pitch, alpha/beta, activation, threads.</summary>
public class RowGemvTests
{
    [Fact]
    public void MatchesNaive()
    {
        var rng = new Random(3);
        int[] ns = [1, 3, 7, 8, 9, 17, 100, 1000], ks = [1, 5, 15, 16, 17, 33, 130, 1024];
        for (int trial = 0; trial < 60; trial++)
        {
            int n = ns[rng.Next(ns.Length)], k = ks[rng.Next(ks.Length)], ldb = k + rng.Next(0, 3);
            float alpha = rng.Next(2) == 0 ? 1f : 0.7f, beta = rng.Next(3) switch { 0 => 0f, 1 => 1f, _ => -0.5f };
            var act = rng.Next(2) == 0 ? FusedActivation.None : new FusedActivation(ActivationKind.Relu);
            int threads = rng.Next(1, 3);
            var a = new float[k]; var b = new float[(n - 1) * ldb + k]; var y = new float[n];
            for (int i = 0; i < a.Length; i++) a[i] = (float)rng.NextDouble() * 2 - 1;
            for (int i = 0; i < b.Length; i++) b[i] = (float)rng.NextDouble() * 2 - 1;
            for (int i = 0; i < y.Length; i++) y[i] = (float)rng.NextDouble() * 2 - 1;
            var c = (float[])y.Clone();
            RowGemv.Run(a, b, ldb, n, k, alpha, beta, y, act, threads);
            for (int j = 0; j < n; j++)
            {
                double d = 0;
                for (int p = 0; p < k; p++) d += (double)a[p] * b[j * ldb + p];
                double e = alpha * d + (beta == 0 ? 0 : beta * c[j]);
                if (act.Kind == ActivationKind.Relu) e = Math.Max(e, 0);
                Assert.True(Math.Abs(y[j] - e) <= 1e-4 * (1 + Math.Abs(e)), $"n {n} k {k} ldb {ldb} alpha {alpha} beta {beta} threads {threads}: y[{j}] = {y[j]}, expected {e}");
            }
        }
    }

    [Fact]
    public void RejectsShortOperands()
    {
        var e = Assert.Throws<ArgumentException>(() => RowGemv.Run(new float[4], new float[10], 4, 3, 4, 1f, 0f, new float[3], FusedActivation.None, 1));
        Assert.Contains("too short", e.Message);
    }
}
