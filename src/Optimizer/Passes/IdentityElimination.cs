using NetOnnx.Optimizer.Patterns;
using NetOnnx.Runtime;

namespace NetOnnx.Optimizer.Passes;

/// <summary>
/// Removes nodes that pass their input through unchanged: Identity, Dropout at inference, Cast to the type the
/// value already has, and Reshape/Flatten/Squeeze/Unsqueeze/Expand whose inferred static output shape equals the
/// input's. A node whose output is a graph output is only removed when its input's producer can be renamed.
/// </summary>
public sealed class IdentityElimination : IGraphPass
{
    public string Name => "IdentityElimination";
    public OptimizationLevel Level => OptimizationLevel.Basic;

    private static readonly HashSet<string> s_shapeOps = new(StringComparer.Ordinal) { "Reshape", "Flatten", "Squeeze", "Unsqueeze", "Expand" };

    public PassResult Run(Model model)
    {
        var g = model.Graph;
        if (g.Nodes.Any(n => s_shapeOps.Contains(n.OpType) || n.OpType == "Cast")) ShapeFolding.TryInferShapes(model);
        var ed = new GraphEditor(g);
        foreach (var n in g.Nodes)
        {
            if (n.Domain.Length != 0 || n.Inputs.Count == 0 || n.Inputs[0].Length == 0 || n.Outputs.Count == 0) continue;
            if (IsPassThrough(n, ed)) ed.Bypass(n, n.Inputs[0], n.Outputs[0]);
        }
        return ed.Commit();
    }

    private static bool IsPassThrough(Node n, GraphEditor ed)
    {
        switch (n.OpType)
        {
            case "Identity":
                // Identity of a sequence or optional is a pass-through too; only the type must be a value, not "".
                return n.Outputs.Count == 1;
            case "Dropout":
                // Inference: y = x. The mask output must be unused, and training_mode, if given, a constant false.
                if (n.Outputs.Count > 1 && n.Outputs.Skip(1).Any(o => o.Length > 0 && (ed.Consumers(o).Count > 0 || ed.IsGraphOutput(o))))
                    return false;
                if (n.Inputs.Count > 2 && n.Inputs[2].Length > 0)
                    return ed.ConstantValue(n.Inputs[2]) is { ElementType: DataType.Bool, Length: 1 } t && !t.ToArray<bool>()[0];
                return true;
            case "Cast":
                return n.Outputs.Count == 1 && ed.TensorTypeOf(n.Inputs[0]) is { } tin && n.HasAttr("to") &&
                       (long)tin.ElementType == n.GetInt("to", -1);
            case "Expand" when n.Inputs.Count == 2 && ed.ConstantValue(n.Inputs[1]) is { ElementType: DataType.Int64 } target &&
                                ed.TensorTypeOf(n.Inputs[0]) is { HasStaticShape: true } tx:
            {
                // Shape inference leaves Expand unknown; with a constant target it is a no-op when broadcasting the
                // target into the input's shape changes nothing: no more dims, and each is 1 or the input's own.
                var dims = target.ToArray<long>();
                var shape = tx.StaticShape!;
                if (dims.Length > shape.Length) return false;
                for (int i = 0; i < dims.Length; i++)
                {
                    long d = dims[^(i + 1)];
                    if (d != 1 && d != shape[^(i + 1)]) return false;
                }
                return true;
            }
            default:
                if (!s_shapeOps.Contains(n.OpType) || n.Outputs.Count != 1) return false;
                var a = ed.TensorTypeOf(n.Inputs[0]);
                var b = ed.TensorTypeOf(n.Outputs[0]);
                return a is { HasStaticShape: true } && b is { HasStaticShape: true } && a.ElementType == b.ElementType &&
                       a.StaticShape!.AsSpan().SequenceEqual(b.StaticShape);
        }
    }
}
