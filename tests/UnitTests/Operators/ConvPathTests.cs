using NetOnnx.Runtime;
using Xunit;

namespace NetOnnx.Tests;

/// <summary>
/// The Conv operator on the shapes that pick its non-GEMM paths (direct phased kernel for few weights per output
/// channel, 1x1 layers read in place, grouped layers, fully connected 1x1 maps), batch 2, 1 and 2 threads,
/// against a naive loop written here.
/// </summary>
public class ConvPathTests
{
    private static float[] Run(float[] x, int[] xs, float[] w, int[] ws, float[]? b, int group, long[] strides, long[] pads, int threads)
    {
        var m = new Model();
        m.Opsets[""] = 13;
        var g = m.Graph;
        g.Inputs.Add(new ValueInfo("x", OnnxType.Tensor(DataType.Float, xs.Select(d => Dim.Known(d)).ToArray())));
        g.Inputs.Add(new ValueInfo("w", OnnxType.Tensor(DataType.Float, ws.Select(d => Dim.Known(d)).ToArray())));
        var feeds = new Dictionary<string, Tensor> { ["x"] = Tensor.Create(x, xs), ["w"] = Tensor.Create(w, ws) };
        var inputs = new List<string> { "x", "w" };
        if (b is not null)
        {
            g.Inputs.Add(new ValueInfo("b", OnnxType.Tensor(DataType.Float, [Dim.Known(b.Length)])));
            feeds["b"] = Tensor.Create(b, b.Length);
            inputs.Add("b");
        }
        var node = new Node("Conv", inputs, ["y"], "conv");
        node.Attributes["group"] = NodeAttribute.Of("group", (long)group);
        node.Attributes["strides"] = NodeAttribute.Of("strides", strides);
        node.Attributes["pads"] = NodeAttribute.Of("pads", pads);
        g.Nodes.Add(node);
        g.Outputs.Add(new ValueInfo("y", null));
        return new Session(m, new SessionOptions { IntraOpThreads = threads }).Run(feeds)["y"].ToArray<float>();
    }

    internal static double[] Naive(float[] x, int n, int c, int h, int wd, float[] w, int m, int k, float[]? b, int group, int s, int p, out int oh, out int ow)
    {
        int cg = c / group, mg = m / group;
        int ohh = (h + 2 * p - k) / s + 1, oww = (wd + 2 * p - k) / s + 1;
        oh = ohh; ow = oww;
        var y = new double[n * m * ohh * oww];
        for (int img = 0; img < n; img++)
            for (int oc = 0; oc < m; oc++)
                for (int i = 0; i < ohh; i++)
                    for (int j = 0; j < oww; j++)
                    {
                        double sum = b?[oc] ?? 0;
                        for (int ic = 0; ic < cg; ic++)
                            for (int kh = 0; kh < k; kh++)
                                for (int kw = 0; kw < k; kw++)
                                {
                                    int ih = i * s + kh - p, iw = j * s + kw - p;
                                    if (ih < 0 || ih >= h || iw < 0 || iw >= wd) continue;
                                    sum += (double)w[((oc * cg + ic) * k + kh) * k + kw] * x[((img * c + oc / mg * cg + ic) * h + ih) * wd + iw];
                                }
                        y[((img * m + oc) * ohh + i) * oww + j] = sum;
                    }
        return y;
    }

    [Theory]
    [InlineData(3, 33, 16, 3, 2, 1, 1, true)]    // stem: 3 inputs, 3x3 stride 2 (direct)
    [InlineData(1, 28, 8, 5, 1, 2, 1, true)]     // mnist conv1 (direct)
    [InlineData(16, 16, 24, 1, 1, 0, 1, false)]  // 1x1 on a whole-vector plane (in place)
    [InlineData(16, 7, 72, 1, 1, 0, 1, true)]    // 1x1 on a 7x7 plane (copied)
    [InlineData(8, 9, 12, 3, 1, 1, 2, true)]     // grouped, 4 inputs per group
    [InlineData(576, 1, 144, 1, 1, 0, 1, true)]  // squeeze-excite FC on a 1x1 map
    [InlineData(40, 1, 9, 1, 1, 0, 1, false)]    // FC without bias
    [InlineData(12, 10, 12, 3, 2, 1, 12, true)]  // depthwise, stride 2
    public void MatchesNaive(int c, int h, int m, int k, int s, int p, int group, bool bias)
    {
        var rng = new Random(c * 1000 + h * 10 + m);
        int n = 2;
        var x = new float[n * c * h * h]; var w = new float[m * (c / group) * k * k];
        float[]? b = bias ? new float[m] : null;
        foreach (var arr in new[] { x, w, b ?? [] }) for (int i = 0; i < arr.Length; i++) arr[i] = (float)rng.NextDouble() * 2 - 1;
        var expected = Naive(x, n, c, h, h, w, m, k, b, group, s, p, out _, out _);
        foreach (int threads in new[] { 1, 2 })
        {
            var y = Run(x, [n, c, h, h], w, [m, c / group, k, k], b, group, [s, s], [p, p, p, p], threads);
            Assert.Equal(expected.Length, y.Length);
            for (int i = 0; i < y.Length; i++)
                Assert.True(Math.Abs(y[i] - expected[i]) <= 1e-4 * (1 + Math.Abs(expected[i])), $"threads {threads}: y[{i}] = {y[i]}, expected {expected[i]}");
        }
    }
}
