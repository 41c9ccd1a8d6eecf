using System.Globalization;
using NetOnnx.Tools.Conformance;
using NetOnnx.OnnxImport;
using NetOnnx.Runtime;

namespace NetOnnx.Tools;

/// <summary>Error of one output of a compressed model against the float model, over all evaluation inputs.</summary>
public sealed record OutputError(string Name, double MaxAbsError, double Cosine, double? Top1Agreement);

/// <summary>
/// Compares a compressed (quantized or pruned) model with its float original on the same inputs: per output
/// the largest absolute difference, the cosine similarity of the flattened outputs (the worst over input sets)
/// and, for outputs with a class axis (last dimension > 1), how often the arg-max along it agrees.
/// </summary>
public static class AccuracyReport
{
    /// <summary>Input sets for evaluation: a test_data_set folder, a folder of them, or the sets next to the model; else seeded random inputs.</summary>
    public static List<Dictionary<string, object>> LoadInputs(string? dir, string modelPath, Graph graph, int randomSets = 2)
    {
        var sets = new List<Dictionary<string, object>>();
        var folders = new List<string>();
        if (dir is not null)
        {
            if (!Directory.Exists(dir)) throw new OnnxException($"calibration folder '{dir}' does not exist");
            if (Directory.GetFiles(dir, "input_*.pb").Length > 0) folders.Add(dir);
            else folders.AddRange(Directory.GetDirectories(dir).Where(d => Directory.GetFiles(d, "input_*.pb").Length > 0).Order(StringComparer.Ordinal));
            if (folders.Count == 0) throw new OnnxException($"calibration folder '{dir}' holds no input_*.pb files (nor sub-folders with them)");
        }
        else
        {
            var modelDir = Path.GetDirectoryName(Path.GetFullPath(modelPath))!;
            folders.AddRange(Directory.GetDirectories(modelDir, "test_data_set_*").Where(d => Directory.GetFiles(d, "input_*.pb").Length > 0).Order(StringComparer.Ordinal));
        }
        foreach (var f in folders) sets.Add(ConformanceRunner.ReadInputs(f, graph));
        if (sets.Count == 0)
            for (int s = 0; s < randomSets; s++) sets.Add(RandomInputs.For(graph, seed: 1 + s));
        return sets;
    }

    /// <summary>Runs a model (as ONNX bytes, so the session's optimizer never edits the caller's graph) on every input set.</summary>
    public static List<Dictionary<string, Tensor>> RunAll(byte[] model, IReadOnlyList<Dictionary<string, object>> inputs, int threads = 1)
    {
        using var session = new InferenceSession(model, new SessionOptions { IntraOpThreads = threads });
        var results = new List<Dictionary<string, Tensor>>();
        foreach (var set in inputs)
            results.Add(session.Run(set).Where(kv => kv.Value is Tensor).ToDictionary(kv => kv.Key, kv => (Tensor)kv.Value));
        return results;
    }

    public static List<OutputError> Compare(IReadOnlyList<Dictionary<string, Tensor>> reference, IReadOnlyList<Dictionary<string, Tensor>> candidate)
    {
        var errors = new List<OutputError>();
        foreach (var name in reference[0].Keys)
        {
            double maxAbs = 0, worstCos = 1;
            long agree = 0, rows = 0;
            for (int s = 0; s < reference.Count; s++)
            {
                var r = reference[s][name];
                if (!candidate[s].TryGetValue(name, out var c)) throw new OnnxException($"the compressed model has no output '{name}'");
                if (r.ElementType != DataType.Float || c.ElementType != DataType.Float) continue;
                if (!r.Shape.SequenceEqual(c.Shape)) throw new OnnxException($"output '{name}' has shape [{string.Join(",", c.Shape)}], the float model's is [{string.Join(",", r.Shape)}]");
                var a = r.ReadOnlySpan<float>();
                var b = c.ReadOnlySpan<float>();
                double dot = 0, na = 0, nb = 0;
                for (int i = 0; i < a.Length; i++)
                {
                    double d = Math.Abs((double)a[i] - b[i]);
                    if (!(d <= maxAbs)) maxAbs = double.IsNaN(d) ? double.PositiveInfinity : d;
                    dot += (double)a[i] * b[i]; na += (double)a[i] * a[i]; nb += (double)b[i] * b[i];
                }
                double cos = na == 0 && nb == 0 ? 1 : na == 0 || nb == 0 ? 0 : dot / Math.Sqrt(na * nb);
                worstCos = Math.Min(worstCos, cos);
                int classes = r.Rank > 0 ? r.Shape[^1] : 1;
                if (classes > 1)
                    for (int row = 0; row + classes <= a.Length; row += classes)
                    {
                        rows++;
                        if (ArgMax(a.Slice(row, classes)) == ArgMax(b.Slice(row, classes))) agree++;
                    }
            }
            errors.Add(new OutputError(name, maxAbs, worstCos, rows > 0 ? (double)agree / rows : null));
        }
        return errors;
    }

    private static int ArgMax(ReadOnlySpan<float> x)
    {
        int best = 0;
        for (int i = 1; i < x.Length; i++) if (x[i] > x[best]) best = i;
        return best;
    }

    /// <summary>The figure the error budget and sensitivity ranking use: the largest max-abs error over outputs.</summary>
    public static double Worst(IEnumerable<OutputError> errors) => errors.Select(e => e.MaxAbsError).DefaultIfEmpty(0).Max();

    public static void Write(TextWriter o, IEnumerable<OutputError> errors)
    {
        o.WriteLine($"{"output",-28} {"max abs error",14} {"cosine",10} {"top-1 agree",12}");
        foreach (var e in errors)
            o.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"{e.Name,-28} {e.MaxAbsError,14:G4} {e.Cosine,10:F6} {(e.Top1Agreement is { } t ? (100 * t).ToString("F2", CultureInfo.InvariantCulture) + "%" : "-"),12}"));
    }

    public static byte[] Bytes(Model model) => OnnxModelWriter.ToBytes(model);
}
