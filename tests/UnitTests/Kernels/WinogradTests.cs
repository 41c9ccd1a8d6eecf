using NetOnnx.Kernels.ConvPool;
using NetOnnx.Kernels.Elementwise;
using Xunit;

namespace NetOnnx.Tests;

/// <summary>
/// Winograd F(4x4,3x3) against a naive direct 3x3 convolution in double precision, over seeded random shapes:
/// odd sizes (tiles clipped at the right and bottom), asymmetric and large pads, more than 16 tiles per row,
/// batch > 1, bias, residual and activations, one and two threads.
/// </summary>
public class WinogradTests(ITestOutputHelper output)
{
    /// <summary>y[n, m, oh, ow] = sum_{c, kh, kw} w[m, c, kh, kw] * x[n, c, oh + kh - padT, ow + kw - padL], zero outside.</summary>
    private static double[] Naive(float[] x, float[] w, int n, int c, int h, int wd, int m, int padT, int padL, int oh, int ow)
    {
        var y = new double[n * m * oh * ow];
        for (int img = 0; img < n; img++)
            for (int o = 0; o < m; o++)
                for (int i = 0; i < oh; i++)
                    for (int j = 0; j < ow; j++)
                    {
                        double s = 0;
                        for (int ci = 0; ci < c; ci++)
                            for (int a = 0; a < 3; a++)
                                for (int b = 0; b < 3; b++)
                                {
                                    int yy = i + a - padT, xx = j + b - padL;
                                    if (yy < 0 || yy >= h || xx < 0 || xx >= wd) continue;
                                    s += (double)w[((o * c + ci) * 3 + a) * 3 + b] * x[((img * c + ci) * h + yy) * wd + xx];
                                }
                        y[((img * m + o) * oh + i) * ow + j] = s;
                    }
        return y;
    }

    private static readonly FusedActivation[] Activations =
    [
        FusedActivation.None, new(ActivationKind.Relu), new(ActivationKind.Clip, -0.3f, 0.4f),
        new(ActivationKind.Sigmoid), new(ActivationKind.HardSwish),
    ];

    [Fact]
    public void MatchesNaiveConvolutionOnRandomShapes()
    {
        if (!System.Runtime.Intrinsics.X86.Avx512F.IsSupported) return; // the kernel is AVX-512 only; Conv falls back elsewhere
        var rng = new Random(11);
        double worstRel = 0;
        for (int trial = 0; trial < 60; trial++)
        {
            int n = rng.Next(1, 3), c = rng.Next(1, 20), m = rng.Next(1, 20);
            int h = rng.Next(1, 30), wd = trial % 5 == 0 ? rng.Next(60, 140) : rng.Next(1, 40);
            int pt = rng.Next(0, 4), pb = rng.Next(0, 4), pl = rng.Next(0, 4), pr = rng.Next(0, 4);
            int oh = h + pt + pb - 2, ow = wd + pl + pr - 2;
            if (oh < 1 || ow < 1) continue;
            var g = ConvGeometry.Create([h, wd], [3, 3], null, null, [pt, pl, pb, pr], "NOTSET", false);
            Assert.True(Winograd.Fits(g));
            var x = ConvGemmKernelTests.Rand(rng, n * c * h * wd);
            var w = ConvGemmKernelTests.Rand(rng, m * c * 9);
            var bias = rng.Next(2) == 0 ? ConvGemmKernelTests.Rand(rng, m) : null;
            var res = rng.Next(2) == 0 ? ConvGemmKernelTests.Rand(rng, n * m * oh * ow) : null;
            var act = Activations[rng.Next(Activations.Length)];
            var conv = Naive(x, w, n, c, h, wd, m, pt, pl, oh, ow);
            foreach (var layout in new[] { WinogradLayout.TilesAsColumns, WinogradLayout.TilesAsRows })
            foreach (int threads in new[] { 1, 2 })
            {
                var f = Winograd.TransformFilter(w, m, c, layout);
                var y = new float[conv.Length + 7]; // pooled buffers are longer than the output
                Array.Fill(y, float.NaN);
                Winograd.Run(x, f, bias, y, n, g, res, act, threads);
                for (int i = 0; i < conv.Length; i++)
                {
                    int o = i / (oh * ow) % m;
                    double pre = conv[i] + (bias?[o] ?? 0) + (res?[i] ?? 0);
                    double want = ConvGemmKernelTests.Act(act, pre);
                    // Error scale: the sum of |terms| of the dot product, so the bound does not depend on cancellation.
                    double tol = 2e-5 * Math.Sqrt(c * 9) * (1 + Math.Abs(pre));
                    if (!(Math.Abs(y[i] - want) <= tol))
                        Assert.Fail($"n={n} c={c} m={m} {h}x{wd} pads {pt},{pl},{pb},{pr} {act.Kind} {layout} t={threads} [{i}]: got {y[i]}, expected {want}");
                    worstRel = Math.Max(worstRel, Math.Abs(y[i] - want) / (1 + Math.Abs(pre)));
                }
                Assert.All(y[conv.Length..], v => Assert.True(float.IsNaN(v)));
            }
        }
        output.WriteLine($"worst |winograd - naive| / (1 + |naive|): {worstRel:E2}");
    }
}
