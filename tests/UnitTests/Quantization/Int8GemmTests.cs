using FsCheck;
using FsCheck.Fluent;
using NetOnnx.Kernels.Quantization;
using Xunit;

namespace NetOnnx.Tests;

/// <summary>The u8 x s8 GEMM on every path against a naive integer triple loop of (a - za)(b - zb).</summary>
public class Int8GemmTests
{
    private static readonly Int8GemmPath[] Paths = [Int8GemmPath.Portable, Int8GemmPath.Avx2, Int8GemmPath.Avx512];

    private static long[] Naive(byte[] a, int m, int k, int za, sbyte[] b, int n, int[] zb)
    {
        var c = new long[m * n];
        for (int i = 0; i < m; i++)
            for (int j = 0; j < n; j++)
            {
                long s = 0;
                for (int p = 0; p < k; p++) s += (long)(a[i * k + p] - za) * (b[p * n + j] - zb[j]);
                c[i * n + j] = s;
            }
        return c;
    }

    /// <summary>Copies A [M, K] into rows of stride PaddedK, filling the pad with junk the kernel must ignore.</summary>
    private static byte[] Strided(byte[] a, int m, int k, int kp, Random rng)
    {
        var r = new byte[m * kp];
        rng.NextBytes(r);
        for (int i = 0; i < m; i++) Array.Copy(a, i * k, r, i * kp, k);
        return r;
    }

    [FsCheck.Xunit.Property(MaxTest = 80)]
    public Property FloatOutputMatchesNaiveIntegerProductOnEveryPath(int seed)
    {
        var rng = new Random(seed);
        int m = rng.Next(1, 12), k = rng.Next(1, 70), n = rng.Next(1, 50);
        bool fullRange = rng.Next(2) == 0;
        var a = new byte[m * k];
        rng.NextBytes(a);
        // Extremes too: 255 activations against -128/127 weights are the saturation cases.
        if (rng.Next(3) == 0) Array.Fill(a, (byte)255);
        var b = new sbyte[k * n];
        for (int i = 0; i < b.Length; i++) b[i] = (sbyte)(fullRange ? rng.Next(-128, 128) : rng.Next(-64, 65));
        if (fullRange && rng.Next(2) == 0) for (int i = 0; i < b.Length; i += 2) b[i] = -128;
        int za = rng.Next(0, 256);
        var zb = new int[n];
        if (rng.Next(2) == 0) for (int j = 0; j < n; j++) zb[j] = rng.Next(-20, 21);
        var w = PackedInt8Weights.Pack(b, k, n);
        var expect = Naive(a, m, k, za, b, n, zb);
        var rowSums = new int[m];
        for (int i = 0; i < m; i++) for (int p = 0; p < k; p++) rowSums[i] += a[i * k + p];
        var aq = Strided(a, m, k, w.PaddedK, rng);
        var scale = Enumerable.Repeat(1f, n).ToArray();
        bool ok = w.SevenBit == b.All(v => v >= -64 && v <= 64);
        string detail = $"m={m} k={k} n={n} za={za} 7bit={w.SevenBit}";
        foreach (var path in Paths)
            foreach (int threads in new[] { 1, 3 })
            {
                var c = new float[m * n];
                Int8Gemm.Multiply(aq, m, za, rowSums, w, new Int8GemmEpilogue(scale, null, zb), c, default, threads, path);
                // Sums stay below 2^24 here, so float holds them exactly.
                for (int i = 0; i < c.Length; i++)
                    if (c[i] != expect[i]) { ok = false; detail += $"; {path}/{threads}t [{i}] {c[i]} != {expect[i]}"; break; }
            }
        return ok.Label(detail);
    }

    [Fact]
    public void EpilogueAppliesColumnScaleAndBiasAndRequantizesToUInt8()
    {
        var rng = new Random(5);
        int m = 5, k = 33, n = 19;
        var a = new byte[m * k];
        rng.NextBytes(a);
        var b = new sbyte[k * n];
        for (int i = 0; i < b.Length; i++) b[i] = (sbyte)rng.Next(-63, 64);
        var w = PackedInt8Weights.Pack(b, k, n);
        var expect = Naive(a, m, k, 7, b, n, new int[n]);
        var scale = Enumerable.Range(0, n).Select(j => 0.001f * (j + 1)).ToArray();
        var bias = Enumerable.Range(0, n).Select(j => 0.5f - j * 0.1f).ToArray();
        var aq = Strided(a, m, k, w.PaddedK, rng);
        foreach (var path in Paths)
        {
            var cf = new float[m * n];
            Int8Gemm.Multiply(aq, m, 7, [], w, new Int8GemmEpilogue(scale, bias, null), cf, default, 1, path);
            var cb = new byte[m * n];
            Int8Gemm.Multiply(aq, m, 7, [], w, new Int8GemmEpilogue(scale, bias, null, Int8GemmOutput.UInt8, 0.05f, 128), default, cb, 1, path);
            for (int i = 0; i < m * n; i++)
            {
                float real = expect[i] * scale[i % n] + bias[i % n];
                Assert.Equal(real, cf[i]);
                int q = (int)Math.Clamp(MathF.Round(real / 0.05f, MidpointRounding.ToEven) + 128, 0, 255);
                Assert.Equal(q, cb[i]);
            }
        }
    }

    [Fact]
    public void PackingRecordsWhetherWeightsFitSevenBits()
    {
        Assert.True(PackedInt8Weights.Pack(new sbyte[] { -64, 64, 0, 3 }, 2, 2).SevenBit);
        Assert.False(PackedInt8Weights.Pack(new sbyte[] { -65, 0, 0, 3 }, 2, 2).SevenBit);
        Assert.Equal(new[] { -64, 67 }, PackedInt8Weights.Pack(new sbyte[] { -64, 64, 0, 3 }, 2, 2).ColumnSums);
    }

    [Fact]
    public void BadShapesAreRefusedWithAMessage()
    {
        Assert.Throws<ArgumentException>(() => PackedInt8Weights.Pack(new sbyte[3], 2, 2));
        var w = PackedInt8Weights.Pack(new sbyte[8], 2, 4);
        var e = Assert.Throws<ArgumentException>(() =>
            Int8Gemm.Multiply(new byte[4], 1, 0, [], w, new Int8GemmEpilogue(new float[3], null, null), new float[4], default, 1));
        Assert.Contains("column scale", e.Message);
    }
}
