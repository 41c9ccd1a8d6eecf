using NetOnnx.Optimizer.Patterns;
using NetOnnx.Runtime;

namespace NetOnnx.Optimizer.Passes;

/// <summary>
/// A Transpose that only swaps the last two dimensions of a MatMul or Gemm operand is folded into the product,
/// which then reads the operand transposed (SGEMM handles both layouts, so the copy disappears):
/// Gemm toggles transA/transB; a MatMul whose operands are both 2-D becomes a Gemm with those flags, any other
/// becomes com.netonnx FusedMatMul. Left alone: other permutations, operands whose rank is unknown or below 2
/// (MatMul promotes 1-D operands), non-float products, and Transposes whose output is read elsewhere or is a
/// graph output (the copy would stay, so nothing is gained).
/// </summary>
public sealed class TransposeMatMulFolding : IGraphPass
{
    public string Name => "TransposeMatMulFolding";
    public OptimizationLevel Level => OptimizationLevel.Extended;
    public bool EmitsInternalOps => true;

    public PassResult Run(Model model)
    {
        var g = model.Graph;
        if (!g.Nodes.Any(n => n.OpType == "Transpose" && n.Domain.Length == 0)) return PassResult.Unchanged;
        FusionHelpers.InferTypes(model);
        var ed = new GraphEditor(g);
        int folded = 0;
        foreach (var n in g.Nodes.ToList())
        {
            if (ed.IsRemoved(n) || n.Inputs.Count < 2 || n.Outputs.Count != 1) continue;
            bool isGemm = n.OpType == "Gemm" && n.Domain.Length == 0;
            bool isMatMul = n.OpType == "MatMul" && n.Domain.Length == 0 && n.Inputs.Count == 2;
            bool isFused = n.OpType == "FusedMatMul" && n.Domain == FusedOps.Domain;
            if (!isGemm && !isMatMul && !isFused) continue;
            if (ed.TensorTypeOf(n.Outputs[0])?.ElementType != DataType.Float) continue;
            int ra = Rank(ed, n.Inputs[0]), rb = Rank(ed, n.Inputs[1]);
            if (ra < 2 || rb < 2 || (isGemm && (ra != 2 || rb != 2))) continue;

            var ta = SwapOfLastTwo(ed, n.Inputs[0], ra);
            var tb = SwapOfLastTwo(ed, n.Inputs[1], rb);
            if (ta is null && tb is null) continue;
            bool transA = n.GetInt("transA", 0) != 0 ^ ta is not null;
            bool transB = n.GetInt("transB", 0) != 0 ^ tb is not null;
            var a = ta?.Inputs[0] ?? n.Inputs[0];
            var b = tb?.Inputs[0] ?? n.Inputs[1];

            Node product;
            if (isMatMul && ra == 2 && rb == 2 && model.OpsetFor("") >= 11) // Gemm's C is optional from opset 11
                product = new Node("Gemm", [a, b], n.Outputs, n.Name, "", Flags(transA, transB));
            else if (isMatMul)
            {
                FusionHelpers.ImportFusedDomain(model);
                product = new Node("FusedMatMul", [a, b], n.Outputs, n.Name, FusedOps.Domain, Flags(transA, transB));
            }
            else
            {
                product = new Node(n.OpType, n.Inputs, n.Outputs, n.Name, n.Domain, n.Attributes.Values) { Overload = n.Overload };
                product.Inputs[0] = a;
                product.Inputs[1] = b;
                product.Attributes["transA"] = NodeAttribute.Of("transA", transA ? 1L : 0L);
                product.Attributes["transB"] = NodeAttribute.Of("transB", transB ? 1L : 0L);
            }
            ed.Replace(n, product);
            if (ta is not null) ed.Remove(ta);
            if (tb is not null && !ReferenceEquals(ta, tb)) ed.Remove(tb);
            folded += (ta is null ? 0 : 1) + (tb is null || ReferenceEquals(ta, tb) ? 0 : 1);
        }
        var r = ed.Commit();
        return r with { Detail = folded > 0 ? $"{folded} transposes folded into MatMul/Gemm" : null };
    }

    private static NodeAttribute[] Flags(bool transA, bool transB) =>
        [NodeAttribute.Of("transA", transA ? 1L : 0L), NodeAttribute.Of("transB", transB ? 1L : 0L)];

    private static int Rank(GraphEditor ed, string value) => ed.TensorTypeOf(value)?.Shape?.Length ?? -1;

    /// <summary>The Transpose producing <paramref name="value"/> when it swaps only the last two of its rank dimensions and nothing else reads it.</summary>
    private static Node? SwapOfLastTwo(GraphEditor ed, string value, int rank)
    {
        if (ed.Producer(value) is not { OpType: "Transpose", Domain: "" } t || t.Inputs.Count != 1 || t.Outputs.Count != 1) return null;
        if (!ed.HasSingleConsumer(value)) return null;
        // No perm attribute reverses the dimensions, which is the swap exactly when the rank is 2.
        var perm = t.GetInts("perm") ?? (rank == 2 ? [1, 0] : null);
        if (perm is null || perm.Length != rank) return null;
        for (int i = 0; i < rank - 2; i++) if (perm[i] != i) return null;
        return perm[rank - 2] == rank - 1 && perm[rank - 1] == rank - 2 ? t : null;
    }
}
