using NetOnnx.Optimizer.Patterns;
using NetOnnx.Runtime;

namespace NetOnnx.Optimizer.Passes.Quantization;

/// <summary>
/// A QDQ island DequantizeLinear(xq) -> Conv(·, DequantizeLinear(Wq) [, DequantizeLinear(Bq)]) [-> Relu | Clip(0, max)] -> QuantizeLinear
/// becomes one QLinearConv (standard ONNX) on the integers, whose uint8 path runs the int8 GEMM with the
/// requantization in its epilogue (depthwise ones run a direct kernel). Conditions: constant int8 weights (per
/// tensor or per output channel, axis 0), ungrouped or depthwise 2-D convolution, uint8 activations with scalar scales and zero points, an int32 bias at
/// scale x_scale * w_scale, and a
/// Relu or Clip(0, max) only when the output zero point is 0 and max is not below the output range (then the
/// uint8 clamp already is the activation). Runs before constant
/// folding, which would otherwise turn the weight DequantizeLinear back into float.
/// </summary>
public sealed class QdqConvFusion : IGraphPass
{
    public string Name => "QdqConvFusion";
    public OptimizationLevel Level => OptimizationLevel.Extended;

    public PassResult Run(Model model)
    {
        var g = model.Graph;
        if (model.OpsetFor("") < 10 || !g.Nodes.Any(n => FusionHelpers.IsStandard(n, "QuantizeLinear"))) return PassResult.Unchanged;
        var ix = new GraphEditor(g);
        var dead = new HashSet<Node>();
        var replace = new Dictionary<Node, Node>();
        var consumedReads = new Dictionary<Node, int>();
        int fused = 0;
        foreach (var q in g.Nodes)
        {
            if (!FusionHelpers.IsStandard(q, "QuantizeLinear") || q.Inputs.Count < 2 || q.Outputs.Count != 1) continue;
            if (!ScalarU8Params(ix, q, out _)) continue;
            var yz = q.Inputs.Count > 2 ? ix.ConstantValue(q.Inputs[2]) : null;
            if (ix.SoleReader(q.Inputs[0]) is null || ix.Producer(q.Inputs[0]) is not { } prev) continue;
            // DQ -> MaxPool -> Q with shared parameters could pool the integers, but our uint8 MaxPool is the
            // generic (slow) pooling loop, so float MaxPool between DQ and Q stays faster here.
            Node? relu = null;
            Node conv = prev;
            bool clip = FusionHelpers.IsStandard(prev, "Clip");
            if (FusionHelpers.IsStandard(prev, "Relu") || clip)
            {
                if (yz is not null && yz.ReadOnlySpan<byte>()[0] != 0) continue;
                // Clip(0, max) is implied by the uint8 range [0, 255 * y_scale] when max is not below its top.
                float ys = ix.ConstantValue(q.Inputs[1])!.ReadOnlySpan<float>()[0];
                if (clip && (ClipBounds(prev, ix) is not ({ } lo, var hi) || lo != 0 || !(hi is null || hi >= 255 * ys * (1 - 1e-6f)))) continue;
                if (ix.SoleReader(prev.Inputs[0]) is null || ix.Producer(prev.Inputs[0]) is not { } c) continue;
                relu = prev; conv = c;
            }
            if (!FusionHelpers.IsStandard(conv, "Conv") || conv.Outputs.Count != 1 || conv.Inputs.Count < 2) continue;
            if (ix.Producer(conv.Inputs[0]) is not { } xdq || !FusionHelpers.IsStandard(xdq, "DequantizeLinear") || xdq.Inputs.Count < 3
                || !ScalarU8Params(ix, xdq, out float xs)) continue;
            if (ix.Producer(conv.Inputs[1]) is not { } wdq || !FusionHelpers.IsStandard(wdq, "DequantizeLinear") || ix.SoleReader(conv.Inputs[1]) is null) continue;
            if (ix.ConstantValue(wdq.Inputs[0]) is not { ElementType: DataType.Int8, Rank: 4 } wq) continue;
            int m = wq.Shape[0];
            // Grouped convs other than depthwise (one filter per channel) have no integer fast path; float is faster.
            long group = conv.GetInt("group", 1);
            if (group != 1 && !(group == m && wq.Shape[1] == 1)) continue;
            if (wdq.Inputs.Count < 2 || ix.ConstantValue(wdq.Inputs[1]) is not { ElementType: DataType.Float } ws || (ws.Length != 1 && ws.Length != m)) continue;
            if (ws.Length > 1 && (ws.Rank != 1 || wdq.GetInt("axis", 1) != 0)) continue;
            var wz = wdq.Inputs.Count > 2 && wdq.Inputs[2].Length > 0 ? ix.ConstantValue(wdq.Inputs[2]) : null;
            if (wdq.Inputs.Count > 2 && wdq.Inputs[2].Length > 0 && (wz is not { ElementType: DataType.Int8 } || wz.Length != ws.Length)) continue;
            string bq = "";
            Node? bdq = null;
            if (conv.Inputs.Count > 2 && conv.Inputs[2].Length > 0)
            {
                if (ix.Producer(conv.Inputs[2]) is not { } b || !FusionHelpers.IsStandard(b, "DequantizeLinear") || ix.SoleReader(conv.Inputs[2]) is null) continue;
                if (ix.ConstantValue(b.Inputs[0]) is not { ElementType: DataType.Int32, Rank: 1 } bt || bt.Length != m) continue;
                if (b.Inputs.Count < 2 || ix.ConstantValue(b.Inputs[1]) is not { ElementType: DataType.Float } bs || (bs.Length != 1 && bs.Length != m)) continue;
                if (b.Inputs.Count > 2 && b.Inputs[2].Length > 0 && (ix.ConstantValue(b.Inputs[2]) is not { } bz || bz.ToInt64Array().Any(v => v != 0))) continue;
                // QLinearConv assumes the bias scale is x_scale * w_scale; any other bias stays unfused.
                var bsv = bs.ReadOnlySpan<float>();
                var wsv = ws.ReadOnlySpan<float>();
                bool match = true;
                for (int c = 0; c < m && match; c++)
                {
                    float want = xs * wsv[ws.Length == 1 ? 0 : c], got = bsv[bs.Length == 1 ? 0 : c];
                    match = Math.Abs(want - got) <= 1e-6f * Math.Abs(want);
                }
                if (!match) continue;
                bq = b.Inputs[0];
                bdq = b;
            }
            var inputs = new List<string>
            {
                xdq.Inputs[0], xdq.Inputs[1], xdq.Inputs.Count > 2 ? xdq.Inputs[2] : "",
                wdq.Inputs[0], wdq.Inputs[1], wdq.Inputs.Count > 2 ? wdq.Inputs[2] : "",
                q.Inputs[1], q.Inputs.Count > 2 ? q.Inputs[2] : "",
            };
            if (bq.Length > 0) inputs.Add(bq);
            while (inputs[^1].Length == 0) inputs.RemoveAt(inputs.Count - 1);
            var attrs = conv.Attributes.Values.Where(a => a.Name is "auto_pad" or "dilations" or "group" or "kernel_shape" or "pads" or "strides");
            replace[q] = new Node("QLinearConv", inputs, q.Outputs, conv.Name.Length > 0 ? conv.Name + "_quant" : "", "", attrs);
            dead.Add(conv); dead.Add(wdq);
            if (relu is not null) dead.Add(relu);
            if (bdq is not null) dead.Add(bdq);
            consumedReads[xdq] = consumedReads.GetValueOrDefault(xdq) + 1;
            fused++;
        }
        if (fused == 0) return PassResult.Unchanged;
        foreach (var (xdq, reads) in consumedReads)
            if (ix.ReadCount(xdq.Outputs[0]) == reads && !ix.IsGraphOutput(xdq.Outputs[0])) dead.Add(xdq);
        var kept = g.Nodes.Where(n => !dead.Contains(n)).Select(n => replace.GetValueOrDefault(n, n)).ToList();
        g.Nodes.Clear();
        g.Nodes.AddRange(kept);
        return new PassResult(dead.Count + replace.Count, fused, Detail: $"{fused} QLinearConv");
    }

    /// <summary>Constant Clip bounds (attributes before opset 11, inputs after; null = unbounded); null if not constant.</summary>
    internal static (float? Lo, float? Hi)? ClipBounds(Node clip, GraphEditor ix)
    {
        if (clip.HasAttr("min") || clip.HasAttr("max") || clip.Inputs.Count == 1)
            return (clip.HasAttr("min") ? clip.GetFloat("min", 0) : null, clip.HasAttr("max") ? clip.GetFloat("max", 0) : null);
        float? Bound(int i)
        {
            if (clip.Inputs.Count <= i || clip.Inputs[i].Length == 0) return null;
            // An initializer, or (in an unoptimised model) the output of a Constant node.
            var t = ix.ConstantValue(clip.Inputs[i])
                ?? (ix.Producer(clip.Inputs[i]) is { } p && FusionHelpers.IsStandard(p, "Constant") ? p.GetTensor("value") : null);
            return t is { ElementType: DataType.Float, Length: 1 } ? t.ReadOnlySpan<float>()[0] : float.NaN;
        }
        float? lo = Bound(1), hi = Bound(2);
        if (lo is float l && float.IsNaN(l) || hi is float h && float.IsNaN(h)) return null;
        return (lo, hi);
    }

    /// <summary>Scale and zero point (inputs 1 and 2) are constant scalars and the zero point, if any, is uint8.</summary>
    private static bool ScalarU8Params(GraphEditor ix, Node n, out float scale)
    {
        scale = 0;
        if (n.Inputs.Count < 2 || ix.ConstantValue(n.Inputs[1]) is not { ElementType: DataType.Float, Length: 1 } s) return false;
        scale = s.ReadOnlySpan<float>()[0];
        if (n.Inputs.Count > 2 && n.Inputs[2].Length > 0 && ix.ConstantValue(n.Inputs[2]) is not { ElementType: DataType.UInt8, Length: 1 }) return false;
        // Without a zero point QuantizeLinear produces uint8 too, unless output_dtype says otherwise (opset 21).
        return n.GetInt("output_dtype", 0) is 0 or (long)DataType.UInt8;
    }
}
