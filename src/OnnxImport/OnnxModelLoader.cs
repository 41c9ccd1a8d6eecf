using Google.Protobuf;
using NetOnnx.OnnxImport.Proto;
using NetOnnx.Runtime;

namespace NetOnnx.OnnxImport;

/// <summary>
/// Loads ONNX files into the runtime's IR. Every problem with the file (truncated or garbage bytes,
/// missing initializer, bad tensor data, unsafe external data) raises <see cref="ModelLoadException"/>
/// naming what is wrong.
/// </summary>
public static class OnnxModelLoader
{
    public static Model Load(string path)
    {
        if (!File.Exists(path)) throw new ModelLoadException($"model file '{path}' does not exist");
        byte[] bytes;
        try { bytes = File.ReadAllBytes(path); }
        catch (IOException e) { throw new ModelLoadException($"cannot read model file '{path}': {e.Message}", inner: e); }
        catch (UnauthorizedAccessException e) { throw new ModelLoadException($"cannot read model file '{path}': {e.Message}", inner: e); }
        return Load(bytes, Path.GetDirectoryName(Path.GetFullPath(path)), Path.GetFileName(path));
    }

    public static Model Load(Stream stream, string? baseDirectory = null)
    {
        using var ms = new MemoryStream();
        stream.CopyTo(ms);
        return Load(ms.ToArray(), baseDirectory);
    }

    public static Model Load(byte[] bytes, string? baseDirectory = null, string what = "model")
    {
        var proto = ParseModel(bytes, what);
        return new GraphImporter(proto, baseDirectory).Import();
    }

    public static ModelProto ParseModel(byte[] bytes, string what = "model")
    {
        if (bytes.Length == 0) throw new ModelLoadException($"{what} is empty (0 bytes): not an ONNX model");
        ModelProto proto;
        try
        {
            proto = ModelProto.Parser.ParseFrom(bytes);
        }
        catch (InvalidProtocolBufferException e)
        {
            throw new ModelLoadException($"{what} is not a valid ONNX model (truncated or corrupt protobuf: {e.Message})", inner: e);
        }
        if (proto.Graph is null)
            throw new ModelLoadException($"{what} is not a valid ONNX model: it has no graph");
        if (proto.OpsetImport.Count == 0 && proto.IrVersion == 0)
            throw new ModelLoadException($"{what} is not a valid ONNX model: it declares neither an IR version nor any opset");
        return proto;
    }
}
