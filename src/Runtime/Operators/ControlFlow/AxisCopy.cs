using NetOnnx.Kernels;

namespace NetOnnx.Runtime.Operators.ControlFlow;

/// <summary>Type-agnostic block copies for slicing along and stacking on an axis (Scan and Loop plumbing).</summary>
internal static class AxisCopy
{
    /// <summary>Shape without dimension <paramref name="axis"/>.</summary>
    public static int[] Without(int[] shape, int axis) => [.. shape[..axis], .. shape[(axis + 1)..]];

    /// <summary>Copies slice <paramref name="index"/> along <paramref name="axis"/> of src into dst (whose shape lacks that axis).</summary>
    public static void Slice(Tensor src, int axis, int index, Tensor dst)
    {
        int n = src.Shape[axis];
        int outer = ShapeMath.SizeTo(src.Shape, axis), inner = ShapeMath.SizeFrom(src.Shape, axis + 1);
        for (int o = 0; o < outer; o++)
            Array.Copy(src.Buffer, ((long)o * n + index) * inner, dst.Buffer, (long)o * inner, inner);
    }

    /// <summary>Copies item (shape = dst shape without <paramref name="axis"/>) into position <paramref name="index"/> along axis of dst.</summary>
    public static void Place(Tensor item, Tensor dst, int axis, int index)
    {
        int n = dst.Shape[axis];
        int outer = ShapeMath.SizeTo(dst.Shape, axis), inner = ShapeMath.SizeFrom(dst.Shape, axis + 1);
        for (int o = 0; o < outer; o++)
            Array.Copy(item.Buffer, (long)o * inner, dst.Buffer, ((long)o * n + index) * inner, inner);
    }

    public static bool SameShape(int[] a, int[] b) => a.AsSpan().SequenceEqual(b);
}
