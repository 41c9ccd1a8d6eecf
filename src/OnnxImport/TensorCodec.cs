using System.Buffers.Binary;
using System.Numerics;
using System.Runtime.InteropServices;
using Google.Protobuf;
using NetOnnx.Kernels;
using NetOnnx.OnnxImport.Proto;
using NetOnnx.Runtime;

namespace NetOnnx.OnnxImport;

/// <summary>
/// Converts between TensorProto and runtime tensors: every element type, typed fields or little-endian
/// raw_data, sub-byte packing, and external data files kept inside the model's folder.
/// </summary>
public static class TensorCodec
{
    public static Tensor FromProto(TensorProto p, string? baseDirectory = null)
    {
        var type = (DataType)p.DataType;
        if (!Enum.IsDefined(type) || type == DataType.Undefined)
            throw new ModelLoadException($"tensor '{p.Name}' has unknown element type {p.DataType}");
        int[] shape;
        try
        {
            shape = p.Dims.Select(d => d < 0 || d > int.MaxValue ? throw new ModelLoadException($"tensor '{p.Name}' has invalid dimension {d}") : (int)d).ToArray();
            ShapeMath.Size(shape);
        }
        catch (ArgumentException e) { throw new ModelLoadException($"tensor '{p.Name}': {e.Message}"); }
        int n = ShapeMath.Size(shape);

        if (p.Segment is not null && (p.Segment.Begin != 0 || p.Segment.End != 0))
            throw new ModelLoadException($"tensor '{p.Name}' is segmented, which is not supported");

        ReadOnlySpan<byte> raw = default;
        bool hasRaw = false;
        byte[]? external = null;
        if (p.DataLocation == TensorProto.Types.DataLocation.External)
        {
            external = ReadExternal(p, baseDirectory);
            raw = external;
            hasRaw = true;
        }
        else if (!p.RawData.IsEmpty)
        {
            raw = p.RawData.Span;
            hasRaw = true;
        }

        if (type == DataType.String)
        {
            if (p.StringData.Count != n) throw new ModelLoadException($"tensor '{p.Name}' has {p.StringData.Count} strings, shape needs {n}");
            var s = new string[n];
            for (int i = 0; i < n; i++) s[i] = p.StringData[i].ToStringUtf8();
            return new Tensor(type, shape, s);
        }

        if (hasRaw) return FromRaw(p.Name, type, shape, n, raw);
        return FromTyped(p, type, shape, n);
    }

    private static byte[] ReadExternal(TensorProto p, string? baseDirectory)
    {
        string? location = null;
        long offset = 0, length = -1;
        foreach (var kv in p.ExternalData)
        {
            switch (kv.Key)
            {
                case "location": location = kv.Value; break;
                case "offset": offset = long.Parse(kv.Value, System.Globalization.CultureInfo.InvariantCulture); break;
                case "length": length = long.Parse(kv.Value, System.Globalization.CultureInfo.InvariantCulture); break;
            }
        }
        if (string.IsNullOrEmpty(location)) throw new ModelLoadException($"tensor '{p.Name}' has external data without a location");
        if (baseDirectory is null) throw new ModelLoadException($"tensor '{p.Name}' keeps its data in '{location}', but the model was not loaded from a file, so there is no folder to find it in");
        string root = Path.GetFullPath(baseDirectory);
        if (Path.IsPathRooted(location)) throw new ModelLoadException($"tensor '{p.Name}': external data path '{location}' is absolute; it must be relative to the model's folder");
        string full = Path.GetFullPath(Path.Combine(root, location));
        string rootWithSep = root.EndsWith(Path.DirectorySeparatorChar) ? root : root + Path.DirectorySeparatorChar;
        if (!full.StartsWith(rootWithSep, StringComparison.Ordinal))
            throw new ModelLoadException($"tensor '{p.Name}': external data path '{location}' escapes the model's folder");
        if (!File.Exists(full)) throw new ModelLoadException($"tensor '{p.Name}': external data file '{location}' does not exist");
        using var f = File.OpenRead(full);
        if (offset < 0 || offset > f.Length) throw new ModelLoadException($"tensor '{p.Name}': external data offset {offset} is outside '{location}' ({f.Length} bytes)");
        if (length < 0) length = f.Length - offset;
        if (offset + length > f.Length) throw new ModelLoadException($"tensor '{p.Name}': external data '{location}' is {f.Length} bytes, the tensor needs {offset + length}");
        var buf = new byte[length];
        f.Position = offset;
        f.ReadExactly(buf);
        return buf;
    }

    private static int BitsPerElement(DataType t) => t switch
    {
        DataType.UInt4 or DataType.Int4 or DataType.Float4E2M1 => 4,
        DataType.UInt2 or DataType.Int2 => 2,
        _ => t.SizeOf() * 8,
    };

    private static Tensor FromRaw(string name, DataType type, int[] shape, int n, ReadOnlySpan<byte> raw)
    {
        int bits = BitsPerElement(type);
        long need = ((long)n * bits + 7) / 8;
        if (raw.Length != need)
            throw new ModelLoadException($"tensor '{name}' has {raw.Length} bytes of data, shape {ShapeMath.Format(shape)} of {type.OnnxName()} needs {need}");
        var t = Tensor.Zeros(type, shape);
        if (bits < 8)
        {
            Unpack(type, raw, t, n);
            return t;
        }
        var dst = t.Bytes();
        raw.CopyTo(dst);
        if (!BitConverter.IsLittleEndian) throw new PlatformNotSupportedException("big-endian hosts are not supported");
        if (type == DataType.Bool)
        {
            // Any non-zero byte is true; normalise so bool arrays hold only 0/1.
            for (int i = 0; i < dst.Length; i++) dst[i] = dst[i] != 0 ? (byte)1 : (byte)0;
        }
        return t;
    }

    private static void Unpack(DataType type, ReadOnlySpan<byte> packed, Tensor t, int n)
    {
        int per = 8 / BitsPerElement(type);
        int bits = 8 / per;
        int mask = (1 << bits) - 1;
        bool signed = type is DataType.Int4 or DataType.Int2;
        var dst = t.Bytes();
        for (int i = 0; i < n; i++)
        {
            int v = (packed[i / per] >> ((i % per) * bits)) & mask;
            if (signed && (v & (1 << (bits - 1))) != 0) v -= 1 << bits;
            dst[i] = (byte)v;
        }
    }

    private static Tensor FromTyped(TensorProto p, DataType type, int[] shape, int n)
    {
        var t = Tensor.Zeros(type, shape);
        void Check(int count, int expected, string field)
        {
            if (count != expected) throw new ModelLoadException($"tensor '{p.Name}' has {count} values in {field}, shape {ShapeMath.Format(shape)} needs {expected}");
        }
        switch (type)
        {
            case DataType.Float:
                Check(p.FloatData.Count, n, "float_data");
                for (int i = 0; i < n; i++) t.Span<float>()[i] = p.FloatData[i];
                break;
            case DataType.Complex64:
                Check(p.FloatData.Count, 2 * n, "float_data");
                for (int i = 0; i < n; i++) t.Span<Complex64>()[i] = new Complex64(p.FloatData[2 * i], p.FloatData[2 * i + 1]);
                break;
            case DataType.Double:
                Check(p.DoubleData.Count, n, "double_data");
                for (int i = 0; i < n; i++) t.Span<double>()[i] = p.DoubleData[i];
                break;
            case DataType.Complex128:
                Check(p.DoubleData.Count, 2 * n, "double_data");
                for (int i = 0; i < n; i++) t.Span<Complex>()[i] = new Complex(p.DoubleData[2 * i], p.DoubleData[2 * i + 1]);
                break;
            case DataType.Int64:
                Check(p.Int64Data.Count, n, "int64_data");
                for (int i = 0; i < n; i++) t.Span<long>()[i] = p.Int64Data[i];
                break;
            case DataType.UInt32:
                Check(p.Uint64Data.Count, n, "uint64_data");
                for (int i = 0; i < n; i++) t.Span<uint>()[i] = (uint)p.Uint64Data[i];
                break;
            case DataType.UInt64:
                Check(p.Uint64Data.Count, n, "uint64_data");
                for (int i = 0; i < n; i++) t.Span<ulong>()[i] = p.Uint64Data[i];
                break;
            case DataType.Int32:
                Check(p.Int32Data.Count, n, "int32_data");
                for (int i = 0; i < n; i++) t.Span<int>()[i] = p.Int32Data[i];
                break;
            case DataType.Int16:
                Check(p.Int32Data.Count, n, "int32_data");
                for (int i = 0; i < n; i++) t.Span<short>()[i] = (short)p.Int32Data[i];
                break;
            case DataType.UInt16:
                Check(p.Int32Data.Count, n, "int32_data");
                for (int i = 0; i < n; i++) t.Span<ushort>()[i] = (ushort)p.Int32Data[i];
                break;
            case DataType.Int8:
                Check(p.Int32Data.Count, n, "int32_data");
                for (int i = 0; i < n; i++) t.Span<sbyte>()[i] = (sbyte)p.Int32Data[i];
                break;
            case DataType.UInt8:
                Check(p.Int32Data.Count, n, "int32_data");
                for (int i = 0; i < n; i++) t.Span<byte>()[i] = (byte)p.Int32Data[i];
                break;
            case DataType.Bool:
                Check(p.Int32Data.Count, n, "int32_data");
                for (int i = 0; i < n; i++) t.Span<bool>()[i] = p.Int32Data[i] != 0;
                break;
            case DataType.Float16:
                Check(p.Int32Data.Count, n, "int32_data");
                for (int i = 0; i < n; i++) t.Span<Half>()[i] = BitConverter.UInt16BitsToHalf((ushort)p.Int32Data[i]);
                break;
            case DataType.BFloat16:
                Check(p.Int32Data.Count, n, "int32_data");
                for (int i = 0; i < n; i++) t.Span<BFloat16>()[i] = BFloat16.FromBits((ushort)p.Int32Data[i]);
                break;
            case DataType.Float8E4M3FN or DataType.Float8E4M3FNUZ or DataType.Float8E5M2 or DataType.Float8E5M2FNUZ or DataType.Float8E8M0:
                Check(p.Int32Data.Count, n, "int32_data");
                for (int i = 0; i < n; i++) t.Span<byte>()[i] = (byte)p.Int32Data[i];
                break;
            case DataType.UInt4 or DataType.Int4 or DataType.Float4E2M1 or DataType.UInt2 or DataType.Int2:
            {
                int per = 8 / BitsPerElement(type);
                Check(p.Int32Data.Count, (n + per - 1) / per, "int32_data");
                var packed = p.Int32Data.Select(v => (byte)v).ToArray();
                Unpack(type, packed, t, n);
                break;
            }
            default:
                throw new ModelLoadException($"tensor '{p.Name}' has element type {type.OnnxName()}, which has no typed-field encoding");
        }
        return t;
    }

    /// <summary>Encodes a tensor as TensorProto with little-endian raw_data (string_data for strings).</summary>
    public static TensorProto ToProto(Tensor t, string name = "")
    {
        var p = new TensorProto { Name = name, DataType = (int)t.ElementType };
        p.Dims.AddRange(t.Shape.Select(d => (long)d));
        if (t.ElementType == DataType.String)
        {
            foreach (var s in t.ReadOnlySpan<string>()) p.StringData.Add(ByteString.CopyFromUtf8(s ?? ""));
            return p;
        }
        int bits = BitsPerElement(t.ElementType);
        if (bits < 8)
        {
            int per = 8 / bits;
            int mask = (1 << bits) - 1;
            var src = t.Bytes();
            var packed = new byte[(t.Length + per - 1) / per];
            for (int i = 0; i < t.Length; i++) packed[i / per] |= (byte)((src[i] & mask) << ((i % per) * bits));
            p.RawData = ByteString.CopyFrom(packed);
            return p;
        }
        p.RawData = ByteString.CopyFrom(t.Bytes());
        return p;
    }
}
