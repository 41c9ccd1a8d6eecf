using System.Runtime.CompilerServices;

namespace NetOnnx.Kernels;

/// <summary>Shape arithmetic shared by kernels: sizes, strides, broadcasting, axis normalisation.</summary>
public static class ShapeMath
{
    public static int Size(ReadOnlySpan<int> shape)
    {
        long n = 1;
        foreach (int d in shape)
        {
            if (d < 0) throw new ArgumentException($"negative dimension {d} in shape");
            n *= d;
            if (n > Array.MaxLength) throw new ArgumentException($"shape {Format(shape)} has more than {Array.MaxLength} elements");
        }
        return (int)n;
    }

    public static int SizeFrom(ReadOnlySpan<int> shape, int start)
    {
        int n = 1;
        for (int i = start; i < shape.Length; i++) n *= shape[i];
        return n;
    }

    public static int SizeTo(ReadOnlySpan<int> shape, int end)
    {
        int n = 1;
        for (int i = 0; i < end; i++) n *= shape[i];
        return n;
    }

    /// <summary>Row-major strides in elements.</summary>
    public static int[] Strides(ReadOnlySpan<int> shape)
    {
        var s = new int[shape.Length];
        int acc = 1;
        for (int i = shape.Length - 1; i >= 0; i--) { s[i] = acc; acc *= shape[i]; }
        return s;
    }

    /// <summary>Normalises a possibly negative axis against a rank, failing with a message naming the axis.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static int Axis(long axis, int rank)
    {
        long a = axis < 0 ? axis + rank : axis;
        if (a < 0 || a >= Math.Max(rank, 1) && !(rank == 0 && a == 0))
            throw new ArgumentException($"axis {axis} is out of range for rank {rank}");
        return (int)a;
    }

    /// <summary>Numpy-style multidirectional broadcast of two shapes.</summary>
    public static int[] Broadcast(ReadOnlySpan<int> a, ReadOnlySpan<int> b)
    {
        int r = Math.Max(a.Length, b.Length);
        var o = new int[r];
        for (int i = 0; i < r; i++)
        {
            int da = i < r - a.Length ? 1 : a[i - (r - a.Length)];
            int db = i < r - b.Length ? 1 : b[i - (r - b.Length)];
            if (da == db || db == 1) o[i] = da;
            else if (da == 1) o[i] = db;
            else throw new ArgumentException($"shapes {Format(a)} and {Format(b)} cannot be broadcast (dimension {i}: {da} vs {db})");
        }
        return o;
    }

    /// <summary>Broadcast of any number of shapes (Where, Sum, Max...).</summary>
    public static int[] BroadcastAll(params int[][] shapes)
    {
        int[] o = shapes[0];
        for (int i = 1; i < shapes.Length; i++) o = Broadcast((ReadOnlySpan<int>)o, shapes[i]);
        return o;
    }

    /// <summary>
    /// Strides of <paramref name="shape"/> when broadcast to <paramref name="outShape"/>: 0 on broadcast
    /// dimensions, so an index walk over the output addresses the input directly.
    /// </summary>
    public static int[] BroadcastStrides(ReadOnlySpan<int> shape, ReadOnlySpan<int> outShape)
    {
        var s = new int[outShape.Length];
        int off = outShape.Length - shape.Length;
        int acc = 1;
        for (int i = shape.Length - 1; i >= 0; i--)
        {
            s[i + off] = shape[i] == 1 && outShape[i + off] != 1 ? 0 : acc;
            acc *= shape[i];
        }
        return s;
    }

    public static bool SameShape(ReadOnlySpan<int> a, ReadOnlySpan<int> b) => a.SequenceEqual(b);

    public static string Format(ReadOnlySpan<int> shape) => "[" + string.Join(",", shape.ToArray()) + "]";
}
