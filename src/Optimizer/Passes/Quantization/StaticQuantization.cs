using NetOnnx.Optimizer.Patterns;
using NetOnnx.Runtime;

namespace NetOnnx.Optimizer.Passes.Quantization;

/// <summary>Options of <see cref="StaticQuantization"/>.</summary>
public sealed record StaticQuantizationOptions
{
    /// <summary>One weight scale per output channel instead of one per tensor.</summary>
    public bool PerChannel { get; init; } = true;
    /// <summary>Node names or op types left in float.</summary>
    public IReadOnlySet<string> Exclude { get; init; } = new HashSet<string>(StringComparer.Ordinal);
}

/// <summary>
/// Static quantization in the QDQ format ONNX Runtime runs: every Conv, MatMul and Gemm with constant float
/// weights reads its activation through QuantizeLinear -> DequantizeLinear (uint8, scale and zero point from
/// calibration), its weights as int8 (symmetric, 7-bit [-63, 63] like ONNX Runtime's reduce_range, per output channel or per tensor) through
/// DequantizeLinear, its bias as int32 at scale a_scale * w_scale, and its output passes QuantizeLinear ->
/// DequantizeLinear too, so each op is a DQ -> op -> Q island another runtime can run as one integer kernel.
/// A tensor quantized once (an op's output feeding the next op) is not quantized again.
/// </summary>
public static class StaticQuantization
{
    /// <summary>The activation tensors calibration must observe: inputs and outputs of the ops that will be quantized.</summary>
    public static List<string> TensorsToCalibrate(Model model, StaticQuantizationOptions options)
    {
        var ix = new GraphEditor(model.Graph);
        var names = new List<string>();
        foreach (var n in model.Graph.Nodes)
            if (Quantizable(n, ix, options) is not null)
            {
                if (!names.Contains(n.Inputs[0])) names.Add(n.Inputs[0]);
                var y = FollowingRelu(n, ix)?.Outputs[0] ?? n.Outputs[0];
                if (!names.Contains(y)) names.Add(y);
            }
        return names;
    }

    /// <summary>
    /// A Relu, or a Clip from 0 (Relu6), that alone reads the op's output: quantized after it, so the island
    /// includes it (its zero point is then 0 and the quantized range's clamp does the activation's work).
    /// </summary>
    private static Node? FollowingRelu(Node n, GraphEditor ix)
    {
        if (ix.SoleReader(n.Outputs[0]) is not { } r || r.Outputs.Count != 1 || r.Inputs[0] != n.Outputs[0]) return null;
        if (FusionHelpers.IsStandard(r, "Relu")) return r;
        return FusionHelpers.IsStandard(r, "Clip") && QdqConvFusion.ClipBounds(r, ix) is ({ } lo, _) && lo == 0 ? r : null;
    }

    /// <summary>The weight's output-channel axis for an op this pass handles, else null.</summary>
    private static int? Quantizable(Node n, GraphEditor ix, StaticQuantizationOptions options)
    {
        if (n.Domain.Length != 0 || n.Outputs.Count != 1 || n.Inputs.Count < 2) return null;
        if (options.Exclude.Contains(DynamicQuantization.LayerId(n)) || options.Exclude.Contains(n.OpType)) return null;
        if (ix.ConstantValue(n.Inputs[0]) is not null || ix.ConstantValue(n.Inputs[1]) is not { ElementType: DataType.Float } w) return null;
        switch (n.OpType)
        {
            case "Conv" when w.Rank >= 3:
                return 0;
            case "MatMul" when w.Rank == 2 && n.Inputs.Count == 2:
                return 1;
            case "Gemm" when w.Rank == 2 && n.GetInt("transA", 0) == 0 && n.GetFloat("alpha", 1f) == 1f && n.GetFloat("beta", 1f) == 1f:
                return n.GetInt("transB", 0) != 0 ? 0 : 1;
            default:
                return null;
        }
    }

    /// <summary>
    /// Rewrites the model. <paramref name="ranges"/> holds a calibrated [lo, hi] for every tensor of
    /// <see cref="TensorsToCalibrate"/>; returns the layers quantized.
    /// </summary>
    public static List<QuantizedLayer> Apply(Model model, IReadOnlyDictionary<string, (float Lo, float Hi)> ranges, StaticQuantizationOptions options)
    {
        long opset = model.OpsetFor("");
        if (opset < 13) throw new OnnxException($"static QDQ quantization needs ai.onnx opset >= 13 (per-axis DequantizeLinear); the model imports {opset}");
        var g = model.Graph;
        var ix = new GraphEditor(g);
        var layers = new List<QuantizedLayer>();
        var result = new List<Node>();
        // Activation tensor -> (DQ output name, scale) once it has a Q/DQ pair.
        var dequantized = new Dictionary<string, (string Name, float Scale)>(StringComparer.Ordinal);
        // DQ output name -> the scale and zero-point initializers it uses.
        var qdqParams = new Dictionary<string, (string Scale, string Zero)>(StringComparer.Ordinal);

        // Inputs of a Concat whose output is quantized take the output's range (the union of theirs), so the
        // integer QLinearConcat copies bytes instead of requantizing each input.
        var concatRange = new Dictionary<string, (float Lo, float Hi)>(StringComparer.Ordinal);
        foreach (var c in g.Nodes)
            if (FusionHelpers.IsStandard(c, "Concat") && c.Outputs.Count == 1 && ranges.TryGetValue(c.Outputs[0], out var cr)
                && c.Inputs.All(i => ranges.ContainsKey(i)))
                foreach (var i in c.Inputs)
                {
                    var own = ranges[i];
                    var prev = concatRange.GetValueOrDefault(i, own);
                    concatRange[i] = (Math.Min(Math.Min(prev.Lo, own.Lo), cr.Lo), Math.Max(Math.Max(prev.Hi, own.Hi), cr.Hi));
                }

        (float Scale, byte Zero) Params(string tensor)
        {
            if (!ranges.TryGetValue(tensor, out var r)) throw new OnnxException($"no calibration range for tensor '{tensor}'");
            if (concatRange.TryGetValue(tensor, out var shared)) r = shared;
            float lo = Math.Min(r.Lo, 0), hi = Math.Max(r.Hi, 0);
            float scale = hi > lo ? (hi - lo) / 255f : 1f;
            byte zero = (byte)Math.Clamp(MathF.Round(-lo / scale, MidpointRounding.ToEven), 0, 255);
            return (scale, zero);
        }

        (string Name, float Scale) AddQdq(string tensor, string source, string dqOutput)
        {
            var (scale, zero) = Params(tensor);
            string stem = Stem(tensor);
            string s = ix.AddInitializer(stem + "_scale", Tensor.Scalar(scale));
            string z = ix.AddInitializer(stem + "_zero_point", Tensor.Create(DataType.UInt8, new[] { zero }));
            string q = ix.FreshName(stem + "_quantized");
            result.Add(new Node("QuantizeLinear", [source, s, z], [q], ix.FreshName(stem + "_QuantizeLinear")));
            result.Add(new Node("DequantizeLinear", [q, s, z], [dqOutput], ix.FreshName(stem + "_DequantizeLinear")));
            qdqParams[dqOutput] = (s, z);
            return (dqOutput, scale);
        }

        var handled = new HashSet<Node>();
        // Constant nodes first: an island re-emits a Relu/Clip next to its op, ahead of where the exporter put
        // the Clip bounds' Constant nodes, and inputless nodes are valid anywhere.
        foreach (var node in g.Nodes.Where(n => FusionHelpers.IsStandard(n, "Constant")).Concat(g.Nodes.Where(n => !FusionHelpers.IsStandard(n, "Constant"))))
        {
            if (handled.Contains(node)) continue;
            if (FusionHelpers.IsStandard(node, "MaxPool") && node.Outputs.Count == 1 && dequantized.TryGetValue(node.Inputs[0], out var pooled)
                && qdqParams.TryGetValue(pooled.Name, out var pp))
            {
                // Max commutes with the monotonic (de)quantization: the output keeps the input's scale and zero
                // point, so DQ -> MaxPool -> Q is a MaxPool on the integers for runtimes that see it.
                string pstem = Stem(node.Outputs[0]);
                string praw = ix.FreshName(pstem + "_raw"), pq = ix.FreshName(pstem + "_quantized");
                result.Add(new Node("MaxPool", [pooled.Name], [praw], node.Name, "", node.Attributes.Values));
                result.Add(new Node("QuantizeLinear", [praw, pp.Scale, pp.Zero], [pq], ix.FreshName(pstem + "_QuantizeLinear")));
                result.Add(new Node("DequantizeLinear", [pq, pp.Scale, pp.Zero], [node.Outputs[0]], ix.FreshName(pstem + "_DequantizeLinear")));
                dequantized[node.Outputs[0]] = (node.Outputs[0], pooled.Scale);
                qdqParams[node.Outputs[0]] = pp;
                continue;
            }
            if (Quantizable(node, ix, options) is not { } axis) { result.Add(node); continue; }
            string id = DynamicQuantization.LayerId(node), stem = Stem(id);
            string a = node.Inputs[0];
            if (!dequantized.TryGetValue(a, out var aq))
                dequantized[a] = aq = AddQdq(a, a, ix.FreshName(Stem(a) + "_dequantized"));

            var w = ix.ConstantValue(node.Inputs[1])!;
            int channels = w.Shape[axis];
            var (wq, ws) = QuantizeAxis(w, axis, options.PerChannel);
            int[] pShape = options.PerChannel ? [channels] : [];
            string wqName = ix.AddInitializer(stem + "_weight_quantized", Tensor.Create(DataType.Int8, wq, (int[])w.Shape.Clone()));
            string wsName = ix.AddInitializer(stem + "_weight_scale", Tensor.Create(ws, pShape));
            string wzName = ix.AddInitializer(stem + "_weight_zero_point", Tensor.Create(DataType.Int8, new sbyte[ws.Length], pShape));
            string wdq = ix.FreshName(stem + "_weight_dequantized");
            var wAttrs = options.PerChannel ? new[] { NodeAttribute.Of("axis", (long)axis) } : [];
            result.Add(new Node("DequantizeLinear", [wqName, wsName, wzName], [wdq], ix.FreshName(stem + "_weight_DequantizeLinear"), "", wAttrs));

            var inputs = new List<string>(node.Inputs) { [0] = aq.Name, [1] = wdq };
            // Bias as int32 at scale a_scale * w_scale (what QLinearConv expects); a 1-D constant [channels] only.
            // Read the initializer even when it is also a graph input (older exporters list them all): the
            // quantized model is a new model whose bias is the int32 tensor.
            if (node.OpType != "MatMul" && inputs.Count > 2 && ResolveInitializer(g, ix, inputs[2]) is { ElementType: DataType.Float, Rank: 1 } bias && bias.Length == channels)
            {
                var bs = bias.ReadOnlySpan<float>();
                var bq = new int[channels];
                var bScale = new float[channels];
                for (int c = 0; c < channels; c++)
                {
                    bScale[c] = aq.Scale * ws[options.PerChannel ? c : 0];
                    bq[c] = (int)Math.Clamp(Math.Round(bs[c] / (double)bScale[c], MidpointRounding.ToEven), int.MinValue, int.MaxValue);
                }
                string bqName = ix.AddInitializer(stem + "_bias_quantized", Tensor.Create(DataType.Int32, bq, channels));
                string bsName = ix.AddInitializer(stem + "_bias_scale", Tensor.Create(bScale, channels));
                string bzName = ix.AddInitializer(stem + "_bias_zero_point", Tensor.Create(DataType.Int32, new int[channels], channels));
                string bdq = ix.FreshName(stem + "_bias_dequantized");
                result.Add(new Node("DequantizeLinear", [bqName, bsName, bzName], [bdq], ix.FreshName(stem + "_bias_DequantizeLinear"), "", [NodeAttribute.Of("axis", 0L)]));
                inputs[2] = bdq;
            }
            string y = node.Outputs[0];
            string raw = ix.FreshName(stem + "_output");
            result.Add(new Node(node.OpType, inputs, [raw], node.Name, node.Domain, node.Attributes.Values));
            if (FollowingRelu(node, ix) is { } relu)
            {
                // op -> Relu -> Q -> DQ -> (Relu's readers): calibrated on the Relu output, whose zero point is 0.
                string reluRaw = ix.FreshName(Stem(relu.Outputs[0]) + "_raw");
                result.Add(new Node(relu.OpType, [raw, .. relu.Inputs.Skip(1)], [reluRaw], relu.Name, "", relu.Attributes.Values));
                handled.Add(relu);
                dequantized[relu.Outputs[0]] = AddQdq(relu.Outputs[0], reluRaw, relu.Outputs[0]);
            }
            else dequantized[y] = AddQdq(y, raw, y);
            layers.Add(new QuantizedLayer(id, node.OpType, 4L * w.Length, w.Length + 8L * ws.Length));
        }
        ReadQuantizedEverywhere(result, dequantized, ix);
        g.Nodes.Clear();
        g.Nodes.AddRange(result);
        // Float originals that no node reads any more leave the file.
        DeadCodeElimination.Sweep(g);
        g.ValueTypes.Clear();
        return layers;
    }

    /// <summary>
    /// Float readers of a quantized tensor that come after its DequantizeLinear read the dequantized value
    /// instead (as in ONNX Runtime's QDQ files), so e.g. a residual Add sees two DQ inputs and can run on the
    /// integers. Graph outputs keep their float values.
    /// </summary>
    private static void ReadQuantizedEverywhere(List<Node> nodes, Dictionary<string, (string Name, float Scale)> dequantized, GraphEditor ix)
    {
        var remap = dequantized.Where(kv => kv.Value.Name != kv.Key && !ix.IsGraphOutput(kv.Key)).ToDictionary(kv => kv.Key, kv => kv.Value.Name, StringComparer.Ordinal);
        var dqNames = remap.Values.ToHashSet(StringComparer.Ordinal);
        var ready = new HashSet<string>(StringComparer.Ordinal);
        foreach (var n in nodes)
        {
            for (int i = 0; i < n.Inputs.Count; i++)
                if (remap.TryGetValue(n.Inputs[i], out var dq) && ready.Contains(dq)) n.Inputs[i] = dq;
            foreach (var o in n.Outputs) if (dqNames.Contains(o)) ready.Add(o);
        }
    }

    /// <summary>An initializer by name, looking through Identity nodes (exporters share equal biases that way).</summary>
    private static Tensor? ResolveInitializer(Graph g, GraphEditor ix, string name)
    {
        for (int hops = 0; hops < 8; hops++)
        {
            if (g.Initializers.TryGetValue(name, out var t)) return t;
            if (ix.Producer(name) is not { } p || !FusionHelpers.IsStandard(p, "Identity")) return null;
            name = p.Inputs[0];
        }
        return null;
    }

    private static string Stem(string name) => name.Replace('/', '_').Replace(':', '_').Trim('_');

    /// <summary>
    /// Largest weight magnitude: 7 bits, as for dynamic quantization, so the integer kernel takes its single
    /// vpmaddubsw path (full-range weights need two per step).
    /// </summary>
    public const int WeightLimit = DynamicQuantization.WeightLimit;

    /// <summary>Symmetric int8 [-WeightLimit, WeightLimit] along <paramref name="axis"/> (or one scale for the tensor).</summary>
    public static (sbyte[] Q, float[] Scales) QuantizeAxis(Tensor w, int axis, bool perChannel)
    {
        var s = w.ReadOnlySpan<float>();
        int channels = w.Shape[axis];
        int inner = 1;
        for (int d = axis + 1; d < w.Rank; d++) inner *= w.Shape[d];
        var maxAbs = new float[perChannel ? channels : 1];
        for (int i = 0; i < s.Length; i++)
        {
            if (!float.IsFinite(s[i])) throw new OnnxException($"weight element {i} is {s[i]}; only finite weights can be quantized");
            int c = perChannel ? i / inner % channels : 0;
            maxAbs[c] = Math.Max(maxAbs[c], MathF.Abs(s[i]));
        }
        var scales = maxAbs.Select(m => m > 0 ? m / WeightLimit : 1f).ToArray();
        var q = new sbyte[s.Length];
        for (int i = 0; i < s.Length; i++)
            q[i] = (sbyte)Math.Clamp(MathF.Round(s[i] / scales[perChannel ? i / inner % channels : 0], MidpointRounding.ToEven), -WeightLimit, WeightLimit);
        return (q, scales);
    }
}
