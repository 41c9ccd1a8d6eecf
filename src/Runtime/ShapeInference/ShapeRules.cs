using NetOnnx.Kernels;

namespace NetOnnx.Runtime;

/// <summary>Per-op type and shape rules used by <see cref="ShapeInference"/>.</summary>
public static class ShapeRules
{
    private static readonly HashSet<string> s_sameAsFirst = new(StringComparer.Ordinal)
    {
        "Relu", "LeakyRelu", "Sigmoid", "Tanh", "Exp", "Log", "Sqrt", "Neg", "Abs", "Erf", "Softmax", "LogSoftmax",
        "Identity", "Dropout", "Clip", "Elu", "Selu", "HardSigmoid", "HardSwish", "Softplus", "Softsign", "Gelu",
        "BatchNormalization", "InstanceNormalization", "LayerNormalization", "LRN", "Reciprocal", "Floor", "Ceil",
        "Round", "Sin", "Cos", "Tan", "Sign", "Mish", "Celu", "ThresholdedRelu", "Shrink", "PRelu", "CumSum",
        "MeanVarianceNormalization", "Hardmax", "Not", "IsNaN", "IsInf",
    };

    private static readonly HashSet<string> s_broadcast = new(StringComparer.Ordinal)
    {
        "Add", "Sub", "Mul", "Div", "Pow", "Max", "Min", "Sum", "Mean", "Mod", "And", "Or", "Xor", "Equal", "Less",
        "Greater", "LessOrEqual", "GreaterOrEqual", "BitShift", "BitwiseAnd", "BitwiseOr", "BitwiseXor", "Where",
    };

    private static readonly HashSet<string> s_boolResult = new(StringComparer.Ordinal)
    {
        "Equal", "Less", "Greater", "LessOrEqual", "GreaterOrEqual", "And", "Or", "Xor", "Not", "IsNaN", "IsInf",
    };

    public static TensorType?[] Infer(Node node, OnnxType?[] inputs, Func<string, Tensor?> constant, int opset)
    {
        var outs = new TensorType?[node.Outputs.Count];
        if (node.Domain == FusedOps.Domain) return InferFused(node, inputs, outs);
        if (node.Domain.Length != 0 || outs.Length == 0) return outs;
        TensorType? In(int i) => i < inputs.Length ? inputs[i] as TensorType : null;
        var x = In(0);
        string op = node.OpType;

        if (s_broadcast.Contains(op))
        {
            var ts = inputs.OfType<TensorType>().ToArray();
            if (ts.Length != inputs.Length || ts.Length == 0) return outs;
            var et = op == "Where" ? ts[Math.Min(1, ts.Length - 1)].ElementType : ts[0].ElementType;
            if (s_boolResult.Contains(op)) et = DataType.Bool;
            // Opset 1-6 broadcast=1 broadcasts B onto A (possibly at an axis): the output has A's shape.
            if (opset < 7 && ts.Length == 2 && node.GetInt("broadcast", 0) != 0) { outs[0] = new TensorType(et, ts[0].Shape); return outs; }
            outs[0] = new TensorType(et, BroadcastDims(ts.Select(t => t.Shape).ToArray()));
            return outs;
        }
        if (s_sameAsFirst.Contains(op) && x is not null)
        {
            outs[0] = s_boolResult.Contains(op) ? x with { ElementType = DataType.Bool } : x;
            return outs;
        }
        switch (op)
        {
            case "Cast" when x is not null:
            {
                // Opset 1 names the target type as a string ("FLOAT"); later opsets use the enum value.
                var to = node.Attributes.TryGetValue("to", out var a) && a.Kind == AttributeKind.String
                    ? Enum.GetValues<DataType>().FirstOrDefault(t => t != DataType.Undefined && string.Equals(t.OnnxName(), a.String, StringComparison.OrdinalIgnoreCase))
                    : (DataType)node.GetInt("to", 1);
                if (to != DataType.Undefined && Enum.IsDefined(to)) outs[0] = new TensorType(to, x.Shape);
                break;
            }
            case "Resize" or "Upsample" or "ConvTranspose" when x is not null:
                // Sizes depend on scales or output_shape the planner may not know; the element type and rank are
                // still the input's, which is what kernel selection (and device placement) downstream needs.
                outs[0] = new TensorType(x.ElementType, x.Shape is null ? null : Enumerable.Repeat(Dim.Unknown, x.Shape.Length).ToArray());
                break;
            case "CastLike" when x is not null && In(1) is { } like:
                outs[0] = new TensorType(like.ElementType, x.Shape);
                break;
            case "Constant" when node.GetTensor("value") is { } v:
                outs[0] = FromShape(v.ElementType, v.Shape);
                break;
            case "Shape" when x is not null:
                outs[0] = new TensorType(DataType.Int64, x.Shape is null ? [Dim.Unknown] : [Dim.Known(ShapeSliceLength(node, x.Shape.Length))]);
                break;
            case "MatMul" when x is not null && In(1) is { } b && x.Shape is { } sa && b.Shape is { } sb && sa.Length >= 1 && sb.Length >= 1:
            {
                var batchA = sa.Length > 2 ? sa[..^2] : [];
                var batchB = sb.Length > 2 ? sb[..^2] : [];
                var dims = new List<Dim>(BroadcastDims([batchA, batchB]) ?? []);
                if (sa.Length >= 2) dims.Add(sa[^2]);
                if (sb.Length >= 2) dims.Add(sb[^1]);
                outs[0] = new TensorType(x.ElementType, dims.ToArray());
                break;
            }
            case "Gemm" when x is not null && In(1) is { } b && x.Shape is { Length: 2 } sa && b.Shape is { Length: 2 } sb:
                outs[0] = new TensorType(x.ElementType, [node.GetInt("transA", 0) != 0 ? sa[1] : sa[0], node.GetInt("transB", 0) != 0 ? sb[0] : sb[1]]);
                break;
            case "Transpose" when x?.Shape is { } s:
            {
                var perm = node.GetInts("perm") ?? Enumerable.Range(0, s.Length).Reverse().Select(i => (long)i).ToArray();
                if (perm.Length == s.Length) outs[0] = new TensorType(x.ElementType, perm.Select(p => s[p]).ToArray());
                break;
            }
            case "Flatten" when x?.Shape is { } s && s.All(d => d.IsKnown):
            {
                // Flatten's axis lies in [-r, r]; a negative one counts from the input rank, not r + 1.
                long rawAxis = node.GetInt("axis", 1);
                int axis = ShapeMath.Axis(rawAxis < 0 ? rawAxis + s.Length : rawAxis, s.Length + 1);
                long a = 1, b2 = 1;
                for (int i = 0; i < s.Length; i++) if (i < axis) a *= s[i].Value; else b2 *= s[i].Value;
                outs[0] = new TensorType(x.ElementType, [Dim.Known(a), Dim.Known(b2)]);
                break;
            }
            case "Reshape" when x is not null && node.Inputs.Count > 1 && constant(node.Inputs[1]) is { } shapeT:
            {
                var target = shapeT.ToInt64Array();
                var src = x.Shape;
                bool allowZero = node.GetInt("allowzero", 0) != 0;
                var dims = new Dim[target.Length];
                long known = 1; int minus = -1;
                for (int i = 0; i < target.Length; i++)
                {
                    if (target[i] == 0 && !allowZero) dims[i] = src is not null && i < src.Length ? src[i] : Dim.Unknown;
                    else if (target[i] == -1) { minus = i; continue; }
                    else dims[i] = Dim.Known(target[i]);
                    if (dims[i].IsKnown) known *= dims[i].Value; else known = -1;
                }
                if (minus >= 0)
                {
                    long total = src is not null && src.All(d => d.IsKnown) ? src.Aggregate(1L, (p, d) => p * d.Value) : -1;
                    dims[minus] = total >= 0 && known > 0 ? Dim.Known(total / known) : Dim.Unknown;
                }
                outs[0] = new TensorType(x.ElementType, dims);
                break;
            }
            case "Conv" or "MaxPool" or "AveragePool" or "LpPool" when x?.Shape is { Length: >= 3 } s:
                outs[0] = new TensorType(x.ElementType, PoolLikeShape(node, s, op == "Conv" ? In(1)?.Shape : null));
                if (op == "MaxPool" && outs.Length > 1) outs[1] = new TensorType(DataType.Int64, outs[0]!.Shape);
                break;
            case "GlobalAveragePool" or "GlobalMaxPool" or "GlobalLpPool" when x?.Shape is { Length: >= 3 } s:
                outs[0] = new TensorType(x.ElementType, s.Select((d, i) => i < 2 ? d : Dim.Known(1)).ToArray());
                break;
            case "Concat" when inputs.All(i => i is TensorType { Shape: not null }) && inputs.Length > 0:
            {
                var ts = inputs.Cast<TensorType>().ToArray();
                int rank = ts[0].Shape!.Length;
                int axis = ShapeMath.Axis(node.GetInt("axis", opset < 4 ? 1 : 0), rank); // Concat-1 defaults to axis 1
                var dims = (Dim[])ts[0].Shape!.Clone();
                long sum = 0;
                foreach (var t in ts) { var d = t.Shape![axis]; sum = d.IsKnown && sum >= 0 ? sum + d.Value : -1; }
                dims[axis] = sum >= 0 ? Dim.Known(sum) : Dim.Unknown;
                outs[0] = new TensorType(ts[0].ElementType, dims);
                break;
            }
            case "Unsqueeze" when x?.Shape is { } s:
            {
                var axes = opset >= 13 ? (node.Inputs.Count > 1 ? constant(node.Inputs[1])?.ToInt64Array() : null) : node.GetInts("axes");
                if (axes is null) break;
                int r = s.Length + axes.Length;
                var norm = axes.Select(a => ShapeMath.Axis(a, r)).ToHashSet();
                var dims = new Dim[r];
                for (int i = 0, j = 0; i < r; i++) dims[i] = norm.Contains(i) ? Dim.Known(1) : s[j++];
                outs[0] = new TensorType(x.ElementType, dims);
                break;
            }
            case "Squeeze" when x?.Shape is { } s:
            {
                bool axesInput = opset >= 13 && node.Inputs.Count > 1 && node.Inputs[1].Length > 0;
                var axes = opset >= 13 ? (axesInput ? constant(node.Inputs[1])?.ToInt64Array() : null) : node.GetInts("axes");
                // Axes computed at run time: the output rank is unknown here.
                if (axesInput && axes is null) break;
                HashSet<int> drop;
                if (axes is null || axes.Length == 0)
                {
                    if (!s.All(d => d.IsKnown)) break;
                    drop = Enumerable.Range(0, s.Length).Where(i => s[i].Value == 1).ToHashSet();
                }
                else drop = axes.Select(a => ShapeMath.Axis(a, s.Length)).ToHashSet();
                outs[0] = new TensorType(x.ElementType, s.Where((_, i) => !drop.Contains(i)).ToArray());
                break;
            }
            case "Gather" when x?.Shape is { } s && In(1)?.Shape is { } idx:
            {
                int axis = ShapeMath.Axis(node.GetInt("axis", 0), s.Length);
                outs[0] = new TensorType(x.ElementType, [.. s[..axis], .. idx, .. s[(axis + 1)..]]);
                break;
            }
            case "ReduceMean" or "ReduceSum" or "ReduceMax" or "ReduceMin" or "ReduceProd" or "ReduceL2" or "ReduceL1"
                or "ReduceLogSumExp" or "ReduceSumSquare" or "ReduceLogSum" when x?.Shape is { } s:
            {
                bool axesAsInput = op == "ReduceSum" ? opset >= 13 : opset >= 18;
                long[]? axes = axesAsInput ? (node.Inputs.Count > 1 && node.Inputs[1].Length > 0 ? constant(node.Inputs[1])?.ToInt64Array() : []) : node.GetInts("axes") ?? [];
                if (axes is null) break;
                bool keep = node.GetInt("keepdims", 1) != 0;
                if (axes.Length == 0 && node.GetInt("noop_with_empty_axes", 0) != 0) { outs[0] = x; break; }
                var set = axes.Length == 0 ? Enumerable.Range(0, s.Length).ToHashSet() : axes.Select(a => ShapeMath.Axis(a, s.Length)).ToHashSet();
                var dims = new List<Dim>();
                for (int i = 0; i < s.Length; i++)
                    if (!set.Contains(i)) dims.Add(s[i]); else if (keep) dims.Add(Dim.Known(1));
                outs[0] = new TensorType(x.ElementType, dims.ToArray());
                break;
            }
        }
        if (outs[0] is null) DataMovementTypes(node, inputs, outs);
        return outs;
    }

    private static readonly HashSet<string> s_dataMovement = new(StringComparer.Ordinal)
    {
        "Reshape", "Flatten", "Squeeze", "Unsqueeze", "Transpose", "Concat", "Split", "Slice", "Gather", "GatherElements",
        "GatherND", "ScatterElements", "Scatter", "ScatterND", "Expand", "Tile", "Pad", "Compress", "Unique", "TopK", "Trilu",
        "CumProd", "SpaceToDepth", "DepthToSpace", "ReverseSequence", "CenterCropPad", "Range",
    };

    /// <summary>
    /// Element types (shape left unknown) for data-movement ops whose shapes depend on values or were not
    /// worked out above, so later nodes still see their input types when kernels are picked.
    /// </summary>
    private static void DataMovementTypes(Node node, OnnxType?[] inputs, TensorType?[] outs)
    {
        var first = inputs.Length > 0 ? inputs[0] as TensorType : null;
        switch (node.OpType)
        {
            case "Size" or "NonZero":
                outs[0] = new TensorType(DataType.Int64, node.OpType == "Size" ? Array.Empty<Dim>() : null);
                return;
            case "ConstantOfShape":
                outs[0] = new TensorType(node.GetTensor("value")?.ElementType ?? DataType.Float, null);
                return;
            case "EyeLike" when first is not null:
                outs[0] = new TensorType(node.HasAttr("dtype") ? (DataType)node.GetInt("dtype", 1) : first.ElementType, first.Shape);
                return;
            case "OneHot" when inputs.Length > 2 && inputs[2] is TensorType values:
                outs[0] = new TensorType(values.ElementType, null);
                return;
        }
        if (first is null || !s_dataMovement.Contains(node.OpType)) return;
        for (int i = 0; i < outs.Length; i++)
        {
            bool indices = node.OpType == "TopK" && i == 1 || node.OpType == "Unique" && i > 0;
            outs[i] = new TensorType(indices ? DataType.Int64 : first.ElementType, null);
        }
    }

    private static int ShapeSliceLength(Node node, int rank)
    {
        long start = node.GetInt("start", 0), end = node.GetInt("end", rank);
        if (start < 0) start += rank;
        if (end < 0) end += rank;
        start = Math.Clamp(start, 0, rank);
        end = Math.Clamp(end, 0, rank);
        return (int)Math.Max(0, end - start);
    }

    private static TensorType FromShape(DataType t, int[] shape) => new(t, shape.Select(d => Dim.Known(d)).ToArray());

    private static Dim[]? BroadcastDims(Dim[]?[] shapes)
    {
        if (shapes.Any(s => s is null)) return null;
        int r = shapes.Max(s => s!.Length);
        var o = new Dim[r];
        for (int i = 0; i < r; i++)
        {
            Dim acc = Dim.Known(1);
            foreach (var s in shapes)
            {
                int k = i - (r - s!.Length);
                if (k < 0) continue;
                var d = s[k];
                if (d.IsKnown && d.Value == 1) continue;
                if (acc.IsKnown && acc.Value == 1) acc = d;
                else if (d.IsKnown && acc.IsKnown && d.Value != acc.Value)
                    throw new ArgumentException($"dimension {i}: {acc.Value} and {d.Value} cannot be broadcast");
                else if (!acc.IsKnown && d.IsKnown) acc = d;
            }
            o[i] = acc;
        }
        return o;
    }

    private static Dim[] PoolLikeShape(Node node, Dim[] x, Dim[]? w)
    {
        int spatial = x.Length - 2;
        var kernel = node.GetInts("kernel_shape") ?? (w is not null && w.Length == x.Length && w.Skip(2).All(d => d.IsKnown) ? w.Skip(2).Select(d => d.Value).ToArray() : null);
        var outDims = new Dim[x.Length];
        outDims[0] = x[0];
        outDims[1] = w is not null ? w[0] : x[1];
        if (kernel is null || kernel.Length != spatial) { for (int i = 2; i < x.Length; i++) outDims[i] = Dim.Unknown; return outDims; }
        var strides = node.GetInts("strides") is { Length: > 0 } st ? st : Enumerable.Repeat(1L, spatial).ToArray();
        var dil = node.GetInts("dilations") is { Length: > 0 } dl ? dl : Enumerable.Repeat(1L, spatial).ToArray();
        var pads = node.GetInts("pads") is { Length: > 0 } pd ? pd : new long[2 * spatial];
        string autoPad = node.GetString("auto_pad", "NOTSET");
        bool ceil = node.GetInt("ceil_mode", 0) != 0;
        for (int i = 0; i < spatial; i++)
        {
            var d = x[i + 2];
            if (!d.IsKnown) { outDims[i + 2] = Dim.Unknown; continue; }
            long ek = (kernel[i] - 1) * dil[i] + 1;
            long o;
            if (autoPad is "SAME_UPPER" or "SAME_LOWER") o = (d.Value + strides[i] - 1) / strides[i];
            else if (autoPad == "VALID") o = (d.Value - ek) / strides[i] + 1;
            else
            {
                long num = d.Value + pads[i] + pads[i + spatial] - ek;
                o = (ceil ? (num + strides[i] - 1) / strides[i] : num / strides[i]) + 1;
                if (ceil && (o - 1) * strides[i] >= d.Value + pads[i]) o--;
            }
            outDims[i + 2] = Dim.Known(o);
        }
        return outDims;
    }

    /// <summary>The optimizer's fused operators: element-wise or row-wise ones keep input 0's type and shape.</summary>
    private static TensorType?[] InferFused(Node node, OnnxType?[] inputs, TensorType?[] outs)
    {
        if (inputs.Length == 0 || inputs[0] is not TensorType x) return outs;
        switch (node.OpType)
        {
            case "Gelu" or "LayerNormalization" or "RMSNormalization":
                outs[0] = x;
                break;
            case "FusedMatMul" when inputs.Length > 1 && inputs[1] is TensorType b && x.Shape is { Length: >= 2 } sa && b.Shape is { Length: >= 2 } sb:
            {
                bool ta = node.GetInt("transA", 0) != 0, tb = node.GetInt("transB", 0) != 0;
                var dims = new List<Dim>(BroadcastDims([sa[..^2], sb[..^2]]) ?? []) { ta ? sa[^1] : sa[^2], tb ? sb[^2] : sb[^1] };
                outs[0] = new TensorType(x.ElementType, dims.ToArray());
                break;
            }
            case "SkipLayerNormalization":
                for (int i = 0; i < outs.Length; i++) outs[i] = x;
                break;
            case "DynamicQuantizeMatMul" or "SparseMatMul" or "MatMulBias":
                // A [..., K] times B [K, N]: A's shape with B's last dimension, float.
                if (inputs.Length > 1 && inputs[1] is TensorType { Shape: { Length: 2 } bs } && x.Shape is { Length: >= 1 } xs)
                    outs[0] = new TensorType(DataType.Float, [.. xs[..^1], bs[1]]);
                else outs[0] = new TensorType(DataType.Float, null);
                break;
            case "ScaledDotProductAttention":
                // Q [..., M, D] times K^T [..., D, N] times V [..., N, Dv]: Q's shape with V's last dimension.
                if (inputs.Length > 2 && inputs[2] is TensorType v && x.Shape is { Length: >= 2 } qs && v.Shape is { Length: >= 2 } vs && qs.Length == vs.Length)
                    outs[0] = new TensorType(x.ElementType, [.. qs[..^1], vs[^1]]);
                else outs[0] = new TensorType(x.ElementType, null);
                break;
        }
        return outs;
    }
}
