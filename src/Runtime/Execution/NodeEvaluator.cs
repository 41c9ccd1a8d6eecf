namespace NetOnnx.Runtime;

/// <summary>Runs a single node on given inputs through the normal kernel path (used by constant folding and tests).</summary>
public static class NodeEvaluator
{
    public static object[] Evaluate(Node node, IReadOnlyList<Tensor?> inputs, IReadOnlyDictionary<string, long> opsets, SessionOptions? options = null)
    {
        var model = new Model();
        foreach (var kv in opsets) model.Opsets[kv.Key] = kv.Value;
        var g = model.Graph;
        var ins = new List<string>();
        for (int i = 0; i < node.Inputs.Count; i++)
        {
            if (node.Inputs[i].Length == 0 || i >= inputs.Count || inputs[i] is null) { ins.Add(""); continue; }
            string name = $"in{i}";
            g.Initializers[name] = inputs[i]!;
            ins.Add(name);
        }
        var outs = node.Outputs.Select((o, i) => o.Length == 0 ? "" : $"out{i}").ToList();
        var copy = new Node(node.OpType, ins, outs, node.Name, node.Domain, node.Attributes.Values);
        g.Nodes.Add(copy);
        foreach (var o in outs) if (o.Length > 0) g.Outputs.Add(new ValueInfo(o, null));
        var session = new Session(model, options ?? new SessionOptions { IntraOpThreads = 1, OptimizationLevel = OptimizationLevel.None });
        var r = session.Run(new Dictionary<string, object>());
        return outs.Select(o => o.Length == 0 ? null! : r[o]).ToArray();
    }
}
