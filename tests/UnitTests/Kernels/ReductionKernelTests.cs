using NetOnnx.Kernels.Normalization;
using NetOnnx.Kernels.Reduction;
using NetOnnx.Runtime.Operators.Normalization;
using Xunit;

namespace NetOnnx.Tests;

public class ReductionKernelTests
{
    private static float[] Iota(int n, float scale = 0.37f)
    {
        var a = new float[n];
        for (int i = 0; i < n; i++) a[i] = MathF.Sin(i * scale) * 3 + (i % 7);
        return a;
    }

    /// <summary>Sum over an arbitrary axis set, computed by brute force over multi-indices.</summary>
    private static float[] NaiveSum(float[] x, int[] shape, bool[] reduce)
    {
        int rank = shape.Length;
        var outShape = shape.Select((d, i) => reduce[i] ? 1 : d).ToArray();
        var y = new float[outShape.Aggregate(1, (p, d) => p * d)];
        var idx = new int[rank];
        for (int i = 0; i < x.Length; i++)
        {
            int o = 0;
            for (int d = 0; d < rank; d++) o = o * outShape[d] + (reduce[d] ? 0 : idx[d]);
            y[o] += x[i];
            for (int d = rank - 1; d >= 0; d--) { if (++idx[d] < shape[d]) break; idx[d] = 0; }
        }
        return y;
    }

    [Theory]
    [InlineData(new[] { 2, 3, 4 }, new[] { true, false, true })]
    [InlineData(new[] { 2, 3, 4 }, new[] { false, true, false })]
    [InlineData(new[] { 5, 1, 40 }, new[] { false, true, true })]
    [InlineData(new[] { 3, 33, 2, 17 }, new[] { true, false, true, false })]
    [InlineData(new[] { 64, 300 }, new[] { true, false })]
    [InlineData(new[] { 64, 300 }, new[] { false, true })]
    public void SumOverAnyAxesMatchesBruteForce(int[] shape, bool[] reduce)
    {
        var x = Iota(shape.Aggregate(1, (p, d) => p * d));
        var expected = NaiveSum(x, shape, reduce);
        var layout = new ReduceLayout(shape, reduce);
        var y = new float[layout.OutLength];
        ReduceKernels.Reduce<float, SumReduce<float>>(x, layout, y);
        for (int i = 0; i < y.Length; i++) Assert.Equal(expected[i], y[i], 2e-3f);
        var yp = new float[layout.OutLength];
        ReduceKernels.Reduce<float, SumReduce<float>>(x, layout, yp, threads: 4);
        for (int i = 0; i < y.Length; i++) Assert.Equal(expected[i], yp[i], 2e-3f);
    }

    [Fact]
    public void EmptyReductionsGiveTheIdentity()
    {
        var layout = new ReduceLayout([2, 0, 3], [false, true, false]);
        var y = new float[layout.OutLength];
        ReduceKernels.Reduce<float, MaxReduce<float>>([], layout, y);
        Assert.All(y, v => Assert.Equal(float.NegativeInfinity, v));
        ReduceKernels.Reduce<float, ProdReduce<float>>([], layout, y);
        Assert.All(y, v => Assert.Equal(1f, v));
        var yi = new int[layout.OutLength];
        ReduceKernels.Reduce<int, MinReduce<int>>([], layout, yi);
        Assert.All(yi, v => Assert.Equal(int.MaxValue, v));
    }

    [Fact]
    public void LogSumExpIsStableAndHandlesInfinities()
    {
        var layout = new ReduceLayout([3, 2], [false, true]);
        float[] x = [1000f, 1000f, float.NegativeInfinity, float.NegativeInfinity, float.PositiveInfinity, 0f];
        var y = new float[3];
        ReduceKernels.LogSumExp<float>(x, layout, y);
        Assert.Equal(1000f + MathF.Log(2f), y[0], 1e-3f);
        Assert.Equal(float.NegativeInfinity, y[1]);
        Assert.Equal(float.PositiveInfinity, y[2]);
    }

    [Theory]
    [InlineData(4, 37, 1)]
    [InlineData(2, 5, 9)]
    public void SoftmaxRowsSumToOneAndLogMatches(int outer, int n, int inner)
    {
        var x = Iota(outer * n * inner);
        var y = new float[x.Length];
        var l = new float[x.Length];
        SoftmaxKernels.Softmax<float>(x, y, outer, n, inner, log: false);
        SoftmaxKernels.Softmax<float>(x, l, outer, n, inner, log: true);
        for (int o = 0; o < outer; o++)
            for (int j = 0; j < inner; j++)
            {
                double s = 0;
                for (int k = 0; k < n; k++)
                {
                    int i = (o * n + k) * inner + j;
                    s += y[i];
                    Assert.Equal(MathF.Log(y[i]), l[i], 1e-4f);
                }
                Assert.Equal(1.0, s, 1e-5);
            }
    }

    [Fact]
    public void ArgMaxBreaksTiesFirstOrLast()
    {
        float[] x = [1, 5, 5, 2];
        var y = new long[1];
        SoftmaxKernels.ArgExtreme<float>(x, y, 1, 4, 1, max: true, last: false);
        Assert.Equal(1, y[0]);
        SoftmaxKernels.ArgExtreme<float>(x, y, 1, 4, 1, max: true, last: true);
        Assert.Equal(2, y[0]);
        SoftmaxKernels.ArgExtreme<float>(x, y, 1, 4, 1, max: false, last: false);
        Assert.Equal(0, y[0]);
    }

    [Fact]
    public void MomentsAreTwoPass()
    {
        float[] x = [1e4f + 1, 1e4f + 2, 1e4f + 3, 1e4f + 4];
        var (mean, variance) = NormalizationKernels.Moments<float>(x);
        Assert.Equal(1e4f + 2.5f, mean, 1e-3f);
        Assert.Equal(1.25f, variance, 1e-3f);
    }

    [Fact]
    public void MersenneTwisterMatchesTheReferenceSequence()
    {
        // init_genrand(5489) is the generator's documented default; its first output is 3499211612.
        var mt = new MersenneTwister(5489);
        Assert.Equal(3499211612u, mt.NextUInt32());
        // numpy's legacy RandomState(0).random_sample() uses the same seeding and 53-bit construction.
        Assert.Equal(0.5488135039273248, new MersenneTwister(0).NextDouble(), 1e-15);
    }
}
