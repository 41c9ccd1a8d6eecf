using System.Text;
using NetOnnx.Runtime;

namespace NetOnnx.Optimizer;

/// <summary>
/// A readable text dump of a model's IR: inputs, initializers (type only), one line per node as
/// <c>outputs = op(inputs) {attrs}</c> with the known type of each output, subgraphs indented, then outputs.
/// </summary>
public static class IrPrinter
{
    public static string Print(Model model)
    {
        var sb = new StringBuilder();
        sb.Append("opsets ").AppendJoin(", ", model.Opsets.Select(kv => $"{(kv.Key.Length == 0 ? "ai.onnx" : kv.Key)}:{kv.Value}")).AppendLine();
        PrintGraph(sb, model.Graph, "");
        return sb.ToString();
    }

    public static string Print(Graph graph)
    {
        var sb = new StringBuilder();
        PrintGraph(sb, graph, "");
        return sb.ToString();
    }

    private static void PrintGraph(StringBuilder sb, Graph g, string indent)
    {
        sb.Append(indent).Append("graph ").Append(g.Name).Append(" (").Append(g.Nodes.Count).AppendLine(" nodes)");
        foreach (var i in g.Inputs.Where(i => !g.Initializers.ContainsKey(i.Name)))
            sb.Append(indent).Append("  input ").Append(i.Name).Append(": ").AppendLine(i.Type?.ToString() ?? "?");
        foreach (var (name, t) in g.Initializers.OrderBy(kv => kv.Key, StringComparer.Ordinal))
            sb.Append(indent).Append("  init ").Append(name).Append(": tensor(").Append(t.ElementType.OnnxName()).Append(")[")
              .AppendJoin(',', t.Shape).AppendLine("]");
        foreach (var n in g.Nodes)
        {
            sb.Append(indent).Append("  ");
            sb.AppendJoin(", ", n.Outputs.Select(o => o.Length == 0 ? "_" : $"{o}: {g.TypeOf(o)?.ToString() ?? "?"}"));
            sb.Append(" = ");
            if (n.Domain.Length > 0) sb.Append(n.Domain).Append('.');
            sb.Append(n.OpType).Append('(').AppendJoin(", ", n.Inputs.Select(i => i.Length == 0 ? "_" : i)).Append(')');
            var plain = n.Attributes.Values.Where(a => a.Graph is null && a.Graphs is null).ToList();
            if (plain.Count > 0) sb.Append(" {").AppendJoin(", ", plain.Select(FormatAttribute)).Append('}');
            if (n.Name.Length > 0) sb.Append("  # ").Append(n.Name);
            sb.AppendLine();
            foreach (var a in n.Attributes.Values)
            {
                if (a.Graph is not null) { sb.Append(indent).Append("    ").Append(a.Name).AppendLine(":"); PrintGraph(sb, a.Graph, indent + "    "); }
                if (a.Graphs is not null)
                    foreach (var sg in a.Graphs) { sb.Append(indent).Append("    ").Append(a.Name).AppendLine(":"); PrintGraph(sb, sg, indent + "    "); }
            }
        }
        foreach (var o in g.Outputs)
            sb.Append(indent).Append("  output ").Append(o.Name).Append(": ").AppendLine(o.Type?.ToString() ?? "?");
    }

    // Tensor attributes print as type and shape plus the first few values: whole weights would drown the dump.
    private static string FormatAttribute(NodeAttribute a) => a.Kind == AttributeKind.Tensor && a.Tensor is { } t
        ? $"{a.Name}=tensor({t.ElementType.OnnxName()})[{string.Join(",", t.Shape)}]"
        : a.ToString();
}
