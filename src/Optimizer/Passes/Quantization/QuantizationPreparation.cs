using NetOnnx.Runtime;

namespace NetOnnx.Optimizer.Passes.Quantization;

/// <summary>
/// Puts a float model in the form static quantization expects, using only standard ops so the quantized
/// file still loads anywhere: Constant nodes become initializers (exporters such as paddle2onnx ship
/// weights that way), BatchNormalization and per-channel Mul/Add fold into the Conv before them (so the
/// quantized weights are the ones that run), and an opset 10-12 model is lifted to 13, the first opset
/// with per-axis DequantizeLinear, when none of its ops changed meaning on the way.
/// </summary>
public static class QuantizationPreparation
{
    /// <summary>Ops whose semantics differ between opsets 10-12 and 13 (attribute moved to input, axis meaning).</summary>
    private static readonly HashSet<string> s_changedBy13 = new(StringComparer.Ordinal)
    {
        "Squeeze", "Unsqueeze", "ReduceSum", "Split", "Softmax", "LogSoftmax", "Hardmax", "Dropout",
        "Upsample", "Scatter", "If", "Loop", "Scan",
    };

    /// <summary>Rewrites <paramref name="model"/> in place; returns a line per change made.</summary>
    public static List<string> Run(Model model)
    {
        var notes = new List<string>();
        var passes = new PassManager()
            .Add(new ConstantFolding())
            .Add(new IdentityElimination())
            .Add(new DeadCodeElimination())
            .Add(new ConvBatchNormFolding())
            .Add(new ConvMulFolding())
            .Add(new ConvAddFolding());
        foreach (var r in passes.Run(model, OptimizationLevel.Extended))
            if (r.Result.Changed) notes.Add($"{r.Pass}: {r.Result.Detail ?? $"{r.Result.NodesRemoved} node(s) removed"}");

        long opset = model.OpsetFor("");
        if (opset is >= 10 and < 13)
        {
            var blocking = model.Graph.Nodes.Where(n => n.Domain.Length == 0 && s_changedBy13.Contains(n.OpType)).Select(n => n.OpType).Distinct().ToList();
            if (blocking.Count > 0)
                throw new OnnxException($"static quantization needs ai.onnx opset 13 and the model imports {opset}; it cannot be lifted automatically because {string.Join(", ", blocking)} changed meaning by opset 13");
            model.Opsets[""] = 13;
            notes.Add($"ai.onnx opset {opset} -> 13 (no op in the model changed meaning)");
        }
        return notes;
    }
}
