using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using NetOnnx.Kernels.DataMovement;

namespace NetOnnx.Runtime.Operators.DataMovement;

/// <summary>An operation generic over the storage type of a tensor (bit pattern for unmanaged types, string).</summary>
internal interface IElementAction
{
    void Invoke<T>();
}

/// <summary>An operation generic over a numeric element type.</summary>
internal interface INumericAction
{
    void Invoke<T>() where T : unmanaged, INumber<T>;
}

/// <summary>16 opaque bytes: storage stand-in for complex128 when only moving elements.</summary>
internal readonly struct Bits128
{
    public readonly long Low, High;
}

/// <summary>Type dispatch and typed views used by the data-movement kernels.</summary>
internal static class Elements
{
    /// <summary>
    /// Calls <paramref name="action"/> with a type of the element's size (byte, ushort, uint, ulong, 16 bytes) or string:
    /// data movement never looks at values, so one instantiation per width serves every element type.
    /// </summary>
    public static void ByStorage<TA>(DataType type, ref TA action) where TA : struct, IElementAction
    {
        if (type == DataType.String) { action.Invoke<string>(); return; }
        switch (type.SizeOf())
        {
            case 1: action.Invoke<byte>(); break;
            case 2: action.Invoke<ushort>(); break;
            case 4: action.Invoke<uint>(); break;
            case 8: action.Invoke<ulong>(); break;
            case 16: action.Invoke<Bits128>(); break;
            default: throw new NotSupportedException($"element type {type.OnnxName()} is not supported");
        }
    }

    /// <summary>Calls <paramref name="action"/> with the CLR numeric type of <paramref name="type"/>.</summary>
    public static void ByNumber<TA>(DataType type, ref TA action, string op) where TA : struct, INumericAction
    {
        switch (type)
        {
            case DataType.Float: action.Invoke<float>(); break;
            case DataType.Double: action.Invoke<double>(); break;
            case DataType.Float16: action.Invoke<Half>(); break;
            case DataType.Int8: action.Invoke<sbyte>(); break;
            case DataType.Int16: action.Invoke<short>(); break;
            case DataType.Int32: action.Invoke<int>(); break;
            case DataType.Int64: action.Invoke<long>(); break;
            case DataType.UInt8: action.Invoke<byte>(); break;
            case DataType.UInt16: action.Invoke<ushort>(); break;
            case DataType.UInt32: action.Invoke<uint>(); break;
            case DataType.UInt64: action.Invoke<ulong>(); break;
            default: throw new NotSupportedException($"{op} does not support element type {type.OnnxName()}");
        }
    }

    /// <summary>The tensor's elements viewed as <typeparamref name="T"/> (same width or the real CLR type).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Span<T> Data<T>(Tensor t)
    {
        if (t.Buffer is T[] arr) return new Span<T>(arr, 0, t.Length);
        ref byte r = ref MemoryMarshal.GetArrayDataReference(t.Buffer);
        return MemoryMarshal.CreateSpan(ref Unsafe.As<byte, T>(ref r), t.Length);
    }

    /// <summary>Strided copy between two tensors of the same element type (see <see cref="StridedCopy.Copy{T}"/>).</summary>
    public static void Copy(Tensor src, int srcOffset, int[] srcStrides, Tensor dst, int dstOffset, int[] dstStrides, int[] shape)
    {
        var a = new CopyAction { Src = src, SrcOffset = srcOffset, SrcStrides = srcStrides, Dst = dst, DstOffset = dstOffset, DstStrides = dstStrides, Shape = shape };
        ByStorage(src.ElementType, ref a);
    }

    /// <summary>Fills a dense tensor from a strided view of <paramref name="src"/>.</summary>
    public static void Gather(Tensor src, int srcOffset, int[] srcStrides, Tensor dst) =>
        Copy(src, srcOffset, srcStrides, dst, 0, Kernels.ShapeMath.Strides(dst.Shape), dst.Shape);

    private struct CopyAction : IElementAction
    {
        public Tensor Src, Dst;
        public int SrcOffset, DstOffset;
        public int[] SrcStrides, DstStrides, Shape;
        public void Invoke<T>() => StridedCopy.Copy<T>(Data<T>(Src), SrcOffset, SrcStrides, Data<T>(Dst), DstOffset, DstStrides, Shape);
    }

    /// <summary>Reads an optional integer input (axes, shape, pads...) as longs, or null when it is omitted.</summary>
    public static long[]? OptionalInts(KernelContext ctx, int i) => ctx.OptionalInput(i) is { } t ? t.ToInt64Array() : null;

    /// <summary>Normalises an axis, reporting a bad one against the node.</summary>
    public static int Axis(KernelContext ctx, long axis, int rank)
    {
        long a = axis < 0 ? axis + rank : axis;
        if (a < 0 || a >= rank) throw ctx.Error($"axis {axis} is out of range for an input of rank {rank}");
        return (int)a;
    }

    /// <summary>Checks a dimension fits in an int (the runtime's element-count limit).</summary>
    public static int Dim(KernelContext ctx, long d, string what)
    {
        if (d < 0 || d > Array.MaxLength) throw ctx.Error($"{what} {d} is not a valid dimension");
        return (int)d;
    }

    /// <summary>A view of the same buffer with another shape (Reshape, Flatten, Squeeze, Unsqueeze): no copy.</summary>
    public static Tensor View(Tensor t, int[] shape) => new(t.ElementType, shape, t.Buffer);

    /// <summary>Writes the single element of <paramref name="value"/> (same element type) to every element of <paramref name="dst"/>.</summary>
    public static void Fill(Tensor dst, Tensor value)
    {
        var a = new FillAction { Dst = dst, Value = value };
        ByStorage(dst.ElementType, ref a);
    }

    private struct FillAction : IElementAction
    {
        public Tensor Dst, Value;
        public void Invoke<T>() => Data<T>(Dst).Fill(Data<T>(Value)[0]);
    }

    /// <summary>A one-element tensor of <paramref name="type"/> holding <paramref name="v"/> (fill values, ones).</summary>
    public static Tensor ScalarOf(DataType type, double v)
    {
        Array a = type switch
        {
            DataType.Float => new[] { (float)v },
            DataType.Double => new[] { v },
            DataType.Float16 => new[] { (Half)v },
            DataType.BFloat16 => new[] { (BFloat16)(float)v },
            DataType.Int8 => new[] { (sbyte)v },
            DataType.Int16 => new[] { (short)v },
            DataType.Int32 => new[] { (int)v },
            DataType.Int64 => new[] { (long)v },
            DataType.UInt8 => new[] { (byte)v },
            DataType.UInt16 => new[] { (ushort)v },
            DataType.UInt32 => new[] { (uint)v },
            DataType.UInt64 => new[] { (ulong)v },
            DataType.Bool => new[] { v != 0 },
            DataType.String => new[] { "" },
            DataType.Complex64 => new[] { new Complex64((float)v, 0) },
            DataType.Complex128 => new[] { new System.Numerics.Complex(v, 0) },
            _ when v == 0 => Array.CreateInstance(type.ClrType(), 1),
            _ => throw new NotSupportedException($"cannot make a constant {v} of element type {type.OnnxName()}"),
        };
        return new Tensor(type, [], a);
    }

    /// <summary>bfloat16 has no generic arithmetic: numeric kernels widen it to float and narrow the result.</summary>
    public static Tensor WidenBFloat16(Tensor t)
    {
        var src = t.ReadOnlySpan<BFloat16>();
        var f = new float[t.Length];
        for (int i = 0; i < f.Length; i++) f[i] = (float)src[i];
        return new Tensor(DataType.Float, t.Shape, f);
    }

    public static void NarrowToBFloat16(Tensor f, Tensor dst)
    {
        var src = f.ReadOnlySpan<float>();
        var d = dst.Span<BFloat16>();
        for (int i = 0; i < d.Length; i++) d[i] = (BFloat16)src[i];
    }
}
