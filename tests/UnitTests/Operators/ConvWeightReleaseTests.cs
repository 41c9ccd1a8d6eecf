using System.Runtime.CompilerServices;
using NetOnnx.Runtime;
using Xunit;

namespace NetOnnx.Tests;

/// <summary>
/// Conv with constant weights and a static input shape gives its raw weight tensor back when the planned path reads
/// only the packed, Winograd or sparse form: the tensor becomes collectable, and runs still match a naive loop.
/// Paths that read raw weights (depthwise, phased direct, 1x1-map FC) keep them.
/// </summary>
public class ConvWeightReleaseTests
{
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static (Session S, WeakReference Weight) Create(float[] w, int[] ws, float[] b, int[] xs, int group, int s, int p, int threads)
    {
        var m = new Model();
        m.Opsets[""] = 13;
        var g = m.Graph;
        g.Inputs.Add(new ValueInfo("x", OnnxType.Tensor(DataType.Float, xs.Select(d => Dim.Known(d)).ToArray())));
        var wt = Tensor.Create(w.ToArray(), ws);
        g.Initializers["w"] = wt;
        g.Initializers["b"] = Tensor.Create(b.ToArray(), b.Length);
        var node = new Node("Conv", ["x", "w", "b"], ["y"], "conv");
        node.Attributes["group"] = NodeAttribute.Of("group", (long)group);
        node.Attributes["strides"] = NodeAttribute.Of("strides", new long[] { s, s });
        node.Attributes["pads"] = NodeAttribute.Of("pads", new long[] { p, p, p, p });
        g.Nodes.Add(node);
        g.Outputs.Add(new ValueInfo("y", null));
        var session = new Session(m, new SessionOptions { IntraOpThreads = threads, ReleaseModelWeights = true, OptimizationLevel = OptimizationLevel.None });
        return (session, new WeakReference(wt));
    }

    [Theory]
    [InlineData(32, 28, 32, 3, 1, 1, 1, true)]   // 3x3 stride 1, many tiles: Winograd filter made at creation
    [InlineData(32, 15, 48, 3, 2, 1, 1, true)]   // 3x3 stride 2: implicit GEMM on the packed weights
    [InlineData(64, 8, 64, 1, 1, 0, 1, true)]    // 1x1 with 64 inputs: GEMM on the packed weights, input read in place
    [InlineData(16, 12, 16, 3, 1, 1, 16, false)] // depthwise reads its raw weights
    [InlineData(3, 17, 16, 3, 2, 1, 1, false)]   // 3-channel stem: direct phased kernel reads raw weights
    public void ReleasesOnlyWhereThePlannedPathNeedsNoRawWeights(int c, int h, int m, int k, int s, int p, int group, bool released)
    {
        var rng = new Random(c * 7919 + h * 31 + m);
        int n = 1;
        var x = new float[n * c * h * h]; var w = new float[m * (c / group) * k * k]; var b = new float[m];
        foreach (var arr in new[] { x, w, b }) for (int i = 0; i < arr.Length; i++) arr[i] = (float)rng.NextDouble() * 2 - 1;
        var expected = ConvPathTests.Naive(x, n, c, h, h, w, m, k, b, group, s, p, out _, out _);
        foreach (int threads in new[] { 1, 2 })
        {
            var (session, weak) = Create(w, [m, c / group, k, k], b, [n, c, h, h], group, s, p, threads);
            using (session)
            {
                GC.Collect();
                GC.WaitForPendingFinalizers();
                GC.Collect();
                Assert.Equal(released, !weak.IsAlive);
                for (int run = 0; run < 3; run++)
                {
                    var y = session.Run(new Dictionary<string, Tensor> { ["x"] = Tensor.Create(x, n, c, h, h) })["y"].ToArray<float>();
                    Assert.Equal(expected.Length, y.Length);
                    for (int i = 0; i < y.Length; i++)
                        Assert.True(Math.Abs(y[i] - expected[i]) <= 1e-4 * (1 + Math.Abs(expected[i])),
                            $"threads {threads}, run {run}: y[{i}] = {y[i]}, expected {expected[i]}");
                }
            }
        }
    }
}
