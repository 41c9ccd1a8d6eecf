using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace NetOnnx.Kernels.DataMovement;

/// <summary>
/// N-dimensional strided copy, the primitive behind Slice, Transpose, Expand, Tile, Concat, Pad and friends.
/// Each dimension has a source stride and a destination stride (in elements; source strides may be 0 for
/// broadcasting or negative for reversed slices). Dimensions are first collapsed so contiguous runs move with
/// <see cref="Span{T}.CopyTo"/>; a run that is contiguous in the destination but gathered from a transposed
/// source is copied in square tiles so both sides stay in cache. Works for any element type, strings included.
/// </summary>
public static class StridedCopy
{
    private const int Tile = 32;

    public static void Copy<T>(ReadOnlySpan<T> src, int srcOffset, ReadOnlySpan<int> srcStrides,
        Span<T> dst, int dstOffset, ReadOnlySpan<int> dstStrides, ReadOnlySpan<int> shape)
    {
        int rank = shape.Length;
        foreach (int d in shape) if (d == 0) return;
        // Collapse: drop unit dimensions and merge neighbours whose strides chain on both sides.
        Span<int> n = stackalloc int[Math.Max(rank, 1)];
        Span<int> ss = stackalloc int[Math.Max(rank, 1)];
        Span<int> ds = stackalloc int[Math.Max(rank, 1)];
        int r = 0;
        for (int i = 0; i < rank; i++)
        {
            if (shape[i] == 1) continue;
            if (r > 0 && ss[r - 1] == srcStrides[i] * shape[i] && ds[r - 1] == dstStrides[i] * shape[i])
            {
                n[r - 1] *= shape[i];
                ss[r - 1] = srcStrides[i];
                ds[r - 1] = dstStrides[i];
                continue;
            }
            n[r] = shape[i]; ss[r] = srcStrides[i]; ds[r] = dstStrides[i]; r++;
        }
        if (r == 0) { dst[dstOffset] = src[srcOffset]; return; }
        n = n[..r]; ss = ss[..r]; ds = ds[..r];
        // Check the whole footprint once, so the loops below can address elements without bounds checks.
        CheckFootprint(srcOffset, n, ss, src.Length, "source");
        CheckFootprint(dstOffset, n, ds, dst.Length, "destination");
        ref T s0 = ref MemoryMarshal.GetReference(src);
        ref T d0 = ref MemoryMarshal.GetReference(dst);

        int inner = n[r - 1], iss = ss[r - 1], ids = ds[r - 1];
        if (ids == 1 && iss != 1 && iss != 0 && r >= 2)
        {
            // Transposed gather: find a dimension that is contiguous in the source and tile over the pair.
            for (int k = r - 2; k >= 0; k--)
            {
                if (ss[k] == 1 && n[k] >= 4 && inner >= 4)
                {
                    CopyTiled(ref s0, srcOffset, ref d0, dstOffset, n, ss, ds, k);
                    return;
                }
            }
        }

        Span<int> idx = stackalloc int[r];
        idx.Clear();
        int so = srcOffset, dof = dstOffset;
        while (true)
        {
            if (iss == 1 && ids == 1)
                MemoryMarshal.CreateReadOnlySpan(ref Unsafe.Add(ref s0, so), inner).CopyTo(MemoryMarshal.CreateSpan(ref Unsafe.Add(ref d0, dof), inner));
            else if (iss == 0 && ids == 1) MemoryMarshal.CreateSpan(ref Unsafe.Add(ref d0, dof), inner).Fill(Unsafe.Add(ref s0, so));
            else
            {
                ref T sp = ref Unsafe.Add(ref s0, so);
                ref T dp = ref Unsafe.Add(ref d0, dof);
                for (int j = 0; j < inner; j++) Unsafe.Add(ref dp, j * ids) = Unsafe.Add(ref sp, j * iss);
            }
            int ax = r - 2;
            for (; ax >= 0; ax--)
            {
                so += ss[ax]; dof += ds[ax];
                if (++idx[ax] < n[ax]) break;
                so -= ss[ax] * n[ax]; dof -= ds[ax] * n[ax];
                idx[ax] = 0;
            }
            if (ax < 0) return;
        }
    }

    /// <summary>Copies with dimension k (source-contiguous) and the last dimension (destination-contiguous) in tiles.</summary>
    private static void CheckFootprint(int offset, ReadOnlySpan<int> n, ReadOnlySpan<int> strides, int length, string side)
    {
        long lo = offset, hi = offset;
        for (int i = 0; i < n.Length; i++)
        {
            long reach = (long)(n[i] - 1) * strides[i];
            if (reach < 0) lo += reach; else hi += reach;
        }
        if (lo < 0 || hi >= length)
            throw new ArgumentOutOfRangeException(side, $"strided copy reaches elements [{lo}, {hi}] of a {side} of {length}");
    }

    private static void CopyTiled<T>(ref T src, int srcOffset, ref T dst, int dstOffset,
        ReadOnlySpan<int> n, ReadOnlySpan<int> ss, ReadOnlySpan<int> ds, int k)
    {
        int r = n.Length;
        int rows = n[k], cols = n[r - 1];
        int rowDst = ds[k], colSrc = ss[r - 1];
        bool simd = Unsafe.SizeOf<T>() == 4 && Avx.IsSupported && colSrc > 0 && rowDst > 0 && !RuntimeHelpers.IsReferenceOrContainsReferences<T>();
        Span<int> idx = stackalloc int[r];
        idx.Clear();
        int so = srcOffset, dof = dstOffset;
        while (true)
        {
            for (int i0 = 0; i0 < rows; i0 += Tile)
            {
                int i1 = Math.Min(rows, i0 + Tile);
                for (int j0 = 0; j0 < cols; j0 += Tile)
                {
                    int j1 = Math.Min(cols, j0 + Tile);
                    // 4-byte elements: the 8x8-aligned part of the tile goes through register transposes.
                    int fi = 0, fj = 0;
                    if (simd)
                    {
                        fi = (i1 - i0) & ~7; fj = (j1 - j0) & ~7;
                        for (int bi = 0; bi < fi; bi += 8)
                            for (int bj = 0; bj < fj; bj += 8)
                                Transpose8x8(
                                    ref Unsafe.As<T, float>(ref Unsafe.Add(ref src, so + i0 + bi + (j0 + bj) * colSrc)), colSrc,
                                    ref Unsafe.As<T, float>(ref Unsafe.Add(ref dst, dof + (i0 + bi) * rowDst + j0 + bj)), rowDst);
                    }
                    for (int i = i0; i < i1; i++)
                    {
                        // Rows inside the vectorised block only need their columns past it.
                        int jStart = j0 + (i - i0 < fi ? fj : 0);
                        ref T dp = ref Unsafe.Add(ref dst, dof + i * rowDst);
                        ref T sp = ref Unsafe.Add(ref src, so + i);
                        for (int j = jStart; j < j1; j++) Unsafe.Add(ref dp, j) = Unsafe.Add(ref sp, j * colSrc);
                    }
                }
            }
            // Advance over every dimension except k and the last.
            int ax = r - 2;
            for (; ax >= 0; ax--)
            {
                if (ax == k) continue;
                so += ss[ax]; dof += ds[ax];
                if (++idx[ax] < n[ax]) break;
                so -= ss[ax] * n[ax]; dof -= ds[ax] * n[ax];
                idx[ax] = 0;
            }
            if (ax < 0) return;
        }
    }

    /// <summary>
    /// dst[i * dstStride + j] = src[i + j * srcStride] for an 8x8 block of 4-byte elements: load eight source
    /// rows, transpose in registers (unpack, shuffle, lane permute), store eight destination rows.
    /// </summary>
    private static void Transpose8x8(ref float src, int srcStride, ref float dst, int dstStride)
    {
        var r0 = Vector256.LoadUnsafe(ref src);
        var r1 = Vector256.LoadUnsafe(ref src, (nuint)srcStride);
        var r2 = Vector256.LoadUnsafe(ref src, (nuint)(2 * srcStride));
        var r3 = Vector256.LoadUnsafe(ref src, (nuint)(3 * srcStride));
        var r4 = Vector256.LoadUnsafe(ref src, (nuint)(4 * srcStride));
        var r5 = Vector256.LoadUnsafe(ref src, (nuint)(5 * srcStride));
        var r6 = Vector256.LoadUnsafe(ref src, (nuint)(6 * srcStride));
        var r7 = Vector256.LoadUnsafe(ref src, (nuint)(7 * srcStride));
        var t0 = Avx.UnpackLow(r0, r1); var t1 = Avx.UnpackHigh(r0, r1);
        var t2 = Avx.UnpackLow(r2, r3); var t3 = Avx.UnpackHigh(r2, r3);
        var t4 = Avx.UnpackLow(r4, r5); var t5 = Avx.UnpackHigh(r4, r5);
        var t6 = Avx.UnpackLow(r6, r7); var t7 = Avx.UnpackHigh(r6, r7);
        var s0 = Avx.Shuffle(t0, t2, 0x44); var s1 = Avx.Shuffle(t0, t2, 0xEE);
        var s2 = Avx.Shuffle(t1, t3, 0x44); var s3 = Avx.Shuffle(t1, t3, 0xEE);
        var s4 = Avx.Shuffle(t4, t6, 0x44); var s5 = Avx.Shuffle(t4, t6, 0xEE);
        var s6 = Avx.Shuffle(t5, t7, 0x44); var s7 = Avx.Shuffle(t5, t7, 0xEE);
        Avx.Permute2x128(s0, s4, 0x20).StoreUnsafe(ref dst);
        Avx.Permute2x128(s1, s5, 0x20).StoreUnsafe(ref dst, (nuint)dstStride);
        Avx.Permute2x128(s2, s6, 0x20).StoreUnsafe(ref dst, (nuint)(2 * dstStride));
        Avx.Permute2x128(s3, s7, 0x20).StoreUnsafe(ref dst, (nuint)(3 * dstStride));
        Avx.Permute2x128(s0, s4, 0x31).StoreUnsafe(ref dst, (nuint)(4 * dstStride));
        Avx.Permute2x128(s1, s5, 0x31).StoreUnsafe(ref dst, (nuint)(5 * dstStride));
        Avx.Permute2x128(s2, s6, 0x31).StoreUnsafe(ref dst, (nuint)(6 * dstStride));
        Avx.Permute2x128(s3, s7, 0x31).StoreUnsafe(ref dst, (nuint)(7 * dstStride));
    }

    /// <summary>Copies a block whose destination is dense (row-major over <paramref name="shape"/>) from strided source.</summary>
    public static void Gather<T>(ReadOnlySpan<T> src, int srcOffset, ReadOnlySpan<int> srcStrides, Span<T> dst, ReadOnlySpan<int> shape)
    {
        Span<int> dstStrides = stackalloc int[shape.Length];
        int acc = 1;
        for (int i = shape.Length - 1; i >= 0; i--) { dstStrides[i] = acc; acc *= shape[i]; }
        Copy(src, srcOffset, srcStrides, dst, 0, dstStrides, shape);
    }
}
