using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using NetOnnx.Kernels.Elementwise;
using NetOnnx.Kernels.Gemm;
using NetOnnx.Kernels.Threading;

namespace NetOnnx.Kernels.ConvPool;

/// <summary>
/// 3x3 filters of a convolution transformed for Winograd F(4x4, 3x3): U = G g G^T (6x6) per output and input
/// channel, stored as 36 packed M x C GEMM operands, one per transform point. Made once per constant weight.
/// </summary>
public sealed class WinogradFilter
{
    /// <summary>U[t] (M x C) as packed left operands, for <see cref="WinogradLayout.TilesAsColumns"/>.</summary>
    internal readonly PackedA[]? Points;
    /// <summary>U[t]^T (C x M) as packed right operands, for <see cref="WinogradLayout.TilesAsRows"/>.</summary>
    internal readonly PackedB[]? PointsT;
    public int M { get; }
    public int C { get; }
    /// <summary>Output tile side: 4 for F(4x4,3x3), 2 for F(2x2,3x3).</summary>
    public int Tile { get; }
    /// <summary>Transform points: (Tile + 2)^2.</summary>
    internal int PointCount => (Tile + 2) * (Tile + 2);
    public WinogradLayout Layout => Points is not null ? WinogradLayout.TilesAsColumns
        : Tile == 2 ? WinogradLayout.SmallTilesAsRows : WinogradLayout.TilesAsRows;

    internal WinogradFilter(PackedA[]? points, PackedB[]? pointsT, int m, int c, int tile)
    {
        Points = points; PointsT = pointsT; M = m; C = c; Tile = tile;
    }
}

/// <summary>How the 36 products are laid out for SGEMM's 8x32 tile (rows x columns).</summary>
public enum WinogradLayout
{
    /// <summary>Winograd does not pay for this layer.</summary>
    None,
    /// <summary>Products [M x tiles]: output channels in the 8-row side; suits many tiles (large images).</summary>
    TilesAsColumns,
    /// <summary>Products [tiles x M]: tiles in the 8-row side, channels in the 32 columns; suits few tiles, many channels.</summary>
    TilesAsRows,
    /// <summary>
    /// F(2x2,3x3) with products [tiles x M]: 16 points instead of 36, so 7x7 maps get 16 tiles (two full 8-row
    /// strips) and less than half the transformed filter bytes to stream, for 2.25x fewer multiplies.
    /// </summary>
    SmallTilesAsRows,
}

/// <summary>
/// Winograd F(4x4, 3x3) convolution for 2-D 3x3 convolutions with stride 1, dilation 1 and one group: each 4x4
/// output tile costs 36 multiplies per channel pair instead of 144. Per block of tile rows, input tiles are
/// transformed (B^T d B) into 36 matrices [C x tiles], multiplied by the 36 filter matrices [M x C] with SGEMM,
/// and transformed back (A^T m A) with bias, residual and activation applied as the tile is stored.
/// The transforms are vectorised across 16 consecutive tiles in raster order (AVX-512 only).
/// </summary>
/// <remarks>
/// Winograd rounds differently from direct convolution: with the points 0, +-1, +-2 the error grows by a few
/// times the direct sum's (WinogradTests bounds it; the zoo models stay far inside their tolerance). Every output
/// of a 4x4 tile depends on the whole 6x6 input patch, so an infinity in the input turns the tile's other outputs
/// into NaN where a direct convolution would leave them finite.
/// </remarks>
public static unsafe partial class Winograd
{
    private const int Points = 36;
    /// <summary>Working set (transformed input and product matrices) of one block of tile rows, in floats.</summary>
    private const int BlockBudget = 384 * 1024;

    /// <summary>Whether the kernel can run this geometry: 2-D (or 1-D as H = 1 is not), 3x3, stride 1, dilation 1.</summary>
    public static bool Fits(ConvGeometry g) =>
        Avx512F.IsSupported && g.SpatialDims == 2 && g.Kernel[1] == 3 && g.Kernel[2] == 3
        && g.Stride[1] == 1 && g.Stride[2] == 1 && g.Dilation[1] == 1 && g.Dilation[2] == 1 && g.Out[1] >= 1 && g.Out[2] >= 1;

    /// <summary>
    /// Points r[0..count) at input rows first.. of one channel plane, each copied into rows (rw wide) with padL
    /// zeros before and zeros after its copy values; rows outside the image point at the shared zero row.
    /// </summary>
    internal static unsafe void PaddedRows(float* plane, int ih, int iw, int first, int count, int padL, int copy, int rw,
        float* rows, float* zero, float** r)
    {
        for (int j = 0; j < count; j++)
        {
            int y = first + j;
            if (y < 0 || y >= ih || copy == 0) { r[j] = zero; continue; }
            float* dst = rows + j * rw;
            var row = new Span<float>(dst, rw);
            row[..Math.Min(padL, rw)].Clear();
            new ReadOnlySpan<float>(plane + (long)y * iw, copy).CopyTo(row.Slice(padL, copy));
            row[(padL + copy)..].Clear();
            r[j] = dst;
        }
    }

    /// <summary>
    /// The layout in which Winograd beats the implicit GEMM for this layer, or None (measured per layer with
    /// `benchmarks -- conv`, 1 thread): many tiles (resnet18 56x56 and 28x28, squeezenet 55x55 and 27x27, ppocr)
    /// fill the 32-column micro-tile with tiles; a few tiles (14x14, 13x13) need channels there instead, and
    /// enough of them to amortise the transforms. With 4 tiles (7x7) the 36 transformed filters streamed from
    /// memory for 4 rows of products cost more than the direct GEMM; F(2x2,3x3) there has 16 tiles and 16 points
    /// (resnet18 layer4, 512 channels: 2.98 -> 1.75 ms).
    /// </summary>
    public static WinogradLayout Choose(int c, int m, ConvGeometry g)
    {
        if (!Fits(g)) return WinogradLayout.None;
        long tiles = (long)((g.Out[1] + 3) / 4) * ((g.Out[2] + 3) / 4);
        if (tiles >= 40 && c >= 16 && m >= 16) return WinogradLayout.TilesAsColumns;
        if (tiles >= 12 && c >= 32 && m >= 64) return WinogradLayout.TilesAsRows;
        long tiles2 = (long)((g.Out[1] + 1) / 2) * ((g.Out[2] + 1) / 2);
        if (tiles2 >= 9 && c >= 256 && m >= 256) return WinogradLayout.SmallTilesAsRows;
        return WinogradLayout.None;
    }

    /// <summary>U[t] for weights w [M, C, 3, 3] in ONNX order, packed for the given layout.</summary>
    public static WinogradFilter TransformFilter(ReadOnlySpan<float> w, int m, int c, WinogradLayout layout = WinogradLayout.TilesAsColumns)
    {
        if (layout == WinogradLayout.None) throw new ArgumentException("no Winograd layout given");
        if (layout == WinogradLayout.SmallTilesAsRows) return TransformFilter2(w, m, c);
        if (m < 1 || c < 1) throw new ArgumentException($"filter needs positive channel counts, got M={m}, C={c}");
        if (w.Length < (long)m * c * 9) throw new ArgumentException($"weights hold {w.Length} elements, {m}x{c}x3x3 needs {(long)m * c * 9}");
        // G for the points 0, 1, -1, 2, -2 and infinity.
        ReadOnlySpan<double> G =
        [
            1.0 / 4, 0, 0,
            -1.0 / 6, -1.0 / 6, -1.0 / 6,
            -1.0 / 6, 1.0 / 6, -1.0 / 6,
            1.0 / 24, 1.0 / 12, 1.0 / 6,
            1.0 / 24, -1.0 / 12, 1.0 / 6,
            0, 0, 1,
        ];
        var u = new float[Points][];
        for (int t = 0; t < Points; t++) u[t] = new float[m * c];
        Span<double> tmp = stackalloc double[18];
        for (int o = 0; o < m; o++)
            for (int i = 0; i < c; i++)
            {
                var g = w.Slice((o * c + i) * 9, 9);
                // tmp = G g (6x3), then U = tmp G^T (6x6).
                for (int r = 0; r < 6; r++)
                    for (int b = 0; b < 3; b++)
                        tmp[r * 3 + b] = G[r * 3] * g[b] + G[r * 3 + 1] * g[3 + b] + G[r * 3 + 2] * g[6 + b];
                for (int r = 0; r < 6; r++)
                    for (int k = 0; k < 6; k++)
                        u[r * 6 + k][o * c + i] = (float)(tmp[r * 3] * G[k * 3] + tmp[r * 3 + 1] * G[k * 3 + 1] + tmp[r * 3 + 2] * G[k * 3 + 2]);
            }
        if (layout == WinogradLayout.TilesAsRows)
        {
            var packedT = new PackedB[Points];
            for (int t = 0; t < Points; t++) packedT[t] = Sgemm.PackB(true, c, m, u[t], c);
            return new WinogradFilter(null, packedT, m, c, 4);
        }
        var packed = new PackedA[Points];
        for (int t = 0; t < Points; t++) packed[t] = Sgemm.Pack(false, m, c, u[t], c);
        return new WinogradFilter(packed, null, m, c, 4);
    }

    /// <summary>
    /// y = act(conv(x, w) + bias + residual) for n images x [n, C, H, W] into y [n, M, OH, OW]; bias [M] and
    /// residual (y's shape) may be null. <see cref="Fits"/> must hold for g.
    /// </summary>
    public static void Run(float[] x, WinogradFilter f, float[]? bias, float[] y, int n, ConvGeometry g, float[]? residual,
        FusedActivation act, int threads)
    {
        if (!Fits(g)) throw new ArgumentException("Winograd needs a 2-D 3x3 convolution with stride 1 and dilation 1 on AVX-512");
        int c = f.C, m = f.M, inSize = g.InSize, outSize = g.OutSize;
        if (x.Length < (long)n * c * inSize) throw new ArgumentException($"X holds {x.Length} elements, {n}x{c}x{inSize} needed");
        if (y.Length < (long)n * m * outSize) throw new ArgumentException($"Y holds {y.Length} elements, {n}x{m}x{outSize} needed");
        if (bias is not null && bias.Length < m) throw new ArgumentException($"bias holds {bias.Length} elements, {m} needed");
        if (residual is not null && residual.Length < (long)n * m * outSize) throw new ArgumentException($"residual holds {residual.Length} elements, {n}x{m}x{outSize} needed");
        var p = new Plan(g, c, m, f.Tile);
        threads = Math.Max(1, threads);
        int blocks = (p.TilesH + p.RowsPerBlock - 1) / p.RowsPerBlock;
        int jobs = n * blocks;
        // Whole blocks per thread keep each block's matrices in that core's cache and need no barrier between the
        // stages; with few blocks, smaller ones where that costs little (see WholeBlockRows), else split inside.
        if (threads > 1 && jobs < 3 * threads && WholeBlockRows(g, c, m, f.Layout, n, threads) is var rows && rows > 0)
        {
            p = new Plan(g, c, m, f.Tile, rows);
            blocks = (p.TilesH + rows - 1) / rows;
            jobs = n * blocks;
        }
        if (threads > 1 && jobs >= threads && (jobs >= 3 * threads || p.Whole))
            IntraOpPool.For(jobs, threads, j => RunBlock(x, f, bias, y, residual, act, p, j / blocks, j % blocks, 1));
        else
            for (int j = 0; j < jobs; j++) RunBlock(x, f, bias, y, residual, act, p, j / blocks, j % blocks, threads);
    }

    /// <summary>Slack of <see cref="WholeBlockRows"/>; not const so that `benchmarks -- winograd-split` can turn the split off (reflection).</summary>
    private static double WholeBlockTolerance = 1.06;

    /// <summary>
    /// Tile rows per block when n images on several threads should run whole blocks per thread (one 1-thread
    /// transform + GEMM + inverse each) rather than each block's three stages split across threads, or 0 to split
    /// inside. Splitting inside costs two barriers per block and moves each block's transformed input and products
    /// (~1 MiB) between cores; whole blocks cost the GEMM columns padded in smaller blocks and load imbalance. Taken
    /// when the slowest thread's modelled cost stays within 6% of an even share of the one-budget-plan cost: the model (checked
    /// at 2 threads, 1 image) predicted the measured whole-block gain or loss to within ~5-10% on resnet18, squeezenet
    /// and ppocr layers, the inner split losing that much more to its barriers and cross-core traffic. Only for
    /// <see cref="WinogradLayout.TilesAsColumns"/>: the few-tile layouts' large filters would be streamed once per
    /// thread instead of once in all, and their blocks are too few to share out.
    /// </summary>
    public static int WholeBlockRows(ConvGeometry g, int c, int m, WinogradLayout layout, int n, int threads)
    {
        if (layout != WinogradLayout.TilesAsColumns || threads < 2 || n < 1 || !Fits(g)) return 0;
        var p = new Plan(g, c, m, 4);
        int tilesW = p.TilesW, tilesH = p.TilesH;
        // Modelled block cost: GEMM over padded 32-column strips, transforms per tile and channel, a fixed start.
        long Cost(int rows)
        {
            int tb = rows * tilesW;
            return ((tb + 31) / 32 * 32 + 16) * (long)c * m + (long)tb * (c + m) * 8;
        }
        long total = 0;
        for (int r0 = 0; r0 < tilesH; r0 += p.RowsPerBlock) total += Cost(Math.Min(p.RowsPerBlock, tilesH - r0));
        double share = (double)total * n / threads;
        // Up to twice the budget's rows: two blocks of half the image may beat many small ones (L3 holds them).
        int maxRows = Math.Min(tilesH, 2 * p.RowsPerBlock);
        var load = new long[threads];
        long bestSpan = long.MaxValue;
        int best = 0;
        for (int rows = 1; rows <= maxRows; rows++)
        {
            int blocks = (tilesH + rows - 1) / rows;
            if ((long)n * blocks < threads) continue;
            // Blocks are taken dynamically: the largest first onto the least loaded thread approximates that.
            Array.Clear(load);
            for (int img = 0; img < n; img++)
                for (int b = 0; b < blocks; b++)
                {
                    int k = 0;
                    for (int t = 1; t < threads; t++) if (load[t] < load[k]) k = t;
                    load[k] += Cost(Math.Min(rows, tilesH - b * rows));
                }
            long span = load.Max();
            if (span <= bestSpan) { bestSpan = span; best = rows; }
        }
        return best > 0 && bestSpan <= share * WholeBlockTolerance ? best : 0;
    }

    /// <summary>Sizes shared by the stages: tiles, padded row widths, block height.</summary>
    private sealed class Plan
    {
        public readonly ConvGeometry G;
        public readonly int C, M, TilesH, TilesW, RowWidth, RowsPerBlock;
        /// <summary>Whether the block height was set for whole blocks per thread.</summary>
        public readonly bool Whole;

        public Plan(ConvGeometry g, int c, int m, int tile, int rowsPerBlock) : this(g, c, m, tile)
        {
            RowsPerBlock = Math.Clamp(rowsPerBlock, 1, TilesH);
            Whole = true;
        }

        public Plan(ConvGeometry g, int c, int m, int tile)
        {
            G = g; C = c; M = m;
            TilesH = (g.Out[1] + tile - 1) / tile;
            TilesW = (g.Out[2] + tile - 1) / tile;
            // The vertical pass covers the tile*TilesW + 2 input columns the tiles read, rounded to vectors.
            RowWidth = (tile * TilesW + 2 + 15) / 16 * 16;
            // Tile rows per block: fill 32-column GEMM strips well within the working-set budget.
            long perTile = (long)(tile + 2) * (tile + 2) * (c + m);
            int maxRows = (int)Math.Clamp(BlockBudget / perTile / TilesW, 1, TilesH);
            int best = 1;
            long bestCost = long.MaxValue;
            for (int rows = 1; rows <= maxRows; rows++)
            {
                long cost = 0;
                for (int r0 = 0; r0 < TilesH; r0 += rows)
                {
                    int tb = Math.Min(rows, TilesH - r0) * TilesW;
                    cost += (tb + 31) / 32 * 32 + 16;
                }
                if (cost <= bestCost) { bestCost = cost; best = rows; }
            }
            RowsPerBlock = best;
        }
    }

    private static void RunBlock(float[] x, WinogradFilter f, float[]? bias, float[] y, float[]? residual, FusedActivation act,
        Plan p, int img, int block, int threads)
    {
        int c = p.C, m = p.M, th0 = block * p.RowsPerBlock, th1 = Math.Min(p.TilesH, th0 + p.RowsPerBlock);
        int tb = (th1 - th0) * p.TilesW, ld = tb + 16, points = f.PointCount;
        var v = System.Buffers.ArrayPool<float>.Shared.Rent(points * c * ld);
        var prod = System.Buffers.ArrayPool<float>.Shared.Rent(points * m * ld);
        try
        {
            int xOff = img * c * p.G.InSize, yOff = img * m * p.G.OutSize;
            bool small = f.Tile == 2;
            IntraOpPool.ForRanges(c, threads, (c0, c1) =>
            {
                if (small) InputTransform2(x, xOff, v, ld, p, th0, th1, c0, c1);
                else InputTransform(x, xOff, v, ld, p, th0, th1, c0, c1);
            }, work: (long)(c) * tb * 300);
            if (f.Points is { } u)
                IntraOpPool.For(Points, threads, t =>
                    Sgemm.Multiply(u[t], false, tb, 1f, v.AsSpan(t * c * ld, c * ld), ld, 0f, prod.AsSpan(t * m * ld, m * ld), ld, 1),
                    work: (long)Points * c * m * tb);
            else
                IntraOpPool.For(points, threads, t =>
                    Sgemm.Multiply(true, tb, v.AsSpan(t * c * ld, c * ld), ld, f.PointsT![t], prod.AsSpan(t * m * ld, m * ld), m, 1),
                    work: (long)points * c * m * tb);
            IntraOpPool.ForRanges(m, threads, (m0, m1) =>
            {
                if (small) OutputTransform2(prod, ld, y, yOff, bias, residual, act, p, th0, th1, m0, m1);
                else OutputTransform(prod, ld, f.Points is null, y, yOff, bias, residual, act, p, th0, th1, m0, m1);
            }, work: (long)m * tb * 300);
        }
        finally
        {
            System.Buffers.ArrayPool<float>.Shared.Return(v);
            System.Buffers.ArrayPool<float>.Shared.Return(prod);
        }
    }

    /// <summary>Even lanes then odd lanes of a 32-float pair (first deinterleave step).</summary>
    private static readonly Vector512<int> Even = Vector512.Create(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    private static readonly Vector512<int> Odd = Vector512.Create(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
    /// <summary>Interleaves the first (second) halves of two vectors: a0 b0 a1 b1 ...</summary>
    private static readonly Vector512<int> ZipLo = Vector512.Create(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
    private static readonly Vector512<int> ZipHi = Vector512.Create(8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);

    /// <summary>
    /// V[t][ci][tile] = (B^T d B)[t] for channels [c0, c1) and tile rows [th0, th1), d the 6x6 input patch at
    /// (4*th - padTop, 4*tw - padLeft) with zeros outside the image. Tiles are numbered in raster order within
    /// the block, and each 16 consecutive ones (across tile rows when rows are short) share one vector.
    /// </summary>
    private static void InputTransform(float[] x, int xOff, float[] v, int ld, Plan p, int th0, int th1, int c0, int c1)
    {
        var g = p.G;
        int IH = g.In[1], IW = g.In[2], padT = g.PadBegin[1], padL = g.PadBegin[2];
        int rw = p.RowWidth, c = p.C, tilesW = p.TilesW, tb = (th1 - th0) * tilesW;
        // Vertically transformed rows of all tile rows side by side, 4 columns per tile: tile q's columns k < 4
        // sit at 4q + k. Columns 4 and 5 are the next tile's 0 and 1, except at a row end: those are kept apart.
        int tallLen = 4 * tb + rw + 96, exLen = tb + 32;
        var scratch = System.Buffers.ArrayPool<float>.Shared.Rent(7 * rw + 6 * tallLen + 12 * exLen + 16);
        var rowEnd = System.Buffers.ArrayPool<int>.Shared.Rent(exLen);
        try
        {
            for (int q = 0; q < exLen; q++) rowEnd[q] = q % tilesW == tilesW - 1 ? -1 : 0;
            fixed (float* px = x, pv = v, ps = scratch)
            fixed (int* pe = rowEnd)
            {
                float* zero = ps;                 // one row of zeros for rows above/below the image
                float* rows = ps + rw;            // six padded input rows
                float* tall = ps + 7 * rw;        // six vertically transformed rows, all tile rows
                float* ex4 = tall + 6 * tallLen;  // column 4 of each row-end tile, per transformed row
                float* ex5 = ex4 + 6 * exLen;     // column 5
                new Span<float>(zero, rw).Clear();
                int copy = Math.Max(0, Math.Min(IW, rw - padL));
                float** r = stackalloc float*[6];
                long tStride = (long)c * ld;
                for (int ci = c0; ci < c1; ci++)
                {
                    float* plane = px + xOff + (long)ci * g.InSize;
                    for (int th = th0; th < th1; th++)
                    {
                        PaddedRows(plane, IH, IW, 4 * th - padT, 6, padL, copy, rw, rows, zero, r);
                        // Rows are written in order, so the vector tail spilling into the next row is overwritten.
                        int at = (th - th0) * 4 * tilesW, end = (th - th0) * tilesW + tilesW - 1;
                        Vertical(r, tall + at, tallLen, rw);
                        for (int i = 0; i < 6; i++)
                        {
                            ex4[i * exLen + end] = tall[i * tallLen + at + 4 * tilesW];
                            ex5[i * exLen + end] = tall[i * tallLen + at + 4 * tilesW + 1];
                        }
                    }
                    float* vc = pv + (long)ci * ld;
                    for (int q0 = 0; q0 < tb; q0 += 16)
                        for (int i = 0; i < 6; i++)
                            Horizontal(tall + i * tallLen + 4 * q0, ex4 + i * exLen + q0, ex5 + i * exLen + q0, pe + q0,
                                vc + q0 + 6 * i * tStride, tStride);
                }
            }
        }
        finally
        {
            System.Buffers.ArrayPool<float>.Shared.Return(scratch);
            System.Buffers.ArrayPool<int>.Shared.Return(rowEnd);
        }
    }

    /// <summary>B^T applied down the six rows: t[i][X] = sum_j B^T[i][j] r_j[X].</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Vertical(float** r, float* t, int tlen, int width)
    {
        var two = Vector512.Create(2f); var four = Vector512.Create(4f);
        for (int X = 0; X < width; X += 16)
        {
            var r0 = Vector512.Load(r[0] + X); var r1 = Vector512.Load(r[1] + X); var r2 = Vector512.Load(r[2] + X);
            var r3 = Vector512.Load(r[3] + X); var r4 = Vector512.Load(r[4] + X); var r5 = Vector512.Load(r[5] + X);
            BT(r0, r1, r2, r3, r4, r5, out var d0, out var d1, out var d2, out var d3, out var d4, out var d5, two, four);
            Vector512.Store(d0, t + X); Vector512.Store(d1, t + tlen + X); Vector512.Store(d2, t + 2 * tlen + X);
            Vector512.Store(d3, t + 3 * tlen + X); Vector512.Store(d4, t + 4 * tlen + X); Vector512.Store(d5, t + 5 * tlen + X);
        }
    }

    /// <summary>
    /// B^T along one transformed row for 16 tiles: the tile at lane l reads columns 4l .. 4l+3 of t, then 4l+4
    /// and 4l+5, or ex4[l] and ex5[l] where rowEnd[l] is set; the six results go to dst, dst + stride, ...
    /// (transform points i*6 + 0..5).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Horizontal(float* t, float* ex4, float* ex5, int* rowEnd, float* dst, long stride)
    {
        var v0 = Vector512.Load(t); var v1 = Vector512.Load(t + 16); var v2 = Vector512.Load(t + 32); var v3 = Vector512.Load(t + 48);
        // Columns 4l+k: even/odd split twice.
        var a0 = Avx512F.PermuteVar16x32x2(v0, Even, v1); var a1 = Avx512F.PermuteVar16x32x2(v0, Odd, v1);
        var b0 = Avx512F.PermuteVar16x32x2(v2, Even, v3); var b1 = Avx512F.PermuteVar16x32x2(v2, Odd, v3);
        var e0 = Avx512F.PermuteVar16x32x2(a0, Even, b0); var e2 = Avx512F.PermuteVar16x32x2(a0, Odd, b0);
        var e1 = Avx512F.PermuteVar16x32x2(a1, Even, b1); var e3 = Avx512F.PermuteVar16x32x2(a1, Odd, b1);
        // Columns 4l+4 and 4l+5 are columns 0 and 1 of the next tile; the last lane's come from t[64], t[65].
        var e4 = Avx512F.AlignRight32(Vector512.Load(t + 64).AsInt32(), e0.AsInt32(), 1).AsSingle();
        var e5 = Avx512F.AlignRight32(Vector512.Load(t + 65).AsInt32(), e1.AsInt32(), 1).AsSingle();
        var end = Vector512.Load(rowEnd).AsSingle();
        e4 = Vector512.ConditionalSelect(end, Vector512.Load(ex4), e4);
        e5 = Vector512.ConditionalSelect(end, Vector512.Load(ex5), e5);
        BT(e0, e1, e2, e3, e4, e5, out var d0, out var d1, out var d2, out var d3, out var d4, out var d5, Vector512.Create(2f), Vector512.Create(4f));
        Vector512.Store(d0, dst); Vector512.Store(d1, dst + stride); Vector512.Store(d2, dst + 2 * stride);
        Vector512.Store(d3, dst + 3 * stride); Vector512.Store(d4, dst + 4 * stride); Vector512.Store(d5, dst + 5 * stride);
    }

    /// <summary>The F(4,3) input transform B^T on six vectors.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void BT(Vector512<float> r0, Vector512<float> r1, Vector512<float> r2, Vector512<float> r3, Vector512<float> r4, Vector512<float> r5,
        out Vector512<float> d0, out Vector512<float> d1, out Vector512<float> d2, out Vector512<float> d3, out Vector512<float> d4, out Vector512<float> d5,
        Vector512<float> two, Vector512<float> four)
    {
        var r42 = r4 - r2;
        d0 = Avx512F.FusedMultiplyAdd(four, r0 - r2, r42);
        d1 = Avx512F.FusedMultiplyAddNegated(four, r1 + r2, r3 + r4);
        d2 = Avx512F.FusedMultiplyAdd(four, r1 - r2, r4 - r3);
        var r31 = r3 - r1;
        d3 = Avx512F.FusedMultiplyAdd(two, r31, r42);
        d4 = Avx512F.FusedMultiplyAddNegated(two, r31, r42);
        d5 = Avx512F.FusedMultiplyAdd(four, r1 - r3, r5 - r3);
    }

    /// <summary>
    /// y = act(A^T m A + bias + residual) for output channels [m0, m1) and tile rows [th0, th1), where
    /// m[t][mi][tile] (or m[t][tile][mi] when tilesAsRows) are the GEMM products; tiles reaching past the output
    /// are clipped.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void OutputTransform(float[] prod, int ld, bool tilesAsRows, float[] y, int yOff, float[]? bias, float[]? residual, FusedActivation act,
        Plan p, int th0, int th1, int m0, int m1)
    {
        var g = p.G;
        int OH = g.Out[1], OW = g.Out[2], tilesW = p.TilesW, m = p.M;
        bool clamp = act.Kind is ActivationKind.Relu or ActivationKind.Clip;
        var lo = Vector512.Create(act.Kind == ActivationKind.Relu ? 0f : act.A);
        var hi = Vector512.Create(act.Kind == ActivationKind.Relu ? float.PositiveInfinity : act.B);
        var two = Vector512.Create(2f); var four = Vector512.Create(4f); var eight = Vector512.Create(8f);
        long tStride = (long)m * ld;
        var q = stackalloc Vector512<float>[24];
        float* buf = stackalloc float[128];
        int tb = (th1 - th0) * tilesW;
        // Tiles as rows: 16 neighbouring tiles of one channel are m floats apart.
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
                    // A^T down each column k of the 6x6 products: q[r*6 + k].
                    if (tilesAsRows)
                    {
                        float* src = pm + (long)tile * m + mi;
                        for (int k = 0; k < 6; k++)
                        {
                            var s0 = Gather(src + k * tStride, gLo, gHi);
                            var s1 = Gather(src + (6 + k) * tStride, gLo, gHi);
                            var s2 = Gather(src + (12 + k) * tStride, gLo, gHi);
                            var s3 = Gather(src + (18 + k) * tStride, gLo, gHi);
                            var s4 = Gather(src + (24 + k) * tStride, gLo, gHi);
                            var s5 = Gather(src + (30 + k) * tStride, gLo, gHi);
                            AT(s0, s1, s2, s3, s4, s5, out q[k], out q[6 + k], out q[12 + k], out q[18 + k], two, four, eight);
                        }
                    }
                    else
                    {
                        float* src = pm + (long)mi * ld + tile;
                        for (int k = 0; k < 6; k++)
                        {
                            var s0 = Vector512.Load(src + k * tStride);
                            var s1 = Vector512.Load(src + (6 + k) * tStride);
                            var s2 = Vector512.Load(src + (12 + k) * tStride);
                            var s3 = Vector512.Load(src + (18 + k) * tStride);
                            var s4 = Vector512.Load(src + (24 + k) * tStride);
                            var s5 = Vector512.Load(src + (30 + k) * tStride);
                            AT(s0, s1, s2, s3, s4, s5, out q[k], out q[6 + k], out q[12 + k], out q[18 + k], two, four, eight);
                        }
                    }
                    for (int rr = 0; rr < 4; rr++)
                    {
                        var qr = q + rr * 6;
                        AT(qr[0], qr[1], qr[2], qr[3], qr[4], qr[5], out var o0, out var o1, out var o2, out var o3, two, four, eight);
                        // Lane l of o_j is column j of tile l: interleave back into 64 floats, 4 per tile.
                        var a0 = Avx512F.PermuteVar16x32x2(o0, ZipLo, o2); var b0 = Avx512F.PermuteVar16x32x2(o0, ZipHi, o2);
                        var a1 = Avx512F.PermuteVar16x32x2(o1, ZipLo, o3); var b1 = Avx512F.PermuteVar16x32x2(o1, ZipHi, o3);
                        var w0 = Avx512F.PermuteVar16x32x2(a0, ZipLo, a1); var w1 = Avx512F.PermuteVar16x32x2(a0, ZipHi, a1);
                        var w2 = Avx512F.PermuteVar16x32x2(b0, ZipLo, b1); var w3 = Avx512F.PermuteVar16x32x2(b0, ZipHi, b1);
                        bool spilled = false;
                        // The 16 tiles may span tile rows: each run of tiles in one row is one run of output columns.
                        for (int l = 0; l < 16 && tile + l < tb;)
                        {
                            int qq = tile + l, th = th0 + qq / tilesW, tw = qq % tilesW;
                            int lanes = Math.Min(Math.Min(16 - l, tilesW - tw), tb - qq);
                            int oh = 4 * th + rr;
                            if (oh < OH)
                            {
                                int cols = Math.Min(4 * lanes, OW - 4 * tw);
                                long rowOff = (long)oh * OW + 4 * tw;
                                float* yRow = yPlane + rowOff;
                                float* rRow = rPlane == null ? null : rPlane + rowOff;
                                if (l == 0)
                                {
                                    Store(w0, yRow, rRow, cols, vb, clamp, lo, hi);
                                    Store(w1, yRow + 16, rRow == null ? null : rRow + 16, cols - 16, vb, clamp, lo, hi);
                                    Store(w2, yRow + 32, rRow == null ? null : rRow + 32, cols - 32, vb, clamp, lo, hi);
                                    Store(w3, yRow + 48, rRow == null ? null : rRow + 48, cols - 48, vb, clamp, lo, hi);
                                }
                                else
                                {
                                    if (!spilled)
                                    {
                                        Vector512.Store(w0, buf); Vector512.Store(w1, buf + 16); Vector512.Store(w2, buf + 32); Vector512.Store(w3, buf + 48);
                                        spilled = true;
                                    }
                                    for (int k = 0; k < cols; k += 16)
                                        Store(Vector512.Load(buf + 4 * l + k), yRow + k, rRow == null ? null : rRow + k, cols - k, vb, clamp, lo, hi);
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

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> Gather(float* src, Vector256<int> lo, Vector256<int> hi) =>
        Vector512.Create(Avx2.GatherVector256(src, lo, 4), Avx2.GatherVector256(src, hi, 4));

    /// <summary>Stores the first min(count, 16) lanes of v + bias (+ residual), clamped for Relu/Clip.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Store(Vector512<float> v, float* y, float* res, int count, Vector512<float> bias, bool clamp,
        Vector512<float> lo, Vector512<float> hi)
    {
        if (count <= 0) return;
        v += bias;
        if (count >= 16)
        {
            if (res != null) v += Vector512.Load(res);
            // max/min return their second operand when either is NaN, so NaN passes through as in the unfused graph.
            if (clamp) v = Avx512F.Min(hi, Avx512F.Max(lo, v));
            Vector512.Store(v, y);
            return;
        }
        var mask = Vector512.LessThan(Vector512.Create(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15), Vector512.Create(count)).AsSingle();
        if (res != null) v += Avx512F.MaskLoad(res, mask, Vector512<float>.Zero);
        if (clamp) v = Avx512F.Min(hi, Avx512F.Max(lo, v));
        Avx512F.MaskStore(y, mask, v);
    }

    /// <summary>The F(4,3) output transform A^T on six vectors.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void AT(Vector512<float> s0, Vector512<float> s1, Vector512<float> s2, Vector512<float> s3, Vector512<float> s4, Vector512<float> s5,
        out Vector512<float> o0, out Vector512<float> o1, out Vector512<float> o2, out Vector512<float> o3,
        Vector512<float> two, Vector512<float> four, Vector512<float> eight)
    {
        var p12 = s1 + s2; var m12 = s1 - s2; var p34 = s3 + s4; var m34 = s3 - s4;
        o0 = s0 + p12 + p34;
        o1 = Avx512F.FusedMultiplyAdd(two, m34, m12);
        o2 = Avx512F.FusedMultiplyAdd(four, p34, p12);
        o3 = Avx512F.FusedMultiplyAdd(eight, m34, m12 + s5);
    }
}
