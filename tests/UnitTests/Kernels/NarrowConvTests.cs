using NetOnnx.Kernels.ConvPool;
using NetOnnx.Kernels.Elementwise;
using NetOnnx.Kernels.SmallShapes;
using NetOnnx.Runtime;
using Xunit;

namespace NetOnnx.Tests;

/// <summary>The few-output-positions convolution against a naive 2-D convolution written from the definition.</summary>
public class NarrowConvTests
{
    private static float[] Rand(Random r, int n) => Enumerable.Range(0, n).Select(_ => (float)(r.NextDouble() * 2 - 1)).ToArray();

    /// <summary>y[n,m,oh,ow] = b[m] + sum_{c,kh,kw} x[n, group*cg + c, oh*s - p + kh*d, ...] * w[m, c, kh, kw] (zero outside).</summary>
    private static float[] Naive(float[] x, float[] w, float[]? b, int n, int c, int h, int wi, int m, int groups, int kh, int kw,
        int sh, int sw, int ph, int pw, int dh, int dw, out int oh, out int ow)
    {
        oh = (h + 2 * ph - dh * (kh - 1) - 1) / sh + 1;
        ow = (wi + 2 * pw - dw * (kw - 1) - 1) / sw + 1;
        int cg = c / groups, mg = m / groups;
        var y = new float[n * m * oh * ow];
        for (int img = 0; img < n; img++)
            for (int mo = 0; mo < m; mo++)
                for (int i = 0; i < oh; i++)
                    for (int j = 0; j < ow; j++)
                    {
                        double s = b?[mo] ?? 0;
                        int gi = mo / mg;
                        for (int ci = 0; ci < cg; ci++)
                            for (int a = 0; a < kh; a++)
                                for (int e = 0; e < kw; e++)
                                {
                                    int yy = i * sh - ph + a * dh, xx = j * sw - pw + e * dw;
                                    if (yy < 0 || yy >= h || xx < 0 || xx >= wi) continue;
                                    s += (double)x[((img * c + gi * cg + ci) * h + yy) * wi + xx] * w[((mo * cg + ci) * kh + a) * kw + e];
                                }
                        y[((img * m + mo) * oh + i) * ow + j] = (float)s;
                    }
        return y;
    }

    [Theory]
    // n, c, h, w, m, groups, kh, kw, stride, pad, dilation
    [InlineData(1, 1, 1, 512, 258, 1, 1, 256, 128, 0, 1)]   // silero_vad's STFT
    [InlineData(1, 129, 1, 3, 128, 1, 1, 3, 1, 1, 1)]       // its first encoder layer
    [InlineData(2, 6, 1, 5, 4, 2, 1, 3, 2, 1, 1)]           // batch, groups, stride
    [InlineData(1, 3, 4, 4, 5, 1, 3, 3, 2, 1, 1)]           // 2-D, 2x2 outputs
    [InlineData(1, 4, 5, 5, 6, 2, 2, 2, 3, 1, 2)]           // 2-D, dilation, groups
    [InlineData(1, 7, 1, 1, 9, 1, 1, 1, 1, 0, 1)]           // 1x1 on a single position
    public void MatchesNaiveConvolution(int n, int c, int h, int wi, int m, int groups, int kh, int kw, int stride, int pad, int dil)
    {
        var r = new Random(c * 31 + m);
        var x = Rand(r, n * c * h * wi);
        var w = Rand(r, m * (c / groups) * kh * kw);
        var b = Rand(r, m);
        int ph = h == 1 ? 0 : pad; // 1-D problems written as H = 1: pad only along W
        var expected = Naive(x, w, b, n, c, h, wi, m, groups, kh, kw, stride, stride, ph, pad, dil, dil, out int oh, out int ow);
        var geo = ConvGeometry.Create([h, wi], [kh, kw], [stride, stride], [dil, dil], [ph, pad, ph, pad], "NOTSET", false);
        Assert.True(NarrowConv.Fits(geo));
        Assert.Equal(oh * ow, geo.OutSize);
        var residual = Rand(r, expected.Length);
        foreach (bool withResidual in new[] { false, true })
        {
            var y = new float[expected.Length + 5]; // longer than needed, as pooled buffers are
            NarrowConv.Run(x, w, b, y, n, c, m, groups, geo, withResidual ? residual : null, new FusedActivation(ActivationKind.Relu), threads: 2);
            for (int i = 0; i < expected.Length; i++)
            {
                float want = Math.Max(0, expected[i] + (withResidual ? residual[i] : 0));
                Assert.Equal(want, y[i], 1e-4f * Math.Max(1, Math.Abs(want)) * MathF.Sqrt(c * kh * kw));
            }
            Assert.All(y[expected.Length..], v => Assert.Equal(0f, v));
        }
    }

    [Fact]
    public void RejectsShortOperands()
    {
        var geo = ConvGeometry.Create([4], [3], null, null, null, "NOTSET", false);
        var ex = Assert.Throws<ArgumentException>(() => NarrowConv.Run(new float[4], new float[5], null, new float[2], 1, 1, 2, 1, geo, null, FusedActivation.None));
        Assert.Contains("shorter", ex.Message);
    }

    [Fact]
    public void ConvOperatorWithFewOutputsMatchesNaive()
    {
        // Through the session: Conv with constant weights and bias, 1-D, 3 output positions.
        var r = new Random(7);
        int c = 5, l = 9, m = 11, k = 4;
        var x = Rand(r, c * l); var w = Rand(r, m * c * k); var b = Rand(r, m);
        var model = new Model();
        model.Opsets[""] = 17;
        var g = model.Graph;
        g.Inputs.Add(new ValueInfo("x", OnnxType.Tensor(DataType.Float, [Dim.Known(1), Dim.Known(c), Dim.Known(l)])));
        g.Initializers["w"] = Tensor.Create(w, m, c, k);
        g.Initializers["b"] = Tensor.Create(b, m);
        g.Nodes.Add(new Node("Conv", ["x", "w", "b"], ["y"], "conv", "", [new NodeAttribute("strides", AttributeKind.Ints) { Ints = [3] }]));
        g.Outputs.Add(new ValueInfo("y", null));
        var s = new Session(model, new SessionOptions { IntraOpThreads = 1 });
        var expected = Naive(x, w, b, 1, c, 1, l, m, 1, 1, k, 1, 3, 0, 0, 1, 1, out _, out int ow);
        Assert.Equal(2, ow);
        for (int run = 0; run < 2; run++)
        {
            var y = (Tensor)s.Run(new Dictionary<string, object> { ["x"] = Tensor.Create(x, 1, c, l) })["y"];
            Assert.Equal([1, m, ow], y.Shape);
            var got = y.ToArray<float>();
            for (int i = 0; i < expected.Length; i++) Assert.Equal(expected[i], got[i], 1e-4f);
        }
    }
}
