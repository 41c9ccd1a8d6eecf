using NetOnnx.OnnxImport;
using NetOnnx.Optimizer;
using NetOnnx.Runtime;
using NetOnnx.Tools.Conformance;
using Xunit;
using static NetOnnx.Tests.IrBuilder;
using Ort = Microsoft.ML.OnnxRuntime;

namespace NetOnnx.Tests;

/// <summary>
/// Transpose folding into MatMul/Gemm and RMSNorm fusion on small graphs: what each rewrites (outputs equal
/// level None, where the unfused standard kernels run, and a naive reference for RMSNorm), what each must
/// leave alone, and that ONNX Runtime computes the same from the fused nodes' function bodies.
/// </summary>
public class MatMulNormFusionTests
{
    private static NodeAttribute Perm(params long[] p) => NodeAttribute.Of("perm", p);

    private static Dictionary<string, Tensor> Feeds(Model m, int seed = 3)
    {
        var rng = new Random(seed);
        return m.Graph.Inputs.ToDictionary(i => i.Name,
            i => RandomFloats(rng, ((TensorType)i.Type!).Shape!.Select(d => (int)d.Value).ToArray()));
    }

    private static List<string> OpsAfter(Func<Model> build) =>
        AssertSameOutputs(build, Feeds(build())).Graph.Nodes.Select(n => (n.Domain.Length > 0 ? n.Domain + "." : "") + n.OpType).ToList();

    /// <summary>Optimises at level All, writes with function bodies, runs in ONNX Runtime; compares with level None here.</summary>
    private static void AssertOrtAgrees(Func<Model> build)
    {
        var feeds = Feeds(build());
        var none = RunAt(build, OptimizationLevel.None, feeds, out _);
        var m = build();
        PassManager.CreateDefault().Run(m, OptimizationLevel.All);
        Assert.Contains(m.Graph.Nodes, n => n.Domain == FusedOps.Domain);
        InternalOpFunctions.Attach(m);
        using var so = new Ort.SessionOptions { GraphOptimizationLevel = Ort.GraphOptimizationLevel.ORT_DISABLE_ALL };
        using var session = new Ort.InferenceSession(OnnxModelWriter.ToBytes(m), so);
        var ortFeeds = feeds.ToDictionary(kv => kv.Key, kv => OrtValues.From(kv.Value));
        using var results = session.Run(new Ort.RunOptions(), ortFeeds, session.OutputNames);
        foreach (var (name, r) in session.OutputNames.Zip(results))
        {
            var want = Tensor.Create(none[name].Values, none[name].Shape);
            Assert.Null(TensorComparer.Compare(want, OrtValues.To(r), 1e-5, 1e-5));
        }
        foreach (var v in ortFeeds.Values) v.Dispose();
    }

    // ---- Transpose folding ----

    [Fact]
    public void TwoDimensionalMatMulOverTransposedOperandsBecomesGemm()
    {
        Model Build() => Model([F("a", 3, 4), F("b", 5, 3)], [F("y", 4, 5)],
            [N("Transpose", ["a"], ["at"], Perm(1, 0)), N("Transpose", ["b"], ["bt"]), N("MatMul", ["at", "bt"], ["y"])]);
        Assert.Equal(["Gemm"], OpsAfter(Build));
        var g = AssertSameOutputs(Build, Feeds(Build())).Graph.Nodes.Single();
        Assert.Equal((1L, 1L), (g.GetInt("transA", 0), g.GetInt("transB", 0)));
    }

    [Fact]
    public void GemmTogglesItsTransposeFlags()
    {
        Model Build() => Model([F("a", 3, 4), F("b", 4, 5)], [F("y", 3, 5)],
            [N("Transpose", ["a"], ["at"], Perm(1, 0)), N("Gemm", ["at", "b", "c"], ["y"], NodeAttribute.Of("transA", 1L), NodeAttribute.Of("alpha", 0.5f))],
            new Dictionary<string, Tensor> { ["c"] = Tensor.Create(new[] { 1f, 2, 3, 4, 5 }, 5) });
        var n = AssertSameOutputs(Build, Feeds(Build())).Graph.Nodes.Single();
        Assert.Equal(("Gemm", 0L, 0.5f), (n.OpType, n.GetInt("transA", 0), n.GetFloat("alpha", 1)));
    }

    [Fact]
    public void BatchedMatMulBecomesFusedMatMulAndOrtAgrees()
    {
        // A read transposed against a shared 2-D B: the batches of A may not be merged into one tall product.
        Model SharedB() => Model([F("a", 2, 4, 3), F("b", 4, 5)], [F("y", 2, 3, 5)],
            [N("Transpose", ["a"], ["at"], Perm(0, 2, 1)), N("MatMul", ["at", "b"], ["y"])]);
        Assert.Equal(["com.netonnx.FusedMatMul"], OpsAfter(SharedB));
        AssertOrtAgrees(SharedB);
        // B transposed, broadcast batch dims.
        Model Batched() => Model([F("a", 2, 1, 3, 4), F("b", 3, 6, 4)], [F("y", 2, 3, 3, 6)],
            [N("Transpose", ["b"], ["bt"], Perm(0, 2, 1)), N("MatMul", ["a", "bt"], ["y"])]);
        Assert.Equal(["com.netonnx.FusedMatMul"], OpsAfter(Batched));
        AssertOrtAgrees(Batched);
    }

    [Fact]
    public void TransposesThatAreNotALastTwoSwapOrAreSharedAreLeftAlone()
    {
        // Permutes a batch axis too.
        Model OtherPerm() => Model([F("a", 2, 3, 4), F("b", 1, 3, 5)], [F("y", 4, 2, 5)],
            [N("Transpose", ["a"], ["at"], Perm(2, 0, 1)), N("MatMul", ["at", "b"], ["y"])]);
        Assert.Contains("Transpose", OpsAfter(OtherPerm));
        // The transposed value is also a graph output.
        Model Shared() => Model([F("a", 3, 4), F("b", 3, 5)], [F("y", 4, 5), F("at", 4, 3)],
            [N("Transpose", ["a"], ["at"], Perm(1, 0)), N("MatMul", ["at", "b"], ["y"])]);
        Assert.Equal(["Transpose", "MatMul"], OpsAfter(Shared));
        // A 1-D operand: MatMul promotes it, so the product is not a plain 2-D one.
        Model Vector() => Model([F("a", 3, 4), F("v", 3)], [F("y", 4)],
            [N("Transpose", ["a"], ["at"], Perm(1, 0)), N("MatMul", ["at", "v"], ["y"])]);
        Assert.Equal(["Transpose", "MatMul"], OpsAfter(Vector));
    }

    // ---- RMSNorm ----

    private static Dictionary<string, Tensor> RmsConsts(int d, float eps = 1e-6f) => new()
    {
        ["two"] = Tensor.Scalar(2f), ["eps"] = Tensor.Create(new[] { eps }, 1), ["one"] = Tensor.Scalar(1f),
        ["scale"] = Tensor.Create(Enumerable.Range(0, d).Select(i => 0.5f + 0.25f * i).ToArray(), d),
    };

    private static NodeAttribute Axes(params long[] a) => NodeAttribute.Of("axes", a);

    [Fact]
    public void PowDivScaleFormFusesAndMatchesNaiveReference()
    {
        Model Build() => Model([F("x", 2, 3, 4)], [F("y", 2, 3, 4)],
        [
            N("Pow", ["x", "two"], ["sq"]), N("ReduceMean", ["sq"], ["ms"], Axes(-1)), N("Add", ["ms", "eps"], ["e"]),
            N("Sqrt", ["e"], ["r"]), N("Div", ["x", "r"], ["n"]), N("Mul", ["scale", "n"], ["y"]),
        ], RmsConsts(4), opset: 17);
        Assert.Equal(["com.netonnx.RMSNormalization"], OpsAfter(Build));

        var feeds = Feeds(Build());
        var got = RunAt(Build, OptimizationLevel.All, feeds, out _)["y"].Values;
        var x = feeds["x"].ToArray<float>();
        var scale = RmsConsts(4)["scale"].ToArray<float>();
        for (int row = 0; row < 6; row++)
        {
            double ms = 0;
            for (int j = 0; j < 4; j++) ms += (double)x[row * 4 + j] * x[row * 4 + j];
            double inv = 1 / Math.Sqrt(ms / 4 + 1e-6);
            for (int j = 0; j < 4; j++)
                Assert.True(Math.Abs(x[row * 4 + j] * inv * scale[j] - got[row * 4 + j]) < 1e-5, $"row {row} col {j}");
        }
        AssertOrtAgrees(Build);
    }

    [Fact]
    public void ReciprocalFormsFuseWithAndWithoutScale()
    {
        // x * Reciprocal(r), no scale: fused with a scale of ones.
        Model NoScale() => Model([F("x", 3, 8)], [F("y", 3, 8)],
        [
            N("Mul", ["x", "x"], ["sq"]), N("ReduceMean", ["sq"], ["ms"], Axes(1)), N("Add", ["eps", "ms"], ["e"]),
            N("Sqrt", ["e"], ["r"]), N("Reciprocal", ["r"], ["inv"]), N("Mul", ["inv", "x"], ["y"]),
        ], RmsConsts(8), opset: 17);
        Assert.Equal(["com.netonnx.RMSNormalization"], OpsAfter(NoScale));
        // x * (1 / r) * scale at opset 23, where RMSNormalization is a standard op (ReduceMean's axes an input).
        Model Standard() => Model([F("x", 3, 8)], [F("y", 3, 8)],
        [
            N("Mul", ["x", "x"], ["sq"]), N("ReduceMean", ["sq", "axes"], ["ms"]), N("Add", ["ms", "eps"], ["e"]),
            N("Sqrt", ["e"], ["r"]), N("Div", ["one", "r"], ["inv"]), N("Mul", ["x", "inv"], ["n"]), N("Mul", ["n", "scale"], ["y"]),
        ], new Dictionary<string, Tensor>(RmsConsts(8)) { ["axes"] = Tensor.Create(new[] { -1L }, 1) }, opset: 23);
        Assert.Equal(["RMSNormalization"], OpsAfter(Standard));
    }

    [Fact]
    public void NearMissRmsPatternsAreLeftAlone()
    {
        // Mean over a leading axis: not a row normalisation.
        Model Leading() => Model([F("x", 3, 4)], [F("y", 3, 4)],
        [
            N("Pow", ["x", "two"], ["sq"]), N("ReduceMean", ["sq"], ["ms"], Axes(0)), N("Add", ["ms", "eps"], ["e"]),
            N("Sqrt", ["e"], ["r"]), N("Div", ["x", "r"], ["y"]),
        ], RmsConsts(4), opset: 17);
        Assert.DoesNotContain("com.netonnx.RMSNormalization", OpsAfter(Leading));
        // The mean square is also a graph output.
        Model Shared() => Model([F("x", 3, 4)], [F("y", 3, 4), F("ms", 3, 1)],
        [
            N("Pow", ["x", "two"], ["sq"]), N("ReduceMean", ["sq"], ["ms"], Axes(-1)), N("Add", ["ms", "eps"], ["e"]),
            N("Sqrt", ["e"], ["r"]), N("Div", ["x", "r"], ["y"]),
        ], RmsConsts(4), opset: 17);
        Assert.DoesNotContain("com.netonnx.RMSNormalization", OpsAfter(Shared));
        // A scale that broadcasts the result to a larger shape: fuse the normalisation, keep the Mul.
        Model Broadcasting() => Model([F("x", 3, 4)], [F("y", 2, 3, 4)],
        [
            N("Pow", ["x", "two"], ["sq"]), N("ReduceMean", ["sq"], ["ms"], Axes(-1)), N("Add", ["ms", "eps"], ["e"]),
            N("Sqrt", ["e"], ["r"]), N("Div", ["x", "r"], ["n"]), N("Mul", ["n", "big"], ["y"]),
        ], new Dictionary<string, Tensor>(RmsConsts(4)) { ["big"] = Tensor.Create(new float[24].Select((_, i) => i * 0.1f).ToArray(), 2, 3, 4) }, opset: 17);
        Assert.Equal(["com.netonnx.RMSNormalization", "Mul"], OpsAfter(Broadcasting));
    }
}
