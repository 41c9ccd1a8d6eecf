using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace NetOnnx.Kernels;

/// <summary>
/// Numpy-style broadcasting loops. Shapes are first collapsed (adjacent dimensions with the same broadcast
/// pattern merge), so the common cases become one flat loop: same shape, scalar on either side, or a
/// row/column vector repeated over an outer dimension.
/// </summary>
public static class Broadcasting
{
    public static void Binary<T, TResult, TOp>(ReadOnlySpan<T> a, ReadOnlySpan<int> aShape, ReadOnlySpan<T> b, ReadOnlySpan<int> bShape,
        Span<TResult> dst, ReadOnlySpan<int> outShape) where TOp : IBinaryOperator<T, TResult>
    {
        int n = dst.Length;
        if (n == 0) return;
        if (a.Length == n && b.Length == n)
        {
            for (int i = 0; i < n; i++) dst[i] = TOp.Invoke(a[i], b[i]);
            return;
        }
        if (b.Length == 1)
        {
            var y = b[0];
            for (int i = 0; i < n; i++) dst[i] = TOp.Invoke(a[i], y);
            return;
        }
        if (a.Length == 1)
        {
            var x = a[0];
            for (int i = 0; i < n; i++) dst[i] = TOp.Invoke(x, b[i]);
            return;
        }
        General<T, TResult, TOp>(a, aShape, b, bShape, dst, outShape);
    }

    /// <summary>Same as <see cref="Binary{T,TResult,TOp}"/> with SIMD on the flat cases.</summary>
    public static void BinaryVector<T, TOp>(ReadOnlySpan<T> a, ReadOnlySpan<int> aShape, ReadOnlySpan<T> b, ReadOnlySpan<int> bShape,
        Span<T> dst, ReadOnlySpan<int> outShape) where TOp : IVectorBinaryOperator<T>
    {
        int n = dst.Length;
        if (n == 0) return;
        if (a.Length == n && b.Length == n) { Flat<T, TOp>(a, b, dst); return; }
        if (b.Length == 1) { ScalarRight<T, TOp>(a, b[0], dst); return; }
        if (a.Length == 1) { ScalarLeft<T, TOp>(a[0], b, dst); return; }
        // Inner-dimension rows: apply the vector loop per contiguous row where one side repeats. The collapsed
        // shapes and strides live on the stack: nothing is allocated per call.
        int cap = Math.Max(1, outShape.Length);
        Span<int> buf = cap <= 16 ? stackalloc int[6 * 16] : new int[6 * cap];
        int r = CollapseInto(aShape, bShape, outShape, buf.Slice(0, cap), buf.Slice(cap, cap), buf.Slice(2 * cap, cap));
        var ca = buf.Slice(0, r); var cb = buf.Slice(cap, r); var co = buf.Slice(2 * cap, r);
        int inner = co[r - 1];
        bool aRow = ca[r - 1] == inner, bRow = cb[r - 1] == inner;
        bool rowsBoth = aRow && bRow && inner >= 16;
        if (rowsBoth || (inner >= 16 && (ca[r - 1] == 1 || cb[r - 1] == 1) && (aRow || bRow)))
        {
            int rows = n / inner;
            var aStr = buf.Slice(3 * cap, r); var bStr = buf.Slice(4 * cap, r);
            StridesInto(ca, co, aStr); StridesInto(cb, co, bStr);
            var idx = buf.Slice(5 * cap, r);
            idx.Clear();
            int ao = 0, bo = 0;
            for (int row = 0; row < rows; row++)
            {
                if (rowsBoth) Flat<T, TOp>(a.Slice(ao, inner), b.Slice(bo, inner), dst.Slice(row * inner, inner));
                else if (aRow) ScalarRight<T, TOp>(a.Slice(ao, inner), b[bo], dst.Slice(row * inner, inner));
                else ScalarLeft<T, TOp>(a[ao], b.Slice(bo, inner), dst.Slice(row * inner, inner));
                Advance(idx, co, aStr, bStr, r - 2, ref ao, ref bo);
            }
            return;
        }
        General<T, T, TOp>(a, aShape, b, bShape, dst, outShape);
    }

    private static void Advance(Span<int> idx, ReadOnlySpan<int> shape, ReadOnlySpan<int> aStr, ReadOnlySpan<int> bStr, int dim, ref int ao, ref int bo)
    {
        for (int d = dim; d >= 0; d--)
        {
            idx[d]++;
            ao += aStr[d]; bo += bStr[d];
            if (idx[d] < shape[d]) return;
            ao -= aStr[d] * shape[d]; bo -= bStr[d] * shape[d];
            idx[d] = 0;
        }
    }

    public static void Flat<T, TOp>(ReadOnlySpan<T> a, ReadOnlySpan<T> b, Span<T> dst) where TOp : IVectorBinaryOperator<T>
    {
        int n = dst.Length, i = 0;
        ref T ra = ref MemoryMarshal.GetReference(a);
        ref T rb = ref MemoryMarshal.GetReference(b);
        ref T rd = ref MemoryMarshal.GetReference(dst);
        if (Vector512.IsHardwareAccelerated && Vector512<T>.IsSupported)
            for (; i <= n - Vector512<T>.Count; i += Vector512<T>.Count)
                TOp.Invoke(Vector512.LoadUnsafe(ref ra, (nuint)i), Vector512.LoadUnsafe(ref rb, (nuint)i)).StoreUnsafe(ref rd, (nuint)i);
        if (Vector256.IsHardwareAccelerated && Vector256<T>.IsSupported)
            for (; i <= n - Vector256<T>.Count; i += Vector256<T>.Count)
                TOp.Invoke(Vector256.LoadUnsafe(ref ra, (nuint)i), Vector256.LoadUnsafe(ref rb, (nuint)i)).StoreUnsafe(ref rd, (nuint)i);
        if (Vector128.IsHardwareAccelerated && Vector128<T>.IsSupported)
            for (; i <= n - Vector128<T>.Count; i += Vector128<T>.Count)
                TOp.Invoke(Vector128.LoadUnsafe(ref ra, (nuint)i), Vector128.LoadUnsafe(ref rb, (nuint)i)).StoreUnsafe(ref rd, (nuint)i);
        for (; i < n; i++) Unsafe.Add(ref rd, i) = TOp.Invoke(Unsafe.Add(ref ra, i), Unsafe.Add(ref rb, i));
    }

    private static void ScalarRight<T, TOp>(ReadOnlySpan<T> a, T y, Span<T> dst) where TOp : IVectorBinaryOperator<T>
    {
        int n = dst.Length, i = 0;
        ref T ra = ref MemoryMarshal.GetReference(a);
        ref T rd = ref MemoryMarshal.GetReference(dst);
        if (Vector512.IsHardwareAccelerated && Vector512<T>.IsSupported)
        {
            var vy = Vector512.Create(y);
            for (; i <= n - Vector512<T>.Count; i += Vector512<T>.Count)
                TOp.Invoke(Vector512.LoadUnsafe(ref ra, (nuint)i), vy).StoreUnsafe(ref rd, (nuint)i);
        }
        if (Vector256.IsHardwareAccelerated && Vector256<T>.IsSupported)
        {
            var vy = Vector256.Create(y);
            for (; i <= n - Vector256<T>.Count; i += Vector256<T>.Count)
                TOp.Invoke(Vector256.LoadUnsafe(ref ra, (nuint)i), vy).StoreUnsafe(ref rd, (nuint)i);
        }
        for (; i < n; i++) Unsafe.Add(ref rd, i) = TOp.Invoke(Unsafe.Add(ref ra, i), y);
    }

    private static void ScalarLeft<T, TOp>(T x, ReadOnlySpan<T> b, Span<T> dst) where TOp : IVectorBinaryOperator<T>
    {
        int n = dst.Length, i = 0;
        ref T rb = ref MemoryMarshal.GetReference(b);
        ref T rd = ref MemoryMarshal.GetReference(dst);
        if (Vector512.IsHardwareAccelerated && Vector512<T>.IsSupported)
        {
            var vx = Vector512.Create(x);
            for (; i <= n - Vector512<T>.Count; i += Vector512<T>.Count)
                TOp.Invoke(vx, Vector512.LoadUnsafe(ref rb, (nuint)i)).StoreUnsafe(ref rd, (nuint)i);
        }
        if (Vector256.IsHardwareAccelerated && Vector256<T>.IsSupported)
        {
            var vx = Vector256.Create(x);
            for (; i <= n - Vector256<T>.Count; i += Vector256<T>.Count)
                TOp.Invoke(vx, Vector256.LoadUnsafe(ref rb, (nuint)i)).StoreUnsafe(ref rd, (nuint)i);
        }
        for (; i < n; i++) Unsafe.Add(ref rd, i) = TOp.Invoke(x, Unsafe.Add(ref rb, i));
    }

    /// <summary>Any broadcast: walks the output index, keeping one running offset per input.</summary>
    public static void General<T, TResult, TOp>(ReadOnlySpan<T> a, ReadOnlySpan<int> aShape, ReadOnlySpan<T> b, ReadOnlySpan<int> bShape,
        Span<TResult> dst, ReadOnlySpan<int> outShape) where TOp : IBinaryOperator<T, TResult>
    {
        int cap = Math.Max(1, outShape.Length);
        Span<int> buf = cap <= 16 ? stackalloc int[5 * 16] : new int[5 * cap];
        int r = CollapseInto(aShape, bShape, outShape, buf.Slice(0, cap), buf.Slice(cap, cap), buf.Slice(2 * cap, cap));
        var ca = buf.Slice(0, r); var cb = buf.Slice(cap, r); var co = buf.Slice(2 * cap, r);
        var aStr = buf.Slice(3 * cap, r); var bStr = buf.Slice(4 * cap, r);
        StridesInto(ca, co, aStr); StridesInto(cb, co, bStr);
        int inner = co[r - 1], ia = aStr[r - 1], ib = bStr[r - 1];
        int rows = dst.Length / inner;
        Span<int> idx = stackalloc int[r];
        int ao = 0, bo = 0, o = 0;
        for (int row = 0; row < rows; row++)
        {
            int pa = ao, pb = bo;
            for (int k = 0; k < inner; k++, pa += ia, pb += ib) dst[o++] = TOp.Invoke(a[pa], b[pb]);
            Advance(idx, co, aStr, bStr, r - 2, ref ao, ref bo);
        }
    }

    /// <summary>Broadcasts a to outShape (right-aligned), merging adjacent dimensions that broadcast alike.</summary>
    public static void Collapse(ReadOnlySpan<int> aShape, ReadOnlySpan<int> bShape, ReadOnlySpan<int> outShape,
        out int[] ca, out int[] cb, out int[] co)
    {
        int cap = Math.Max(1, outShape.Length);
        var buf = new int[3 * cap];
        int r = CollapseInto(aShape, bShape, outShape, buf.AsSpan(0, cap), buf.AsSpan(cap, cap), buf.AsSpan(2 * cap, cap));
        ca = buf.AsSpan(0, r).ToArray(); cb = buf.AsSpan(cap, r).ToArray(); co = buf.AsSpan(2 * cap, r).ToArray();
    }

    /// <summary><see cref="Collapse"/> into caller buffers of at least max(1, rank) elements; returns the collapsed rank.</summary>
    private static int CollapseInto(ReadOnlySpan<int> aShape, ReadOnlySpan<int> bShape, ReadOnlySpan<int> outShape,
        Span<int> la, Span<int> lb, Span<int> lo)
    {
        int r = outShape.Length, c = 0;
        for (int i = 0; i < r; i++)
        {
            int da = i < r - aShape.Length ? 1 : aShape[i - (r - aShape.Length)];
            int db = i < r - bShape.Length ? 1 : bShape[i - (r - bShape.Length)];
            int d = outShape[i];
            if (d == 1) continue;
            if (c > 0)
            {
                int k = c - 1;
                bool prevA = la[k] == lo[k], prevB = lb[k] == lo[k];
                bool curA = da == d, curB = db == d;
                if (prevA == curA && prevB == curB) { la[k] *= da; lb[k] *= db; lo[k] *= d; continue; }
            }
            la[c] = da; lb[c] = db; lo[c] = d;
            c++;
        }
        if (c == 0) { la[0] = 1; lb[0] = 1; lo[0] = 1; c = 1; }
        return c;
    }

    private static void StridesInto(ReadOnlySpan<int> s, ReadOnlySpan<int> o, Span<int> st)
    {
        int acc = 1;
        for (int i = o.Length - 1; i >= 0; i--)
        {
            st[i] = s[i] == 1 && o[i] != 1 ? 0 : acc;
            acc *= s[i];
        }
    }

    /// <summary>Element-wise unary loop with SIMD.</summary>
    public static void UnaryVector<T, TOp>(ReadOnlySpan<T> x, Span<T> dst) where TOp : IVectorUnaryOperator<T>
    {
        int n = dst.Length, i = 0;
        ref T rx = ref MemoryMarshal.GetReference(x);
        ref T rd = ref MemoryMarshal.GetReference(dst);
        if (Vector512.IsHardwareAccelerated && Vector512<T>.IsSupported)
            for (; i <= n - Vector512<T>.Count; i += Vector512<T>.Count)
                TOp.Invoke(Vector512.LoadUnsafe(ref rx, (nuint)i)).StoreUnsafe(ref rd, (nuint)i);
        if (Vector256.IsHardwareAccelerated && Vector256<T>.IsSupported)
            for (; i <= n - Vector256<T>.Count; i += Vector256<T>.Count)
                TOp.Invoke(Vector256.LoadUnsafe(ref rx, (nuint)i)).StoreUnsafe(ref rd, (nuint)i);
        for (; i < n; i++) Unsafe.Add(ref rd, i) = TOp.Invoke(Unsafe.Add(ref rx, i));
    }

    public static void Unary<T, TResult, TOp>(ReadOnlySpan<T> x, Span<TResult> dst) where TOp : IUnaryOperator<T, TResult>
    {
        for (int i = 0; i < dst.Length; i++) dst[i] = TOp.Invoke(x[i]);
    }
}
