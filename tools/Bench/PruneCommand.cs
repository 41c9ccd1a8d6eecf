using System.Globalization;
using NetOnnx.OnnxImport;
using NetOnnx.Optimizer.Passes.Pruning;
using NetOnnx.Runtime;

namespace NetOnnx.Tools;

/// <summary>
/// prune: magnitude-prunes the weights of Conv/MatMul/Gemm (or, with --structured, removes whole output channels) and prints the accuracy cost against the float model
/// (per-output error, then each layer's sensitivity: the error left when only that layer stays dense).
/// </summary>
public static class PruneCommand
{
    public static int Run(string[] args, TextWriter o)
    {
        var a = new CliArgs(args, "global", "structured", "no-sensitivity", "dense-storage");
        a.RejectUnknown([.. new[] { "o", "output", "sparsity", "global", "structured", "calib", "exclude", "no-sensitivity", "dense-storage" }, .. EvalSet.Options]);
        var (modelPath, output) = a.ModelAndOutput("prune");
        if (a.Get("sparsity") is null) throw new CliUsageException("prune needs --sparsity S (a fraction in [0, 1))");
        double sparsity = a.GetDouble("sparsity", 0);
        if (sparsity >= 1) throw new CliUsageException($"--sparsity {sparsity} must be below 1");
        bool structured = a.Has("structured");
        if (structured && a.Has("global")) throw new CliUsageException("--global applies to unstructured pruning; --structured cuts the same fraction of each layer's channels");
        var exclude = (a.Get("exclude") ?? "").Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .ToHashSet(StringComparer.Ordinal);

        byte[] floatBytes = File.Exists(modelPath) ? File.ReadAllBytes(modelPath) : throw new OnnxException($"model file '{modelPath}' does not exist");
        string? baseDir = Path.GetDirectoryName(Path.GetFullPath(modelPath));
        var reference = OnnxModelLoader.Load(floatBytes, baseDir);
        var inputs = AccuracyReport.LoadInputs(a.Get("calib"), modelPath, reference.Graph);
        var floatOutputs = AccuracyReport.RunAll(floatBytes, inputs);
        var evalSets = EvalSet.Load(a, modelPath, reference.Graph, inputs);

        List<SkippedLayer> structuredSkipped = [];
        (byte[] Bytes, List<PrunedLayer> Layers) Prune(IReadOnlySet<string> excluded)
        {
            var m = OnnxModelLoader.Load(floatBytes, baseDir);
            if (structured)
            {
                var (cut, skipped) = StructuredPruning.Apply(m, new StructuredPruningOptions { Ratio = sparsity, Exclude = excluded });
                structuredSkipped = skipped;
                return (AccuracyReport.Bytes(m), cut.Select(c => new PrunedLayer(c.Id, c.OpType, c.Channels, c.Channels - c.Kept)).ToList());
            }
            var layers = MagnitudePruning.Apply(m, new MagnitudePruningOptions { Sparsity = sparsity, Global = a.Has("global"), Exclude = excluded });
            return (AccuracyReport.Bytes(m), layers);
        }
        var (bytes, layers) = Prune(exclude);
        var skippedLayers = structuredSkipped;
        if (layers.Count == 0)
            throw new OnnxException(structured
                ? "nothing to prune: no Conv/Gemm/MatMul whose output channels can be cut" + string.Concat(skippedLayers.Take(5).Select(s => $"; {s.Id}: {s.Reason}"))
                : "nothing to prune: no Conv/MatMul/Gemm with constant float weights (or all excluded)");
        var errors = AccuracyReport.Compare(floatOutputs, AccuracyReport.RunAll(bytes, inputs));
        // Unstructured zeros go to sparse_initializer (ONNX Runtime and our loader read them back densely) unless asked not to.
        byte[] written = structured || a.Has("dense-storage") ? bytes : OnnxModelWriter.ToBytes(OnnxModelLoader.Load(bytes), sparseInitializers: true);
        File.WriteAllBytes(output, written);

        long weights = layers.Sum(l => l.Weights), zeros = layers.Sum(l => l.Zeros);
        if (structured)
        {
            o.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"structured: cut {zeros:N0} of {weights:N0} output channels ({100.0 * zeros / weights:F1}%) in {layers.Count} layers and their readers' inputs; {inputs.Count} evaluation input set(s)"));
            if (skippedLayers.Count > 0)
            {
                o.WriteLine($"left whole ({skippedLayers.Count} layers):");
                foreach (var s in skippedLayers.Take(20)) o.WriteLine($"  {s.Id,-40} {s.OpType,-8} {s.Reason}");
                if (skippedLayers.Count > 20) o.WriteLine($"  ... and {skippedLayers.Count - 20} more");
            }
            o.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"size {floatBytes.Length / 1048576.0:F2} MB -> {bytes.Length / 1048576.0:F2} MB"));
        }
        else
        {
            o.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"pruned {layers.Count} layers ({(a.Has("global") ? "global" : "per-layer")} magnitude): {zeros:N0} of {weights:N0} weights zero ({100.0 * zeros / weights:F1}%); {inputs.Count} evaluation input set(s)"));
            o.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"size {floatBytes.Length / 1048576.0:F2} MB -> {written.Length / 1048576.0:F2} MB ({(a.Has("dense-storage") ? "zeros stored densely" : "weights under a third non-zero stored as sparse initializers")})"));
        }
        AccuracyReport.Write(o, errors);
        if (!a.Has("no-sensitivity"))
        {
            var sensitivity = layers.Select(l =>
            {
                var e = AccuracyReport.Compare(floatOutputs, AccuracyReport.RunAll(Prune(new HashSet<string>(exclude) { l.Id }).Bytes, inputs));
                return (Layer: l, Error: AccuracyReport.Worst(e), Cosine: e.Min(x => x.Cosine));
            }).OrderBy(s => s.Error).ToList();
            o.WriteLine("layer sensitivity (worst max abs error with only this layer dense; lowest first = most sensitive):");
            foreach (var s in sensitivity.Take(10))
                o.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"  {s.Layer.Id,-40} {s.Layer.OpType,-8} {100.0 * s.Layer.Zeros / s.Layer.Weights,5:F1}% {(structured ? "cut " : "zero")} {s.Error,12:G4} cosine {s.Cosine:F6}"));
        }
        if (evalSets is not null)
            EvalSet.Report(o, floatBytes, bytes, evalSets, a.Get("eval") ?? $"--eval-random, seed {a.GetInt("seed", 1)}: {string.Join(", ", EvalSet.Kinds)}");
        o.WriteLine($"wrote {output}");
        return 0;
    }
}
