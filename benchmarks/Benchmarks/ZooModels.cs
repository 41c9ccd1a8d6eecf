using NetOnnx.OnnxImport;
using NetOnnx.Runtime;

namespace NetOnnx.Benchmarks;

/// <summary>Finds models in ../shared/zoo (or $NETONNX_SHARED/zoo) and their recorded inputs.</summary>
public static class ZooModels
{
    public static string Root
    {
        get
        {
            if (Environment.GetEnvironmentVariable("NETONNX_SHARED") is { Length: > 0 } s) return Path.Combine(s, "zoo");
            var dir = new DirectoryInfo(AppContext.BaseDirectory);
            while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "Runtime.sln"))) dir = dir.Parent;
            return Path.GetFullPath(Path.Combine(dir?.FullName ?? Directory.GetCurrentDirectory(), "..", "shared", "zoo"));
        }
    }

    public static IEnumerable<string> Names() =>
        Directory.Exists(Root)
            ? Directory.GetDirectories(Root).Where(d => File.Exists(Path.Combine(d, "model.onnx"))).Select(Path.GetFileName).Order()!
            : [];

    /// <summary>A model path given as a zoo name, a folder holding model.onnx, or an .onnx file.</summary>
    public static string ModelPath(string nameOrPath)
    {
        if (File.Exists(nameOrPath)) return Path.GetFullPath(nameOrPath);
        var inDir = Path.Combine(nameOrPath, "model.onnx");
        if (File.Exists(inDir)) return Path.GetFullPath(inDir);
        var inZoo = Path.Combine(Root, nameOrPath, "model.onnx");
        if (File.Exists(inZoo)) return inZoo;
        throw new FileNotFoundException($"no model '{nameOrPath}' (not a file, a folder with model.onnx, or a model in {Root})");
    }

    /// <summary>
    /// The inputs of test_data_set_0 beside the model (matched by tensor name, else by position), or
    /// seeded random data for graphs that have none.
    /// </summary>
    public static Dictionary<string, Tensor> Inputs(string modelPath, Graph graph)
    {
        var required = graph.RequiredInputs.ToList();
        var set = Path.Combine(Path.GetDirectoryName(modelPath)!, "test_data_set_0");
        var d = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        if (Directory.Exists(set))
        {
            for (int k = 0; k < required.Count; k++)
            {
                var file = Path.Combine(set, $"input_{k}.pb");
                if (!File.Exists(file)) break;
                var (name, value) = ValueCodec.Read(file, required[k].Type);
                if (value is not Tensor t) throw new InvalidDataException($"{file} is not a tensor");
                d[required.Any(r => r.Name == name) ? name : required[k].Name] = t;
            }
            if (d.Count == required.Count) return d;
            d.Clear();
        }
        var rng = new Random(42);
        foreach (var input in required)
        {
            if (input.Type is not TensorType tt) throw new InvalidDataException($"input '{input.Name}' is not a tensor");
            var shape = (tt.Shape ?? []).Select(x => x.IsKnown ? (int)x.Value : 1).ToArray();
            var t = Tensor.Zeros(tt.ElementType, shape);
            switch (tt.ElementType)
            {
                case DataType.Float: { var s = t.Span<float>(); for (int i = 0; i < s.Length; i++) s[i] = (float)(rng.NextDouble() * 2 - 1); break; }
                case DataType.Int64: { var s = t.Span<long>(); for (int i = 0; i < s.Length; i++) s[i] = rng.Next(0, 100); break; }
                case DataType.Int32: { var s = t.Span<int>(); for (int i = 0; i < s.Length; i++) s[i] = rng.Next(0, 100); break; }
            }
            d[input.Name] = t;
        }
        return d;
    }
}
