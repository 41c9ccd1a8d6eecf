using NetOnnx.Kernels.ConvPool;
using NetOnnx.Kernels.Elementwise;
using NetOnnx.Kernels.Gemm;
using Xunit;

namespace NetOnnx.Tests;

/// <summary>
/// The SGEMM epilogue, implicit-GEMM convolution (PatchSource) and the depthwise kernels against naive loops
/// in double precision, over random odd shapes: sizes that are not multiples of the 8x32 tile, K = 1,
/// zero-sized dimensions, strides, asymmetric pads, dilations, groups and channel multipliers.
/// </summary>
public class ConvGemmKernelTests
{
    internal static float[] Rand(Random r, int n)
    {
        var a = new float[n];
        for (int i = 0; i < n; i++) a[i] = (float)r.NextDouble() * 2 - 1;
        return a;
    }

    /// <summary>The activations in closed form, written here independently of FusedActivation.</summary>
    internal static double Act(FusedActivation f, double x) => f.Kind switch
    {
        ActivationKind.None => x,
        ActivationKind.Relu => Math.Max(x, 0),
        ActivationKind.Clip => Math.Min(Math.Max(x, f.A), f.B),
        ActivationKind.Sigmoid => 1 / (1 + Math.Exp(-x)),
        ActivationKind.HardSwish => x * Math.Clamp(x / 6 + 0.5, 0, 1),
        _ => throw new ArgumentException(f.Kind.ToString()),
    };

    private static readonly FusedActivation[] Activations =
    [
        FusedActivation.None, new(ActivationKind.Relu), new(ActivationKind.Clip, -0.3f, 0.4f),
        new(ActivationKind.Sigmoid), new(ActivationKind.HardSwish),
    ];

    private static void Close(double expected, float got, string what, double tol = 2e-4)
    {
        if (!(Math.Abs(got - expected) <= tol * (1 + Math.Abs(expected))))
            Assert.Fail($"{what}: got {got}, expected {expected}");
    }

    [Fact]
    public void SgemmEpilogueMatchesNaiveOnOddShapes()
    {
        var rng = new Random(4);
        int[] ms = [0, 1, 3, 7, 8, 9, 17, 33], ns = [0, 1, 2, 3, 5, 31, 32, 33, 70, 600], ks = [0, 1, 2, 19, 256, 300];
        for (int trial = 0; trial < 80; trial++)
        {
            int m = ms[rng.Next(ms.Length)], n = ns[rng.Next(ns.Length)], k = ks[rng.Next(ks.Length)];
            var act = Activations[rng.Next(Activations.Length)];
            bool withBias = rng.Next(2) == 0, withRes = rng.Next(2) == 0;
            int ldr = n + rng.Next(3);
            var a = Rand(rng, m * k); var b = Rand(rng, k * n);
            var bT = new float[n * k];
            for (int p = 0; p < k; p++) for (int j = 0; j < n; j++) bT[j * k + p] = b[p * n + j];
            var bias = withBias ? Rand(rng, m) : [];
            var res = withRes ? Rand(rng, Math.Max(0, (m - 1) * ldr + n)) : [];
            var expected = new double[m * n];
            for (int i = 0; i < m; i++)
                for (int j = 0; j < n; j++)
                {
                    double s = 0;
                    for (int p = 0; p < k; p++) s += (double)a[i * k + p] * b[p * n + j];
                    if (withBias) s += bias[i];
                    if (withRes) s += res[i * ldr + j];
                    expected[i * n + j] = Act(act, s);
                }
            var packed = Sgemm.Pack(false, m, k, a, k);
            foreach (int threads in new[] { 1, 2 })
            {
                var got = new float[m * n];
                Array.Fill(got, float.NaN); // beta 0: C's old contents must not leak in
                Sgemm.Multiply(false, false, m, n, k, 1f, a, k, b, n, 0f, got, n, bias, res, ldr, act, threads);
                var gotPacked = new float[m * n];
                Array.Fill(gotPacked, float.NaN);
                // Packed weights read B either as is or transposed (n x k).
                if (trial % 2 == 0) Sgemm.Multiply(packed, false, n, 1f, b, n, 0f, gotPacked, n, bias, res, ldr, act, threads);
                else Sgemm.Multiply(packed, true, n, 1f, bT, Math.Max(1, k), 0f, gotPacked, n, bias, res, ldr, act, threads);
                for (int i = 0; i < expected.Length; i++)
                {
                    string what = $"m={m} n={n} k={k} {act.Kind} bias={withBias} res={withRes} t={threads} [{i}]";
                    Close(expected[i], got[i], what);
                    Close(expected[i], gotPacked[i], "packed " + what);
                }
            }
        }
    }

    [Fact]
    public void ClampEpiloguePassesNaNThrough()
    {
        // Relu(NaN) is NaN in the unfused graph, so the fused store must not turn it into 0.
        int m = 8, n = 32, k = 4;
        var a = new float[m * k]; var b = new float[k * n];
        var res = new float[m * n];
        res[5] = float.NaN;
        var c = new float[m * n];
        Sgemm.Multiply(Sgemm.Pack(false, m, k, a, k), false, n, 1f, b, n, 0f, c, n, default, res, n, new FusedActivation(ActivationKind.Relu));
        Assert.True(float.IsNaN(c[5]));
        Assert.Equal(0f, c[6]);
    }

    /// <summary>y[m, o] = sum over c, taps of w[m, c, tap] * x[c, o*stride + tap*dilation - pad], zero outside.</summary>
    internal static double[] NaiveConv(float[] x, int xOff, float[] w, int cg, int mg, ConvGeometry g)
    {
        int kSize = g.KernelSize, outSize = g.OutSize;
        var y = new double[mg * outSize];
        for (int oc = 0; oc < mg; oc++)
            for (int od = 0; od < g.Out[0]; od++)
            for (int oh = 0; oh < g.Out[1]; oh++)
            for (int ow = 0; ow < g.Out[2]; ow++)
            {
                double s = 0;
                for (int c = 0; c < cg; c++)
                    for (int kd = 0; kd < g.Kernel[0]; kd++)
                    for (int kh = 0; kh < g.Kernel[1]; kh++)
                    for (int kw = 0; kw < g.Kernel[2]; kw++)
                    {
                        int id = od * g.Stride[0] + kd * g.Dilation[0] - g.PadBegin[0];
                        int ih = oh * g.Stride[1] + kh * g.Dilation[1] - g.PadBegin[1];
                        int iw = ow * g.Stride[2] + kw * g.Dilation[2] - g.PadBegin[2];
                        if (id < 0 || id >= g.In[0] || ih < 0 || ih >= g.In[1] || iw < 0 || iw >= g.In[2]) continue;
                        int tap = (kd * g.Kernel[1] + kh) * g.Kernel[2] + kw;
                        s += (double)w[(oc * cg + c) * kSize + tap] * x[xOff + c * g.InSize + (id * g.In[1] + ih) * g.In[2] + iw];
                    }
                y[oc * outSize + (od * g.Out[1] + oh) * g.Out[2] + ow] = s;
            }
        return y;
    }

    internal static ConvGeometry RandomGeometry(Random rng, int dims, int maxStride, bool allowDilation, bool same = false)
    {
        var input = new int[dims]; var kernel = new int[dims];
        var strides = new long[dims]; var dil = new long[dims]; var pads = new long[2 * dims];
        for (int i = 0; i < dims; i++)
        {
            // Rows wider than 2 x 16 reach the depthwise kernel's second vector at stride 2.
            input[i] = rng.Next(1, dims == 3 ? 6 : i == dims - 1 ? 45 : 14);
            kernel[i] = rng.Next(1, 6);
            strides[i] = rng.Next(1, maxStride + 1);
            dil[i] = allowDilation ? rng.Next(1, 3) : 1;
            pads[i] = rng.Next(0, 4); pads[i + dims] = rng.Next(0, 4);
            if (same)
            {
                // Output as large as the input (the masked-load packing path), padding split unevenly at random.
                strides[i] = 1;
                int total = (int)((kernel[i] - 1) * dil[i]);
                pads[i] = rng.Next(0, total + 1); pads[i + dims] = total - pads[i];
            }
        }
        return ConvGeometry.Create(input, kernel, strides, dil, pads, "NOTSET", false);
    }

    /// <summary>
    /// Products large enough to be cut into several chunks per thread (column chunks that end mid-tile, a row
    /// split for tall A, patch-source column offsets): every chunk's result must land where the naive loop puts it.
    /// </summary>
    [Theory]
    [InlineData(40, 1000, 300, 2)]
    [InlineData(40, 1000, 300, 3)]
    [InlineData(520, 70, 200, 2)]
    public void SgemmManyChunksMatchNaive(int m, int n, int k, int threads)
    {
        var rng = new Random(m + n + k + threads);
        var a = Rand(rng, m * k); var b = Rand(rng, k * n); var bias = Rand(rng, m);
        var act = new FusedActivation(ActivationKind.Relu);
        var got = new float[m * n];
        Array.Fill(got, float.NaN);
        Sgemm.Multiply(false, false, m, n, k, 1f, a, k, b, n, 0f, got, n, bias, default, 0, act, threads);
        var gotPacked = new float[m * n];
        Array.Fill(gotPacked, float.NaN);
        Sgemm.Multiply(Sgemm.Pack(false, m, k, a, k), false, n, 1f, b, n, 0f, gotPacked, n, bias, default, 0, act, threads);
        for (int i = 0; i < m; i++)
            for (int j = 0; j < n; j++)
            {
                double s = bias[i];
                for (int p = 0; p < k; p++) s += (double)a[i * k + p] * b[p * n + j];
                Close(Act(act, s), got[i * n + j], $"[{i},{j}]");
                Close(Act(act, s), gotPacked[i * n + j], $"packed [{i},{j}]");
            }
    }

    [Fact]
    public void ImplicitGemmManyChunksMatchNaive()
    {
        var rng = new Random(11);
        // 16 channels of 41x43, 3x3 pad 1: 1763 output columns, 4 x 36 = 144 deep, cut into several column chunks.
        var g = ConvGeometry.Create([41, 43], [3, 3], [1, 1], [1, 1], [1, 1, 1, 1], "NOTSET", false);
        int cg = 16, mg = 36, kg = cg * g.KernelSize;
        var x = Rand(rng, cg * g.InSize);
        var w = Rand(rng, mg * kg);
        var expected = NaiveConv(x, 0, w, cg, mg, g);
        var packed = Sgemm.Pack(false, mg, kg, w, kg);
        foreach (int threads in new[] { 2, 3 })
        {
            var y = new float[mg * g.OutSize];
            Sgemm.Multiply(packed, new PatchSource(x, 0, g), g.OutSize, y, g.OutSize, default, default, 0, FusedActivation.None, threads);
            for (int i = 0; i < y.Length; i++) Close(expected[i], y[i], $"t={threads} [{i}]");
        }
    }

    [Fact]
    public void ImplicitGemmConvMatchesNaive()
    {
        var rng = new Random(7);
        for (int trial = 0; trial < 120; trial++)
        {
            var g = RandomGeometry(rng, rng.Next(1, 4), 3, true, same: trial % 2 == 0);
            if (g.OutSize == 0) continue;
            int groups = rng.Next(1, 3), cg = rng.Next(1, 6), mg = rng.Next(1, 20);
            int c = groups * cg, kg = cg * g.KernelSize;
            // A batch of two images: the second image's groups start at a non-zero offset into x.
            var x = Rand(rng, 2 * c * g.InSize);
            var w = Rand(rng, groups * mg * kg);
            var bias = Rand(rng, mg);
            var act = Activations[rng.Next(Activations.Length)];
            for (int gi = 0; gi < groups; gi++)
            {
                int xOff = (c + gi * cg) * g.InSize;
                var wg = w.AsSpan(gi * mg * kg, mg * kg).ToArray();
                var expected = NaiveConv(x, xOff, wg, cg, mg, g);
                var packed = Sgemm.Pack(false, mg, kg, wg, kg);
                foreach (int threads in new[] { 1, 2 })
                {
                    var y = new float[mg * g.OutSize];
                    Sgemm.Multiply(packed, new PatchSource(x, xOff, g), g.OutSize, y, g.OutSize, bias, default, 0, act, threads);
                    for (int i = 0; i < y.Length; i++)
                        Close(Act(act, expected[i] + bias[i / g.OutSize]), y[i],
                            $"in [{string.Join(",", g.In)}] k [{string.Join(",", g.Kernel)}] s [{string.Join(",", g.Stride)}] d [{string.Join(",", g.Dilation)}] pad [{string.Join(",", g.PadBegin)}] group {gi} t={threads} [{i}]");
                }
            }
        }
    }

    [Fact]
    public void DepthwiseMatchesNaive()
    {
        var rng = new Random(11);
        for (int trial = 0; trial < 120; trial++)
        {
            // Mostly 2-D with stride 1 or 2 (the vector row kernel), some 1-D/3-D and stride 3 (general path).
            int dims = trial % 10 == 0 ? 3 : trial % 5 == 0 ? 1 : 2;
            var g = RandomGeometry(rng, dims, trial % 7 == 0 ? 3 : 2, rng.Next(3) == 0);
            if (g.OutSize == 0) continue;
            int channels = rng.Next(1, 5), multiplier = rng.Next(1, 3), m = channels * multiplier;
            var x = Rand(rng, channels * g.InSize);
            var w = Rand(rng, m * g.KernelSize);
            var bias = rng.Next(2) == 0 ? Rand(rng, m) : [];
            var res = rng.Next(2) == 0 ? Rand(rng, m * g.OutSize) : [];
            var act = Activations[rng.Next(Activations.Length)];
            var y = new float[m * g.OutSize];
            Array.Fill(y, float.NaN);
            // Channels [1, m) only in a second call, as the operator splits channels across threads.
            Depthwise.Run(x, w, bias, multiplier, g, y, 0, 1, res, act);
            Depthwise.Run(x, w, bias, multiplier, g, y, 1, m, res, act);
            for (int oc = 0; oc < m; oc++)
            {
                var expected = NaiveConv(x, oc / multiplier * g.InSize, w.AsSpan(oc * g.KernelSize, g.KernelSize).ToArray(), 1, 1, g);
                for (int o = 0; o < g.OutSize; o++)
                {
                    double e = expected[o] + (bias.Length > 0 ? bias[oc] : 0) + (res.Length > 0 ? res[oc * g.OutSize + o] : 0);
                    Close(Act(act, e), y[oc * g.OutSize + o],
                        $"in [{string.Join(",", g.In)}] k [{string.Join(",", g.Kernel)}] s [{string.Join(",", g.Stride)}] d [{string.Join(",", g.Dilation)}] pad [{string.Join(",", g.PadBegin)}] mult {multiplier} {act.Kind} oc {oc} o {o}");
                }
            }
        }
    }

    [Fact]
    public void MaxPoolRowKernelMatchesNaive()
    {
        var rng = new Random(13);
        int checkedCases = 0;
        for (int trial = 0; trial < 100; trial++)
        {
            int dims = trial % 5 == 0 ? 1 : 2;
            var input = new int[dims]; var kernel = new int[dims]; var strides = new long[dims]; var dil = new long[dims]; var pads = new long[2 * dims];
            for (int i = 0; i < dims; i++)
            {
                input[i] = rng.Next(1, i == dims - 1 ? 45 : 12);
                kernel[i] = rng.Next(1, 5);
                strides[i] = rng.Next(1, 3);
                dil[i] = strides[i] == 1 ? rng.Next(1, 3) : 1;
                pads[i] = rng.Next(0, kernel[i]); pads[i + dims] = rng.Next(0, kernel[i]);
            }
            var g = ConvGeometry.Create(input, kernel, strides, dil, pads, "NOTSET", ceilMode: rng.Next(2) == 0);
            if (g.OutSize == 0 || !Pooling.HasRowKernel(g)) continue;
            int planes = rng.Next(1, 4);
            var x = Rand(rng, planes * g.InSize);
            if (trial % 3 == 0) x[rng.Next(x.Length)] = float.NaN; // NaN inputs are skipped, as in the scalar path
            var y = new float[planes * g.OutSize];
            Pooling.MaxRows512(x, y, 0, 1, g);
            Pooling.MaxRows512(x, y, 1, planes, g);
            for (int p = 0; p < planes; p++)
                for (int oh = 0; oh < g.Out[1]; oh++)
                    for (int ow = 0; ow < g.Out[2]; ow++)
                    {
                        float best = float.MinValue;
                        for (int kh = 0; kh < g.Kernel[1]; kh++)
                            for (int kw = 0; kw < g.Kernel[2]; kw++)
                            {
                                int ih = oh * g.Stride[1] + kh * g.Dilation[1] - g.PadBegin[1];
                                int iw = ow * g.Stride[2] + kw * g.Dilation[2] - g.PadBegin[2];
                                if (ih < 0 || ih >= g.In[1] || iw < 0 || iw >= g.In[2]) continue;
                                float v = x[p * g.InSize + ih * g.In[2] + iw];
                                if (v > best) best = v;
                            }
                        Assert.Equal(best, y[(p * g.Out[1] + oh) * g.Out[2] + ow]);
                    }
            checkedCases++;
        }
        if (System.Runtime.Intrinsics.X86.Avx512F.IsSupported) Assert.True(checkedCases > 50, $"only {checkedCases} geometries reached the kernel");
    }
}
