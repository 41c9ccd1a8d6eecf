using NetOnnx.Optimizer.Patterns;
using NetOnnx.Runtime;

namespace NetOnnx.Optimizer.Passes;

internal static class FusionHelpers
{
    public static bool IsStandard(Node n, string op) => n.OpType == op && n.Domain.Length == 0;

    public static bool Near(float v, double expected, double relTol = 1e-4) =>
        Math.Abs(v - expected) <= relTol * Math.Max(1e-6, Math.Abs(expected));

    /// <summary>For a binary node with one operand equal to <paramref name="known"/>, the other operand; else null.</summary>
    public static string? Other(Node n, string known) =>
        n.Inputs.Count != 2 ? null : n.Inputs[0] == known ? n.Inputs[1] : n.Inputs[1] == known ? n.Inputs[0] : null;

    /// <summary>A Conv whose weights are a constant float tensor and whose bias, if any, is a constant [M].</summary>
    public static bool IsFoldableConv(Node conv, GraphEditor ix, out Tensor w, out Tensor? b)
    {
        w = null!; b = null;
        if (!IsStandard(conv, "Conv") || conv.Outputs.Count != 1 || conv.Inputs.Count < 2) return false;
        if (ix.ConstantValue(conv.Inputs[1]) is not { ElementType: DataType.Float, Rank: >= 3 } wt || wt.Shape[0] == 0) return false;
        w = wt;
        if (conv.Inputs.Count > 2 && conv.Inputs[2].Length > 0)
        {
            if (ix.ConstantValue(conv.Inputs[2]) is not { ElementType: DataType.Float, Rank: 1 } bt || bt.Shape[0] != wt.Shape[0]) return false;
            b = bt;
        }
        return true;
    }

    /// <summary>
    /// The per-output-channel values of a constant that broadcasts against a Conv output of the given rank
    /// only along the channel axis (shapes like [M,1,1], [1,M,1,1], [1] or a scalar); null otherwise.
    /// </summary>
    public static float[]? PerChannel(Tensor c, int outRank, int channels)
    {
        if (c.ElementType != DataType.Float || c.Rank > outRank) return null;
        int channelAxis = c.Rank - (outRank - 1); // index in c of the output's axis 1
        int count = 1;
        for (int i = 0; i < c.Rank; i++)
        {
            if (i == channelAxis) count = c.Shape[i];
            else if (c.Shape[i] != 1) return null;
        }
        if (count != 1 && count != channels) return null;
        var src = c.ReadOnlySpan<float>();
        var r = new float[channels];
        for (int i = 0; i < channels; i++) r[i] = count == 1 ? src[0] : src[i];
        return r;
    }

    /// <summary>Replaces a Conv's weights and bias with new initializers.</summary>
    public static void SetConvParams(Node conv, GraphEditor ix, Tensor w, Tensor b)
    {
        conv.Inputs[1] = ix.AddInitializer(conv.Inputs[1] + "_folded", w);
        var bName = ix.AddInitializer((conv.Inputs.Count > 2 && conv.Inputs[2].Length > 0 ? conv.Inputs[2] : conv.Inputs[1]) + "_bias", b);
        if (conv.Inputs.Count > 2) conv.Inputs[2] = bName; else conv.Inputs.Add(bName);
    }

    /// <summary>Scales each output channel of W by s[oc] and maps B to B*s + add (B = 0 when absent).</summary>
    public static (Tensor W, Tensor B) ScaleShift(Tensor w, Tensor? b, float[] scale, float[] add)
    {
        int m = w.Shape[0], per = w.Length / m;
        var ws = w.ReadOnlySpan<float>();
        var nw = new float[w.Length];
        for (int oc = 0; oc < m; oc++)
            for (int j = 0; j < per; j++) nw[oc * per + j] = ws[oc * per + j] * scale[oc];
        var nb = new float[m];
        for (int oc = 0; oc < m; oc++) nb[oc] = (b is null ? 0f : b.ReadOnlySpan<float>()[oc]) * scale[oc] + add[oc];
        return (Tensor.Create(nw, (int[])w.Shape.Clone()), Tensor.Create(nb, m));
    }

    /// <summary>Fills in value types (shape inference) so passes can check ranks and shapes; best effort.</summary>
    public static void InferTypes(Model model)
    {
        try { ShapeInference.InferGraph(model.Graph, model); }
        catch (OnnxException) { /* The session reports inconsistent shapes with context; passes just see fewer types. */ }
    }

    public static TensorType? TensorTypeOf(Graph g, string name) => name.Length == 0 ? null : g.TypeOf(name) as TensorType;

    /// <summary>Both shapes fully known to be the same (equal sizes, or the same named symbol).</summary>
    public static bool SameShape(TensorType? a, TensorType? b)
    {
        if (a?.Shape is null || b?.Shape is null || a.Shape.Length != b.Shape.Length) return false;
        for (int i = 0; i < a.Shape.Length; i++)
        {
            Dim x = a.Shape[i], y = b.Shape[i];
            if (x.IsKnown && y.IsKnown) { if (x.Value != y.Value) return false; }
            else if (x.IsKnown || y.IsKnown || string.IsNullOrEmpty(x.Symbol) || x.Symbol != y.Symbol) return false;
        }
        return true;
    }

    /// <summary>The first reduced axis, when ReduceMean keeps dims and reduces a trailing run of axes; else null.</summary>
    public static int? TrailingAxis(GraphEditor fg, Node reduce, int? rank)
    {
        if (reduce.GetInt("keepdims", 1) != 1) return null;
        long[]? axes = reduce.GetInts("axes");
        if (axes is null && reduce.Inputs.Count > 1 && reduce.Inputs[1].Length > 0)
        {
            if (fg.ConstantValue(reduce.Inputs[1]) is not { ElementType: DataType.Int64 } t) return null;
            axes = t.ReadOnlySpan<long>().ToArray();
        }
        if (axes is null || axes.Length == 0) return null; // All axes, or noop_with_empty_axes: not a row normalisation.
        var sorted = axes.Order().ToArray();
        bool negative = sorted.All(a => a < 0), positive = sorted.All(a => a >= 0);
        if (negative)
        {
            // [-k, ..., -1]
            for (int i = 0; i < sorted.Length; i++) if (sorted[i] != -sorted.Length + i) return null;
            return (int)sorted[0];
        }
        if (!positive || rank is null) return null;
        for (int i = 0; i < sorted.Length; i++) if (sorted[i] != rank - sorted.Length + i) return null;
        return (int)sorted[0] - rank.Value;
    }

    /// <summary>Marks the model as using the fused-kernel domain.</summary>
    public static void ImportFusedDomain(Model model) => model.Opsets.TryAdd(Runtime.Operators.Fused.FusedDomain.Name, 1);
}
