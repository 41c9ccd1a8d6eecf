using NetOnnx.Runtime;

namespace NetOnnx.Tools;

/// <summary>Seeded random inputs for a graph's inputs; a symbolic leading dimension becomes the batch (default 1), other symbolic ones 1.</summary>
public static class RandomInputs
{
    public static Dictionary<string, object> For(Graph g, int seed, int? batch = null)
    {
        var rng = new Random(seed);
        var d = new Dictionary<string, object>(StringComparer.Ordinal);
        foreach (var input in g.RequiredInputs)
        {
            if (input.Type is not TensorType tt)
                throw new OnnxException($"input '{input.Name}' is {input.Type?.ToString() ?? "untyped"}; random inputs can only be made for tensors");
            var shape = (tt.Shape ?? []).Select((x, i) => x.IsKnown ? (int)x.Value : i == 0 ? batch ?? 1 : 1).ToArray();
            var t = Tensor.Zeros(tt.ElementType, shape);
            switch (tt.ElementType)
            {
                case DataType.Float: { var s = t.Span<float>(); for (int i = 0; i < s.Length; i++) s[i] = (float)(rng.NextDouble() * 2 - 1); break; }
                case DataType.Double: { var s = t.Span<double>(); for (int i = 0; i < s.Length; i++) s[i] = rng.NextDouble() * 2 - 1; break; }
                case DataType.Int64: { var s = t.Span<long>(); for (int i = 0; i < s.Length; i++) s[i] = rng.Next(0, 100); break; }
                case DataType.Int32: { var s = t.Span<int>(); for (int i = 0; i < s.Length; i++) s[i] = rng.Next(0, 100); break; }
                case DataType.Bool: { var s = t.Span<bool>(); for (int i = 0; i < s.Length; i++) s[i] = rng.Next(2) == 1; break; }
                default: break; // zeros
            }
            d[input.Name] = t;
        }
        return d;
    }
}
