using NetOnnx.Optimizer.Patterns;
using NetOnnx.Runtime;

namespace NetOnnx.Optimizer.Passes.Quantization;

/// <summary>
/// Keeps a QDQ model in uint8 between its integer convolutions: the float islands between a
/// DequantizeLinear and the next QuantizeLinear become integer ops on the quantized tensors.
/// <list type="bullet">
/// <item>DQ(a), DQ(b) -> Add [-> Relu] -> Q: QLinearAdd (com.microsoft; com.netonnx with activation Relu).</item>
/// <item>DQ(x_i)... -> Concat -> Q: QLinearConcat (com.microsoft); inputs with other parameters are requantized by table.</item>
/// <item>DQ -> element-wise unary op (Relu, Clip, HardSwish, Sigmoid, ...) -> Q: a 256-entry table lookup (com.netonnx
/// QLinearLookup), the table made by running the op on the 256 dequantized values.</item>
/// <item>DQ -> MaxPool / Reshape / Flatten / Transpose / Squeeze / Unsqueeze / Identity -> Q with the same scale and
/// zero point: the op on the uint8 tensor (max and data movement commute with the monotonic, element-wise
/// (de)quantization, and Q(DQ(v)) = v for equal parameters).</item>
/// </list>
/// Every rewrite computes what the float chain computes, bit for bit (the table too, for ops whose kernel gives each
/// element the same value whatever its position; a vectorized transcendental may differ from its scalar tail by an ulp,
/// hence rarely by one quantization step). Only per-tensor uint8 parameters held in
/// constants qualify. The orphaned DequantizeLinear nodes are left to dead-code elimination.
/// </summary>
public sealed class QdqIntegerFusion : IGraphPass
{
    public string Name => "QdqIntegerFusion";
    public OptimizationLevel Level => OptimizationLevel.Extended;

    private static readonly HashSet<string> s_passThrough = new(StringComparer.Ordinal)
    {
        "MaxPool", "Reshape", "Flatten", "Transpose", "Squeeze", "Unsqueeze", "Identity",
    };

    /// <summary>Element-wise ops of one tensor that a 256-entry table replaces between a DQ and a Q.</summary>
    private static readonly HashSet<string> s_unary = new(StringComparer.Ordinal)
    {
        "Relu", "Clip", "LeakyRelu", "HardSigmoid", "HardSwish", "Sigmoid", "Tanh", "Elu", "Selu", "Softplus", "Abs", "Neg", "Gelu",
    };

    public PassResult Run(Model model)
    {
        var g = model.Graph;
        if (model.OpsetFor("") < 10 || !g.Nodes.Any(n => FusionHelpers.IsStandard(n, "QuantizeLinear"))) return PassResult.Unchanged;
        var ix = new GraphEditor(g);
        int adds = 0, concats = 0, moves = 0, lookups = 0;
        foreach (var q in g.Nodes)
        {
            if (!FusionHelpers.IsStandard(q, "QuantizeLinear") || q.Outputs.Count != 1 || ix.IsRemoved(q)) continue;
            if (Params(ix, q) is not { } qp) continue;
            if (ix.SoleReader(q.Inputs[0]) is null || ix.Producer(q.Inputs[0]) is not { } p || p.Outputs.Count != 1) continue;
            Node? relu = null;
            if (FusionHelpers.IsStandard(p, "Relu") && ix.SoleReader(p.Inputs[0]) is not null && ix.Producer(p.Inputs[0]) is { } add
                && FusionHelpers.IsStandard(add, "Add"))
            {
                relu = p; p = add;
            }
            string name = p.Name.Length > 0 ? p.Name + "_quant" : "";
            if (FusionHelpers.IsStandard(p, "Add") && p.Inputs.Count == 2 && p.Outputs.Count == 1)
            {
                if (Dequantized(ix, p.Inputs[0]) is not { } da || Dequantized(ix, p.Inputs[1]) is not { } db) continue;
                var inputs = new List<string> { da.Inputs[0], da.Inputs[1], Zero(da), db.Inputs[0], db.Inputs[1], Zero(db), q.Inputs[1], Zero(q) };
                var fused = relu is null
                    ? new Node("QLinearAdd", inputs, q.Outputs, name, "com.microsoft")
                    : new Node("QLinearAdd", inputs, q.Outputs, name, Runtime.Operators.Fused.FusedDomain.Name, [NodeAttribute.Of("activation", "Relu")]);
                Rewrite(ix, q, fused, p, relu);
                adds++;
            }
            else if (relu is not null) continue;
            else if (s_unary.Contains(p.OpType) && p.Domain is "" or Runtime.Operators.Fused.FusedDomain.Name && Lookup(ix, model, p, q, qp, name) is { } table)
            {
                ix.Replace(q, table);
                ix.Remove(p);
                lookups++;
            }
            else if (FusionHelpers.IsStandard(p, "Concat") && p.Inputs.Count > 0)
            {
                var dqs = p.Inputs.Select(i => Dequantized(ix, i)).ToList();
                if (dqs.All(d => d is null)) continue;
                var inputs = new List<string> { q.Inputs[1], Zero(q) };
                var early = new List<Node>();
                for (int i = 0; i < dqs.Count; i++)
                {
                    if (dqs[i] is { } d) { inputs.AddRange([d.Inputs[0], d.Inputs[1], Zero(d)]); continue; }
                    // A float input is quantized with the output's parameters (Q(Concat(v)) = Concat(Q(v))), which
                    // may then fuse with what produced it (an Add + Relu) in the next round.
                    string u = ix.FreshName(p.Inputs[i] + "_quantized");
                    early.Add(new Node("QuantizeLinear", [p.Inputs[i], .. q.Inputs.Skip(1)], [u], ix.FreshName(p.Inputs[i] + "_QuantizeLinear"), "", q.Attributes.Values));
                    inputs.AddRange([u, q.Inputs[1], Zero(q)]);
                }
                var fusedConcat = new Node("QLinearConcat", inputs, q.Outputs, name, "com.microsoft", [NodeAttribute.Of("axis", p.GetInt("axis", 0))]);
                ix.Replace(p, [.. early, fusedConcat]);
                ix.Remove(q);
                concats++;
            }
            else if (p.Domain.Length == 0 && s_passThrough.Contains(p.OpType) && p.Inputs.Count > 0)
            {
                if (Dequantized(ix, p.Inputs[0]) is { } d && Params(ix, d) == qp)
                {
                    var inputs = new List<string>(p.Inputs) { [0] = d.Inputs[0] };
                    Rewrite(ix, q, new Node(p.OpType, inputs, q.Outputs, name, "", p.Attributes.Values), p, null);
                }
                else
                {
                    // Q(op(v)) = op(Q(v)): quantize before the op instead, so the Q meets what produced v (a
                    // Concat, an Add) in the next round and the whole chain runs on the integers.
                    if (ix.SoleReader(p.Inputs[0]) is null || ix.Producer(p.Inputs[0]) is not { Domain: "" } src
                        || !(src.OpType is "Concat" or "Add" or "Relu" || s_passThrough.Contains(src.OpType))) continue;
                    string u = ix.FreshName(p.Inputs[0] + "_quantized");
                    var earlyQ = new Node("QuantizeLinear", [p.Inputs[0], .. q.Inputs.Skip(1)], [u], ix.FreshName(q.Name.Length > 0 ? q.Name : "QuantizeLinear"), "", q.Attributes.Values);
                    var inputs = new List<string>(p.Inputs) { [0] = u };
                    ix.Replace(p, earlyQ, new Node(p.OpType, inputs, q.Outputs, name, "", p.Attributes.Values));
                    ix.Remove(q);
                }
                moves++;
            }
        }
        int total = adds + concats + moves + lookups;
        // Written models need the domains imported (com.microsoft for the contrib ops, ours for the fused forms).
        if (adds + concats > 0) model.Opsets.TryAdd("com.microsoft", 1);
        if (adds + lookups > 0) model.Opsets.TryAdd(Runtime.Operators.Fused.FusedDomain.Name, 1);
        return total == 0 ? PassResult.Unchanged : ix.Commit(detail: $"{adds} QLinearAdd, {concats} QLinearConcat, {moves} uint8 MaxPool/reshape, {lookups} QLinearLookup");
    }

    /// <summary>
    /// DQ -> unary op -> Q as one table lookup: the op runs once, at optimisation time, on the 256 dequantized values
    /// (computed as DequantizeLinear computes them), and its results are quantized as QuantizeLinear would.
    /// </summary>
    private static Node? Lookup(GraphEditor ix, Model model, Node op, Node q, (float Scale, byte Zero) qp, string name)
    {
        if (op.Outputs.Count != 1 || op.Inputs.Count == 0 || Dequantized(ix, op.Inputs[0]) is not { } d || Params(ix, d) is not { } dp) return null;
        var rest = new List<Tensor?>();
        foreach (var i in op.Inputs.Skip(1))
        {
            if (i.Length == 0) { rest.Add(null); continue; }
            if (ix.ConstantValue(i) is not { } c) return null;
            rest.Add(c);
        }
        var values = new float[256];
        for (int v = 0; v < 256; v++) values[v] = (v - (float)dp.Zero) * dp.Scale;
        object[] outs;
        try { outs = NodeEvaluator.Evaluate(op, [Tensor.Create(values, 256), .. rest], model.Opsets); }
        catch (OnnxException) { return null; }
        if (outs.Length != 1 || outs[0] is not Tensor { ElementType: DataType.Float, Length: 256 } f) return null;
        var fv = f.ReadOnlySpan<float>();
        var table = new byte[256];
        for (int v = 0; v < 256; v++) table[v] = (byte)Kernels.Quantization.QuantizeKernels.QuantizeOne(fv[v], qp.Scale, qp.Zero, 0, 255);
        string t = ix.AddInitializer((name.Length > 0 ? name : "lookup") + "_table", Tensor.Create(DataType.UInt8, table, 256));
        return new Node("QLinearLookup", [d.Inputs[0], t], q.Outputs, name, Runtime.Operators.Fused.FusedDomain.Name);
    }

    private static void Rewrite(GraphEditor ix, Node q, Node fused, Node op, Node? relu)
    {
        ix.Replace(q, fused);
        ix.Remove(op);
        if (relu is not null) ix.Remove(relu);
    }

    /// <summary>The DequantizeLinear producing <paramref name="value"/> when it has per-tensor uint8 constant parameters.</summary>
    private static Node? Dequantized(GraphEditor ix, string value) =>
        ix.Producer(value) is { } d && FusionHelpers.IsStandard(d, "DequantizeLinear") && d.Outputs.Count == 1 && Params(ix, d) is not null ? d : null;

    private static string Zero(Node n) => n.Inputs.Count > 2 ? n.Inputs[2] : "";

    /// <summary>Constant scalar float scale and uint8 (or absent) zero point of a Q/DQ node, else null.</summary>
    private static (float Scale, byte Zero)? Params(GraphEditor ix, Node n)
    {
        if (n.Inputs.Count < 2 || ix.ConstantValue(n.Inputs[1]) is not { ElementType: DataType.Float, Length: 1 } s) return null;
        byte z = 0;
        if (n.Inputs.Count > 2 && n.Inputs[2].Length > 0)
        {
            if (ix.ConstantValue(n.Inputs[2]) is not { ElementType: DataType.UInt8, Length: 1 } zt) return null;
            z = zt.ReadOnlySpan<byte>()[0];
        }
        // Without a zero point DequantizeLinear's input may be int8; only an explicit uint8 one settles it.
        else if (n.OpType == "DequantizeLinear") return null;
        if (n.GetInt("output_dtype", 0) is not (0 or (long)DataType.UInt8)) return null;
        float scale = s.ReadOnlySpan<float>()[0];
        return scale > 0 && float.IsFinite(scale) ? (scale, z) : null;
    }
}
