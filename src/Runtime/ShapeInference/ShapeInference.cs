namespace NetOnnx.Runtime;

/// <summary>
/// Infers element types and shapes of intermediate values, node by node, from graph inputs, initializers
/// and per-op rules (<see cref="ShapeRules"/>). Unknown ops or data-dependent shapes leave values unknown
/// (or partially known); the executor does not rely on inference for correctness, the planner uses it to
/// pick kernels and estimate memory.
/// </summary>
public static class ShapeInference
{
    public static void InferGraph(Graph graph, Model model)
    {
        foreach (var node in graph.Nodes)
        {
            var inputs = node.Inputs.Select(n => n.Length == 0 ? null : graph.TypeOf(n)).ToArray();
            TensorType?[] outs;
            try
            {
                outs = ShapeRules.Infer(node, inputs, n => graph.Initializers.GetValueOrDefault(n), (int)model.OpsetFor(node.Domain));
            }
            catch (Exception e) when (e is ArgumentException or InvalidOperationException or IndexOutOfRangeException or OverflowException)
            {
                throw ModelLoadException.ForNode(node, $"inconsistent input shapes: {e.Message}", e);
            }
            for (int i = 0; i < node.Outputs.Count && i < outs.Length; i++)
            {
                var name = node.Outputs[i];
                if (name.Length == 0 || outs[i] is null) continue;
                var declared = graph.TypeOf(name) as TensorType;
                // Keep what the file declares where it is more precise than what the rule found.
                if (declared is null || declared.Shape is null || (outs[i]!.HasStaticShape && !declared.HasStaticShape))
                    graph.ValueTypes[name] = outs[i]!;
            }
        }
    }
}
