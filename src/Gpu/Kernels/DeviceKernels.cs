using ILGPU;
using ILGPU.Algorithms;

namespace NetOnnx.Gpu.Kernels;

/// <summary>
/// The ILGPU kernel bodies. ILGPU compiles these static methods for CUDA (PTX), OpenCL or its CPU simulator;
/// they may use only value types, views and the intrinsics of Grid/Group/SharedMemory/XMath.
/// </summary>
public static class DeviceKernels
{
    /// <summary>Register blocking: each thread of a T x T group computes R x R outputs of a (T*R)² tile.</summary>
    public const int R = 4;
    /// <summary>Largest group a row kernel uses (its shared scratch is this long).</summary>
    public const int MaxRowGroup = 256;

    public static float Activate(float x, int op, float a, float b)
    {
        switch (op)
        {
            case (int)UnaryOp.Identity: return x;
            case (int)UnaryOp.Relu: return XMath.Max(x, 0f);
            case (int)UnaryOp.Clip: return XMath.Min(XMath.Max(x, a), b);
            case (int)UnaryOp.Sigmoid: return 1f / (1f + XMath.Exp(-x));
            case (int)UnaryOp.HardSigmoid: return XMath.Max(0f, XMath.Min(1f, a * x + b));
            case (int)UnaryOp.HardSwish: return x * XMath.Max(0f, XMath.Min(1f, x / 6f + 0.5f));
            case (int)UnaryOp.LeakyRelu: return x >= 0f ? x : a * x;
            case (int)UnaryOp.Silu: return x / (1f + XMath.Exp(-x));
            case (int)UnaryOp.Tanh: return XMath.Tanh(x);
            case (int)UnaryOp.GeluErf: return 0.5f * x * (1f + Erf(x * 0.70710678f));
            case (int)UnaryOp.GeluTanh: return 0.5f * x * (1f + XMath.Tanh(0.7978845608f * (x + 0.044715f * x * x * x)));
            case (int)UnaryOp.Sqrt: return XMath.Sqrt(x);
            case (int)UnaryOp.Exp: return XMath.Exp(x);
            case (int)UnaryOp.Neg: return -x;
            case (int)UnaryOp.Abs: return XMath.Abs(x);
            case (int)UnaryOp.Erf: return Erf(x);
            case (int)UnaryOp.Reciprocal: return 1f / x;
            case (int)UnaryOp.Log: return XMath.Log(x);
            case (int)UnaryOp.Pow: return Power(x, a);
            case (int)UnaryOp.Floor: return XMath.Floor(x);
            case (int)UnaryOp.Ceil: return XMath.Ceiling(x);
            case (int)UnaryOp.Softplus: return x > 20f ? x : XMath.Log(1f + XMath.Exp(x));
            case (int)UnaryOp.Elu: return x >= 0f ? x : a * (XMath.Exp(x) - 1f);
            case (int)UnaryOp.Scale: return x * a;
            default: return x;
        }
    }

    /// <summary>erf as 1 - erfc, erfc from the Chebyshev-fitted exponential in Numerical Recipes (erfcc: relative error below 1.2e-7).</summary>
    public static float Erf(float x)
    {
        float z = XMath.Abs(x);
        float t = 1f / (1f + 0.5f * z);
        float r = t * XMath.Exp(-z * z - 1.26551223f + t * (1.00002368f + t * (0.37409196f + t * (0.09678418f +
            t * (-0.18628806f + t * (0.27886807f + t * (-1.13520398f + t * (1.48851587f + t * (-0.82215223f + t * 0.17087277f)))))))));
        return x >= 0f ? 1f - r : r - 1f;
    }

    private static float Power(float x, float y)
    {
        if (y == 2f) return x * x;
        if (y == 1f) return x;
        if (y == 0.5f) return XMath.Sqrt(x);
        if (x == 0f) return y > 0f ? 0f : (y == 0f ? 1f : float.PositiveInfinity);
        if (x < 0f)
        {
            float r = XMath.Exp(y * XMath.Log(-x));
            float yi = XMath.Floor(y);
            if (yi != y) return float.NaN;
            return ((int)yi & 1) != 0 ? -r : r;
        }
        return XMath.Exp(y * XMath.Log(x));
    }

    public static float Combine(float a, float b, int op, float pa, float pb)
    {
        switch (op)
        {
            case (int)BinaryOp.Add: return a + b;
            case (int)BinaryOp.Sub: return a - b;
            case (int)BinaryOp.Mul: return a * b;
            case (int)BinaryOp.Div: return a / b;
            case (int)BinaryOp.Pow: return Power(a, b);
            case (int)BinaryOp.Max: return XMath.Max(a, b);
            case (int)BinaryOp.Min: return XMath.Min(a, b);
            case (int)BinaryOp.FillWhereEqual: return b == pa ? pb : a;
            default: return a;
        }
    }

    // Elementwise kernels loop grid-stride: a launch has at most GpuDevice.MaxLaunch threads (the `threads`
    // argument), each covering every threads-th element. On GPUs this keeps launches a fixed size; on the CPU
    // simulator, where each logical thread costs microseconds of scheduling, it is the difference between
    // seconds and milliseconds for a million elements.

    public static void Unary(Index1D i, ArrayView<float> x, ArrayView<float> y, UnaryArgs p, int threads)
    {
        for (int e = i; e < y.IntLength; e += threads) y[e] = Activate(x[e], p.Op, p.A, p.B);
    }

    public static void Binary(Index1D i, ArrayView<float> a, ArrayView<float> b, ArrayView<float> y, BinaryArgs p, int threads)
    {
        for (int e = i; e < y.IntLength; e += threads) y[e] = BinaryAt(e, a, b, p);
    }

    private static float BinaryAt(int i, ArrayView<float> a, ArrayView<float> b, BinaryArgs p)
    {
        int rem = i, oa = 0, ob = 0, d;
        d = rem % p.Dims.V5; rem /= p.Dims.V5; oa += d * p.StrideA.V5; ob += d * p.StrideB.V5;
        d = rem % p.Dims.V4; rem /= p.Dims.V4; oa += d * p.StrideA.V4; ob += d * p.StrideB.V4;
        d = rem % p.Dims.V3; rem /= p.Dims.V3; oa += d * p.StrideA.V3; ob += d * p.StrideB.V3;
        d = rem % p.Dims.V2; rem /= p.Dims.V2; oa += d * p.StrideA.V2; ob += d * p.StrideB.V2;
        d = rem % p.Dims.V1; rem /= p.Dims.V1; oa += d * p.StrideA.V1; ob += d * p.StrideB.V1;
        oa += rem * p.StrideA.V0; ob += rem * p.StrideB.V0;
        return Combine(a[oa], b[ob], p.Op, p.A, p.B);
    }

    /// <summary>Moves 32-bit words, so one kernel transposes, slices and expands every element type the device holds.</summary>
    public static void StridedGather(Index1D i, ArrayView<int> x, ArrayView<int> y, GatherArgs p, int threads)
    {
        for (int e = i; e < y.IntLength; e += threads) y[e] = x[GatherOffset(e, p)];
    }

    private static int GatherOffset(int i, GatherArgs p)
    {
        int rem = i, o = p.Base, d;
        d = rem % p.Dims.V5; rem /= p.Dims.V5; o += d * p.Stride.V5;
        d = rem % p.Dims.V4; rem /= p.Dims.V4; o += d * p.Stride.V4;
        d = rem % p.Dims.V3; rem /= p.Dims.V3; o += d * p.Stride.V3;
        d = rem % p.Dims.V2; rem /= p.Dims.V2; o += d * p.Stride.V2;
        d = rem % p.Dims.V1; rem /= p.Dims.V1; o += d * p.Stride.V1;
        o += rem * p.Stride.V0;
        return o;
    }

    /// <summary>One Concat input: rows of <paramref name="cols"/> words land at column <paramref name="offset"/> of rows <paramref name="dstCols"/> long.</summary>
    public static void CopyColumns(Index1D i, ArrayView<int> src, ArrayView<int> dst, int cols, int dstCols, int offset, int threads)
    {
        for (int e = i; e < src.IntLength; e += threads) dst[(e / cols) * dstCols + offset + e % cols] = src[e];
    }

    /// <summary>Gather along an axis: y[o, j, r] = x[o, idx[j], r]; an index out of range gives 0 (the host checks host-side indices).</summary>
    public static void AxisGather(Index1D i, ArrayView<int> x, ArrayView<int> idx, ArrayView<int> y, AxisGatherArgs p, int threads)
    {
        for (int e = i; e < y.IntLength; e += threads)
        {
            int r = e % p.Inner, j = (e / p.Inner) % p.Indices, o = e / (p.Inner * p.Indices);
            int k = idx[j];
            if (k < 0) k += p.AxisLength;
            y[e] = k >= 0 && k < p.AxisLength ? x[(o * p.AxisLength + k) * p.Inner + r] : 0;
        }
    }

    public static void IntToFloat(Index1D i, ArrayView<int> x, ArrayView<float> y, int threads)
    {
        for (int e = i; e < y.IntLength; e += threads) y[e] = x[e];
    }

    /// <summary>y = x * scale[c] + shift[c] over NC(spatial): inference BatchNormalization with its constants folded on the host.</summary>
    public static void ChannelAffine(Index1D i, ArrayView<float> x, ArrayView<float> scale, ArrayView<float> shift, ArrayView<float> y, int spatial, int threads)
    {
        for (int e = i; e < y.IntLength; e += threads)
        {
            int c = (e / spatial) % scale.IntLength;
            y[e] = x[e] * scale[c] + shift[c];
        }
    }

    /// <summary>
    /// Tiled batched GEMM with shared memory and register blocking. Group T x T, tile (T*R) x (T*R), K step T;
    /// dynamic shared memory holds the A tile [T*R][T] and the B tile [T][T*R].
    /// </summary>
    public static void Gemm(ArrayView<float> a, ArrayView<float> b, ArrayView<float> bias, ArrayView<float> res, ArrayView<float> c, GemmArgs p)
    {
        int t = Group.DimX, tx = Group.IdxX, ty = Group.IdxY, bm = t * R;
        var sh = SharedMemory.GetDynamic<float>();
        int bz = Grid.IdxZ, m0 = Grid.IdxY * bm, n0 = Grid.IdxX * bm;
        int aBase = bz * p.BatchA, bBase = bz * p.BatchB, cBase = bz * p.BatchC;
        var acc = LocalMemory.Allocate<float>(R * R);
        for (int q = 0; q < R * R; q++) acc[q] = 0f;
        int lid = ty * t + tx, threads = t * t;
        for (int k0 = 0; k0 < p.K; k0 += t)
        {
            for (int r = 0; r < R; r++)
            {
                int e = lid + r * threads;
                int mm = e / t, kk = e % t, gm = m0 + mm, gk = k0 + kk;
                sh[e] = gm < p.M && gk < p.K ? a[aBase + gm * p.Am + gk * p.Ak] : 0f;
                int kb = e / bm, nb = e % bm, gkb = k0 + kb, gn = n0 + nb;
                sh[bm * t + e] = gkb < p.K && gn < p.N ? b[bBase + gkb * p.Bk + gn * p.Bn] : 0f;
            }
            Group.Barrier();
            AccumulateTile(sh, acc, t, tx, ty);
            Group.Barrier();
        }
        for (int i = 0; i < R; i++)
            for (int j = 0; j < R; j++)
            {
                int m = m0 + ty + i * t, n = n0 + tx + j * t;
                if (m >= p.M || n >= p.N) continue;
                float v = p.Alpha * acc[i * R + j];
                if (p.HasBias != 0) v += p.Beta * bias[m * p.BiasM + n * p.BiasN];
                int o = cBase + m * p.N + n;
                if (p.HasResidual != 0) v += res[o];
                c[o] = Activate(v, p.Act, p.ActA, p.ActB);
            }
    }

    /// <summary>
    /// The same product with one thread per output and no shared memory or barriers: for ILGPU's CPU simulator,
    /// where every group barrier is an OS-thread rendezvous and the tiled kernel spends its time there.
    /// </summary>
    public static void GemmDirect(Index1D i, ArrayView<float> a, ArrayView<float> b, ArrayView<float> bias, ArrayView<float> res, ArrayView<float> c, GemmArgs p, int threads)
    {
        int total = c.IntLength;
        for (int e = i; e < total; e += threads) GemmDirectAt(e, a, b, bias, res, c, p);
    }

    private static void GemmDirectAt(int e, ArrayView<float> a, ArrayView<float> b, ArrayView<float> bias, ArrayView<float> res, ArrayView<float> c, GemmArgs p)
    {
        int n = e % p.N, m = (e / p.N) % p.M, bz = e / (p.N * p.M);
        int ao = bz * p.BatchA + m * p.Am, bo = bz * p.BatchB + n * p.Bn;
        float s = 0f;
        for (int k = 0; k < p.K; k++) s += a[ao + k * p.Ak] * b[bo + k * p.Bk];
        float v = p.Alpha * s;
        if (p.HasBias != 0) v += p.Beta * bias[m * p.BiasM + n * p.BiasN];
        int o = bz * p.BatchC + m * p.N + n;
        if (p.HasResidual != 0) v += res[o];
        c[o] = Activate(v, p.Act, p.ActA, p.ActB);
    }

    /// <summary>Direct convolution, one thread per output (the simulator's counterpart of <see cref="ConvGemm"/>).</summary>
    public static void ConvDirect(Index1D i, ArrayView<float> x, ArrayView<float> w, ArrayView<float> bias, ArrayView<float> res, ArrayView<float> y, ConvArgs p, int threads)
    {
        for (int e = i; e < y.IntLength; e += threads) ConvDirectAt(e, x, w, bias, res, y, p);
    }

    private static void ConvDirectAt(int i, ArrayView<float> x, ArrayView<float> w, ArrayView<float> bias, ArrayView<float> res, ArrayView<float> y, ConvArgs p)
    {
        int pixels = p.OH * p.OW;
        int pix = i % pixels, oc = (i / pixels) % p.OC, img = i / (pixels * p.OC);
        int oh = pix / p.OW, ow = pix % p.OW;
        int ocg = p.OC / p.Groups, icg = p.C / p.Groups, g = oc / ocg;
        float s = p.HasBias != 0 ? bias[oc] : 0f;
        int wBase = oc * icg * p.KH * p.KW;
        for (int ic = 0; ic < icg; ic++)
        {
            int xBase = (img * p.C + g * icg + ic) * p.H * p.W;
            for (int kh = 0; kh < p.KH; kh++)
            {
                int ih = oh * p.StrideH - p.PadH + kh * p.DilationH;
                if (ih < 0 || ih >= p.H) continue;
                for (int kw = 0; kw < p.KW; kw++)
                {
                    int iw = ow * p.StrideW - p.PadW + kw * p.DilationW;
                    if (iw >= 0 && iw < p.W) s += x[xBase + ih * p.W + iw] * w[wBase + (ic * p.KH + kh) * p.KW + kw];
                }
            }
        }
        if (p.HasResidual != 0) s += res[i];
        y[i] = Activate(s, p.Act, p.ActA, p.ActB);
    }

    /// <summary>
    /// Convolution as an implicit GEMM per (image, group): M = output channels of the group, N = output pixels,
    /// K = input channels of the group x kernel window; the B tile is gathered from the input on the fly
    /// (zero outside the padding), so no im2col buffer exists. Same tiling as <see cref="Gemm"/>.
    /// </summary>
    /// <summary>
    /// One k-step of a tiled product: this thread's R x R accumulators += the A tile (t*R rows x t, first in shared
    /// memory) times the B tile (t x t*R, after it). Shared by Gemm and ConvGemm, which differ only in how they
    /// load the tiles.
    /// </summary>
    private static void AccumulateTile(ArrayView<float> sh, ArrayView<float> acc, int t, int tx, int ty)
    {
        int bm = t * R;
        for (int kk = 0; kk < t; kk++)
            for (int i = 0; i < R; i++)
            {
                float ai = sh[(ty + i * t) * t + kk];
                for (int j = 0; j < R; j++) acc[i * R + j] += ai * sh[bm * t + kk * bm + tx + j * t];
            }
    }

    public static void ConvGemm(ArrayView<float> x, ArrayView<float> w, ArrayView<float> bias, ArrayView<float> res, ArrayView<float> y, ConvArgs p)
    {
        int t = Group.DimX, tx = Group.IdxX, ty = Group.IdxY, bm = t * R;
        var sh = SharedMemory.GetDynamic<float>();
        int ocg = p.OC / p.Groups, icg = p.C / p.Groups, win = p.KH * p.KW;
        int kTotal = icg * win, pixels = p.OH * p.OW;
        int img = Grid.IdxZ / p.Groups, g = Grid.IdxZ % p.Groups;
        int m0 = Grid.IdxY * bm, n0 = Grid.IdxX * bm;
        var acc = LocalMemory.Allocate<float>(R * R);
        for (int q = 0; q < R * R; q++) acc[q] = 0f;
        int lid = ty * t + tx, threads = t * t;
        int xBase = (img * p.C + g * icg) * p.H * p.W;
        for (int k0 = 0; k0 < kTotal; k0 += t)
        {
            for (int r = 0; r < R; r++)
            {
                int e = lid + r * threads;
                int mm = e / t, kk = e % t, gm = m0 + mm, gk = k0 + kk;
                sh[e] = gm < ocg && gk < kTotal ? w[(g * ocg + gm) * kTotal + gk] : 0f;
                int kb = e / bm, nb = e % bm, gkb = k0 + kb, gn = n0 + nb;
                float v = 0f;
                if (gkb < kTotal && gn < pixels)
                {
                    int ic = gkb / win, rr = gkb % win, kh = rr / p.KW, kw = rr % p.KW;
                    int ih = (gn / p.OW) * p.StrideH - p.PadH + kh * p.DilationH;
                    int iw = (gn % p.OW) * p.StrideW - p.PadW + kw * p.DilationW;
                    if (ih >= 0 && ih < p.H && iw >= 0 && iw < p.W) v = x[xBase + (ic * p.H + ih) * p.W + iw];
                }
                sh[bm * t + e] = v;
            }
            Group.Barrier();
            AccumulateTile(sh, acc, t, tx, ty);
            Group.Barrier();
        }
        for (int i = 0; i < R; i++)
            for (int j = 0; j < R; j++)
            {
                int m = m0 + ty + i * t, n = n0 + tx + j * t;
                if (m >= ocg || n >= pixels) continue;
                int oc = g * ocg + m;
                float v = acc[i * R + j];
                if (p.HasBias != 0) v += bias[oc];
                int o = (img * p.OC + oc) * pixels + n;
                if (p.HasResidual != 0) v += res[o];
                y[o] = Activate(v, p.Act, p.ActA, p.ActB);
            }
    }

    /// <summary>Depthwise convolution (groups = input channels): one thread per output element, the window read directly.</summary>
    public static void Depthwise(Index1D i, ArrayView<float> x, ArrayView<float> w, ArrayView<float> bias, ArrayView<float> res, ArrayView<float> y, ConvArgs p, int threads)
    {
        for (int e = i; e < y.IntLength; e += threads) DepthwiseAt(e, x, w, bias, res, y, p);
    }

    private static void DepthwiseAt(int i, ArrayView<float> x, ArrayView<float> w, ArrayView<float> bias, ArrayView<float> res, ArrayView<float> y, ConvArgs p)
    {
        int ow = i % p.OW, oh = (i / p.OW) % p.OH, oc = (i / (p.OW * p.OH)) % p.OC, img = i / (p.OW * p.OH * p.OC);
        int mult = p.OC / p.C, ic = oc / mult;
        int xBase = (img * p.C + ic) * p.H * p.W, wBase = oc * p.KH * p.KW;
        float s = p.HasBias != 0 ? bias[oc] : 0f;
        for (int kh = 0; kh < p.KH; kh++)
        {
            int ih = oh * p.StrideH - p.PadH + kh * p.DilationH;
            if (ih < 0 || ih >= p.H) continue;
            for (int kw = 0; kw < p.KW; kw++)
            {
                int iw = ow * p.StrideW - p.PadW + kw * p.DilationW;
                if (iw >= 0 && iw < p.W) s += x[xBase + ih * p.W + iw] * w[wBase + kh * p.KW + kw];
            }
        }
        if (p.HasResidual != 0) s += res[i];
        y[i] = Activate(s, p.Act, p.ActA, p.ActB);
    }

    /// <summary>
    /// Transposed convolution, one thread per output gathering the inputs that scatter onto it: weights are
    /// [C, OC/groups, KH, KW]; output (oh, ow) takes input (ih, iw) where oh + pad - kh*dilation = ih*stride.
    /// </summary>
    public static void ConvTransposeDirect(Index1D i, ArrayView<float> x, ArrayView<float> w, ArrayView<float> bias, ArrayView<float> y, ConvArgs p, int threads)
    {
        for (int e = i; e < y.IntLength; e += threads) ConvTransposeAt(e, x, w, bias, y, p);
    }

    private static void ConvTransposeAt(int i, ArrayView<float> x, ArrayView<float> w, ArrayView<float> bias, ArrayView<float> y, ConvArgs p)
    {
        int ow = i % p.OW, oh = (i / p.OW) % p.OH, oc = (i / (p.OW * p.OH)) % p.OC, img = i / (p.OW * p.OH * p.OC);
        int ocg = p.OC / p.Groups, icg = p.C / p.Groups, g = oc / ocg, o = oc % ocg;
        float s = p.HasBias != 0 ? bias[oc] : 0f;
        for (int kh = 0; kh < p.KH; kh++)
        {
            int th = oh + p.PadH - kh * p.DilationH;
            if (th < 0 || th % p.StrideH != 0) continue;
            int ih = th / p.StrideH;
            if (ih >= p.H) continue;
            for (int kw = 0; kw < p.KW; kw++)
            {
                int tw = ow + p.PadW - kw * p.DilationW;
                if (tw < 0 || tw % p.StrideW != 0) continue;
                int iw = tw / p.StrideW;
                if (iw >= p.W) continue;
                for (int c = 0; c < icg; c++)
                {
                    int ic = g * icg + c;
                    s += x[((img * p.C + ic) * p.H + ih) * p.W + iw] * w[((ic * ocg + o) * p.KH + kh) * p.KW + kw];
                }
            }
        }
        y[i] = Activate(s, p.Act, p.ActA, p.ActB);
    }

    public static void ResizeNearest(Index1D i, ArrayView<float> x, ArrayView<float> y, ResizeArgs p, int threads)
    {
        for (int e = i; e < y.IntLength; e += threads)
        {
            int ow = e % p.OW, oh = (e / p.OW) % p.OH, plane = e / (p.OW * p.OH);
            int ih = XMath.Min((int)XMath.Floor(oh / p.ScaleH), p.H - 1), iw = XMath.Min((int)XMath.Floor(ow / p.ScaleW), p.W - 1);
            y[e] = x[(plane * p.H + ih) * p.W + iw];
        }
    }

    /// <summary>Max or average pooling over NC planes, one thread per output.</summary>
    public static void Pool(Index1D i, ArrayView<float> x, ArrayView<float> y, PoolArgs p, int threads)
    {
        for (int e = i; e < y.IntLength; e += threads) PoolAt(e, x, y, p);
    }

    private static void PoolAt(int i, ArrayView<float> x, ArrayView<float> y, PoolArgs p)
    {
        int ow = i % p.OW, oh = (i / p.OW) % p.OH, plane = i / (p.OW * p.OH);
        int xBase = plane * p.H * p.W;
        float best = float.NegativeInfinity, sum = 0f;
        int count = 0;
        for (int kh = 0; kh < p.KH; kh++)
        {
            int ih = oh * p.StrideH - p.PadH + kh * p.DilationH;
            for (int kw = 0; kw < p.KW; kw++)
            {
                int iw = ow * p.StrideW - p.PadW + kw * p.DilationW;
                bool inside = ih >= 0 && ih < p.H && iw >= 0 && iw < p.W;
                if (inside)
                {
                    float v = x[xBase + ih * p.W + iw];
                    best = XMath.Max(best, v);
                    sum += v;
                    count++;
                }
                else if (p.CountIncludePad != 0 && ih < p.H + p.PadEndH && iw < p.W + p.PadEndW) count++;
            }
        }
        y[i] = p.IsMax != 0 ? best : (count > 0 ? sum / count : 0f);
    }

    /// <summary>Tree reduction over the group through shared scratch; every thread gets the total.</summary>
    private static float GroupReduce(ArrayView<float> sh, float v, bool max)
    {
        int t = Group.IdxX, n = Group.DimX;
        sh[t] = v;
        Group.Barrier();
        for (int s = n / 2; s > 0; s >>= 1)
        {
            if (t < s) sh[t] = max ? XMath.Max(sh[t], sh[t + s]) : sh[t] + sh[t + s];
            Group.Barrier();
        }
        float r = sh[0];
        Group.Barrier();
        return r;
    }

    /// <summary>One group per row: sum, mean, max or min of N contiguous elements.</summary>
    public static void RowReduce(ArrayView<float> x, ArrayView<float> y, RowArgs p)
    {
        var sh = SharedMemory.Allocate<float>(MaxRowGroup);
        int row = Grid.IdxX, n = p.N, b = row * n;
        bool max = p.Mode >= 2;
        float v = p.Mode == 2 ? float.NegativeInfinity : (p.Mode == 3 ? float.PositiveInfinity : 0f);
        for (int j = Group.IdxX; j < n; j += Group.DimX)
        {
            float e = x[b + j];
            v = p.Mode == 2 ? XMath.Max(v, e) : (p.Mode == 3 ? XMath.Min(v, e) : v + e);
        }
        float r;
        if (p.Mode == 3) r = -GroupReduce(sh, -v, true);
        else r = GroupReduce(sh, v, max);
        if (Group.IdxX == 0) y[row] = p.Mode == 1 ? r / n : r;
    }

    /// <summary>One group per row: y = softmax(x) with the row maximum subtracted first.</summary>
    public static void RowSoftmax(ArrayView<float> x, ArrayView<float> y, RowArgs p)
    {
        var sh = SharedMemory.Allocate<float>(MaxRowGroup);
        int row = Grid.IdxX, n = p.N, b = row * n;
        float m = float.NegativeInfinity;
        for (int j = Group.IdxX; j < n; j += Group.DimX) m = XMath.Max(m, x[b + j]);
        m = GroupReduce(sh, m, true);
        float s = 0f;
        for (int j = Group.IdxX; j < n; j += Group.DimX) { float e = XMath.Exp(x[b + j] - m); y[b + j] = e; s += e; }
        s = GroupReduce(sh, s, false);
        float inv = 1f / s;
        for (int j = Group.IdxX; j < n; j += Group.DimX) y[b + j] *= inv;
    }

    /// <summary>
    /// One group per row: s = x (+ skip) (+ bias), then (s - mean) / sqrt(var + eps) * gamma (+ beta); with flag 4
    /// the sum s is written too (SkipLayerNormalization's second output).
    /// </summary>
    public static void RowLayerNorm(ArrayView<float> x, ArrayView<float> skip, ArrayView<float> gamma, ArrayView<float> beta,
        ArrayView<float> y, ArrayView<float> sum, RowArgs p)
    {
        var sh = SharedMemory.Allocate<float>(MaxRowGroup);
        int row = Grid.IdxX, n = p.N, b = row * n;
        bool hasSkip = (p.Mode & 1) != 0, hasBeta = (p.Mode & 2) != 0, writeSum = (p.Mode & 4) != 0;
        float s = 0f;
        for (int j = Group.IdxX; j < n; j += Group.DimX)
        {
            float v = x[b + j];
            if (hasSkip) v += skip[b + j];
            if (writeSum) sum[b + j] = v;
            s += v;
        }
        float mean = GroupReduce(sh, s, false) / n;
        float q = 0f;
        for (int j = Group.IdxX; j < n; j += Group.DimX)
        {
            float v = x[b + j];
            if (hasSkip) v += skip[b + j];
            q += (v - mean) * (v - mean);
        }
        float inv = XMath.Rsqrt(GroupReduce(sh, q, false) / n + p.Epsilon);
        for (int j = Group.IdxX; j < n; j += Group.DimX)
        {
            float v = x[b + j];
            if (hasSkip) v += skip[b + j];
            float o = (v - mean) * inv * gamma[j];
            if (hasBeta) o += beta[j];
            y[b + j] = o;
        }
    }
}
