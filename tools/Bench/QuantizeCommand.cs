using System.Globalization;
using NetOnnx.OnnxImport;
using NetOnnx.Optimizer.Passes.Quantization;
using NetOnnx.Runtime;

namespace NetOnnx.Tools;

/// <summary>
/// quantize: writes an INT8 model (standard ONNX) and prints what it costs in accuracy against the float model:
/// per-output error, then each layer's sensitivity (the error left when only that layer stays float).
/// --max-error keeps the most sensitive layers in float until the worst max-abs error is within the budget.
/// </summary>
public static class QuantizeCommand
{
    public static int Run(string[] args, TextWriter o)
    {
        var a = new CliArgs(args, "per-channel", "no-sensitivity");
        a.RejectUnknown([.. new[] { "o", "output", "mode", "calib", "method", "per-channel", "exclude", "max-error", "no-sensitivity" }, .. EvalSet.Options]);
        var (modelPath, output) = a.ModelAndOutput("quantize");
        string mode = a.Get("mode") ?? "dynamic";
        if (mode is not ("dynamic" or "static")) throw new CliUsageException($"unknown --mode '{mode}' (dynamic, static)");
        var method = (a.Get("method") ?? "minmax") switch
        {
            "minmax" => CalibrationMethod.MinMax,
            "percentile" => CalibrationMethod.Percentile,
            "entropy" => CalibrationMethod.Entropy,
            var m => throw new CliUsageException($"unknown --method '{m}' (minmax, percentile, entropy)"),
        };
        double? maxError = a.Has("max-error") ? a.GetDouble("max-error", 0) : null;
        var exclude = (a.Get("exclude") ?? "").Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .ToHashSet(StringComparer.Ordinal);

        byte[] floatBytes = File.Exists(modelPath) ? File.ReadAllBytes(modelPath) : throw new OnnxException($"model file '{modelPath}' does not exist");
        var reference = OnnxModelLoader.Load(floatBytes, Path.GetDirectoryName(Path.GetFullPath(modelPath)));
        byte[] originalBytes = floatBytes;
        long originalSize = floatBytes.Length;
        if (mode == "static")
        {
            // Calibrate and quantize the prepared float model (constants as initializers, BN folded, opset 13).
            foreach (var note in QuantizationPreparation.Run(reference)) o.WriteLine($"prepared: {note}");
            floatBytes = AccuracyReport.Bytes(reference);
        }
        var inputs = AccuracyReport.LoadInputs(a.Get("calib"), modelPath, reference.Graph);
        // Accuracy is measured against the model as given.
        var floatOutputs = AccuracyReport.RunAll(originalBytes, inputs);
        var evalSets = EvalSet.Load(a, modelPath, reference.Graph, inputs);

        string? baseDir = Path.GetDirectoryName(Path.GetFullPath(modelPath));
        // Static: activation ranges from the calibration inputs, once, for every candidate layer.
        var ranges = mode == "static" ? Calibrate(floatBytes, baseDir, inputs, method) : null;
        (byte[] Bytes, List<QuantizedLayer> Layers) Quantize(IReadOnlySet<string> excluded)
        {
            var m = OnnxModelLoader.Load(floatBytes, baseDir);
            var layers = ranges is null
                ? DynamicQuantization.Apply(m, new DynamicQuantizationOptions { PerChannel = a.Has("per-channel"), Exclude = excluded })
                : StaticQuantization.Apply(m, ranges, new StaticQuantizationOptions { PerChannel = a.Has("per-channel"), Exclude = excluded });
            return (AccuracyReport.Bytes(m), layers);
        }
        List<OutputError> Errors(byte[] model) => AccuracyReport.Compare(floatOutputs, AccuracyReport.RunAll(model, inputs));

        var (bytes, layers) = Quantize(exclude);
        if (layers.Count == 0) throw new OnnxException("nothing to quantize: no MatMul/Gemm with constant float weights (or all excluded)");
        var errors = Errors(bytes);

        // Sensitivity: the error with each weight layer alone left in float (Gather tables do not change the run).
        var sensitivity = new List<(QuantizedLayer Layer, double Error, double Cosine)>();
        bool wantSensitivity = !a.Has("no-sensitivity") || maxError is not null;
        if (wantSensitivity)
            foreach (var layer in layers.Where(l => l.OpType != "Gather"))
            {
                var e = Errors(Quantize(new HashSet<string>(exclude) { layer.Id }).Bytes);
                sensitivity.Add((layer, AccuracyReport.Worst(e), e.Min(x => x.Cosine)));
            }
        sensitivity.Sort((x, y) => x.Error.CompareTo(y.Error));

        var kept = new List<string>();
        if (maxError is { } budget)
        {
            foreach (var s in sensitivity)
            {
                if (AccuracyReport.Worst(errors) <= budget) break;
                kept.Add(s.Layer.Id);
                exclude.Add(s.Layer.Id);
                (bytes, layers) = Quantize(exclude);
                errors = Errors(bytes);
            }
        }
        File.WriteAllBytes(output, bytes);

        o.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"quantized {layers.Count} layers ({(mode == "static" ? $"static QDQ, {method.ToString().ToLowerInvariant()} calibration, weights int8 7-bit" : "dynamic, weights int8 7-bit")} {(a.Has("per-channel") ? "per channel" : "per tensor")}); {inputs.Count} calibration/evaluation input set(s)"));
        o.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"size {originalSize / 1048576.0:F2} MB -> {bytes.Length / 1048576.0:F2} MB ({(double)originalSize / bytes.Length:F2}x smaller)"));
        AccuracyReport.Write(o, errors);
        if (sensitivity.Count > 0)
        {
            o.WriteLine("layer sensitivity (worst max abs error with only this layer in float; lowest first = most sensitive):");
            foreach (var s in sensitivity.Take(10))
                o.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  {s.Layer.Id,-40} {s.Layer.OpType,-8} {s.Error,12:G4} cosine {s.Cosine:F6}"));
        }
        if (maxError is { } b2)
            o.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"error budget {b2:G4}: {(AccuracyReport.Worst(errors) <= b2 ? "met" : "NOT met")} with {kept.Count} layer(s) kept in float{(kept.Count > 0 ? ": " + string.Join(", ", kept) : "")}"));
        if (evalSets is not null)
            EvalSet.Report(o, originalBytes, bytes, evalSets, a.Get("eval") ?? $"--eval-random, seed {a.GetInt("seed", 1)}: {string.Join(", ", EvalSet.Kinds)}");
        o.WriteLine($"wrote {output}");
        return 0;
    }

    /// <summary>
    /// Runs the float model (unoptimised, so every tensor keeps its name) with the tensors to calibrate added as
    /// outputs: a first pass for min/max, a second for the histograms Percentile and Entropy need.
    /// </summary>
    private static Dictionary<string, (float Lo, float Hi)> Calibrate(byte[] floatBytes, string? baseDir,
        IReadOnlyList<Dictionary<string, object>> inputs, CalibrationMethod method)
    {
        var m = OnnxModelLoader.Load(floatBytes, baseDir);
        var names = StaticQuantization.TensorsToCalibrate(m, new StaticQuantizationOptions());
        if (names.Count == 0) throw new OnnxException("nothing to quantize: no Conv/MatMul/Gemm with constant float weights");
        var existing = m.Graph.Outputs.Select(x => x.Name).ToHashSet(StringComparer.Ordinal);
        foreach (var n in names) if (!existing.Contains(n)) m.Graph.Outputs.Add(new ValueInfo(n, null));
        var ranges = names.ToDictionary(n => n, _ => new ActivationRange(), StringComparer.Ordinal);
        using var session = new InferenceSession(AccuracyReport.Bytes(m), new SessionOptions { IntraOpThreads = 1, OptimizationLevel = OptimizationLevel.None });
        int passes = method == CalibrationMethod.MinMax ? 1 : 2;
        for (int pass = 0; pass < passes; pass++)
            foreach (var set in inputs)
            {
                var outs = session.Run(set, names);
                foreach (var n in names)
                    if (outs[n] is Tensor { ElementType: DataType.Float } t)
                    {
                        if (pass == 0) ranges[n].Observe(t.ReadOnlySpan<float>());
                        else ranges[n].Histogram(t.ReadOnlySpan<float>());
                    }
            }
        return ranges.ToDictionary(kv => kv.Key, kv => kv.Value.Range(method), StringComparer.Ordinal);
    }
}
