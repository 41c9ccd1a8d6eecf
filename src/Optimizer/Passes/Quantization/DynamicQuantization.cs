using NetOnnx.Optimizer.Patterns;
using NetOnnx.Runtime;

namespace NetOnnx.Optimizer.Passes.Quantization;

/// <summary>Options of <see cref="DynamicQuantization"/>.</summary>
public sealed record DynamicQuantizationOptions
{
    /// <summary>One weight scale per output column instead of one per tensor.</summary>
    public bool PerChannel { get; init; }
    /// <summary>Node names or op types left in float.</summary>
    public IReadOnlySet<string> Exclude { get; init; } = new HashSet<string>(StringComparer.Ordinal);
    /// <summary>Also store constant Gather tables (embeddings) as int8 with per-row scales (file size only).</summary>
    public bool QuantizeGatherTables { get; init; } = true;
}

/// <summary>One layer the quantizer changed: its id (node name, else first output), op type and weight bytes.</summary>
public sealed record QuantizedLayer(string Id, string OpType, long FloatBytes, long QuantizedBytes);

/// <summary>
/// Offline dynamic quantization, written as standard ONNX that ONNX Runtime loads: each MatMul (and Gemm with
/// alpha = beta = 1, no transA) whose B is a constant float matrix becomes
/// DynamicQuantizeLinear(A) -> MatMulInteger(Aq, Wq, Azp, 0) -> Cast(float) -> Mul(·, Mul(A_scale, W_scale)) [-> Add(C)],
/// the form ONNX Runtime's quantize_dynamic emits; one DynamicQuantizeLinear serves every MatMul reading the
/// same A. Weights are symmetric int8 restricted to [-63, 63] (7 bits, like ONNX Runtime's reduce_range) so
/// the vpmaddubsw kernel never saturates its int16 pair sums; scales per tensor or per output column.
/// Constant Gather tables become int8 + DequantizeLinear (8 bits, per row), which constant folding turns back
/// into float at load: the file shrinks, the run does not change.
/// </summary>
public static class DynamicQuantization
{
    /// <summary>Largest weight magnitude after quantization (7-bit scheme).</summary>
    public const int WeightLimit = 63;

    public static List<QuantizedLayer> Apply(Model model, DynamicQuantizationOptions options)
    {
        long opset = model.OpsetFor("");
        if (opset < 11) throw new OnnxException($"dynamic quantization needs ai.onnx opset >= 11 (DynamicQuantizeLinear); the model imports {opset}");
        var g = model.Graph;
        var ix = new GraphEditor(g);
        var layers = new List<QuantizedLayer>();
        var quantizedInputs = new Dictionary<string, (string Q, string Scale, string Zero)>(StringComparer.Ordinal);
        var result = new List<Node>();
        foreach (var node in g.Nodes)
        {
            string id = LayerId(node);
            bool excluded = options.Exclude.Contains(id) || options.Exclude.Contains(node.OpType) || node.Domain.Length != 0;
            if (!excluded && MatMulWeights(node, ix, out var w, out string? bias))
            {
                string a = node.Inputs[0];
                if (!quantizedInputs.TryGetValue(a, out var aq))
                {
                    aq = (ix.FreshName(a + "_quantized"), ix.FreshName(a + "_scale"), ix.FreshName(a + "_zero_point"));
                    quantizedInputs[a] = aq;
                    result.Add(new Node("DynamicQuantizeLinear", [a], [aq.Q, aq.Scale, aq.Zero], ix.FreshName(a + "_QuantizeLinear")));
                }
                int k = w.Shape[0], n = w.Shape[1];
                var (q, scales) = QuantizeColumns(w.ReadOnlySpan<float>(), k, n, options.PerChannel);
                int[] paramShape = options.PerChannel ? [n] : [];
                string stem = id.Replace('/', '_').Trim('_');
                string wq = ix.AddInitializer(stem + "_weight_quantized", Tensor.Create(DataType.Int8, q, k, n));
                string ws = ix.AddInitializer(stem + "_weight_scale", Tensor.Create(scales, paramShape));
                string wz = ix.AddInitializer(stem + "_weight_zero_point", Tensor.Create(DataType.Int8, new sbyte[scales.Length], paramShape));
                string acc = ix.FreshName(stem + "_MatMulInteger_output");
                string accF = ix.FreshName(stem + "_cast_output");
                string scale = ix.FreshName(stem + "_scale");
                string y = node.Outputs[0];
                string product = bias is null ? y : ix.FreshName(stem + "_dequantized");
                result.Add(new Node("MatMulInteger", [aq.Q, wq, aq.Zero, wz], [acc], ix.FreshName(stem + "_MatMulInteger")));
                result.Add(new Node("Cast", [acc], [accF], ix.FreshName(stem + "_cast"), "", [NodeAttribute.Of("to", (long)DataType.Float)]));
                result.Add(new Node("Mul", [aq.Scale, ws], [scale], ix.FreshName(stem + "_scale_mul")));
                result.Add(new Node("Mul", [accF, scale], [product], ix.FreshName(stem + "_output_scale_mul")));
                if (bias is not null) result.Add(new Node("Add", [product, bias], [y], ix.FreshName(stem + "_bias_add")));
                layers.Add(new QuantizedLayer(id, node.OpType, 4L * k * n, (long)k * n + 8L * scales.Length));
                continue;
            }
            if (!excluded && options.QuantizeGatherTables && FusionHelpers.IsStandard(node, "Gather") && node.GetInt("axis", 0) == 0
                && ix.ConstantValue(node.Inputs[0]) is { ElementType: DataType.Float, Rank: 2 } table && table.Length >= 1024)
            {
                int rows = table.Shape[0], cols = table.Shape[1];
                bool perRow = opset >= 13;
                var (q, scales) = QuantizeRows(table.ReadOnlySpan<float>(), rows, cols, perRow);
                int[] paramShape = perRow ? [rows] : [];
                string stem = id.Replace('/', '_').Trim('_');
                string tq = ix.AddInitializer(stem + "_table_quantized", Tensor.Create(DataType.Int8, q, rows, cols));
                string ts = ix.AddInitializer(stem + "_table_scale", Tensor.Create(scales, paramShape));
                string tz = ix.AddInitializer(stem + "_table_zero_point", Tensor.Create(DataType.Int8, new sbyte[scales.Length], paramShape));
                string deq = ix.FreshName(stem + "_table");
                var attrs = perRow ? new[] { NodeAttribute.Of("axis", 0L) } : [];
                result.Add(new Node("DequantizeLinear", [tq, ts, tz], [deq], ix.FreshName(stem + "_DequantizeLinear"), "", attrs));
                var gather = new Node(node.OpType, node.Inputs, node.Outputs, node.Name, node.Domain, node.Attributes.Values);
                gather.Inputs[0] = deq;
                result.Add(gather);
                layers.Add(new QuantizedLayer(id, node.OpType, 4L * rows * cols, (long)rows * cols + 5L * scales.Length));
                continue;
            }
            result.Add(node);
        }
        g.Nodes.Clear();
        g.Nodes.AddRange(result);
        // Float originals that no node reads any more leave the file.
        DeadCodeElimination.Sweep(g);
        g.ValueTypes.Clear();
        return layers;
    }

    /// <summary>How layers are named in reports and exclude lists: the node name, else its first output.</summary>
    public static string LayerId(Node n) => n.Name.Length > 0 ? n.Name : n.Outputs.FirstOrDefault() ?? n.OpType;

    /// <summary>Whether the node is a MatMul/Gemm this pass handles; w is B as [K, N], bias Gemm's C (constant or not).</summary>
    private static bool MatMulWeights(Node node, GraphEditor ix, out Tensor w, out string? bias)
    {
        w = null!; bias = null;
        if (node.Outputs.Count != 1) return false;
        if (FusionHelpers.IsStandard(node, "MatMul") && node.Inputs.Count == 2)
        {
            if (ix.ConstantValue(node.Inputs[1]) is not { ElementType: DataType.Float, Rank: 2 } b || ix.ConstantValue(node.Inputs[0]) is not null) return false;
            w = b;
            return true;
        }
        if (FusionHelpers.IsStandard(node, "Gemm") && node.Inputs.Count >= 2)
        {
            if (node.GetInt("transA", 0) != 0 || node.GetFloat("alpha", 1f) != 1f || node.GetFloat("beta", 1f) != 1f) return false;
            if (ix.ConstantValue(node.Inputs[1]) is not { ElementType: DataType.Float, Rank: 2 } b || ix.ConstantValue(node.Inputs[0]) is not null) return false;
            w = node.GetInt("transB", 0) != 0 ? Transpose(b) : b;
            if (node.Inputs.Count > 2 && node.Inputs[2].Length > 0)
            {
                // Gemm's C broadcasts onto [M, N]; a plain Add does the same for [N], [1, N] and [M, N].
                if (ix.ConstantValue(node.Inputs[2]) is { } c && c.Rank == 0) return false;
                bias = node.Inputs[2];
            }
            return true;
        }
        return false;
    }

    private static Tensor Transpose(Tensor b)
    {
        int r = b.Shape[0], c = b.Shape[1];
        var s = b.ReadOnlySpan<float>();
        var t = new float[r * c];
        for (int i = 0; i < r; i++)
            for (int j = 0; j < c; j++) t[j * r + i] = s[i * c + j];
        return Tensor.Create(t, c, r);
    }

    /// <summary>Symmetric 7-bit quantization of W [K, N]: one scale per column or one for all.</summary>
    public static (sbyte[] Q, float[] Scales) QuantizeColumns(ReadOnlySpan<float> w, int k, int n, bool perChannel)
    {
        var maxAbs = new float[perChannel ? n : 1];
        for (int r = 0; r < k; r++)
            for (int c = 0; c < n; c++)
            {
                float v = MathF.Abs(w[r * n + c]);
                if (!float.IsFinite(v)) throw new OnnxException($"weight [{r}, {c}] is {w[r * n + c]}; only finite weights can be quantized");
                ref float m = ref maxAbs[perChannel ? c : 0];
                if (v > m) m = v;
            }
        var scales = maxAbs.Select(m => m > 0 ? m / WeightLimit : 1f).ToArray();
        var q = new sbyte[k * n];
        for (int r = 0; r < k; r++)
            for (int c = 0; c < n; c++)
                q[r * n + c] = Round(w[r * n + c] / scales[perChannel ? c : 0], WeightLimit);
        return (q, scales);
    }

    /// <summary>Symmetric 8-bit quantization of a table [rows, cols] with a scale per row (or one).</summary>
    public static (sbyte[] Q, float[] Scales) QuantizeRows(ReadOnlySpan<float> t, int rows, int cols, bool perRow)
    {
        var maxAbs = new float[perRow ? rows : 1];
        for (int r = 0; r < rows; r++)
            for (int c = 0; c < cols; c++)
            {
                float v = MathF.Abs(t[r * cols + c]);
                if (!float.IsFinite(v)) throw new OnnxException($"table value [{r}, {c}] is {t[r * cols + c]}; only finite values can be quantized");
                ref float m = ref maxAbs[perRow ? r : 0];
                if (v > m) m = v;
            }
        var scales = maxAbs.Select(m => m > 0 ? m / 127f : 1f).ToArray();
        var q = new sbyte[rows * cols];
        for (int r = 0; r < rows; r++)
            for (int c = 0; c < cols; c++)
                q[r * cols + c] = Round(t[r * cols + c] / scales[perRow ? r : 0], 127);
        return (q, scales);
    }

    private static sbyte Round(float x, int limit) => (sbyte)Math.Clamp(MathF.Round(x, MidpointRounding.ToEven), -limit, limit);
}
