using NetOnnx.Optimizer.Patterns;
using NetOnnx.Runtime;

namespace NetOnnx.Optimizer.Passes;

/// <summary>Recognises the standard activation nodes a fused kernel can apply, as (name, params) attributes.</summary>
internal static class ActivationMatch
{
    /// <summary>The fused `activation` name and `activation_params` for node, or null if it is not one we fuse.</summary>
    public static (string Name, float[] Params)? Of(Node n, GraphEditor ix)
    {
        if (n.Outputs.Count != 1 || n.Inputs.Count < 1) return null;
        // Gelu: ai.onnx (opset 20) or the one GeluFusion writes in the internal domain.
        if (n.OpType == "Gelu" && n.Inputs.Count == 1 && (n.Domain.Length == 0 || n.Domain == FusedOps.Domain))
            return n.GetString("approximate", "none") switch { "none" => ("Gelu", []), "tanh" => ("GeluTanh", []), _ => null };
        if (n.Domain.Length != 0) return null;
        switch (n.OpType)
        {
            case "Relu" or "Sigmoid" or "Tanh" or "HardSwish" when n.Inputs.Count == 1:
                return (n.OpType, []);
            case "LeakyRelu":
                return ("LeakyRelu", [n.GetFloat("alpha", 0.01f)]);
            case "HardSigmoid":
                return ("HardSigmoid", [n.GetFloat("alpha", 0.2f), n.GetFloat("beta", 0.5f)]);
            case "Clip":
            {
                float lo = n.GetFloat("min", float.MinValue), hi = n.GetFloat("max", float.MaxValue);
                // Opset 11+: bounds are optional inputs, fusable only when constant float scalars.
                for (int i = 1; i < n.Inputs.Count; i++)
                {
                    if (n.Inputs[i].Length == 0) continue;
                    if (ix.ConstantValue(n.Inputs[i]) is not { ElementType: DataType.Float, Length: 1 } t) return null;
                    if (i == 1) lo = t.ReadOnlySpan<float>()[0]; else hi = t.ReadOnlySpan<float>()[0];
                }
                return ("Clip", [lo, hi]);
            }
            default: return null;
        }
    }

    public static void SetAttributes(Node fused, (string Name, float[] Params) act)
    {
        fused.Attributes["activation"] = NodeAttribute.Of("activation", act.Name);
        if (act.Params.Length > 0) fused.Attributes["activation_params"] = NodeAttribute.Of("activation_params", act.Params);
    }
}
