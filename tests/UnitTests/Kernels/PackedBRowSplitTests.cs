using NetOnnx.Kernels.Elementwise;
using NetOnnx.Kernels.Gemm;
using Xunit;

namespace NetOnnx.Tests;

/// <summary>
/// The row-block threading of products against a packed B, against a naive double-precision loop: row counts
/// that do and do not divide into blocks, strided A and C (whose gaps must stay untouched), bias and activation
/// per block, 2 and 3 threads; and which shapes it leaves to the SGEMM driver.
/// </summary>
public class PackedBRowSplitTests
{
    [Fact]
    public void RowBlocksMatchNaive()
    {
        var rng = new Random(31);
        (int M, int N, int K)[] shapes = [(64, 64, 512), (128, 256, 256), (130, 70, 300), (97, 1024, 40), (200, 33, 513)];
        var acts = new[] { FusedActivation.None, new FusedActivation(ActivationKind.Relu), new FusedActivation(ActivationKind.Gelu) };
        foreach (var (m, n, k) in shapes)
            foreach (int threads in new[] { 2, 3 })
            {
                Assert.True(PackedBRowSplit.SplitsRows(m, n, k, threads), $"{m}x{n}x{k} t={threads} should split by rows");
                var act = acts[rng.Next(acts.Length)];
                int lda = k + rng.Next(3), ldc = n + rng.Next(3);
                var a = ConvGemmKernelTests.Rand(rng, (m - 1) * lda + k);
                var b = ConvGemmKernelTests.Rand(rng, k * n);
                var bias = rng.Next(2) == 0 ? ConvGemmKernelTests.Rand(rng, n) : [];
                var c = new float[(m - 1) * ldc + n];
                Array.Fill(c, 7f); // gaps between rows keep this value
                PackedBRowSplit.Multiply(m, a, lda, Sgemm.PackB(false, k, n, b, n), c, ldc, bias, act, threads);
                for (int i = 0; i < m; i++)
                {
                    for (int j = 0; j < n; j++)
                    {
                        double s = bias.Length > 0 ? bias[j] : 0;
                        for (int p = 0; p < k; p++) s += (double)a[i * lda + p] * b[p * n + j];
                        double e = act.Kind == ActivationKind.Gelu ? GeluEpilogueTests.Gelu(s, false) : act.Kind == ActivationKind.Relu ? Math.Max(s, 0) : s;
                        float got = c[i * ldc + j];
                        if (!(Math.Abs(got - e) <= 2e-4 * (1 + Math.Abs(e))))
                            Assert.Fail($"{m}x{n}x{k} t={threads} {act.Kind} [{i},{j}]: got {got}, expected {e}");
                    }
                    for (int j = n; j < ldc && i < m - 1; j++) Assert.Equal(7f, c[i * ldc + j]);
                }
            }
    }

    [Fact]
    public void SmallWideOrSingleThreadProductsGoToTheDriver()
    {
        Assert.False(PackedBRowSplit.SplitsRows(128, 256, 256, 1));
        Assert.False(PackedBRowSplit.SplitsRows(63, 256, 256, 2)); // fewer than two blocks of 32 rows
        Assert.False(PackedBRowSplit.SplitsRows(128, 4096, 256, 2)); // lm_head: columns are cut instead
        Assert.False(PackedBRowSplit.SplitsRows(64, 8, 8, 2)); // too little work to hand over
    }

    [Fact]
    public void OperandsTooShortAreReported()
    {
        const int M = 128, K = 64, N = 256;
        var packed = Sgemm.PackB(false, K, N, new float[K * N], N);
        Assert.True(PackedBRowSplit.SplitsRows(M, N, K, 2));
        var ex = Assert.Throws<ArgumentException>(() => PackedBRowSplit.Multiply(M, new float[M * K - 1], K, packed, new float[M * N], N, default, FusedActivation.None, 2));
        Assert.Contains("A holds", ex.Message);
        ex = Assert.Throws<ArgumentException>(() => PackedBRowSplit.Multiply(M, new float[M * K], K, packed, new float[M * N - 1], N, default, FusedActivation.None, 2));
        Assert.Contains("C holds", ex.Message);
        ex = Assert.Throws<ArgumentException>(() => PackedBRowSplit.Multiply(M, new float[M * K], K, packed, new float[M * N], N, new float[N - 1], FusedActivation.None, 2));
        Assert.Contains("bias", ex.Message);
    }
}
