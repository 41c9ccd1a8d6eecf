using NetOnnx.Kernels.ConvPool;
using NetOnnx.Kernels.Elementwise;
using NetOnnx.Kernels.Sparse;
using NetOnnx.Runtime;
using Xunit;
using static NetOnnx.Tests.IrBuilder;

namespace NetOnnx.Tests;

/// <summary>
/// The sparse-weight convolution against the naive direct convolution in double precision: random geometries
/// (1x1 direct, same-size stride-1 panels, strided/dilated im2col), output sizes that end in partial blocks of
/// every width, bias, residual and activations, and the Conv operator choosing it for pruned weights.
/// </summary>
public class SparseConvTests
{
    private static readonly FusedActivation[] Activations =
    [
        FusedActivation.None, new(ActivationKind.Relu), new(ActivationKind.Clip, -0.3f, 0.4f), new(ActivationKind.Sigmoid),
    ];

    private static float[] SparseRand(Random rng, int n, double density)
    {
        var a = new float[n];
        for (int i = 0; i < n; i++) a[i] = rng.NextDouble() < density ? (float)(rng.NextDouble() * 2 - 1) : 0f;
        return a;
    }

    private static void Check(Random rng, ConvGeometry g, int c, int m, double density, int threads, string what)
    {
        int images = rng.Next(1, 3), kg = c * g.KernelSize, outSize = g.OutSize;
        var x = ConvGemmKernelTests.Rand(rng, images * c * g.InSize);
        var w = SparseRand(rng, m * kg, density);
        var act = Activations[rng.Next(Activations.Length)];
        var bias = rng.Next(2) == 0 ? [] : ConvGemmKernelTests.Rand(rng, m);
        var res = rng.Next(2) == 0 ? null : ConvGemmKernelTests.Rand(rng, images * m * outSize);
        var sw = SparseConvWeights.FromDense(w, m, kg);
        Assert.Equal(w.Count(v => v != 0), sw.NonZeros);
        var y = new float[images * m * outSize];
        Array.Fill(y, float.NaN);
        for (int img = 0; img < images; img++)
            SparseConv.Run(x, img * c * g.InSize, g, sw, bias, res, y, img * m * outSize, act, threads);
        for (int img = 0; img < images; img++)
        {
            var expected = ConvGemmKernelTests.NaiveConv(x, img * c * g.InSize, w, c, m, g);
            for (int oc = 0; oc < m; oc++)
                for (int o = 0; o < outSize; o++)
                {
                    int at = (img * m + oc) * outSize + o;
                    double s = expected[oc * outSize + o] + (bias.Length > 0 ? bias[oc] : 0) + (res is null ? 0 : res[at]);
                    double e = ConvGemmKernelTests.Act(act, s);
                    if (!(Math.Abs(y[at] - e) <= 2e-4 * (1 + Math.Abs(e))))
                        Assert.Fail($"{what} c={c} m={m} out={outSize} {act.Kind} bias={bias.Length > 0} res={res is not null} t={threads} img {img} [{oc}, {o}]: got {y[at]}, expected {e}");
                }
        }
    }

    [Fact]
    public void RandomGeometriesMatchTheNaiveConvolution()
    {
        var rng = new Random(11);
        for (int trial = 0; trial < 120; trial++)
        {
            int dims = rng.Next(1, 4);
            var g = ConvGemmKernelTests.RandomGeometry(rng, dims, maxStride: 3, allowDilation: true, same: trial % 3 == 0);
            if (g.OutSize == 0) continue;
            Check(rng, g, rng.Next(1, 10), rng.Next(1, 30), rng.NextDouble() * 0.6, rng.Next(1, 3), $"trial {trial}");
        }
    }

    [Theory]
    // 1x1 stride-1 (input read in place) with full blocks and partial tails of 1-16, 17-32 and 33-64 columns.
    [InlineData(13, 15, 1, 1, 0)]
    [InlineData(8, 16, 1, 1, 0)]
    [InlineData(9, 10, 1, 1, 0)]
    [InlineData(7, 7, 1, 1, 0)]
    // Same-size 3x3 (packed panels) and strided 3x3 / 7x7 (im2col).
    [InlineData(20, 20, 3, 1, 1)]
    [InlineData(7, 7, 3, 1, 1)]
    [InlineData(23, 17, 3, 2, 1)]
    [InlineData(30, 30, 7, 2, 3)]
    public void LayerShapesMatchTheNaiveConvolution(int h, int wi, int k, int stride, int pad)
    {
        var rng = new Random(h * 100 + wi + k);
        var g = ConvGeometry.Create([h, wi], [k, k], [stride, stride], null, [pad, pad, pad, pad], "NOTSET", false);
        foreach (int threads in new[] { 1, 2 })
            foreach (double density in new[] { 0.0, 0.1, 0.3 })
                Check(rng, g, 6, 37, density, threads, $"{h}x{wi} k{k}/{stride}");
    }

    [Fact]
    public void MismatchedShapesAreRejected()
    {
        var g = ConvGeometry.Create([5, 5], [3, 3], [1, 1], null, [1, 1, 1, 1], "NOTSET", false);
        var w = SparseConvWeights.FromDense(new float[4 * 27], 4, 27);
        var e = Assert.Throws<ArgumentException>(() => SparseConv.Run(new float[2 * 25], 0, g, w, default, null, new float[4 * 25], 0, FusedActivation.None, 1));
        Assert.Contains("27 patch rows", e.Message);
        Assert.Throws<ArgumentException>(() => SparseConv.Run(new float[3 * 25], 0, g, w, new float[3], null, new float[4 * 25], 0, FusedActivation.None, 1));
        Assert.Throws<ArgumentException>(() => SparseConvWeights.FromDense(new float[5], 2, 3));
    }

    [Fact]
    public void CostModelKeepsDenseWeightsAndNarrowLayersDense()
    {
        var g3 = ConvGeometry.Create([28, 28], [3, 3], [1, 1], null, [1, 1, 1, 1], "NOTSET", false);
        var rng = new Random(2);
        Assert.False(SparseConv.Pays(SparseConvWeights.FromDense(SparseRand(rng, 64 * 576, 0.6), 64, 576), g3));
        // A 3-channel stem: the patch rows cost more than the few multiplies saved.
        var stem = ConvGeometry.Create([56, 56], [3, 3], [2, 2], null, [1, 1, 1, 1], "NOTSET", false);
        Assert.False(SparseConv.Pays(SparseConvWeights.FromDense(SparseRand(rng, 16 * 27, 0.1), 16, 27), stem));
        if (System.Runtime.Intrinsics.Vector512.IsHardwareAccelerated)
            Assert.True(SparseConv.Pays(SparseConvWeights.FromDense(SparseRand(rng, 64 * 576, 0.1), 64, 576), g3));
    }

    /// <summary>Conv + residual Add + Relu with 90%-zero weights: the operator (fused or not) equals the naive result.</summary>
    [Fact]
    public void PrunedConvOperatorMatchesTheNaiveConvolution()
    {
        var rng = new Random(8);
        int c = 32, m = 48, h = 12;
        var w = SparseRand(rng, m * c * 9, 0.1);
        var b = ConvGemmKernelTests.Rand(rng, m);
        var x = ConvGemmKernelTests.Rand(rng, c * h * h);
        var z = ConvGemmKernelTests.Rand(rng, m * h * h);
        Model Build() => Model([F("x", 1, c, h, h), F("z", 1, m, h, h)], [F("y", 1, m, h, h)],
            [N("Conv", ["x", "w", "b"], ["cv"], NodeAttribute.Of("pads", new long[] { 1, 1, 1, 1 })),
             N("Add", ["cv", "z"], ["s"]), N("Relu", ["s"], ["y"])],
            new Dictionary<string, Tensor> { ["w"] = Tensor.Create(w, m, c, 3, 3), ["b"] = Tensor.Create(b, m) }, opset: 13);
        var g = ConvGeometry.Create([h, h], [3, 3], [1, 1], null, [1, 1, 1, 1], "NOTSET", false);
        var expected = ConvGemmKernelTests.NaiveConv(x, 0, w, c, m, g);
        var feeds = new Dictionary<string, Tensor> { ["x"] = Tensor.Create(x, 1, c, h, h), ["z"] = Tensor.Create(z, 1, m, h, h) };
        foreach (var level in new[] { OptimizationLevel.None, OptimizationLevel.All })
        {
            var got = RunAt(Build, level, feeds, out var optimized)["y"].Values;
            if (level == OptimizationLevel.All) Assert.Contains(optimized.Graph.Nodes, n => n.OpType == "FusedConv");
            for (int oc = 0; oc < m; oc++)
                for (int o = 0; o < h * h; o++)
                {
                    double e = Math.Max(0, expected[oc * h * h + o] + b[oc] + z[oc * h * h + o]);
                    Assert.True(Math.Abs(got[oc * h * h + o] - e) <= 2e-4 * (1 + Math.Abs(e)), $"{level} [{oc}, {o}]: {got[oc * h * h + o]} vs {e}");
                }
        }
        if (System.Runtime.Intrinsics.Vector512.IsHardwareAccelerated)
            Assert.True(SparseConv.Pays(SparseConvWeights.FromDense(w, m, c * 9), g));
    }
}
