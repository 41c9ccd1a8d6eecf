using System.Text;
using NetOnnx.Optimizer.Patterns;
using NetOnnx.Runtime;

namespace NetOnnx.Optimizer.Passes;

/// <summary>
/// Merges nodes that compute the same thing: same op, domain, attributes and inputs. Random ops (each call
/// draws anew) and nodes with subgraphs are never merged; a duplicate whose output is a graph output stays.
/// Inputs are renamed as the walk goes, so whole duplicated chains merge in one run.
/// </summary>
public sealed class CommonSubexpressionElimination : IGraphPass
{
    public string Name => "CommonSubexpressionElimination";
    public OptimizationLevel Level => OptimizationLevel.Basic;

    private static readonly HashSet<string> s_neverMerge = new(StringComparer.Ordinal)
    {
        "RandomNormal", "RandomUniform", "RandomNormalLike", "RandomUniformLike", "Multinomial", "Bernoulli",
        "Dropout", // with training_mode it draws a mask
        "If", "Loop", "Scan",
    };

    public PassResult Run(Model model)
    {
        var g = model.Graph;
        var ed = new GraphEditor(g);
        var seen = new Dictionary<string, Node>(StringComparer.Ordinal);
        foreach (var n in g.Nodes)
        {
            if (n.Outputs.Count == 0 || s_neverMerge.Contains(n.OpType) || Key(n) is not { } key) continue;
            if (!seen.TryGetValue(key, out var first)) { seen[key] = n; continue; }
            if (n.Outputs.Any(o => o.Length > 0 && ed.IsGraphOutput(o)) || n.Outputs.Count != first.Outputs.Count) continue;
            // An output the first node omitted cannot stand in for one this node produces.
            if (n.Outputs.Where((o, i) => o.Length > 0 && first.Outputs[i].Length == 0).Any()) continue;
            for (int i = 0; i < n.Outputs.Count; i++)
                if (n.Outputs[i].Length > 0) ed.ReplaceUses(n.Outputs[i], first.Outputs[i]);
            ed.Remove(n);
        }
        return ed.Commit();
    }

    /// <summary>A canonical text of what the node computes, or null when its attributes cannot be compared cheaply.</summary>
    private static string? Key(Node n)
    {
        var sb = new StringBuilder();
        sb.Append(n.Domain).Append('\u0001').Append(n.OpType).Append('\u0001').Append(n.Outputs.Count).Append('(');
        foreach (var i in n.Inputs) sb.Append(i).Append('\u0002');
        sb.Append(')');
        foreach (var a in n.Attributes.Values.OrderBy(a => a.Name, StringComparer.Ordinal))
        {
            sb.Append(a.Name).Append('=');
            switch (a.Kind)
            {
                case AttributeKind.Int: sb.Append(a.Int); break;
                case AttributeKind.Float: sb.Append(BitConverter.SingleToInt32Bits(a.Float)); break;
                case AttributeKind.String: sb.Append(Convert.ToBase64String(a.Bytes ?? [])); break;
                case AttributeKind.Ints: sb.AppendJoin(',', a.Ints!); break;
                case AttributeKind.Floats: sb.AppendJoin(',', a.Floats!.Select(BitConverter.SingleToInt32Bits)); break;
                case AttributeKind.Strings: sb.AppendJoin(',', (a.ByteStrings ?? []).Select(Convert.ToBase64String)); break;
                // Small constants only: weights stored in Constant nodes would make every key megabytes long.
                case AttributeKind.Tensor when a.Tensor is { } t && t.ElementType != DataType.String && t.Length <= 256:
                    sb.Append((int)t.ElementType).Append('[').AppendJoin(',', t.Shape).Append(']').Append(Convert.ToBase64String(t.Bytes()));
                    break;
                default: return null; // graphs, tensor lists, types: not worth comparing
            }
            sb.Append('\u0003');
        }
        return sb.ToString();
    }
}
