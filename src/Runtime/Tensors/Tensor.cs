using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Text;
using NetOnnx.Kernels;

namespace NetOnnx.Runtime;

/// <summary>
/// A dense tensor: an element type, a shape and a CLR array holding at least <see cref="Length"/> elements
/// in row-major order. The array may be longer than needed because the executor recycles buffers.
/// </summary>
public sealed class Tensor
{
    public DataType ElementType { get; }
    public int[] Shape { get; }
    public int Length { get; }
    /// <summary>Storage; its CLR element type is <see cref="DataTypes.ClrType"/> of <see cref="ElementType"/>.</summary>
    public Array Buffer { get; }

    public int Rank => Shape.Length;

    public Tensor(DataType type, int[] shape, Array buffer)
    {
        ElementType = type;
        Shape = shape;
        Length = ShapeMath.Size(shape);
        if (buffer.GetType().GetElementType() != type.ClrType())
            throw new ArgumentException($"buffer of {buffer.GetType().Name} cannot hold {type.OnnxName()}");
        if (buffer.Length < Length)
            throw new ArgumentException($"buffer holds {buffer.Length} elements, shape [{string.Join(",", shape)}] needs {Length}");
        Buffer = buffer;
    }

    public static Tensor Create<T>(T[] data, params int[] shape) => new(DataTypes.FromClr<T>(), shape, data);
    public static Tensor Create<T>(DataType type, T[] data, params int[] shape) => new(type, shape, data);
    public static Tensor Scalar<T>(T value) => new(DataTypes.FromClr<T>(), [], new[] { value });

    public static Tensor Zeros(DataType type, params int[] shape)
    {
        int n = ShapeMath.Size(shape);
        var arr = Array.CreateInstance(type.ClrType(), n);
        if (type == DataType.String) Array.Fill((string[])arr, string.Empty);
        return new Tensor(type, shape, arr);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public Span<T> Span<T>() => new((T[])Buffer, 0, Length);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public ReadOnlySpan<T> ReadOnlySpan<T>() => new((T[])Buffer, 0, Length);

    /// <summary>The raw bytes of an unmanaged-typed tensor (not strings).</summary>
    public Span<byte> Bytes()
    {
        if (ElementType == DataType.String) throw new InvalidOperationException("string tensors have no byte view");
        ref byte start = ref MemoryMarshal.GetArrayDataReference(Buffer);
        return MemoryMarshal.CreateSpan(ref start, Length * ElementType.SizeOf());
    }

    public T[] ToArray<T>() => ReadOnlySpan<T>().ToArray();

    /// <summary>The single element of a tensor with one element (any rank).</summary>
    public T Item<T>() => Length == 1 ? ((T[])Buffer)[0] : throw new InvalidOperationException($"tensor of shape {ShapeMath.Format(Shape)} is not a single element");

    /// <summary>A view with another shape over the same buffer.</summary>
    public Tensor Reshape(params int[] shape)
    {
        if (ShapeMath.Size(shape) != Length) throw new ArgumentException($"cannot view {ShapeMath.Format(Shape)} as {ShapeMath.Format(shape)}");
        return new Tensor(ElementType, shape, Buffer);
    }

    public Tensor Clone()
    {
        var arr = Array.CreateInstance(Buffer.GetType().GetElementType()!, Length);
        Array.Copy(Buffer, arr, Length);
        return new Tensor(ElementType, (int[])Shape.Clone(), arr);
    }

    /// <summary>Reads any numeric element as double (for attributes, shapes and checks, not hot loops).</summary>
    public double GetDouble(int i) => ElementType switch
    {
        DataType.Float => ((float[])Buffer)[i],
        DataType.Double => ((double[])Buffer)[i],
        DataType.Float16 => (double)((Half[])Buffer)[i],
        DataType.BFloat16 => (float)((BFloat16[])Buffer)[i],
        DataType.Int8 => ((sbyte[])Buffer)[i],
        DataType.Int16 => ((short[])Buffer)[i],
        DataType.Int32 => ((int[])Buffer)[i],
        DataType.Int64 => ((long[])Buffer)[i],
        DataType.UInt8 => ((byte[])Buffer)[i],
        DataType.UInt16 => ((ushort[])Buffer)[i],
        DataType.UInt32 => ((uint[])Buffer)[i],
        DataType.UInt64 => ((ulong[])Buffer)[i],
        DataType.Bool => ((bool[])Buffer)[i] ? 1 : 0,
        _ => throw new NotSupportedException($"cannot read {ElementType.OnnxName()} as a number"),
    };

    /// <summary>Reads an integer tensor (int32/int64/...) as long values: shape inputs, axes, indices.</summary>
    public long[] ToInt64Array()
    {
        var r = new long[Length];
        switch (ElementType)
        {
            case DataType.Int64: ReadOnlySpan<long>().CopyTo(r); break;
            case DataType.Int32: { var s = ReadOnlySpan<int>(); for (int i = 0; i < r.Length; i++) r[i] = s[i]; break; }
            default: for (int i = 0; i < r.Length; i++) r[i] = checked((long)GetDouble(i)); break;
        }
        return r;
    }

    public override string ToString()
    {
        var sb = new StringBuilder();
        sb.Append("tensor(").Append(ElementType.OnnxName()).Append(") ").Append(ShapeMath.Format(Shape));
        if (Length <= 16)
        {
            sb.Append(" [");
            for (int i = 0; i < Length; i++) { if (i > 0) sb.Append(", "); sb.Append(Buffer.GetValue(i)); }
            sb.Append(']');
        }
        return sb.ToString();
    }
}
