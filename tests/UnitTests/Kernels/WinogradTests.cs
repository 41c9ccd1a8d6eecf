using NetOnnx.Kernels.ConvPool;
using NetOnnx.Kernels.Elementwise;
using NetOnnx.Runtime;
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
            foreach (var layout in new[] { WinogradLayout.TilesAsColumns, WinogradLayout.TilesAsRows, WinogradLayout.SmallTilesAsRows })
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

    [Theory]
    [InlineData(WinogradLayout.TilesAsColumns)]
    [InlineData(WinogradLayout.TilesAsRows)]
    [InlineData(WinogradLayout.SmallTilesAsRows)]
    public void LargeImagesSplitIntoBlocksAcrossThreads(WinogradLayout layout)
    {
        if (!System.Runtime.Intrinsics.X86.Avx512F.IsSupported) return;
        // 23 x 23 tiles of 16 + 32 channels exceed one block's budget: blocks of tile rows run on both threads.
        var rng = new Random(5);
        int n = 2, c = 16, m = 32, h = 90, wd = 91;
        var g = ConvGeometry.Create([h, wd], [3, 3], null, null, [1, 1, 1, 1], "NOTSET", false);
        var x = ConvGemmKernelTests.Rand(rng, n * c * h * wd);
        var w = ConvGemmKernelTests.Rand(rng, m * c * 9);
        var bias = ConvGemmKernelTests.Rand(rng, m);
        var conv = Naive(x, w, n, c, h, wd, m, 1, 1, h, wd);
        var f = Winograd.TransformFilter(w, m, c, layout);
        var y = new float[conv.Length];
        Winograd.Run(x, f, bias, y, n, g, null, new FusedActivation(ActivationKind.Relu), threads: 2);
        for (int i = 0; i < conv.Length; i++)
        {
            double want = Math.Max(0, conv[i] + bias[i / (h * wd) % m]);
            Assert.True(Math.Abs(y[i] - want) <= 2e-5 * Math.Sqrt(c * 9) * (1 + Math.Abs(want)), $"[{i}]: got {y[i]}, expected {want}");
        }
    }

    [Theory]
    [InlineData(1, 64, 56, 56, 64, 2)]   // resnet18 layer1: 14 tile rows in two whole blocks
    [InlineData(1, 96, 77, 77, 24, 2)]   // ppocr neck: five budget blocks become five more even ones
    [InlineData(2, 64, 56, 56, 64, 3)]   // three threads, batch 2
    [InlineData(2, 16, 27, 30, 32, 2)]   // batch 2, tiles clipped at the right and bottom
    public void WholeBlocksPerThreadMatchNaiveConvolution(int n, int c, int h, int wd, int m, int threads)
    {
        if (!System.Runtime.Intrinsics.X86.Avx512F.IsSupported) return;
        var g = ConvGeometry.Create([h, wd], [3, 3], null, null, [1, 1, 1, 1], "NOTSET", false);
        int rows = Winograd.WholeBlockRows(g, c, m, WinogradLayout.TilesAsColumns, n, threads);
        // The shapes are chosen so that the split applies: blocks are at least one per thread, fewer than the image's tile rows.
        int tilesH = (h + 3) / 4;
        Assert.InRange(rows, 1, tilesH);
        Assert.True((long)n * ((tilesH + rows - 1) / rows) >= threads, $"{rows} rows per block give fewer blocks than threads");
        Assert.Equal(0, Winograd.WholeBlockRows(g, c, m, WinogradLayout.TilesAsColumns, n, 1));
        Assert.Equal(0, Winograd.WholeBlockRows(g, c, m, WinogradLayout.TilesAsRows, n, threads));
        var rng = new Random(h * 31 + c);
        var x = ConvGemmKernelTests.Rand(rng, n * c * h * wd);
        var w = ConvGemmKernelTests.Rand(rng, m * c * 9);
        var bias = ConvGemmKernelTests.Rand(rng, m);
        var res = ConvGemmKernelTests.Rand(rng, n * m * h * wd);
        var conv = Naive(x, w, n, c, h, wd, m, 1, 1, h, wd);
        var f = Winograd.TransformFilter(w, m, c, WinogradLayout.TilesAsColumns);
        var y = new float[conv.Length];
        Array.Fill(y, float.NaN);
        Winograd.Run(x, f, bias, y, n, g, res, new FusedActivation(ActivationKind.Relu), threads);
        for (int i = 0; i < conv.Length; i++)
        {
            double pre = conv[i] + bias[i / (h * wd) % m] + res[i];
            double want = Math.Max(0, pre);
            Assert.True(Math.Abs(y[i] - want) <= 2e-5 * Math.Sqrt(c * 9) * (1 + Math.Abs(pre)), $"[{i}] (rows {rows}): got {y[i]}, expected {want}");
        }
    }

    [Fact]
    public void RejectsBadOperands()
    {
        Assert.Contains("needs", Assert.Throws<ArgumentException>(() => Winograd.TransformFilter(new float[17], 2, 1)).Message);
        Assert.Throws<ArgumentException>(() => Winograd.TransformFilter(new float[9], 0, 1));
        if (!System.Runtime.Intrinsics.X86.Avx512F.IsSupported) return;
        var f = Winograd.TransformFilter(new float[2 * 3 * 9], 2, 3);
        var strided = ConvGeometry.Create([8, 8], [3, 3], [2, 2], null, null, "NOTSET", false);
        Assert.False(Winograd.Fits(strided));
        Assert.Throws<ArgumentException>(() => Winograd.Run(new float[3 * 64], f, null, new float[2 * 9], 1, strided, null, FusedActivation.None, 1));
        var g = ConvGeometry.Create([8, 8], [3, 3], null, null, null, "NOTSET", false);
        Assert.Contains("X holds", Assert.Throws<ArgumentException>(() => Winograd.Run(new float[3 * 63], f, null, new float[2 * 36], 1, g, null, FusedActivation.None, 1)).Message);
        Assert.Contains("Y holds", Assert.Throws<ArgumentException>(() => Winograd.Run(new float[3 * 64], f, null, new float[2 * 35], 1, g, null, FusedActivation.None, 1)).Message);
    }

    /// <summary>A Conv(+Add+Relu) graph: x [n, c, h, w] (batch symbolic or not), constant w and b, residual input z.</summary>
    private static Model ConvModel(int n, int c, int h, int wd, int m, float[] w, float[] b, bool symbolicBatch, bool withResidual)
    {
        var model = new Model();
        model.Opsets[""] = 17;
        var g = model.Graph;
        Dim batch = symbolicBatch ? Dim.Named("N") : Dim.Known(n);
        g.Inputs.Add(new ValueInfo("x", OnnxType.Tensor(DataType.Float, [batch, Dim.Known(c), Dim.Known(h), Dim.Known(wd)])));
        g.Initializers["w"] = Tensor.Create(w, m, c, 3, 3);
        g.Initializers["b"] = Tensor.Create(b, m);
        var pads = new NodeAttribute("pads", AttributeKind.Ints) { Ints = [1, 1, 1, 1] };
        g.Nodes.Add(new Node("Conv", ["x", "w", "b"], [withResidual ? "conv" : "y"], "conv", "", [pads]));
        if (withResidual)
        {
            g.Inputs.Add(new ValueInfo("z", OnnxType.Tensor(DataType.Float, [batch, Dim.Known(m), Dim.Known(h), Dim.Known(wd)])));
            g.Nodes.Add(new Node("Add", ["conv", "z"], ["sum"], "add", ""));
            g.Nodes.Add(new Node("Relu", ["sum"], ["y"], "relu", ""));
        }
        g.Outputs.Add(new ValueInfo("y", null));
        return model;
    }

    [Theory]
    // n, c, h, w, m: many tiles (tiles as columns), few tiles with many channels (tiles as rows)
    [InlineData(2, 16, 30, 31, 24, false, false)]
    [InlineData(1, 16, 30, 31, 24, true, true)]
    [InlineData(2, 32, 14, 14, 64, true, false)]
    [InlineData(1, 32, 13, 13, 64, false, true)]
    public void ConvOperatorUsesWinogradOnlyWhenEnabled(int n, int c, int h, int wd, int m, bool symbolicBatch, bool withResidual)
    {
        var rng = new Random(c + h);
        var x = ConvGemmKernelTests.Rand(rng, n * c * h * wd);
        var z = ConvGemmKernelTests.Rand(rng, n * m * h * wd);
        var w = ConvGemmKernelTests.Rand(rng, m * c * 9);
        var b = ConvGemmKernelTests.Rand(rng, m);
        var conv = Naive(x, w, n, c, h, wd, m, 1, 1, h, wd);
        var results = new float[2][];
        foreach (bool winograd in new[] { false, true })
        {
            // Level all fuses Conv + Add + Relu into FusedConv with the residual in its epilogue.
            using var s = new InferenceSession(ConvModel(n, c, h, wd, m, w, b, symbolicBatch, withResidual),
                new SessionOptions { IntraOpThreads = 2, UseWinogradConvolution = winograd });
            Assert.Equal(withResidual ? "FusedConv" : "Conv", Assert.Single(s.Model.Graph.Nodes).OpType);
            var feeds = new Dictionary<string, Tensor> { ["x"] = Tensor.Create(x, n, c, h, wd) };
            if (withResidual) feeds["z"] = Tensor.Create(z, n, m, h, wd);
            for (int run = 0; run < 2; run++)
            {
                var y = s.Run(feeds)["y"];
                Assert.Equal([n, m, h, wd], y.Shape);
                var got = y.ToArray<float>();
                for (int i = 0; i < conv.Length; i++)
                {
                    double pre = conv[i] + b[i / (h * wd) % m] + (withResidual ? z[i] : 0);
                    double want = withResidual ? Math.Max(0, pre) : pre;
                    Assert.True(Math.Abs(got[i] - want) <= 2e-5 * Math.Sqrt(c * 9) * (1 + Math.Abs(pre)),
                        $"winograd={winograd} [{i}]: got {got[i]}, expected {want}");
                }
                results[winograd ? 1 : 0] = got;
            }
        }
        if (System.Runtime.Intrinsics.X86.Avx512F.IsSupported)
            Assert.NotEqual(results[0], results[1]); // Winograd rounds differently, so it really ran
    }
}
