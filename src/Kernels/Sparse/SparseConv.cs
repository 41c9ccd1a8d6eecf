using System.Buffers;
using System.Runtime.Intrinsics;
using NetOnnx.Kernels.ConvPool;
using NetOnnx.Kernels.Elementwise;
using NetOnnx.Kernels.Threading;

namespace NetOnnx.Kernels.Sparse;

/// <summary>
/// Constant conv weights W [M, K] (K = input channels x kernel taps, the im2col row order) in compressed-row
/// form: for each output channel, the patch rows of its non-zero weights and their values.
/// </summary>
public sealed class SparseConvWeights
{
    public int M { get; }
    public int K { get; }
    internal readonly int[] RowStart;
    internal readonly int[] Rows;
    internal readonly float[] Values;

    public int NonZeros => Values.Length;
    public double Density => (double)Values.Length / ((long)M * K);

    private SparseConvWeights(int m, int k, int[] start, int[] rows, float[] values) { M = m; K = k; RowStart = start; Rows = rows; Values = values; }

    /// <summary>Compresses row-major W [M, K], keeping every value that is not exactly zero.</summary>
    public static SparseConvWeights FromDense(ReadOnlySpan<float> w, int m, int k)
    {
        if (m <= 0 || k <= 0 || w.Length < (long)m * k) throw new ArgumentException($"weights of shape [{m}, {k}] need {(long)m * k} values, got {w.Length}");
        var start = new int[m + 1];
        for (int r = 0; r < m; r++)
        {
            int nz = 0;
            foreach (var v in w.Slice(r * k, k)) if (v != 0) nz++;
            start[r + 1] = start[r] + nz;
        }
        var rows = new int[start[m]];
        var values = new float[start[m]];
        for (int r = 0, z = 0; r < m; r++)
            for (int c = 0; c < k; c++)
            {
                float v = w[r * k + c];
                if (v == 0) continue;
                rows[z] = c;
                values[z++] = v;
            }
        return new SparseConvWeights(m, k, start, rows, values);
    }

    /// <summary>Zero fraction of W [M, K] without compressing it.</summary>
    public static double ZeroFraction(ReadOnlySpan<float> w)
    {
        long zeros = 0;
        foreach (var v in w) if (v == 0) zeros++;
        return w.IsEmpty ? 0 : (double)zeros / w.Length;
    }
}

/// <summary>
/// Convolution (group 1) with sparse weights: Y[m, o] = act(sum over the non-zeros w[m, r] of P[r, o] + bias[m]
/// + Z[m, o]), where P is the im2col patch matrix. Output positions go in blocks of 64: for each block the
/// patch panel (K rows x 64) is packed once (or read in place for 1x1 stride-1 convolutions), then every
/// output channel broadcasts each of its non-zeros over four 16-wide vectors of the panel row. The work is
/// proportional to the non-zeros, while the dense GEMM does every multiply.
/// </summary>
public static unsafe class SparseConv
{
    public const int Width = 64;

    /// <summary>
    /// Whether the sparse kernel beats the dense implicit GEMM for these weights and this geometry. A cost model
    /// fitted to `benchmarks sparse-conv` (zoo CNN layers at densities 0.05-0.4, Zen 4, 1 thread), in units of one
    /// dense multiply-add per output position (dense: M x K): each non-zero costs about 3, packing a patch row
    /// (im2col or panel) about 15, and each output channel's epilogue about 10. So 3x3 layers switch at about
    /// 25-30% density, 1x1 layers at about 30%, and layers with few channels (stems, narrow heads) stay dense.
    /// </summary>
    public static bool Pays(SparseConvWeights w, ConvGeometry geo)
    {
        if (!Vector512.IsHardwareAccelerated) return false;
        double dense = (double)w.M * w.K;
        double sparse = 3.0 * w.NonZeros + (IsDirect(geo) ? 0 : 15.0 * w.K) + 10.0 * w.M;
        return sparse < dense;
    }

    /// <summary>1x1, stride 1, unpadded: the patch matrix is the input itself.</summary>
    public static bool IsDirect(ConvGeometry geo) =>
        geo.KernelSize == 1 && geo.InSize == geo.OutSize && geo.PadBegin.All(v => v == 0) && geo.Stride.All(v => v == 1);

    /// <summary>
    /// One image: x[xOffset ..] holds its C = K / kernel-size channels, y[yOffset ..] receives M x OutSize,
    /// residual (if any) is read at the same offsets as y. Bias is [M] or empty.
    /// </summary>
    public static void Run(float[] x, int xOffset, ConvGeometry geo, SparseConvWeights w, ReadOnlySpan<float> bias,
        float[]? residual, float[] y, int yOffset, FusedActivation act, int threads)
    {
        int outSize = geo.OutSize, k = w.K, m = w.M;
        if (k != (long)geo.KernelSize * (k / geo.KernelSize) || k / geo.KernelSize * geo.InSize > x.Length - xOffset)
            throw new ArgumentException($"weights with {k} patch rows do not fit the input of {x.Length - xOffset} values");
        if (y.Length - yOffset < (long)m * outSize) throw new ArgumentException($"Y holds {y.Length - yOffset} values, [{m}, {outSize}] needs {(long)m * outSize}");
        if (residual is not null && residual.Length - yOffset < (long)m * outSize) throw new ArgumentException("Z is smaller than Y");
        if (!bias.IsEmpty && bias.Length != m) throw new ArgumentException($"bias has {bias.Length} values, M is {m}");
        // Patch rows come from the input (1x1 direct), a panel packed per block (same-size stride-1), or one im2col matrix.
        bool direct = IsDirect(geo);
        var patches = new PatchSource(x, xOffset, geo);
        bool packs = !direct && patches.PacksPanels;
        float[]? col = null;
        float[] src = x;
        int srcOffset = xOffset;
        if (!direct && !packs)
        {
            col = ArrayPool<float>.Shared.Rent(k * outSize);
            int channels = k / geo.KernelSize;
            IntraOpPool.ForRanges(channels, threads, (c0, c1) => Im2Col.Unfold(x.AsSpan(xOffset, channels * geo.InSize), geo, col, c0, c1),
                work: (long)k * outSize * sizeof(float));
            src = col;
            srcOffset = 0;
        }
        var biasCopy = bias.ToArray();
        try
        {
            int blocks = (outSize + Width - 1) / Width;
            threads = Math.Max(1, threads);
            // Few blocks (small late-stage images): split the output channels too, each part packing its own panel.
            int mParts = threads == 1 || blocks >= 2 * threads ? 1 : Math.Clamp(2 * threads / blocks, 1, Math.Max(1, m / 16));
            IntraOpPool.ForRanges(blocks * mParts, threads, (t0, t1) =>
            {
                var panel = ArrayPool<float>.Shared.Rent(k * Width);
                try
                {
                    for (int t = t0; t < t1; t++)
                    {
                        int b = t / mParts, part = t % mParts;
                        int m0 = (int)((long)m * part / mParts), m1 = (int)((long)m * (part + 1) / mParts);
                        int col0 = b * Width, cols = Math.Min(Width, outSize - col0);
                        fixed (float* pp = panel, ps = src, py = y, pb = biasCopy)
                        fixed (float* pz = residual)
                        {
                            float* rowsAt;
                            int stride;
                            if (packs)
                            {
                                patches.PackPanel(0, k, col0, cols, pp, Width);
                                rowsAt = pp; stride = Width;
                            }
                            else if (cols == Width)
                            {
                                rowsAt = ps + srcOffset + col0; stride = outSize;
                            }
                            else
                            {
                                // The last, partial block: copy it so that whole vectors can be read (zeros past the end).
                                int padded = 16 * VectorsFor(cols);
                                for (int r = 0; r < k; r++)
                                {
                                    var dst = new Span<float>(pp + (long)r * padded, padded);
                                    new ReadOnlySpan<float>(ps + srcOffset + (long)r * outSize + col0, cols).CopyTo(dst);
                                    dst[cols..].Clear();
                                }
                                rowsAt = pp; stride = padded;
                            }
                            Block(rowsAt, stride, cols, w, m0, m1, biasCopy.Length > 0 ? pb : null,
                                pz is null ? null : pz + yOffset + col0, py + yOffset + col0, outSize, act);
                        }
                    }
                }
                finally { ArrayPool<float>.Shared.Return(panel); }
            }, work: 2L * w.NonZeros * outSize);
            if (act.Kind is not (ActivationKind.None or ActivationKind.Relu or ActivationKind.Clip))
            {
                // One pass over the whole output: per-block calls on 64 values cost more than the activation itself.
                int total = m * outSize;
                IntraOpPool.ForRanges((total + 4095) / 4096, threads, (b0, b1) =>
                    act.Apply(y.AsSpan(yOffset + b0 * 4096, Math.Min(total, b1 * 4096) - b0 * 4096)), work: total);
            }
        }
        finally
        {
            if (col is not null) ArrayPool<float>.Shared.Return(col);
        }
    }

    /// <summary>Output channels [m0, m1) over one block of cols (at most 64) positions; panel rows are stride apart
    /// and readable (zero-padded) up to cols rounded to whole vectors of 16, or to 64 when that is 48.</summary>
    private static void Block(float* panel, int stride, int cols, SparseConvWeights w, int m0, int m1, float* bias, float* z, float* y,
        int outSize, FusedActivation act)
    {
        var start = w.RowStart;
        int nv = VectorsFor(cols);
        // Relu and Clip (Relu6) are applied in registers; other activations by the caller over the whole output.
        bool clip = act.Kind is ActivationKind.Relu or ActivationKind.Clip;
        float lo = act.Kind == ActivationKind.Relu ? 0f : act.A, hi = act.Kind == ActivationKind.Relu ? float.PositiveInfinity : act.B;
        var vlo = Vector512.Create(lo); var vhi = Vector512.Create(hi);
        fixed (int* rows = w.Rows)
        fixed (float* values = w.Values)
        {
            float* tmp = stackalloc float[Width];
            for (int mi = m0; mi < m1; mi++)
            {
                float b0 = bias is null ? 0f : bias[mi];
                float* yr = y + (long)mi * outSize;
                float* zr = z is null ? null : z + (long)mi * outSize;
                int z0 = start[mi], z1 = start[mi + 1];
                if (!Vector512.IsHardwareAccelerated)
                {
                    for (int j = 0; j < cols; j++)
                    {
                        float s = b0;
                        for (int q = z0; q < z1; q++) s += values[q] * panel[(long)rows[q] * stride + j];
                        if (zr is not null) s += zr[j];
                        yr[j] = clip ? Math.Min(Math.Max(s, lo), hi) : s;
                    }
                    continue;
                }
                // Independent accumulators keep several FMAs in flight (one chain would wait on each FMA's latency).
                var s0 = Vector512.Create(b0); var s1 = s0; var s2 = s0; var s3 = s0;
                if (nv == 4)
                {
                    for (int q = z0; q < z1; q++)
                    {
                        var v = Vector512.Create(values[q]);
                        float* p = panel + (long)rows[q] * stride;
                        s0 = Vector512.FusedMultiplyAdd(v, Vector512.Load(p), s0);
                        s1 = Vector512.FusedMultiplyAdd(v, Vector512.Load(p + 16), s1);
                        s2 = Vector512.FusedMultiplyAdd(v, Vector512.Load(p + 32), s2);
                        s3 = Vector512.FusedMultiplyAdd(v, Vector512.Load(p + 48), s3);
                    }
                }
                else if (nv == 2)
                {
                    var t0 = Vector512<float>.Zero; var t1 = t0;
                    int q = z0;
                    for (; q + 2 <= z1; q += 2)
                    {
                        var v = Vector512.Create(values[q]); var u = Vector512.Create(values[q + 1]);
                        float* p = panel + (long)rows[q] * stride, r = panel + (long)rows[q + 1] * stride;
                        s0 = Vector512.FusedMultiplyAdd(v, Vector512.Load(p), s0);
                        s1 = Vector512.FusedMultiplyAdd(v, Vector512.Load(p + 16), s1);
                        t0 = Vector512.FusedMultiplyAdd(u, Vector512.Load(r), t0);
                        t1 = Vector512.FusedMultiplyAdd(u, Vector512.Load(r + 16), t1);
                    }
                    if (q < z1)
                    {
                        var v = Vector512.Create(values[q]);
                        float* p = panel + (long)rows[q] * stride;
                        s0 = Vector512.FusedMultiplyAdd(v, Vector512.Load(p), s0);
                        s1 = Vector512.FusedMultiplyAdd(v, Vector512.Load(p + 16), s1);
                    }
                    s0 += t0; s1 += t1;
                }
                else
                {
                    var t0 = Vector512<float>.Zero; var t1 = t0; var t2 = t0;
                    int q = z0;
                    for (; q + 4 <= z1; q += 4)
                    {
                        s0 = Vector512.FusedMultiplyAdd(Vector512.Create(values[q]), Vector512.Load(panel + (long)rows[q] * stride), s0);
                        t0 = Vector512.FusedMultiplyAdd(Vector512.Create(values[q + 1]), Vector512.Load(panel + (long)rows[q + 1] * stride), t0);
                        t1 = Vector512.FusedMultiplyAdd(Vector512.Create(values[q + 2]), Vector512.Load(panel + (long)rows[q + 2] * stride), t1);
                        t2 = Vector512.FusedMultiplyAdd(Vector512.Create(values[q + 3]), Vector512.Load(panel + (long)rows[q + 3] * stride), t2);
                    }
                    for (; q < z1; q++)
                        s0 = Vector512.FusedMultiplyAdd(Vector512.Create(values[q]), Vector512.Load(panel + (long)rows[q] * stride), s0);
                    s0 += t0 + t1 + t2;
                }
                if (cols == Width)
                {
                    if (zr is not null)
                    {
                        s0 += Vector512.Load(zr); s1 += Vector512.Load(zr + 16); s2 += Vector512.Load(zr + 32); s3 += Vector512.Load(zr + 48);
                    }
                    if (clip)
                    {
                        // Max then Min, as Clip does, so NaN passes through like the unfused graph.
                        s0 = Vector512.Min(Vector512.Max(s0, vlo), vhi); s1 = Vector512.Min(Vector512.Max(s1, vlo), vhi);
                        s2 = Vector512.Min(Vector512.Max(s2, vlo), vhi); s3 = Vector512.Min(Vector512.Max(s3, vlo), vhi);
                    }
                    Vector512.Store(s0, yr); Vector512.Store(s1, yr + 16); Vector512.Store(s2, yr + 32); Vector512.Store(s3, yr + 48);
                }
                else
                {
                    Vector512.Store(s0, tmp); Vector512.Store(s1, tmp + 16); Vector512.Store(s2, tmp + 32); Vector512.Store(s3, tmp + 48);
                    for (int j = 0; j < cols; j++)
                    {
                        float t = zr is null ? tmp[j] : tmp[j] + zr[j];
                        yr[j] = clip ? Math.Min(Math.Max(t, lo), hi) : t;
                    }
                }
            }
        }
    }

    /// <summary>Accumulator vectors for a block of cols positions: 1, 2 or 4 (three are rounded up to four).</summary>
    private static int VectorsFor(int cols) => cols <= 16 ? 1 : cols <= 32 ? 2 : 4;
}
