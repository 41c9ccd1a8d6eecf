using NetOnnx.Kernels.Elementwise;
using NetOnnx.Kernels.Gemm;
using Xunit;

namespace NetOnnx.Tests;

/// <summary>
/// The ways SGEMM packs A, against a naive double-precision loop: the 8x8 transposing strip packer (K not a
/// multiple of 8, padded lda, rows past the last full strip), transposed A, and A packed once for the whole
/// product when several column blocks (N above the 512-column block) or column chunks of a threaded product
/// read it.
/// </summary>
public class SgemmPackingTests
{
    [Theory]
    [InlineData(128, 1030, 256, false, 1)]
    [InlineData(128, 1030, 256, true, 1)]
    [InlineData(37, 700, 301, false, 1)]
    [InlineData(37, 700, 301, true, 2)]
    [InlineData(128, 256, 1024, false, 2)]
    [InlineData(130, 256, 1027, true, 2)]
    [InlineData(9, 1100, 15, false, 2)]
    [InlineData(600, 90, 77, false, 2)]
    [InlineData(576, 49, 96, false, 2)] // row chunks: several per thread (a 1x1 conv of mobilenet_v3_small)
    [InlineData(200, 30, 700, true, 2)] // row chunks: three, the last one short
    public void UnpackedAMatchesNaive(int m, int n, int k, bool transA, int threads)
    {
        var rng = new Random(m * 7 + n * 3 + k + (transA ? 1 : 0));
        int lda = (transA ? m : k) + 3;
        var a = ConvGemmKernelTests.Rand(rng, (transA ? k : m) * lda);
        var b = ConvGemmKernelTests.Rand(rng, k * n);
        var c0 = ConvGemmKernelTests.Rand(rng, m * n);
        var rowBias = ConvGemmKernelTests.Rand(rng, m);
        var got = (float[])c0.Clone();
        Sgemm.Multiply(transA, false, m, n, k, 0.5f, a, lda, b, n, 0.25f, got, n, threads);
        var gotEpi = new float[m * n];
        Array.Fill(gotEpi, float.NaN); // beta 0: C's old contents must not leak in
        var relu = new FusedActivation(ActivationKind.Relu);
        Sgemm.Multiply(transA, false, m, n, k, 1f, a, lda, b, n, 0f, gotEpi, n, rowBias, default, 0, relu, threads);
        for (int i = 0; i < m; i++)
            for (int j = 0; j < n; j++)
            {
                double s = 0;
                for (int p = 0; p < k; p++) s += (double)(transA ? a[p * lda + i] : a[i * lda + p]) * b[p * n + j];
                Close(0.5 * s + 0.25 * c0[i * n + j], got[i * n + j], $"m={m} n={n} k={k} tA={transA} t={threads} [{i},{j}]");
                Close(Math.Max(0, s + rowBias[i]), gotEpi[i * n + j], $"epilogue m={m} n={n} k={k} tA={transA} t={threads} [{i},{j}]");
            }
    }

    /// <summary>Transformer projections: A rows times a pre-packed B with a column bias, 1 and 2 threads.</summary>
    [Theory]
    [InlineData(128, 256, 1024)]
    [InlineData(128, 1024, 256)]
    [InlineData(128, 256, 4096)]
    [InlineData(100, 263, 520)]
    public void PackedBAtTransformerShapesMatchesNaive(int m, int k, int n)
    {
        var rng = new Random(m + k + n);
        var a = ConvGemmKernelTests.Rand(rng, m * k);
        var b = ConvGemmKernelTests.Rand(rng, k * n);
        var bias = ConvGemmKernelTests.Rand(rng, n);
        var packed = Sgemm.PackB(false, k, n, b, n);
        var expected = new double[m * n];
        for (int i = 0; i < m; i++)
            for (int p = 0; p < k; p++)
            {
                double x = a[i * k + p];
                for (int j = 0; j < n; j++) expected[i * n + j] += x * b[p * n + j];
            }
        foreach (int threads in new[] { 1, 2 })
        {
            var got = new float[m * n];
            Array.Fill(got, float.NaN);
            Sgemm.Multiply(m, a, k, packed, got, n, bias, FusedActivation.None, threads);
            for (int i = 0; i < m; i++)
                for (int j = 0; j < n; j++)
                    Close(expected[i * n + j] + bias[j], got[i * n + j], $"m={m} k={k} n={n} t={threads} [{i},{j}]");
        }
    }

    private static void Close(double expected, float got, string what)
    {
        if (!(Math.Abs(got - expected) <= 2e-4 * (1 + Math.Abs(expected))))
            Assert.Fail($"{what}: got {got}, expected {expected}");
    }
}
