using NetOnnx.Kernels.Elementwise;
using NetOnnx.Kernels.Gemm;
using Xunit;

namespace NetOnnx.Tests;

/// <summary>
/// SGEMM with a right operand packed once (constant MatMul weights) and a per-column bias in the epilogue,
/// against a naive double-precision loop over odd shapes: sizes off the 8x32 tile, K across the 256 block,
/// K = 0, a single row, and 1 and 2 threads (the two-thread split cuts N or M into chunks).
/// </summary>
public class PackedBGemmTests
{
    private static float[] Rand(Random r, int n) => ConvGemmKernelTests.Rand(r, n);

    private static double Act(FusedActivation f, double x) => ConvGemmKernelTests.Act(f, x);

    private static readonly FusedActivation[] Activations =
        [FusedActivation.None, new(ActivationKind.Relu), new(ActivationKind.Clip, -0.3f, 0.4f), new(ActivationKind.Sigmoid)];

    /// <summary>A single row (batch-1 classifier) takes the strip-streaming GEMV: every count of strips left over
    /// after groups of four, K within, at and across the 256-row blocks, bias and activation, 1 and 2 threads.</summary>
    [Fact]
    public void SingleRowAgainstPackedBMatchesNaive()
    {
        var rng = new Random(23);
        foreach (int n in new[] { 1, 17, 32, 33, 64, 96, 100, 128, 129, 160, 200, 1000 })
            foreach (int k in new[] { 1, 2, 255, 256, 257, 600, 1024 })
            {
                var a = Rand(rng, k);
                var b = Rand(rng, k * n);
                var bias = Rand(rng, n);
                var act = Activations[rng.Next(Activations.Length)];
                var packed = Sgemm.PackB(false, k, n, b, n);
                foreach (int threads in new[] { 1, 2 })
                {
                    var got = new float[n + 3];
                    Array.Fill(got, float.NaN);
                    Sgemm.Multiply(1, a, k, packed, got.AsSpan(0, n), n, bias, act, threads);
                    for (int j = 0; j < n; j++)
                    {
                        double e = bias[j];
                        for (int p = 0; p < k; p++) e += (double)a[p] * b[p * n + j];
                        e = Act(act, e);
                        if (!(Math.Abs(got[j] - e) <= 2e-4 * (1 + Math.Abs(e))))
                            Assert.Fail($"n={n} k={k} {act.Kind} t={threads} [{j}]: got {got[j]}, expected {e}");
                    }
                    for (int j = n; j < n + 3; j++) Assert.True(float.IsNaN(got[j]), $"n={n} k={k}: wrote past the row at {j}");
                }
            }
    }

    [Fact]
    public void PackedBWithColumnBiasMatchesNaive()
    {
        var rng = new Random(11);
        int[] ms = [1, 2, 3, 7, 8, 9, 33, 128, 130], ns = [1, 5, 31, 32, 33, 70, 600, 1030], ks = [0, 1, 19, 256, 300, 513];
        for (int trial = 0; trial < 60; trial++)
        {
            int m = ms[rng.Next(ms.Length)], n = ns[rng.Next(ns.Length)], k = ks[rng.Next(ks.Length)];
            var act = Activations[rng.Next(Activations.Length)];
            bool withBias = rng.Next(3) != 0;
            int lda = k + rng.Next(3);
            var a = Rand(rng, Math.Max(0, (m - 1) * lda + k));
            var b = Rand(rng, k * n);
            var bias = withBias ? Rand(rng, n) : [];
            var expected = new double[m * n];
            for (int i = 0; i < m; i++)
                for (int j = 0; j < n; j++)
                {
                    double s = withBias ? bias[j] : 0;
                    for (int p = 0; p < k; p++) s += (double)a[i * lda + p] * b[p * n + j];
                    expected[i * n + j] = Act(act, s);
                }
            var packed = Sgemm.PackB(false, k, n, b, n);
            Assert.Equal((k, n), (packed.K, packed.N));
            foreach (int threads in new[] { 1, 2 })
            {
                var got = new float[m * n];
                Array.Fill(got, float.NaN); // C is write-only: its old contents must not leak in
                Sgemm.Multiply(m, a, lda, packed, got, n, bias, act, threads);
                for (int i = 0; i < expected.Length; i++)
                {
                    double e = expected[i];
                    if (!(Math.Abs(got[i] - e) <= 2e-4 * (1 + Math.Abs(e))))
                        Assert.Fail($"m={m} n={n} k={k} lda={lda} {act.Kind} bias={withBias} t={threads} [{i}]: got {got[i]}, expected {e}");
                }
            }
        }
    }

    [Fact]
    public void PackedBFromTransposedSourceMatchesUntransposed()
    {
        var rng = new Random(12);
        int m = 9, n = 45, k = 270;
        var a = Rand(rng, m * k);
        var b = Rand(rng, k * n);
        var bT = new float[n * k];
        for (int p = 0; p < k; p++) for (int j = 0; j < n; j++) bT[j * k + p] = b[p * n + j];
        var y1 = new float[m * n]; var y2 = new float[m * n];
        Sgemm.Multiply(m, a, k, Sgemm.PackB(false, k, n, b, n), y1, n, default, FusedActivation.None);
        Sgemm.Multiply(m, a, k, Sgemm.PackB(true, k, n, bT, k), y2, n, default, FusedActivation.None);
        Assert.Equal(y1, y2); // same packed panels, same arithmetic order
    }

    [Fact]
    public void BadOperandsAreRejected()
    {
        var packed = Sgemm.PackB(false, 4, 5, new float[20], 5);
        var ex = Assert.Throws<ArgumentException>(() => Sgemm.Multiply(3, new float[12], 4, packed, new float[15], 5, new float[4], FusedActivation.None));
        Assert.Contains("column bias", ex.Message);
        ex = Assert.Throws<ArgumentException>(() => Sgemm.Multiply(3, new float[11], 4, packed, new float[15], 5, default, FusedActivation.None));
        Assert.Contains("A holds", ex.Message);
        ex = Assert.Throws<ArgumentException>(() => Sgemm.PackB(false, 4, 5, new float[19], 5));
        Assert.Contains("B holds", ex.Message);
    }
}
