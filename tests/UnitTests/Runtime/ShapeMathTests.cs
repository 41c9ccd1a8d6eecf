using FsCheck;
using FsCheck.Fluent;
using NetOnnx.Kernels;
using Xunit;

namespace NetOnnx.Tests;

public class ShapeMathTests
{
    [Theory]
    [InlineData(new[] { 2, 3, 4 }, new[] { 4 }, new[] { 2, 3, 4 })]
    [InlineData(new[] { 2, 1, 4 }, new[] { 3, 1 }, new[] { 2, 3, 4 })]
    [InlineData(new int[0], new[] { 5 }, new[] { 5 })]
    [InlineData(new[] { 0, 3 }, new[] { 1, 3 }, new[] { 0, 3 })]
    public void BroadcastFollowsNumpy(int[] a, int[] b, int[] expected) => Assert.Equal(expected, ShapeMath.Broadcast(a, b));

    [Fact]
    public void IncompatibleBroadcastNamesTheShapes()
    {
        var e = Assert.Throws<ArgumentException>(() => ShapeMath.Broadcast([2, 3], [4]));
        Assert.Contains("[2,3]", e.Message);
    }

    /// <summary>Broadcasting loops agree with a naive index walk for random shapes, zero-sized dims included.</summary>
    [FsCheck.Xunit.Property(MaxTest = 200)]
    public Property BroadcastAddMatchesNaiveReference(int seed)
    {
        var rng = new Random(seed);
        int rank = rng.Next(0, 5);
        var outShape = Enumerable.Range(0, rank).Select(_ => rng.Next(0, 4)).ToArray();
        int[] Sub() => outShape.Skip(rng.Next(0, rank + 1)).Select(d => rng.Next(3) == 0 ? 1 : d).ToArray();
        var sa = Sub(); var sb = Sub();
        var full = ShapeMath.Broadcast(sa, sb);
        var a = Enumerable.Range(0, ShapeMath.Size(sa)).Select(i => (float)rng.Next(-50, 50)).ToArray();
        var b = Enumerable.Range(0, ShapeMath.Size(sb)).Select(i => (float)rng.Next(-50, 50)).ToArray();
        var fast = new float[ShapeMath.Size(full)];
        var fastV = new float[fast.Length];
        Broadcasting.Binary<float, float, AddOperator<float>>(a, sa, b, sb, fast, full);
        Broadcasting.BinaryVector<float, AddOperator<float>>(a, sa, b, sb, fastV, full);
        var sta = ShapeMath.BroadcastStrides(sa, full); var stb = ShapeMath.BroadcastStrides(sb, full);
        var idx = new int[full.Length];
        bool ok = true;
        for (int o = 0; o < fast.Length; o++)
        {
            int rem = o, ia = 0, ib = 0;
            for (int d = full.Length - 1; d >= 0; d--) { idx[d] = rem % full[d]; rem /= full[d]; ia += idx[d] * sta[d]; ib += idx[d] * stb[d]; }
            float expect = a[ia] + b[ib];
            ok &= fast[o] == expect && fastV[o] == expect;
        }
        return ok.Label($"{ShapeMath.Format(sa)} + {ShapeMath.Format(sb)}");
    }
}
