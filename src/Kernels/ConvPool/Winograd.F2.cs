using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using NetOnnx.Kernels.Elementwise;
using NetOnnx.Kernels.Gemm;

namespace NetOnnx.Kernels.ConvPool;

/// <summary>
/// Winograd F(2x2, 3x3): 4x4 input tiles at stride 2, 16 transform points, products [tiles x M]
/// (<see cref="WinogradLayout.SmallTilesAsRows"/>). The same block, GEMM and epilogue scheme as F(4x4, 3x3).
/// </summary>
public static unsafe partial class Winograd
{
    private const int Points2 = 16;

    /// <summary>U[t]^T (C x M) for F(2,3), G = [1 0 0; 1/2 1/2 1/2; 1/2 -1/2 1/2; 0 0 1].</summary>
    private static WinogradFilter TransformFilter2(ReadOnlySpan<float> w, int m, int c)
    {
        ReadOnlySpan<double> G = [1, 0, 0, 0.5, 0.5, 0.5, 0.5, -0.5, 0.5, 0, 0, 1];
        var u = new float[Points2][];
        for (int t = 0; t < Points2; t++) u[t] = new float[m * c];
        Span<double> tmp = stackalloc double[12];
        for (int o = 0; o < m; o++)
            for (int i = 0; i < c; i++)
            {
                var g = w.Slice((o * c + i) * 9, 9);
                for (int r = 0; r < 4; r++)
                    for (int b = 0; b < 3; b++)
                        tmp[r * 3 + b] = G[r * 3] * g[b] + G[r * 3 + 1] * g[3 + b] + G[r * 3 + 2] * g[6 + b];
                for (int r = 0; r < 4; r++)
                    for (int k = 0; k < 4; k++)
                        u[r * 4 + k][o * c + i] = (float)(tmp[r * 3] * G[k * 3] + tmp[r * 3 + 1] * G[k * 3 + 1] + tmp[r * 3 + 2] * G[k * 3 + 2]);
            }
        var packedT = new PackedB[Points2];
        for (int t = 0; t < Points2; t++) packedT[t] = Sgemm.PackB(true, c, m, u[t], c);
        return new WinogradFilter(null, packedT, m, c, 2);
    }

    /// <summary>As <see cref="InputTransform"/> for F(2,3): tile q's columns k &lt; 2 sit at 2q + k.</summary>
    private static void InputTransform2(float[] x, int xOff, float[] v, int ld, Plan p, int th0, int th1, int c0, int c1)
    {
        var g = p.G;
        int IH = g.In[1], IW = g.In[2], padT = g.PadBegin[1], padL = g.PadBegin[2];
        int rw = p.RowWidth, c = p.C, tilesW = p.TilesW, tb = (th1 - th0) * tilesW;
        int tallLen = 2 * tb + rw + 64, exLen = tb + 32;
        var scratch = System.Buffers.ArrayPool<float>.Shared.Rent(5 * rw + 4 * tallLen + 8 * exLen + 16);
        var rowEnd = System.Buffers.ArrayPool<int>.Shared.Rent(exLen);
        try
        {
            for (int q = 0; q < exLen; q++) rowEnd[q] = q % tilesW == tilesW - 1 ? -1 : 0;
            fixed (float* px = x, pv = v, ps = scratch)
            fixed (int* pe = rowEnd)
            {
                float* zero = ps, rows = ps + rw, tall = ps + 5 * rw, ex2 = tall + 4 * tallLen, ex3 = ex2 + 4 * exLen;
                new Span<float>(zero, rw).Clear();
                int copy = Math.Max(0, Math.Min(IW, rw - padL));
                float** r = stackalloc float*[4];
                long tStride = (long)c * ld;
                for (int ci = c0; ci < c1; ci++)
                {
                    float* plane = px + xOff + (long)ci * g.InSize;
                    for (int th = th0; th < th1; th++)
                    {
                        PaddedRows(plane, IH, IW, 2 * th - padT, 4, padL, copy, rw, rows, zero, r);
                        int at = (th - th0) * 2 * tilesW, end = (th - th0) * tilesW + tilesW - 1;
                        for (int X = 0; X < rw; X += 16)
                        {
                            var r0 = Vector512.Load(r[0] + X); var r1 = Vector512.Load(r[1] + X);
                            var r2 = Vector512.Load(r[2] + X); var r3 = Vector512.Load(r[3] + X);
                            float* t = tall + at + X;
                            Vector512.Store(r0 - r2, t); Vector512.Store(r1 + r2, t + tallLen);
                            Vector512.Store(r2 - r1, t + 2 * tallLen); Vector512.Store(r1 - r3, t + 3 * tallLen);
                        }
                        for (int i = 0; i < 4; i++)
                        {
                            ex2[i * exLen + end] = tall[i * tallLen + at + 2 * tilesW];
                            ex3[i * exLen + end] = tall[i * tallLen + at + 2 * tilesW + 1];
                        }
                    }
                    float* vc = pv + (long)ci * ld;
                    for (int q0 = 0; q0 < tb; q0 += 16)
                        for (int i = 0; i < 4; i++)
                        {
                            float* t = tall + i * tallLen + 2 * q0;
                            var v0 = Vector512.Load(t); var v1 = Vector512.Load(t + 16);
                            var e0 = Avx512F.PermuteVar16x32x2(v0, Even, v1);
                            var e1 = Avx512F.PermuteVar16x32x2(v0, Odd, v1);
                            var e2 = Avx512F.AlignRight32(Vector512.Load(t + 32).AsInt32(), e0.AsInt32(), 1).AsSingle();
                            var e3 = Avx512F.AlignRight32(Vector512.Load(t + 33).AsInt32(), e1.AsInt32(), 1).AsSingle();
                            var endMask = Vector512.Load(pe + q0).AsSingle();
                            e2 = Vector512.ConditionalSelect(endMask, Vector512.Load(ex2 + i * exLen + q0), e2);
                            e3 = Vector512.ConditionalSelect(endMask, Vector512.Load(ex3 + i * exLen + q0), e3);
                            float* dst = vc + q0 + 4 * i * tStride;
                            Vector512.Store(e0 - e2, dst); Vector512.Store(e1 + e2, dst + tStride);
                            Vector512.Store(e2 - e1, dst + 2 * tStride); Vector512.Store(e1 - e3, dst + 3 * tStride);
                        }
                }
            }
        }
        finally
        {
            System.Buffers.ArrayPool<float>.Shared.Return(scratch);
            System.Buffers.ArrayPool<int>.Shared.Return(rowEnd);
        }
    }

    /// <summary>As <see cref="OutputTransform"/> for F(2,3) with products m[t][tile][mi]: A^T = [1 1 1 0; 0 1 -1 -1].</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void OutputTransform2(float[] prod, int ld, float[] y, int yOff, float[]? bias, float[]? residual, FusedActivation act,
        Plan p, int th0, int th1, int m0, int m1)
    {
        var g = p.G;
        int OH = g.Out[1], OW = g.Out[2], tilesW = p.TilesW, m = p.M, tb = (th1 - th0) * tilesW;
        bool clamp = act.Kind is ActivationKind.Relu or ActivationKind.Clip;
        var lo = Vector512.Create(act.Kind == ActivationKind.Relu ? 0f : act.A);
        var hi = Vector512.Create(act.Kind == ActivationKind.Relu ? float.PositiveInfinity : act.B);
        long tStride = (long)m * ld;
        var q = stackalloc Vector512<float>[8];
        float* buf = stackalloc float[64];
        var gLo = Vector256.Create(0, 1, 2, 3, 4, 5, 6, 7) * m;
        var gHi = Vector256.Create(8, 9, 10, 11, 12, 13, 14, 15) * m;
        fixed (float* pm = prod, py = y, pb = bias, pr = residual)
        {
            for (int mi = m0; mi < m1; mi++)
            {
                var vb = Vector512.Create(pb == null ? 0f : pb[mi]);
                float* yPlane = py + yOff + (long)mi * g.OutSize;
                float* rPlane = pr == null ? null : pr + yOff + (long)mi * g.OutSize;
                for (int tile = 0; tile < tb; tile += 16)
                {
                    float* src = pm + (long)tile * m + mi;
                    for (int k = 0; k < 4; k++)
                    {
                        var s0 = Gather(src + k * tStride, gLo, gHi);
                        var s1 = Gather(src + (4 + k) * tStride, gLo, gHi);
                        var s2 = Gather(src + (8 + k) * tStride, gLo, gHi);
                        var s3 = Gather(src + (12 + k) * tStride, gLo, gHi);
                        q[k] = s0 + s1 + s2;
                        q[4 + k] = s1 - s2 - s3;
                    }
                    for (int rr = 0; rr < 2; rr++)
                    {
                        var qr = q + rr * 4;
                        var o0 = qr[0] + qr[1] + qr[2];
                        var o1 = qr[1] - qr[2] - qr[3];
                        // Lane l of o_j is column j of tile l: two floats per tile.
                        var w0 = Avx512F.PermuteVar16x32x2(o0, ZipLo, o1);
                        var w1 = Avx512F.PermuteVar16x32x2(o0, ZipHi, o1);
                        bool spilled = false;
                        for (int l = 0; l < 16 && tile + l < tb;)
                        {
                            int qq = tile + l, th = th0 + qq / tilesW, tw = qq % tilesW;
                            int lanes = Math.Min(Math.Min(16 - l, tilesW - tw), tb - qq);
                            int oh = 2 * th + rr;
                            if (oh < OH)
                            {
                                int cols = Math.Min(2 * lanes, OW - 2 * tw);
                                long rowOff = (long)oh * OW + 2 * tw;
                                float* yRow = yPlane + rowOff;
                                float* rRow = rPlane == null ? null : rPlane + rowOff;
                                if (l == 0)
                                {
                                    Store(w0, yRow, rRow, cols, vb, clamp, lo, hi);
                                    Store(w1, yRow + 16, rRow == null ? null : rRow + 16, cols - 16, vb, clamp, lo, hi);
                                }
                                else
                                {
                                    if (!spilled) { Vector512.Store(w0, buf); Vector512.Store(w1, buf + 16); spilled = true; }
                                    for (int k = 0; k < cols; k += 16)
                                        Store(Vector512.Load(buf + 2 * l + k), yRow + k, rRow == null ? null : rRow + k, cols - k, vb, clamp, lo, hi);
                                }
                                if (!clamp && !act.IsNone) act.Apply(yRow, cols);
                            }
                            l += lanes;
                        }
                    }
                }
            }
        }
    }
}
