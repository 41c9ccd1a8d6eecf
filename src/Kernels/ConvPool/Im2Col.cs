using System.Runtime.Intrinsics;

namespace NetOnnx.Kernels.ConvPool;

/// <summary>
/// Unfolds image patches into a (channels*kernel) x outputs matrix so a convolution becomes one GEMM, and
/// folds such a matrix back with accumulation (for transposed convolution).
/// </summary>
public static class Im2Col
{
    /// <summary>col[(c*K + k), o] = x[c, o*stride + k*dilation - pad] or 0 outside the image.</summary>
    public static void Unfold(ReadOnlySpan<float> x, int channels, ConvGeometry g, Span<float> col) =>
        Unfold(x, g, col, 0, channels);

    /// <summary>Unfolds channels [c0, c1) only: each channel owns its own block of rows, so ranges can run in parallel.</summary>
    public static void Unfold(ReadOnlySpan<float> x, ConvGeometry g, Span<float> col, int c0, int c1)
    {
        int inSize = g.InSize, outSize = g.OutSize;
        int OD = g.Out[0], OH = g.Out[1], OW = g.Out[2];
        int ID = g.In[0], IH = g.In[1], IW = g.In[2];
        int sd = g.Stride[0], sh = g.Stride[1], sw = g.Stride[2];
        int row = c0 * g.Kernel[0] * g.Kernel[1] * g.Kernel[2];
        for (int c = c0; c < c1; c++)
        {
            var plane = x.Slice(c * inSize, inSize);
            for (int kd = 0; kd < g.Kernel[0]; kd++)
            for (int kh = 0; kh < g.Kernel[1]; kh++)
            for (int kw = 0; kw < g.Kernel[2]; kw++, row++)
            {
                var dst = col.Slice(row * outSize, outSize);
                var (d0, d1, h0, h1, w0, w1, dShift, hShift, wShift) = g.Tap(kd, kh, kw);
                if (d0 >= d1 || h0 >= h1 || w0 >= w1) { dst.Clear(); continue; }
                for (int od = 0; od < OD; od++)
                {
                    var dplane = dst.Slice(od * OH * OW, OH * OW);
                    if (od < d0 || od >= d1) { dplane.Clear(); continue; }
                    int id = od * sd + dShift;
                    for (int oh = 0; oh < OH; oh++)
                    {
                        var drow = dplane.Slice(oh * OW, OW);
                        if (oh < h0 || oh >= h1) { drow.Clear(); continue; }
                        int ih = oh * sh + hShift;
                        var srow = plane.Slice((id * IH + ih) * IW, IW);
                        drow[..w0].Clear();
                        if (sw == 1) srow.Slice(w0 + wShift, w1 - w0).CopyTo(drow[w0..w1]);
                        else for (int ow = w0; ow < w1; ow++) drow[ow] = srow[ow * sw + wShift];
                        drow[w1..].Clear();
                    }
                }
            }
        }
        _ = ID;
    }

    /// <summary>The adjoint of <see cref="Unfold"/>: x[c, o*stride + k*dilation - pad] += col[(c*K + k), o].</summary>
    public static void FoldAdd(ReadOnlySpan<float> col, int channels, ConvGeometry g, Span<float> x)
    {
        int inSize = g.InSize, outSize = g.OutSize;
        int OH = g.Out[1], OW = g.Out[2];
        int IH = g.In[1], IW = g.In[2];
        int sd = g.Stride[0], sh = g.Stride[1], sw = g.Stride[2];
        int row = 0;
        for (int c = 0; c < channels; c++)
        {
            var plane = x.Slice(c * inSize, inSize);
            for (int kd = 0; kd < g.Kernel[0]; kd++)
            for (int kh = 0; kh < g.Kernel[1]; kh++)
            for (int kw = 0; kw < g.Kernel[2]; kw++, row++)
            {
                var src = col.Slice(row * outSize, outSize);
                var (d0, d1, h0, h1, w0, w1, dShift, hShift, wShift) = g.Tap(kd, kh, kw);
                for (int od = d0; od < d1; od++)
                {
                    int id = od * sd + dShift;
                    for (int oh = h0; oh < h1; oh++)
                    {
                        int ih = oh * sh + hShift;
                        var xrow = plane.Slice((id * IH + ih) * IW, IW);
                        var srow = src.Slice((od * OH + oh) * OW, OW);
                        if (sw == 1) Gemm.Sgemm.Axpy(1f, srow[w0..w1], xrow.Slice(w0 + wShift, w1 - w0));
                        else for (int ow = w0; ow < w1; ow++) xrow[ow * sw + wShift] += srow[ow];
                    }
                }
            }
        }
    }
}

/// <summary>
/// The im2col matrix of one image (and group) as a GEMM operand that is never stored: each row segment
/// (one channel and kernel tap over a run of output positions) is read straight from the input planes
/// while SGEMM packs its B panel, so the K x outputs patch matrix never goes through memory.
/// </summary>
public sealed class PatchSource : Gemm.IPanelSource
{
    private readonly float[] _x;
    private readonly int _offset;
    private readonly ConvGeometry _g;
    /// <summary>Column tables by (outputs, output width), shared so a session's steady-state runs allocate none.</summary>
    private static readonly System.Collections.Concurrent.ConcurrentDictionary<(int Size, int Width), int[]> ColumnTables = new();
    /// <summary>Output column of each output position (padded by a vector), for the "same"-size fast path; else null.</summary>
    private readonly int[]? _colOf;

    /// <summary>x[offset ..] holds the channels of the image/group in [C, spatial...] order.</summary>
    /// <summary>Whether this source reads the same input at the same offset with the same geometry (so it can be used again).</summary>
    public bool Reads(float[] x, int offset, ConvGeometry g) => ReferenceEquals(_x, x) && _offset == offset && ReferenceEquals(_g, g);

    public PatchSource(float[] x, int offset, ConvGeometry g)
    {
        _x = x; _offset = offset; _g = g;
        if (System.Runtime.Intrinsics.X86.Avx512F.IsSupported && g.In[0] == 1 && g.Kernel[0] == 1 && g.Out[0] == 1
            && g.Stride[1] == 1 && g.Stride[2] == 1 && g.Out[1] == g.In[1] && g.Out[2] == g.In[2])
        {
            _colOf = ColumnTables.GetOrAdd((g.OutSize, g.Out[2]), static key =>
            {
                var t = new int[key.Size + 64];
                for (int j = 0; j < t.Length; j++) t[j] = j % key.Width;
                return t;
            });
        }
    }

    /// <summary>Whether <see cref="PackPanel"/> packs (same-size stride-1 convolutions on AVX-512) instead of returning false.</summary>
    public bool PacksPanels => _colOf is not null;

    /// <summary>dst[q] = row[(ow + q) * 2 + shift], 16 at a time: the even lanes of two loads.</summary>
    private static unsafe void Stride2(ReadOnlySpan<float> row, int ow, int shift, Span<float> dst)
    {
        var even = Vector512.Create(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
        // The last load's top lane is one past the last element read; the mask keeps it from touching memory.
        var notLast = Vector512.Create(-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, 0).AsSingle();
        int n = dst.Length, q = 0;
        fixed (float* pr = row, pd = dst)
        {
            float* src = pr + ow * 2 + shift;
            for (; q + 16 <= n; q += 16)
            {
                var lo = Vector512.Load(src + 2 * q);
                var hi = System.Runtime.Intrinsics.X86.Avx512F.MaskLoad(src + 2 * q + 16, notLast, Vector512<float>.Zero);
                Vector512.Store(System.Runtime.Intrinsics.X86.Avx512F.PermuteVar16x32x2(lo, even, hi), pd + q);
            }
            for (; q < n; q++) pd[q] = src[2 * q];
        }
    }

    /// <summary>
    /// Stride-1 convolutions whose output has the input's size: there, patch row (c, tap) is the input plane
    /// shifted by one constant offset, with the columns and rows whose tap falls into the padding zeroed. Each
    /// 16 outputs are then one masked vector load (masked-off lanes neither read memory nor fault).
    /// </summary>
    public unsafe bool PackPanel(int k0, int kc, int col0, int nc, float* dst, int nr)
    {
        if (_colOf is null || nr % 16 != 0) return false;
        var g = _g;
        int KH = g.Kernel[1], KW = g.Kernel[2], kSize = KH * KW, OW = g.Out[2], IW = g.In[2];
        int strips = (nc + nr - 1) / nr;
        var lane = Vector512.Create(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
        fixed (float* px = _x)
        fixed (int* colOf = _colOf)
        {
            for (int p = 0; p < kc; p++)
            {
                int row = k0 + p, c = row / kSize, tap = row - c * kSize, kh = tap / KW, kw = tap - kh * KW;
                g.ValidRange(1, kh, out int h0, out int h1);
                g.ValidRange(2, kw, out int w0, out int w1);
                int off = (kh * g.Dilation[1] - g.PadBegin[1]) * IW + kw * g.Dilation[2] - g.PadBegin[2];
                float* plane = px + _offset + (long)c * g.InSize + off;
                // Valid outputs: rows [h0, h1) and columns [w0, w1), and inside this panel's columns.
                var jLo = Vector512.Create(Math.Max(col0, h0 * OW));
                var jHi = Vector512.Create(Math.Min(col0 + nc, h1 * OW));
                var wLo = Vector512.Create(w0);
                var wHi = Vector512.Create(w1);
                float* d = dst + (long)p * nr;
                for (int s = 0; s < strips; s++, d += (long)kc * nr)
                {
                    for (int q = 0; q < nr; q += 16)
                    {
                        int j = col0 + s * nr + q;
                        var jv = Vector512.Create(j) + lane;
                        var ow = Vector512.Load(colOf + j);
                        var ok = Vector512.GreaterThanOrEqual(jv, jLo) & Vector512.LessThan(jv, jHi)
                            & Vector512.GreaterThanOrEqual(ow, wLo) & Vector512.LessThan(ow, wHi);
                        Vector512.Store(System.Runtime.Intrinsics.X86.Avx512F.MaskLoad(plane + j, ok.AsSingle(), Vector512<float>.Zero), d + q);
                    }
                }
            }
        }
        return true;
    }

    public void ReadRow(int row, int col0, Span<float> dst)
    {
        var g = _g;
        int KD = g.Kernel[0], KH = g.Kernel[1], KW = g.Kernel[2];
        int kSize = KD * KH * KW, c = row / kSize, tap = row - c * kSize;
        int kd = tap / (KH * KW), kh = tap / KW % KH, kw = tap % KW;
        int OH = g.Out[1], OW = g.Out[2], IH = g.In[1], IW = g.In[2];
        int sw = g.Stride[2];
        var (d0, d1, h0, h1, w0, w1, dShift, hShift, wShift) = g.Tap(kd, kh, kw);
        var plane = _x.AsSpan(_offset + c * g.InSize, g.InSize);
        int j = col0, end = col0 + dst.Length, planeOut = OH * OW;
        while (j < end)
        {
            // One output row at a time: within it the input columns are a (strided) run.
            int od = j / planeOut, rem = j - od * planeOut, oh = rem / OW, ow = rem - oh * OW;
            int len = Math.Min(OW - ow, end - j);
            var seg = dst.Slice(j - col0, len);
            if (od < d0 || od >= d1 || oh < h0 || oh >= h1) seg.Clear();
            else
            {
                var src = plane.Slice(((od * g.Stride[0] + dShift) * IH + oh * g.Stride[1] + hShift) * IW, IW);
                int a = Math.Clamp(w0 - ow, 0, len), b = Math.Clamp(w1 - ow, a, len);
                seg[..a].Clear();
                // An empty run can have a start outside the row (a tap that never lands inside the input).
                if (b > a && sw == 1) src.Slice(ow + a + wShift, b - a).CopyTo(seg[a..b]);
                else if (sw == 2 && b - a >= 16 && System.Runtime.Intrinsics.X86.Avx512F.IsSupported) Stride2(src, ow + a, wShift, seg[a..b]);
                else for (int q = a; q < b; q++) seg[q] = src[(ow + q) * sw + wShift];
                seg[b..].Clear();
            }
            j += len;
        }
    }
}
