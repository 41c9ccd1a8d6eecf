using System.Runtime.Intrinsics.X86;
using NetOnnx.Kernels.ConvPool;
using NetOnnx.Kernels.Elementwise;
using Xunit;

namespace NetOnnx.Tests;

/// <summary>
/// The phased AVX-512 direct convolution (depthwise, grouped and dense) against a naive double-precision loop:
/// strides 1-4 (phase planes),
/// dilations with and without strides, asymmetric pads, planes large enough to be cut into row chunks, channel
/// multipliers, residuals, the in-register activations and the ones applied afterwards, and channel ranges run
/// on several threads at once (each thread has its own scratch planes).
/// </summary>
public class PhasedConvTests
{
    private static readonly FusedActivation[] Activations =
    [
        FusedActivation.None, new(ActivationKind.Relu), new(ActivationKind.Clip, -0.3f, 0.4f), new(ActivationKind.HardSwish),
        new(ActivationKind.HardSigmoid, 0.2f, 0.5f), new(ActivationKind.LeakyRelu, 0.1f),
    ];

    /// <summary>The activations in closed form, independent of FusedActivation.</summary>
    private static double Act(FusedActivation f, double x) => f.Kind switch
    {
        ActivationKind.None => x,
        ActivationKind.Relu => Math.Max(x, 0),
        ActivationKind.Clip => Math.Min(Math.Max(x, f.A), f.B),
        ActivationKind.HardSwish => x * Math.Clamp(x / 6 + 0.5, 0, 1),
        ActivationKind.HardSigmoid => Math.Clamp(f.A * x + f.B, 0, 1),
        ActivationKind.LeakyRelu => x >= 0 ? x : f.A * x,
        _ => throw new ArgumentException(f.Kind.ToString()),
    };

    private static double[] Naive(float[] x, float[] w, float[] bias, float[] res, int multiplier, ConvGeometry g, FusedActivation act, int m) =>
        Naive(x, w, bias, res, 1, multiplier, g, act, m);

    /// <summary>Groups of cg input and mg output channels; w is [m, cg, KH, KW].</summary>
    private static double[] Naive(float[] x, float[] w, float[] bias, float[] res, int cg, int mg, ConvGeometry g, FusedActivation act, int m)
    {
        int IH = g.In[1], IW = g.In[2], OH = g.Out[1], OW = g.Out[2], KH = g.Kernel[1], KW = g.Kernel[2];
        var y = new double[m * OH * OW];
        for (int oc = 0; oc < m; oc++)
            for (int oh = 0; oh < OH; oh++)
                for (int ow = 0; ow < OW; ow++)
                {
                    double s = bias.Length > 0 ? bias[oc] : 0;
                    for (int ic = 0; ic < cg; ic++)
                        for (int kh = 0; kh < KH; kh++)
                            for (int kw = 0; kw < KW; kw++)
                            {
                                int ih = oh * g.Stride[1] + kh * g.Dilation[1] - g.PadBegin[1];
                                int iw = ow * g.Stride[2] + kw * g.Dilation[2] - g.PadBegin[2];
                                if (ih < 0 || ih >= IH || iw < 0 || iw >= IW) continue;
                                s += (double)w[((oc * cg + ic) * KH + kh) * KW + kw] * x[((oc / mg * cg + ic) * IH + ih) * IW + iw];
                            }
                    int o = (oc * OH + oh) * OW + ow;
                    if (res.Length > 0) s += res[o];
                    y[o] = Act(act, s);
                }
        return y;
    }

    private static float[] Rand(Random r, int n)
    {
        var a = new float[n];
        for (int i = 0; i < n; i++) a[i] = (float)r.NextDouble() * 2 - 1;
        return a;
    }

    [Fact]
    public void MatchesNaiveOnRandomGeometries()
    {
        if (!Avx512F.IsSupported) Assert.Skip("AVX-512 not available: the phased kernel is not used on this machine");
        var rng = new Random(21);
        int ran = 0;
        for (int trial = 0; trial < 150; trial++)
        {
            bool oneD = trial % 6 == 0;
            bool large = trial % 10 == 1;
            int ih = oneD ? 1 : rng.Next(1, large ? 70 : 20), iw = rng.Next(1, large ? 90 : 40);
            int kh = oneD ? 1 : rng.Next(1, 6), kw = rng.Next(1, 6);
            long sh = rng.Next(1, 5), sw = rng.Next(1, 5);
            long dh = rng.Next(1, 4), dw = rng.Next(1, 4);
            long[] pads = oneD ? [0, rng.Next(0, 4), 0, rng.Next(0, 4)] : [rng.Next(0, 4), rng.Next(0, 4), rng.Next(0, 4), rng.Next(0, 4)];
            var g = ConvGeometry.Create([ih, iw], [kh, kw], [sh, sw], [dh, dw], pads, "NOTSET", ceilMode: false);
            if (g.OutSize <= 0) continue;
            int channels = rng.Next(1, 6), multiplier = rng.Next(1, 4), m = channels * multiplier;
            var x = Rand(rng, channels * g.InSize);
            var w = Rand(rng, m * g.KernelSize);
            var bias = rng.Next(3) > 0 ? Rand(rng, m) : [];
            var res = rng.Next(3) == 0 ? Rand(rng, m * g.OutSize) : [];
            var act = Activations[rng.Next(Activations.Length)];
            var y = new float[m * g.OutSize];
            Array.Fill(y, float.NaN);
            // Uneven channel ranges on parallel threads, as the Conv operator splits them.
            int cut = rng.Next(0, m + 1);
            Parallel.Invoke(
                () => PhasedConv.Run(x, w, bias, 1, multiplier, g, y, 0, cut, res, act),
                () => PhasedConv.Run(x, w, bias, 1, multiplier, g, y, cut, m, res, act));
            var expected = Naive(x, w, bias, res, multiplier, g, act, m);
            for (int i = 0; i < y.Length; i++)
                if (!(Math.Abs(y[i] - expected[i]) <= 1e-4 * (1 + Math.Abs(expected[i]))))
                    Assert.Fail($"in [{ih},{iw}] k [{kh},{kw}] s [{sh},{sw}] d [{dh},{dw}] pads [{string.Join(",", pads)}] mult {multiplier} " +
                        $"{act.Kind} residual {res.Length > 0}: y[{i}] = {y[i]}, expected {expected[i]}");
            ran++;
        }
        Assert.True(ran > 100, $"only {ran} geometries had outputs");
    }

    [Fact]
    public void DenseAndGroupedMatchNaive()
    {
        if (!Avx512F.IsSupported) Assert.Skip("AVX-512 not available: the phased kernel is not used on this machine");
        var rng = new Random(33);
        for (int trial = 0; trial < 80; trial++)
        {
            int ih = rng.Next(1, trial % 8 == 0 ? 60 : 18), iw = rng.Next(1, trial % 8 == 0 ? 70 : 40);
            int kh = rng.Next(1, 6), kw = rng.Next(1, 6);
            long sh = rng.Next(1, 4), sw = rng.Next(1, 4), dh = rng.Next(1, 3), dw = rng.Next(1, 3);
            long[] pads = [rng.Next(0, 3), rng.Next(0, 3), rng.Next(0, 3), rng.Next(0, 3)];
            var g = ConvGeometry.Create([ih, iw], [kh, kw], [sh, sw], [dh, dw], pads, "NOTSET", ceilMode: false);
            if (g.OutSize <= 0) continue;
            // Output channel counts around the 4-channel blocks (1-11 per group), 1-3 groups of 1-5 inputs.
            int groups = rng.Next(1, 4), cg = rng.Next(1, 6), mg = rng.Next(1, 12), m = groups * mg;
            var x = Rand(rng, groups * cg * g.InSize);
            var w = Rand(rng, m * cg * g.KernelSize);
            var bias = rng.Next(3) > 0 ? Rand(rng, m) : [];
            var res = rng.Next(3) == 0 ? Rand(rng, m * g.OutSize) : [];
            var act = Activations[rng.Next(Activations.Length)];
            var y = new float[m * g.OutSize];
            Array.Fill(y, float.NaN);
            int cut = rng.Next(0, m + 1);
            Parallel.Invoke(
                () => PhasedConv.Run(x, w, bias, cg, mg, g, y, 0, cut, res, act),
                () => PhasedConv.Run(x, w, bias, cg, mg, g, y, cut, m, res, act));
            var expected = Naive(x, w, bias, res, cg, mg, g, act, m);
            for (int i = 0; i < y.Length; i++)
                if (!(Math.Abs(y[i] - expected[i]) <= 1e-4 * (1 + Math.Abs(expected[i]))))
                    Assert.Fail($"in [{ih},{iw}] k [{kh},{kw}] s [{sh},{sw}] d [{dh},{dw}] groups {groups} cg {cg} mg {mg} cut {cut} " +
                        $"{act.Kind} residual {res.Length > 0}: y[{i}] = {y[i]}, expected {expected[i]}");
        }
    }

    [Fact]
    public void FirstLayersMatchNaive()
    {
        if (!Avx512F.IsSupported) Assert.Skip("AVX-512 not available: the phased kernel is not used on this machine");
        // mobilenet's 3x3/2 stem on 3 channels, mnist's 5x5 convs and 1x1 layers (read in place where planes are whole
        // vectors, copied where not), at full size.
        var rng = new Random(8);
        foreach (var (c, h, m, k, s) in new[] { (3, 224, 16, 3, 2), (1, 28, 8, 5, 1), (8, 14, 16, 5, 1), (16, 28, 24, 1, 1), (5, 8, 9, 1, 1), (7, 7, 6, 1, 1) })
        {
            var g = ConvGeometry.Create([h, h], [k, k], [s, s], [1, 1], [k / 2, k / 2, k / 2, k / 2], "NOTSET", ceilMode: false);
            Assert.True(PhasedConv.PreferredOverGemm(g, c, m));
            var x = Rand(rng, c * g.InSize); var w = Rand(rng, m * c * g.KernelSize); var bias = Rand(rng, m);
            var act = new FusedActivation(ActivationKind.HardSwish);
            var y = new float[m * g.OutSize];
            PhasedConv.Run(x, w, bias, c, m, g, y, 0, m, default, act);
            var expected = Naive(x, w, bias, [], c, m, g, act, m);
            for (int i = 0; i < y.Length; i++)
                if (!(Math.Abs(y[i] - expected[i]) <= 1e-4 * (1 + Math.Abs(expected[i]))))
                    Assert.Fail($"C{c} {h}x{h} M{m} k{k} s{s}: y[{i}] = {y[i]}, expected {expected[i]}");
        }
    }

    [Fact]
    public void MobileNetLayersMatchNaive()
    {
        if (!Avx512F.IsSupported) Assert.Skip("AVX-512 not available: the phased kernel is not used on this machine");
        // The depthwise layers of mobilenet_v2/v3 (3x3 and 5x5, stride 1 and 2, pad k/2) at reduced channel counts.
        var rng = new Random(5);
        foreach (var (h, k, s) in new[] { (112, 3, 2), (56, 3, 1), (28, 5, 2), (14, 5, 1), (14, 5, 2), (7, 5, 1), (7, 3, 1), (112, 3, 1) })
        {
            var g = ConvGeometry.Create([h, h], [k, k], [s, s], [1, 1], [k / 2, k / 2, k / 2, k / 2], "NOTSET", ceilMode: false);
            int m = 3;
            var x = Rand(rng, m * g.InSize); var w = Rand(rng, m * g.KernelSize); var bias = Rand(rng, m);
            foreach (var act in new[] { new FusedActivation(ActivationKind.HardSwish), new FusedActivation(ActivationKind.Clip, 0f, 6f) })
            {
                var y = new float[m * g.OutSize];
                PhasedConv.Run(x, w, bias, 1, 1, g, y, 0, m, default, act);
                var expected = Naive(x, w, bias, [], 1, g, act, m);
                for (int i = 0; i < y.Length; i++)
                    if (!(Math.Abs(y[i] - expected[i]) <= 1e-4 * (1 + Math.Abs(expected[i]))))
                        Assert.Fail($"{h}x{h} k{k} s{s} {act.Kind}: y[{i}] = {y[i]}, expected {expected[i]}");
            }
        }
    }

    [Fact]
    public void RejectsThreeDimensionalGeometry()
    {
        var g = ConvGeometry.Create([3, 4, 4], [2, 2, 2], null, null, null, "NOTSET", ceilMode: false);
        Assert.False(PhasedConv.Supports(g));
        Assert.False(PhasedConv.PreferredOverGemm(g, 1, 1));
        var e = Assert.Throws<ArgumentException>(() => PhasedConv.Run(new float[48], new float[8], [], 1, 1, g, new float[18], 0, 1, default, FusedActivation.None));
        Assert.Contains("not supported", e.Message);
    }

    /// <summary>
    /// The sixteen-channel blocked depthwise kernel: channel counts across and inside 16-channel blocks, channel
    /// ranges that start and end mid-block on two threads at once, strides, dilations, asymmetric pads, 3x3 to 7x7
    /// kernels, planes wide enough to be cut into several row bands, residuals and every activation.
    /// </summary>
    [Fact]
    public void BlockedDepthwiseMatchesNaive()
    {
        if (!Avx512F.IsSupported) Assert.Skip("AVX-512 not available: the blocked depthwise kernel is not used on this machine");
        var rng = new Random(45);
        int ran = 0, banded = 0;
        for (int trial = 0; trial < 120; trial++)
        {
            bool wide = trial % 8 == 3;
            int ih = rng.Next(1, wide ? 40 : 20), iw = rng.Next(1, wide ? 300 : 30);
            int kh = rng.Next(1, 8), kw = rng.Next(1, 8);
            long sh = rng.Next(1, 4), sw = rng.Next(1, 4), dh = rng.Next(1, 3), dw = rng.Next(1, 3);
            long[] pads = [rng.Next(0, 4), rng.Next(0, 4), rng.Next(0, 4), rng.Next(0, 4)];
            var g = ConvGeometry.Create([ih, iw], [kh, kw], [sh, sw], [dh, dw], pads, "NOTSET", ceilMode: false);
            if (g.OutSize <= 0) continue;
            int m = rng.Next(1, 40);
            var x = Rand(rng, m * g.InSize);
            var w = Rand(rng, m * g.KernelSize);
            var bias = rng.Next(3) > 0 ? Rand(rng, m) : [];
            var res = rng.Next(3) == 0 ? Rand(rng, m * g.OutSize) : [];
            var act = Activations[rng.Next(Activations.Length)];
            var y = new float[m * g.OutSize];
            Array.Fill(y, float.NaN);
            int cut = rng.Next(0, m + 1);
            Parallel.Invoke(
                () => DepthwiseBlocked.Run(x, w, bias, g, y, 0, cut, res, act),
                () => DepthwiseBlocked.Run(x, w, bias, g, y, cut, m, res, act));
            var expected = Naive(x, w, bias, res, 1, g, act, m);
            for (int i = 0; i < y.Length; i++)
                if (!(Math.Abs(y[i] - expected[i]) <= 1e-4 * (1 + Math.Abs(expected[i]))))
                    Assert.Fail($"in [{ih},{iw}] k [{kh},{kw}] s [{sh},{sw}] d [{dh},{dw}] pads [{string.Join(",", pads)}] channels {m} cut {cut} " +
                        $"{act.Kind} residual {res.Length > 0}: y[{i}] = {y[i]}, expected {expected[i]}");
            ran++;
            // Tile rows for 128 KiB at this width: fewer than the image needs means several bands ran.
            if ((long)(g.In[1] + pads[0] + pads[2]) * (g.In[2] + pads[1] + pads[3]) * 16 > 32 * 1024) banded++;
        }
        Assert.True(ran > 80, $"only {ran} geometries had outputs");
        Assert.True(banded > 3, $"only {banded} geometries were cut into row bands");
    }

    /// <summary>The depthwise dispatcher sends small planes with multiplier 1 to the blocked kernel and others elsewhere; all agree.</summary>
    [Fact]
    public void DepthwiseDispatchMatchesNaiveOnMobileNetShapes()
    {
        var rng = new Random(46);
        foreach (var (c, size, k, s, mult) in new[] { (960, 7, 3, 1, 1), (576, 14, 3, 2, 1), (72, 7, 5, 1, 1), (20, 14, 3, 1, 2), (32, 56, 3, 1, 1) })
        {
            long p = k / 2;
            var g = ConvGeometry.Create([size, size], [k, k], [s, s], null, [p, p, p, p], "NOTSET", ceilMode: false);
            int m = c * mult;
            var x = Rand(rng, c * g.InSize);
            var w = Rand(rng, m * g.KernelSize);
            var bias = Rand(rng, m);
            var act = new FusedActivation(ActivationKind.Clip, 0f, 6f);
            var y = new float[m * g.OutSize];
            Depthwise.Run(x, w, bias, mult, g, y, 0, m, default, act);
            var expected = Naive(x, w, bias, [], mult, g, act, m);
            for (int i = 0; i < y.Length; i++)
                Assert.True(Math.Abs(y[i] - expected[i]) <= 1e-4 * (1 + Math.Abs(expected[i])), $"{c}x{size} k{k} s{s} mult {mult}: y[{i}] = {y[i]}, expected {expected[i]}");
        }
    }

    /// <summary>Each fused activation over spans of every tail length equals its closed form.</summary>
    [Fact]
    public void FusedActivationSpansMatchClosedForms()
    {
        var rng = new Random(47);
        foreach (var act in Activations)
            foreach (int n in new[] { 0, 1, 7, 8, 15, 16, 17, 63, 64, 65, 200 })
            {
                var v = new float[n];
                for (int i = 0; i < n; i++) v[i] = (float)(rng.NextDouble() * 16 - 8);
                var original = (float[])v.Clone();
                act.Apply(v);
                for (int i = 0; i < n; i++)
                    Assert.True(Math.Abs(v[i] - Act(act, original[i])) <= 1e-6 * (1 + Math.Abs(original[i])), $"{act.Kind} n {n} [{i}]: {v[i]} for {original[i]}");
            }
    }
}
