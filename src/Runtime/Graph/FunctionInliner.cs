namespace NetOnnx.Runtime;

/// <summary>
/// Replaces calls of model-local functions with their bodies: formal inputs and outputs become the call's
/// values, internal values get a unique prefix, and attribute references take the caller's values.
/// </summary>
public static class FunctionInliner
{
    public static void Inline(Model model)
    {
        int counter = 0;
        InlineGraph(model.Graph, model, ref counter, depth: 0);
    }

    private static void InlineGraph(Graph g, Model model, ref int counter, int depth)
    {
        var result = new List<Node>(g.Nodes.Count);
        foreach (var n in g.Nodes)
        {
            foreach (var a in n.Attributes.Values)
            {
                if (a.Graph is not null) InlineGraph(a.Graph, model, ref counter, depth);
                if (a.Graphs is not null) foreach (var sg in a.Graphs) InlineGraph(sg, model, ref counter, depth);
            }
            if (model.Functions.TryGetValue((n.Domain, n.OpType), out var f))
                result.AddRange(Expand(n, f, model, ref counter, depth));
            else
                result.Add(n);
        }
        g.Nodes.Clear();
        g.Nodes.AddRange(result);
    }

    private static List<Node> Expand(Node call, FunctionDef f, Model model, ref int counter, int depth)
    {
        if (depth > 64) throw ModelLoadException.ForNode(call, $"function {f.Name} calls itself too deeply (recursive functions are not allowed)");
        foreach (var (dom, ver) in f.Opsets)
        {
            if (!model.Opsets.TryGetValue(dom, out var have)) model.Opsets[dom] = ver;
            else if (have != ver && dom.Length == 0)
                throw ModelLoadException.ForNode(call, $"function {f.Name} uses ai.onnx opset {ver} but the model imports {have}");
        }
        string prefix = $"{(call.Name.Length > 0 ? call.Name : f.Name)}__fn{counter++}/";
        var rename = new Dictionary<string, string>(StringComparer.Ordinal);
        for (int i = 0; i < f.Inputs.Count; i++) rename[f.Inputs[i]] = i < call.Inputs.Count ? call.Inputs[i] : "";
        for (int i = 0; i < f.Outputs.Count; i++) rename[f.Outputs[i]] = i < call.Outputs.Count ? call.Outputs[i] : prefix + f.Outputs[i];
        string Map(string v) => v.Length == 0 ? v : rename.TryGetValue(v, out var r) ? r : rename[v] = prefix + v;

        var body = new Graph();
        foreach (var bn in f.Nodes)
        {
            var attrs = new List<NodeAttribute>();
            foreach (var a in bn.Attributes.Values)
            {
                if (a.RefAttrName is null) { attrs.Add(a); continue; }
                if (call.Attributes.TryGetValue(a.RefAttrName, out var given)) attrs.Add(Rename(given, a.Name));
                else if (f.AttributeDefaults.TryGetValue(a.RefAttrName, out var def)) attrs.Add(Rename(def, a.Name));
            }
            var nn = new Node(bn.OpType, bn.Inputs.Select(Map), bn.Outputs.Select(Map), prefix + bn.Name, bn.Domain, attrs);
            body.Nodes.Add(nn);
        }
        // Bodies may call other local functions.
        var tmp = new Model { Graph = body };
        foreach (var kv in model.Functions) tmp.Functions[kv.Key] = kv.Value;
        foreach (var kv in model.Opsets) tmp.Opsets[kv.Key] = kv.Value;
        InlineGraph(body, tmp, ref counter, depth + 1);
        foreach (var kv in tmp.Opsets) model.Opsets.TryAdd(kv.Key, kv.Value);
        return body.Nodes;
    }

    private static NodeAttribute Rename(NodeAttribute a, string name) => new(name, a.Kind)
    {
        Float = a.Float, Int = a.Int, Bytes = a.Bytes, Tensor = a.Tensor, Graph = a.Graph, Floats = a.Floats, Ints = a.Ints,
        ByteStrings = a.ByteStrings, Tensors = a.Tensors, Graphs = a.Graphs, TypeValue = a.TypeValue, TypeValues = a.TypeValues,
    };
}
