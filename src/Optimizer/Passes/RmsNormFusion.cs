using NetOnnx.Optimizer.Patterns;
using NetOnnx.Runtime;

namespace NetOnnx.Optimizer.Passes;

/// <summary>
/// Fuses the primitive RMS normalisation exporters emit,
/// y = x / Sqrt(ReduceMean(x^2) + eps) [* scale], over trailing axes, into one RMSNormalization node (ai.onnx
/// from opset 23, the internal domain before). x^2 may be Pow(x, 2) or x * x; the division may be
/// Div(x, r), x * Reciprocal(r) or x * (1 / r). ReduceMean must keep dims; scale must be a constant that
/// does not broadcast the result to a larger shape (without it the scale is ones over the last dimension).
/// </summary>
public sealed class RmsNormFusion : IGraphPass
{
    public string Name => "RmsNormFusion";
    public bool EmitsInternalOps => true;
    public OptimizationLevel Level => OptimizationLevel.Extended;

    private static readonly Pattern[] s_normalized = BuildNormalized();

    public PassResult Run(Model model)
    {
        var g = model.Graph;
        if (!g.Nodes.Any(n => n.OpType == "ReduceMean" && n.Domain.Length == 0)) return PassResult.Unchanged;
        FusionHelpers.InferTypes(model);
        var ed = new GraphEditor(g);
        int fused = 0;
        // With a scale first, so a scaled normalisation is not fused without its Mul.
        foreach (var norm in s_normalized)
            foreach (var root in new[] { Pattern.Op("Mul", norm, Pattern.Const("scale")).Commutative(), norm })
                foreach (var m in ((OpPattern)root).MatchAll(ed).ToList())
                    if (TryFuse(ed, model, m)) fused++;
        if (fused == 0) return PassResult.Unchanged;
        return ed.Commit(detail: $"{fused} RMSNormalization");
    }

    private static Pattern[] BuildNormalized()
    {
        Pattern[] squares =
        [
            Pattern.Op("Pow", Pattern.Any("x"), Pattern.Const(null, t => IsScalar(t, 2))),
            Pattern.Op("Mul", Pattern.Any("x"), Pattern.Any("x")),
        ];
        var list = new List<Pattern>();
        foreach (var sq in squares)
        {
            Pattern Rms() => Pattern.Op("Sqrt",
                Pattern.Op("Add", Pattern.Op("ReduceMean", sq).AllowExtraInputs().As("mean"), Pattern.Const("eps", t => IsScalar(t, null))).Commutative());
            list.Add(Pattern.Op("Div", Pattern.Any("x"), Rms()));
            list.Add(Pattern.Op("Mul", Pattern.Any("x"), Pattern.Op("Reciprocal", Rms())).Commutative());
            list.Add(Pattern.Op("Mul", Pattern.Any("x"), Pattern.Op("Div", Pattern.Const(null, t => IsScalar(t, 1)), Rms())).Commutative());
        }
        return list.ToArray();
    }

    /// <summary>A one-element float constant of rank 0 or 1 (equal to <paramref name="value"/> when given).</summary>
    private static bool IsScalar(Tensor t, float? value) =>
        t.ElementType == DataType.Float && t.Length == 1 && t.Rank <= 1 && (value is null || t.ReadOnlySpan<float>()[0] == value);

    private static bool TryFuse(GraphEditor ed, Model model, PatternMatch m)
    {
        string x = m["x"];
        if (ed.TensorTypeOf(x) is not { ElementType: DataType.Float, Shape: { } shape }) return false;
        var mean = m.Node("mean");
        if (FusionHelpers.TrailingAxis(ed, mean, shape.Length) is not { } axis) return false;
        int normRank = -axis;
        string scale;
        if (m.TryGetValue("scale", out var s))
        {
            // The scale may only broadcast within the normalised dimensions, or the fused node's output would be smaller.
            var st = ed.ConstantValue(s)!;
            if (st.ElementType != DataType.Float || st.Rank > normRank) return false;
            for (int i = 0; i < st.Rank; i++)
            {
                var d = shape[shape.Length - st.Rank + i];
                if (st.Shape[i] != 1 && !(d.IsKnown && d.Value == st.Shape[i])) return false;
            }
            scale = s;
        }
        else
        {
            if (normRank != 1 || !shape[^1].IsKnown) return false;
            int dim = (int)shape[^1].Value;
            scale = ed.FreshName(x + "_rms_scale");
            ed.Graph.Initializers[scale] = Tensor.Create(Enumerable.Repeat(1f, dim).ToArray(), dim);
        }
        float eps = ed.ConstantValue(m["eps"])!.ReadOnlySpan<float>()[0];
        bool standard = model.OpsetFor("") >= 23;
        if (!standard) FusionHelpers.ImportFusedDomain(model);
        var root = m.Root;
        var rms = new Node("RMSNormalization", [x, scale], root.Outputs, root.Name.Length > 0 ? root.Name + "_rms" : "",
            standard ? "" : FusedOps.Domain, [NodeAttribute.Of("axis", (long)axis), NodeAttribute.Of("epsilon", eps)]);
        foreach (var n in m.Nodes) if (!ReferenceEquals(n, root)) ed.Remove(n);
        ed.Replace(root, rms);
        return true;
    }
}
