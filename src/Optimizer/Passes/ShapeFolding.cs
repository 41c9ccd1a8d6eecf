using NetOnnx.Optimizer.Patterns;
using NetOnnx.Runtime;

namespace NetOnnx.Optimizer.Passes;

/// <summary>
/// Turns Shape and Size of values whose inferred shape is fully static into constants, so that constant
/// folding can then collapse the Shape -> Gather -> Unsqueeze -> Concat -> Reshape chains exporters emit.
/// </summary>
public sealed class ShapeFolding : IGraphPass
{
    public string Name => "ShapeFolding";
    public OptimizationLevel Level => OptimizationLevel.Basic;

    public PassResult Run(Model model)
    {
        var g = model.Graph;
        if (!g.Nodes.Any(n => n.Domain.Length == 0 && n.OpType is "Shape" or "Size")) return PassResult.Unchanged;
        TryInferShapes(model);
        var ed = new GraphEditor(g);
        foreach (var n in g.Nodes)
        {
            if (n.Domain.Length != 0 || n.OpType is not ("Shape" or "Size") || n.Inputs.Count != 1 || n.Outputs.Count != 1) continue;
            var output = n.Outputs[0];
            if (output.Length == 0 || ed.IsGraphOutput(output)) continue; // an initializer cannot be a node-free graph output here
            if (ed.TensorTypeOf(n.Inputs[0]) is not { HasStaticShape: true } t) continue;
            long[] dims = t.Shape!.Select(d => d.Value).ToArray();
            Tensor value;
            if (n.OpType == "Size") value = Tensor.Scalar(dims.Aggregate(1L, (p, d) => p * d));
            else
            {
                // Opset 15 added start/end: a slice of the dims, negative values counting from the back, clamped.
                int rank = dims.Length;
                int Clamp(long v) => (int)Math.Clamp(v < 0 ? v + rank : v, 0, rank);
                int start = Clamp(n.GetInt("start", 0)), end = Clamp(n.GetInt("end", rank));
                var slice = dims[start..Math.Max(start, end)];
                value = Tensor.Create(slice, slice.Length);
            }
            g.Initializers[output] = value;
            g.ValueTypes.Remove(output);
            ed.Remove(n);
        }
        return ed.Commit();
    }

    /// <summary>Refreshes inferred shapes; a graph inference cannot handle keeps what it had (the session will report it).</summary>
    internal static void TryInferShapes(Model model)
    {
        try { ShapeInference.InferGraph(model.Graph, model); }
        catch (OnnxException) { }
    }
}
