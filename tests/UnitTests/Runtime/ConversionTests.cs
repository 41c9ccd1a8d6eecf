using NetOnnx.Kernels.Conversions;
using NetOnnx.Kernels.Quantization;
using NetOnnx.Runtime;
using NetOnnx.Runtime.Operators.Conversion;
using Xunit;

namespace NetOnnx.Tests;

public class ConversionTests
{
    public static TheoryData<string> Formats => new() { "E4M3FN", "E4M3FNUZ", "E5M2", "E5M2FNUZ", "E2M1" };

    private static MiniFloatFormat Format(string name) => name switch
    {
        "E4M3FN" => MiniFloatFormat.E4M3FN,
        "E4M3FNUZ" => MiniFloatFormat.E4M3FNUZ,
        "E5M2" => MiniFloatFormat.E5M2,
        "E5M2FNUZ" => MiniFloatFormat.E5M2FNUZ,
        _ => MiniFloatFormat.E2M1,
    };

    [Theory]
    [MemberData(nameof(Formats))]
    public void EveryCodeRoundTrips(string name)
    {
        var f = Format(name);
        int codes = f.SignMask * 2;
        for (int c = 0; c < codes; c++)
        {
            float v = f.Decode((byte)c);
            if (float.IsNaN(v)) { Assert.True(float.IsNaN(f.Decode(f.Encode(v, false)))); continue; }
            byte back = f.Encode(v, saturate: false);
            // -0 has no code of its own in the fnuz formats.
            if (f.Fnuz && v == 0) Assert.Equal(0, back);
            else Assert.Equal(c, back);
        }
    }

    [Theory]
    [MemberData(nameof(Formats))]
    public void MidpointsRoundToEven(string name)
    {
        var f = Format(name);
        int maxMag = f.MaxCode;
        for (int c = 0; c < maxMag; c++)
        {
            float lo = f.Decode((byte)c), hi = f.Decode((byte)(c + 1));
            float mid = (lo + hi) / 2;
            int expected = (c & 1) == 0 ? c : c + 1;
            Assert.Equal(expected, f.Encode(mid, saturate: true));
            Assert.Equal(c, f.Encode(MathF.BitDecrement(mid), saturate: true));
            Assert.Equal(c + 1, f.Encode(MathF.BitIncrement(mid), saturate: true));
        }
    }

    [Fact]
    public void Float8OverflowFollowsSaturate()
    {
        Assert.Equal(0x7E, MiniFloatFormat.E4M3FN.Encode(1e6f, true));
        Assert.Equal(0x7F, MiniFloatFormat.E4M3FN.Encode(1e6f, false));
        Assert.Equal(0xFE, MiniFloatFormat.E4M3FN.Encode(float.NegativeInfinity, true));
        Assert.Equal(0x7C, MiniFloatFormat.E5M2.Encode(float.PositiveInfinity, false));
        Assert.Equal(0x7B, MiniFloatFormat.E5M2.Encode(float.PositiveInfinity, true));
        Assert.Equal(0x80, MiniFloatFormat.E5M2FNUZ.Encode(float.NaN, true));
        Assert.Equal(0x00, MiniFloatFormat.E4M3FNUZ.Encode(-1e-9f, true));
        // 448 < x < 464 rounds down to the largest finite E4M3FN value even without saturation.
        Assert.Equal(0x7E, MiniFloatFormat.E4M3FN.Encode(460f, false));
        Assert.Equal(0x7E, MiniFloatFormat.E4M3FN.Encode(464f, false)); // tie: to even
        Assert.Equal(0x7F, MiniFloatFormat.E4M3FN.Encode(465f, false));
        // float4 has no specials: always saturates.
        Assert.Equal(0x7, MiniFloatFormat.E2M1.Encode(100f, false));
        Assert.Equal(0xF, MiniFloatFormat.E2M1.Encode(float.NegativeInfinity, false));
    }

    [Fact]
    public void E8M0Rounding()
    {
        Assert.Equal(0x7C, E8M0.Encode(0.124f, true, NetOnnx.Kernels.Conversions.E8M0Rounding.Up));
        Assert.Equal(0x7B, E8M0.Encode(0.124f, true, NetOnnx.Kernels.Conversions.E8M0Rounding.Down));
        Assert.Equal(0x81, E8M0.Encode(3f, true, NetOnnx.Kernels.Conversions.E8M0Rounding.Nearest)); // tie: up
        Assert.Equal(0x80, E8M0.Encode(2.9f, true, NetOnnx.Kernels.Conversions.E8M0Rounding.Nearest));
        Assert.Equal(0x7F, E8M0.Encode(1.4f, true, NetOnnx.Kernels.Conversions.E8M0Rounding.Nearest));
        Assert.Equal(0xFE, E8M0.Encode(float.PositiveInfinity, true, NetOnnx.Kernels.Conversions.E8M0Rounding.Up));
        Assert.Equal(0xFF, E8M0.Encode(float.PositiveInfinity, false, NetOnnx.Kernels.Conversions.E8M0Rounding.Up));
        Assert.Equal(8f, E8M0.Decode(0x82));
    }

    private static Tensor Convert(Tensor src, DataType to)
    {
        var dst = Tensor.Zeros(to, src.Shape);
        ElementConverter.Convert(src, dst);
        return dst;
    }

    [Fact]
    public void StringsParseAndFormat()
    {
        var s = Tensor.Create(new[] { "INF", "-inf", "NaN", "1e-5", "+INF", "3.5", "-2" }, 7);
        var f = Convert(s, DataType.Float).ToArray<float>();
        Assert.Equal(float.PositiveInfinity, f[0]);
        Assert.Equal(float.NegativeInfinity, f[1]);
        Assert.True(float.IsNaN(f[2]));
        Assert.Equal(1e-5f, f[3]);
        Assert.Equal(float.PositiveInfinity, f[4]);
        Assert.Equal(new long[] { 3, -2 }, Convert(Tensor.Create(new[] { "3", "-2" }, 2), DataType.Int64).ToArray<long>());
        var back = Convert(Tensor.Create(new[] { 0.47892547f, 1e-7f, float.NaN, float.NegativeInfinity, 1e20f }, 5), DataType.String).ToArray<string>();
        Assert.Equal(new[] { "0.47892547", "1e-07", "NaN", "-INF", "1e+20" }, back);
    }

    [Fact]
    public void FloatToIntegerTruncatesThenWraps()
    {
        var x = Tensor.Create(new[] { 2.7f, -2.7f, 300f, -9f, 15f }, 5);
        Assert.Equal(new sbyte[] { 2, -2, 44, -9, 15 }, Convert(x, DataType.Int8).ToArray<sbyte>());
        Assert.Equal(new sbyte[] { 2, -2, -4, 7, -1 }, Convert(x, DataType.Int4).ToArray<sbyte>());
        Assert.Equal(new byte[] { 2, 14, 12, 7, 15 }, Convert(x, DataType.UInt4).ToArray<byte>());
        Assert.Equal(new[] { true, true, true, true, true }, Convert(x, DataType.Bool).ToArray<bool>());
    }

    [Fact]
    public void BFloat16AndHalfRoundToNearestEven()
    {
        var x = Tensor.Create(new[] { 1.00390625f, 1.01171875f, 65520f }, 3);
        var b = Convert(x, DataType.BFloat16).ToArray<BFloat16>();
        Assert.Equal(1f, (float)b[0]);
        Assert.Equal(1.015625f, (float)b[1]);
        Assert.True(Half.IsPositiveInfinity(Convert(x, DataType.Float16).ToArray<Half>()[2]));
    }

    [Fact]
    public void QuantizeRoundsHalfToEvenAndSaturates()
    {
        var x = new float[] { 0.5f, 1.5f, 2.5f, -0.5f, -1.5f, 1000f, -1000f, 3f, 5f, 7f, -2.5f };
        var y = new byte[x.Length];
        QuantizeKernels.Quantize<byte>(x, 1f, 128f, 0, 255, y);
        Assert.Equal(new byte[] { 128, 130, 130, 128, 126, 255, 0, 131, 133, 135, 126 }, y);
    }

    [Fact]
    public void IntegerGemmMatchesNaiveProduct()
    {
        var rnd = new Random(7);
        int m = 5, k = 11, n = 19;
        var a = Enumerable.Range(0, m * k).Select(_ => rnd.Next(-128, 128)).ToArray();
        var b = Enumerable.Range(0, k * n).Select(_ => rnd.Next(-128, 128)).ToArray();
        var c = new int[m * n];
        IntegerGemm.Multiply(a, b, c, m, k, n);
        for (int i = 0; i < m; i++)
            for (int j = 0; j < n; j++)
            {
                int s = 0;
                for (int p = 0; p < k; p++) s += a[i * k + p] * b[p * n + j];
                Assert.Equal(s, c[i * n + j]);
            }
    }

    [Fact]
    public void CastWithOpset1StringTarget()
    {
        var m = new Model();
        m.Opsets[""] = 1;
        m.Graph.Inputs.Add(new ValueInfo("x", OnnxType.Tensor(DataType.Float, Dim.Known(3))));
        m.Graph.Nodes.Add(new Node("Cast", ["x"], ["y"], "c", "", [NodeAttribute.Of("to", "INT32")]));
        m.Graph.Outputs.Add(new ValueInfo("y", OnnxType.Tensor(DataType.Int32, Dim.Known(3))));
        var s = new Session(m);
        var r = s.Run(new Dictionary<string, Tensor> { ["x"] = Tensor.Create(new[] { 1.9f, -1.9f, 7f }, 3) });
        Assert.Equal(new[] { 1, -1, 7 }, r["y"].ToArray<int>());
    }

    [Fact]
    public void ParallelPathsMatchSerial()
    {
        var rnd = new Random(3);
        int n = 300_001;
        var xs = Enumerable.Range(0, n).Select(_ => (float)(rnd.NextDouble() * 2000 - 1000)).ToArray();
        var x = Tensor.Create(xs, n);
        foreach (var to in new[] { DataType.Float16, DataType.Int32, DataType.Float8E4M3FN, DataType.BFloat16 })
        {
            var a = Tensor.Zeros(to, n);
            var b = Tensor.Zeros(to, n);
            ElementConverter.Convert(x, a, threads: 1);
            ElementConverter.Convert(x, b, threads: 4);
            Assert.True(a.Bytes().SequenceEqual(b.Bytes()), to.ToString());
        }
        int m = 64, k = 150, nn = 400;
        var A = Enumerable.Range(0, m * k).Select(_ => rnd.Next(-255, 256)).ToArray();
        var B = Enumerable.Range(0, k * nn).Select(_ => rnd.Next(-255, 256)).ToArray();
        var c1 = new int[m * nn];
        var c2 = new int[m * nn + 5];
        IntegerGemm.Multiply(A, B, c1, m, k, nn);
        IntegerGemm.Multiply(A, 0, B, 0, c2, 5, m, k, nn, threads: 3);
        Assert.Equal(c1, c2.AsSpan(5).ToArray());
    }

    [Fact]
    public void ConvIntegerMatchesDirectConvolution()
    {
        // N=2, C=4, H=7, W=6; M=6 output channels in 2 groups, 3x2 kernel, strides 2x1, dilations 1x2, pads.
        int N = 2, C = 4, H = 7, W = 6, M = 6, G = 2, KH = 3, KW = 2, SH = 2, SW = 1, DH = 1, DW = 2;
        int pt = 1, pl = 0, pb = 2, pr = 1;
        var rnd = new Random(5);
        var x = Enumerable.Range(0, N * C * H * W).Select(_ => (byte)rnd.Next(256)).ToArray();
        var w = Enumerable.Range(0, M * (C / G) * KH * KW).Select(_ => (byte)rnd.Next(256)).ToArray();
        byte xz = 100, wz = 120;
        var m = new Model();
        m.Opsets[""] = 10;
        var g = m.Graph;
        g.Inputs.Add(new ValueInfo("x", OnnxType.Tensor(DataType.UInt8, Dim.Known(N), Dim.Known(C), Dim.Known(H), Dim.Known(W))));
        g.Inputs.Add(new ValueInfo("w", OnnxType.Tensor(DataType.UInt8, Dim.Known(M), Dim.Known(C / G), Dim.Known(KH), Dim.Known(KW))));
        g.Inputs.Add(new ValueInfo("xz", OnnxType.Tensor(DataType.UInt8)));
        g.Inputs.Add(new ValueInfo("wz", OnnxType.Tensor(DataType.UInt8)));
        g.Nodes.Add(new Node("ConvInteger", ["x", "w", "xz", "wz"], ["y"], "conv", "",
            [NodeAttribute.Of("group", (long)G), NodeAttribute.Of("strides", new long[] { SH, SW }),
             NodeAttribute.Of("dilations", new long[] { DH, DW }), NodeAttribute.Of("pads", new long[] { pt, pl, pb, pr })]));
        g.Outputs.Add(new ValueInfo("y", OnnxType.Tensor(DataType.Int32, Dim.Unknown, Dim.Unknown, Dim.Unknown, Dim.Unknown)));
        var s = new Session(m, new SessionOptions { IntraOpThreads = 2 });
        var r = s.Run(new Dictionary<string, Tensor>
        {
            ["x"] = Tensor.Create(x, N, C, H, W), ["w"] = Tensor.Create(w, M, C / G, KH, KW),
            ["xz"] = Tensor.Scalar(xz), ["wz"] = Tensor.Scalar(wz),
        })["y"];
        int OH = (H + pt + pb - (DH * (KH - 1) + 1)) / SH + 1, OW = (W + pl + pr - (DW * (KW - 1) + 1)) / SW + 1;
        Assert.Equal(new[] { N, M, OH, OW }, r.Shape);
        var y = r.ToArray<int>();
        int cg = C / G, mg = M / G;
        for (int n = 0; n < N; n++)
            for (int oc = 0; oc < M; oc++)
                for (int oh = 0; oh < OH; oh++)
                    for (int ow = 0; ow < OW; ow++)
                    {
                        int acc = 0, grp = oc / mg;
                        for (int ic = 0; ic < cg; ic++)
                            for (int kh = 0; kh < KH; kh++)
                                for (int kw = 0; kw < KW; kw++)
                                {
                                    int ih = oh * SH - pt + kh * DH, iw = ow * SW - pl + kw * DW;
                                    int xv = ih >= 0 && ih < H && iw >= 0 && iw < W ? x[((n * C + grp * cg + ic) * H + ih) * W + iw] : xz;
                                    acc += (xv - xz) * (w[((oc * cg + ic) * KH + kh) * KW + kw] - wz);
                                }
                        Assert.Equal(acc, y[((n * M + oc) * OH + oh) * OW + ow]);
                    }
    }

    [Fact]
    public void VectorHalfConversionsMatchScalar()
    {
        var halves = new Half[65536];
        for (int i = 0; i < halves.Length; i++) halves[i] = BitConverter.UInt16BitsToHalf((ushort)i);
        var f = new float[halves.Length];
        HalfConversion.HalfToFloat(halves, f);
        for (int i = 0; i < halves.Length; i++)
        {
            float want = (float)halves[i];
            if (float.IsNaN(want)) Assert.True(float.IsNaN(f[i]));
            else Assert.Equal(BitConverter.SingleToUInt32Bits(want), BitConverter.SingleToUInt32Bits(f[i]));
        }
        // A sweep over float bit patterns, dense near the half range boundaries and midpoints.
        var xs = new List<float>();
        for (long b = 0; b <= uint.MaxValue; b += 4099) xs.Add(BitConverter.UInt32BitsToSingle((uint)b));
        for (uint b = 0x33000000; b < 0x33800000; b += 7) xs.Add(BitConverter.UInt32BitsToSingle(b));
        for (int i = 0; i < 65536; i++)
        {
            float v = (float)halves[i];
            if (!float.IsFinite(v)) continue;
            xs.Add(v); xs.Add(MathF.BitIncrement(v)); xs.Add(MathF.BitDecrement(v));
            float next = (float)BitConverter.UInt16BitsToHalf((ushort)(i + 1));
            if (float.IsFinite(next)) xs.Add((v + next) / 2);
        }
        xs.AddRange([65504f, 65519.99f, 65520f, 65536f, float.PositiveInfinity, float.NegativeInfinity, float.NaN, -0f]);
        var src = xs.ToArray();
        var got = new Half[src.Length];
        HalfConversion.FloatToHalf(src, got);
        for (int i = 0; i < src.Length; i++)
        {
            Half want = (Half)src[i];
            if (Half.IsNaN(want)) Assert.True(Half.IsNaN(got[i]));
            else Assert.True(BitConverter.HalfToUInt16Bits(want) == BitConverter.HalfToUInt16Bits(got[i]), $"{src[i]:R}: want {BitConverter.HalfToUInt16Bits(want):X4} got {BitConverter.HalfToUInt16Bits(got[i]):X4}");
        }
    }

    [Fact]
    public void VectorQuantizeMatchesScalar()
    {
        var rnd = new Random(11);
        var x = Enumerable.Range(0, 1000).Select(i => i % 7 == 0 ? (i - 500) * 0.25f : (float)(rnd.NextDouble() * 400 - 200)).ToArray();
        x[3] = float.NaN; x[4] = float.PositiveInfinity; x[5] = float.NegativeInfinity;
        var u = new byte[x.Length];
        var s = new sbyte[x.Length];
        var h = new short[x.Length];
        QuantizeKernels.Quantize<byte>(x, 0.75f, 100f, 0, 255, u);
        QuantizeKernels.Quantize<sbyte>(x, 0.75f, -3f, -128, 127, s);
        QuantizeKernels.Quantize<short>(x, 0.01f, 7f, -32768, 32767, h);
        for (int i = 0; i < x.Length; i++)
        {
            Assert.Equal(QuantizeKernels.QuantizeOne(x[i], 0.75f, 100f, 0, 255), u[i]);
            Assert.Equal(QuantizeKernels.QuantizeOne(x[i], 0.75f, -3f, -128, 127), s[i]);
            Assert.Equal(QuantizeKernels.QuantizeOne(x[i], 0.01f, 7f, -32768, 32767), h[i]);
        }
    }
}
