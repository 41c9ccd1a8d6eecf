using NetOnnx.Optimizer.Patterns;
using NetOnnx.Runtime;
using NetOnnx.Runtime.Operators.Fused;

namespace NetOnnx.Optimizer.Passes.Quantization;

/// <summary>
/// The dynamic-quantization chain quantize_dynamic writes (ours and ONNX Runtime's),
/// DynamicQuantizeLinear(x) -> MatMulInteger(xq, Wq, xzp, Wzp) -> Cast(float) -> Mul(·, Mul(x_scale, Ws)) [-> Add(bias)],
/// with constant int8 Wq [K, N], Ws and Wzp, becomes one DynamicQuantizeMatMul (com.netonnx) that packs Wq once
/// and runs the int8 GEMM with the dequantize and bias in its epilogue. One DynamicQuantizeLinear may feed several
/// chains (q, k and v of attention share it); it goes when its last reader does.
/// </summary>
public sealed class DynamicQuantizeMatMulFusion : IGraphPass
{
    public string Name => "DynamicQuantizeMatMulFusion";
    public bool EmitsInternalOps => true;
    public OptimizationLevel Level => OptimizationLevel.Extended;

    public PassResult Run(Model model)
    {
        var g = model.Graph;
        if (!g.Nodes.Any(n => FusionHelpers.IsStandard(n, "MatMulInteger"))) return PassResult.Unchanged;
        var ix = new GraphEditor(g);
        var dead = new HashSet<Node>();
        var replace = new Dictionary<Node, Node>();
        // Readers of each DynamicQuantizeLinear output that the fusion consumes, to drop the node when all are.
        var consumed = new Dictionary<Node, int>();
        int fused = 0, biases = 0;
        foreach (var mmi in g.Nodes)
        {
            if (!FusionHelpers.IsStandard(mmi, "MatMulInteger") || mmi.Inputs.Count < 3 || mmi.Outputs.Count != 1) continue;
            if (ix.Producer(mmi.Inputs[0]) is not { } dql || !FusionHelpers.IsStandard(dql, "DynamicQuantizeLinear") || dql.Outputs.Count != 3) continue;
            if (dql.Outputs[0] != mmi.Inputs[0] || dql.Outputs[2] != mmi.Inputs[2]) continue;
            if (ix.ConstantValue(mmi.Inputs[1]) is not { ElementType: DataType.Int8, Rank: 2 } wq) continue;
            int n = wq.Shape[1];
            string wzp = mmi.Inputs.Count > 3 ? mmi.Inputs[3] : "";
            if (wzp.Length > 0 && (ix.ConstantValue(wzp) is not { ElementType: DataType.Int8 } z || (z.Length != 1 && z.Length != n))) continue;
            if (ix.SoleReader(mmi.Outputs[0]) is not { } cast || !FusionHelpers.IsStandard(cast, "Cast") || cast.GetInt("to", 0) != (long)DataType.Float) continue;
            if (ix.SoleReader(cast.Outputs[0]) is not { } mul || !FusionHelpers.IsStandard(mul, "Mul") || mul.Inputs.Count != 2) continue;
            var scaleName = mul.Inputs[0] == cast.Outputs[0] ? mul.Inputs[1] : mul.Inputs[0];
            if (ix.SoleReader(scaleName) is null || ix.Producer(scaleName) is not { } scaleMul || !FusionHelpers.IsStandard(scaleMul, "Mul") || scaleMul.Inputs.Count != 2) continue;
            var wsName = scaleMul.Inputs[0] == dql.Outputs[1] ? scaleMul.Inputs[1] : scaleMul.Inputs[1] == dql.Outputs[1] ? scaleMul.Inputs[0] : null;
            if (wsName is null || ix.ConstantValue(wsName) is not { ElementType: DataType.Float } ws || (ws.Length != 1 && ws.Length != n) || ws.Rank > 1) continue;
            if (dead.Contains(mul) || replace.ContainsKey(mul)) continue;

            // A constant [N] bias added right after rides in the epilogue.
            var last = mul;
            string bias = "";
            if (ix.SoleReader(mul.Outputs[0]) is { } add && FusionHelpers.IsStandard(add, "Add") && add.Inputs.Count == 2)
            {
                var other = add.Inputs[0] == mul.Outputs[0] ? add.Inputs[1] : add.Inputs[0];
                if (ix.ConstantValue(other) is { ElementType: DataType.Float, Rank: 1 } b && b.Length == n) { bias = other; last = add; biases++; }
            }
            var node = new Node("DynamicQuantizeMatMul", [dql.Inputs[0], mmi.Inputs[1], wsName, wzp, bias], last.Outputs,
                mmi.Name.Length > 0 ? mmi.Name + "_fused" : "", FusedDomain.Name);
            replace[last] = node;
            dead.Add(mmi); dead.Add(cast); dead.Add(scaleMul);
            if (last != mul) dead.Add(mul);
            consumed[dql] = consumed.GetValueOrDefault(dql) + 3;
            fused++;
        }
        if (fused == 0) return PassResult.Unchanged;
        int removedDql = 0;
        foreach (var (dql, reads) in consumed)
        {
            int total = dql.Outputs.Sum(o => ix.ReadCount(o) + (ix.IsGraphOutput(o) ? 1 : 0));
            if (total == reads) { dead.Add(dql); removedDql++; }
        }
        var kept = g.Nodes.Where(x => !dead.Contains(x)).Select(x => replace.GetValueOrDefault(x, x)).ToList();
        g.Nodes.Clear();
        g.Nodes.AddRange(kept);
        FusionHelpers.ImportFusedDomain(model);
        return new PassResult(dead.Count + replace.Count, fused, Detail: $"{fused} DynamicQuantizeMatMul ({biases} with bias)");
    }
}
