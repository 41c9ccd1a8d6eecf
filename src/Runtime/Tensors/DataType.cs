using System.Numerics;

namespace NetOnnx.Runtime;

/// <summary>Element types of tensors; the numeric values are ONNX's TensorProto.DataType codes.</summary>
public enum DataType
{
    Undefined = 0,
    Float = 1,
    UInt8 = 2,
    Int8 = 3,
    UInt16 = 4,
    Int16 = 5,
    Int32 = 6,
    Int64 = 7,
    String = 8,
    Bool = 9,
    Float16 = 10,
    Double = 11,
    UInt32 = 12,
    UInt64 = 13,
    Complex64 = 14,
    Complex128 = 15,
    BFloat16 = 16,
    Float8E4M3FN = 17,
    Float8E4M3FNUZ = 18,
    Float8E5M2 = 19,
    Float8E5M2FNUZ = 20,
    UInt4 = 21,
    Int4 = 22,
    Float4E2M1 = 23,
    Float8E8M0 = 24,
    UInt2 = 25,
    Int2 = 26,
}

/// <summary>Facts about each element type: its CLR storage type and size.</summary>
/// <remarks>
/// Sub-byte and float8 types are stored unpacked, one element per byte, so kernels index them
/// like any other array; packing happens only at the file boundary.
/// </remarks>
public static class DataTypes
{
    public static Type ClrType(this DataType t) => t switch
    {
        DataType.Float => typeof(float),
        DataType.Double => typeof(double),
        DataType.Float16 => typeof(Half),
        DataType.BFloat16 => typeof(BFloat16),
        DataType.Int8 => typeof(sbyte),
        DataType.Int16 => typeof(short),
        DataType.Int32 => typeof(int),
        DataType.Int64 => typeof(long),
        DataType.UInt8 => typeof(byte),
        DataType.UInt16 => typeof(ushort),
        DataType.UInt32 => typeof(uint),
        DataType.UInt64 => typeof(ulong),
        DataType.Bool => typeof(bool),
        DataType.String => typeof(string),
        DataType.Complex64 => typeof(Complex64),
        DataType.Complex128 => typeof(Complex),
        DataType.Float8E4M3FN or DataType.Float8E4M3FNUZ or DataType.Float8E5M2 or DataType.Float8E5M2FNUZ
            or DataType.Float8E8M0 or DataType.Float4E2M1 or DataType.UInt4 or DataType.UInt2 => typeof(byte),
        DataType.Int4 or DataType.Int2 => typeof(sbyte),
        _ => throw new NotSupportedException($"element type {t} has no storage type"),
    };

    /// <summary>Bytes one element occupies in memory (unpacked).</summary>
    public static int SizeOf(this DataType t) => t switch
    {
        DataType.Double or DataType.Int64 or DataType.UInt64 or DataType.Complex64 => 8,
        DataType.Complex128 => 16,
        DataType.Float or DataType.Int32 or DataType.UInt32 => 4,
        DataType.Float16 or DataType.BFloat16 or DataType.Int16 or DataType.UInt16 => 2,
        DataType.String => IntPtr.Size,
        _ => 1,
    };

    public static bool IsFloat(this DataType t) => t is DataType.Float or DataType.Double or DataType.Float16 or DataType.BFloat16
        or DataType.Float8E4M3FN or DataType.Float8E4M3FNUZ or DataType.Float8E5M2 or DataType.Float8E5M2FNUZ
        or DataType.Float8E8M0 or DataType.Float4E2M1;

    public static bool IsSignedInteger(this DataType t) => t is DataType.Int8 or DataType.Int16 or DataType.Int32 or DataType.Int64 or DataType.Int4 or DataType.Int2;
    public static bool IsUnsignedInteger(this DataType t) => t is DataType.UInt8 or DataType.UInt16 or DataType.UInt32 or DataType.UInt64 or DataType.UInt4 or DataType.UInt2;
    public static bool IsInteger(this DataType t) => t.IsSignedInteger() || t.IsUnsignedInteger();

    /// <summary>Types whose storage is a plain byte/sbyte carrying an encoding (float8, float4, int4, ...).</summary>
    public static bool IsEncoded(this DataType t) => t is DataType.Float8E4M3FN or DataType.Float8E4M3FNUZ or DataType.Float8E5M2
        or DataType.Float8E5M2FNUZ or DataType.Float8E8M0 or DataType.Float4E2M1 or DataType.UInt4 or DataType.Int4 or DataType.UInt2 or DataType.Int2;

    /// <summary>The ONNX spelling used in messages, e.g. "tensor(float)".</summary>
    public static string OnnxName(this DataType t) => t switch
    {
        DataType.Float => "float",
        DataType.Double => "double",
        DataType.Float16 => "float16",
        DataType.BFloat16 => "bfloat16",
        DataType.Int8 => "int8",
        DataType.Int16 => "int16",
        DataType.Int32 => "int32",
        DataType.Int64 => "int64",
        DataType.UInt8 => "uint8",
        DataType.UInt16 => "uint16",
        DataType.UInt32 => "uint32",
        DataType.UInt64 => "uint64",
        DataType.Bool => "bool",
        DataType.String => "string",
        DataType.Complex64 => "complex64",
        DataType.Complex128 => "complex128",
        DataType.Float8E4M3FN => "float8e4m3fn",
        DataType.Float8E4M3FNUZ => "float8e4m3fnuz",
        DataType.Float8E5M2 => "float8e5m2",
        DataType.Float8E5M2FNUZ => "float8e5m2fnuz",
        DataType.Float8E8M0 => "float8e8m0",
        DataType.Float4E2M1 => "float4e2m1",
        DataType.UInt4 => "uint4",
        DataType.Int4 => "int4",
        DataType.UInt2 => "uint2",
        DataType.Int2 => "int2",
        _ => t.ToString().ToLowerInvariant(),
    };

    public static DataType FromClr<T>()
    {
        if (typeof(T) == typeof(float)) return DataType.Float;
        if (typeof(T) == typeof(double)) return DataType.Double;
        if (typeof(T) == typeof(Half)) return DataType.Float16;
        if (typeof(T) == typeof(BFloat16)) return DataType.BFloat16;
        if (typeof(T) == typeof(sbyte)) return DataType.Int8;
        if (typeof(T) == typeof(short)) return DataType.Int16;
        if (typeof(T) == typeof(int)) return DataType.Int32;
        if (typeof(T) == typeof(long)) return DataType.Int64;
        if (typeof(T) == typeof(byte)) return DataType.UInt8;
        if (typeof(T) == typeof(ushort)) return DataType.UInt16;
        if (typeof(T) == typeof(uint)) return DataType.UInt32;
        if (typeof(T) == typeof(ulong)) return DataType.UInt64;
        if (typeof(T) == typeof(bool)) return DataType.Bool;
        if (typeof(T) == typeof(string)) return DataType.String;
        if (typeof(T) == typeof(Complex64)) return DataType.Complex64;
        if (typeof(T) == typeof(Complex)) return DataType.Complex128;
        throw new NotSupportedException($"CLR type {typeof(T)} is not a tensor element type");
    }
}

/// <summary>A complex number of two floats (ONNX complex64).</summary>
public readonly record struct Complex64(float Real, float Imaginary);
