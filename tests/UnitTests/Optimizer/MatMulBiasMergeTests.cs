using NetOnnx.OnnxImport;
using NetOnnx.Optimizer;
using NetOnnx.Optimizer.Passes;
using NetOnnx.Runtime;
using NetOnnx.Runtime.Operators.Fused;
using NetOnnx.Tools.Conformance;
using Xunit;
using static NetOnnx.Tests.IrBuilder;
using Ort = Microsoft.ML.OnnxRuntime;

namespace NetOnnx.Tests;

/// <summary>
/// MatMulBiasMerge: projections of one input (MatMul + bias, as Q/K/V are written) become one MatMulBias over
/// concatenated weights and one Slice per output; each output checked against a naive double-precision product
/// (tolerance 1e-4 * (1 + |y|)), and against ONNX Runtime running the exported model; what must stay apart.
/// </summary>
public class MatMulBiasMergeTests
{
    private const int B = 2, S = 9, K = 20;

    /// <summary>x [2, 9, 20] -> one MatMul + Add (+ activation) per width in <paramref name="widths"/>, outputs y0, y1, ...</summary>
    private static Model Projections(int[] widths, string?[]? activations = null, long opset = 17)
    {
        var rng = new Random(widths.Sum());
        var init = new Dictionary<string, Tensor>();
        var nodes = new List<Node>();
        var outputs = new List<ValueInfo>();
        for (int i = 0; i < widths.Length; i++)
        {
            int n = widths[i];
            init[$"W{i}"] = RandomFloats(rng, K, n);
            init[$"b{i}"] = RandomFloats(rng, n);
            nodes.Add(N("MatMul", ["x", $"W{i}"], [$"mm{i}"]));
            string? act = activations?[i];
            nodes.Add(N("Add", [$"mm{i}", $"b{i}"], [act is null ? $"y{i}" : $"lin{i}"]));
            if (act is not null) nodes.Add(N(act, [$"lin{i}"], [$"y{i}"]));
            outputs.Add(F($"y{i}", B, S, n));
        }
        return Model([F("x", B, S, K)], outputs, nodes, init, opset);
    }

    private static double[] Naive(Model m, float[] x, int i, Func<double, double>? act = null)
    {
        var w = m.Graph.Initializers[$"W{i}"].ToArray<float>();
        var bias = m.Graph.Initializers[$"b{i}"].ToArray<float>();
        int n = bias.Length;
        var y = new double[B * S * n];
        for (int r = 0; r < B * S; r++)
            for (int j = 0; j < n; j++)
            {
                double s = bias[j];
                for (int p = 0; p < K; p++) s += (double)x[r * K + p] * w[p * n + j];
                y[r * n + j] = act is null ? s : act(s);
            }
        return y;
    }

    private static void Close(double[] expected, float[] got, string what)
    {
        Assert.Equal(expected.Length, got.Length);
        for (int i = 0; i < got.Length; i++)
            if (!(Math.Abs(got[i] - expected[i]) <= 1e-4 * (1 + Math.Abs(expected[i]))))
                Assert.Fail($"{what}[{i}]: got {got[i]}, expected {expected[i]}");
    }

    private static List<string> Ops(Model m) => m.Graph.Nodes.Select(n => n.OpType).ToList();

    [Theory]
    [InlineData(17L)]
    [InlineData(10L)] // Slice axes must be non-negative before opset 11
    [InlineData(9L)] // Slice bounds are attributes before opset 10
    public void SiblingProjectionsBecomeOneMatMulBiasAndSlices(long opset)
    {
        int[] widths = [16, 24, 8];
        Model Build() => Projections(widths, opset: opset);
        var x = RandomFloats(new Random(2), B, S, K);
        var feeds = new Dictionary<string, Tensor> { ["x"] = x };
        var optimized = AssertSameOutputs(Build, feeds);
        Assert.Equal(["MatMulBias", "Slice", "Slice", "Slice"], Ops(optimized));
        var mm = optimized.Graph.Nodes[0];
        Assert.Equal([K, 48], optimized.Graph.Initializers[mm.Inputs[1]].Shape);

        foreach (int threads in new[] { 1, 2 })
        {
            using var s = new InferenceSession(Build(), new SessionOptions { OptimizationLevel = OptimizationLevel.All, IntraOpThreads = threads });
            var r = s.Run(feeds);
            for (int i = 0; i < widths.Length; i++) Close(Naive(Build(), x.ToArray<float>(), i), r[$"y{i}"].ToArray<float>(), $"t={threads} y{i}");
        }

        // Exported with the fused node's function body, ONNX Runtime computes the same outputs.
        var export = Build();
        PassManager.CreateDefault().Run(export, OptimizationLevel.All);
        InternalOpFunctions.Attach(export);
        using var so = new Ort.SessionOptions { GraphOptimizationLevel = Ort.GraphOptimizationLevel.ORT_DISABLE_ALL };
        using var ort = new Ort.InferenceSession(OnnxModelWriter.ToBytes(export), so);
        using var input = OrtValues.From(x);
        using var results = ort.Run(new Ort.RunOptions(), new Dictionary<string, Ort.OrtValue> { ["x"] = input }, ort.OutputNames);
        foreach (var (name, value) in ort.OutputNames.Zip(results))
            Close(Naive(Build(), x.ToArray<float>(), int.Parse(name[1..])), OrtValues.To(value).ToArray<float>(), $"ORT {name}");
    }

    [Fact]
    public void SiblingsWithTheSameActivationMergeAndKeepIt()
    {
        Model Build() => Projections([12, 12], ["Relu", "Relu"]);
        var x = RandomFloats(new Random(3), B, S, K);
        var optimized = AssertSameOutputs(Build, new() { ["x"] = x });
        Assert.Equal(["MatMulBias", "Slice", "Slice"], Ops(optimized));
        Assert.Equal("Relu", optimized.Graph.Nodes[0].GetString("activation", ""));
        using var s = new InferenceSession(Build(), new SessionOptions { OptimizationLevel = OptimizationLevel.All });
        var r = s.Run(new Dictionary<string, Tensor> { ["x"] = x });
        for (int i = 0; i < 2; i++) Close(Naive(Build(), x.ToArray<float>(), i, v => Math.Max(v, 0)), r[$"y{i}"].ToArray<float>(), $"y{i}");
    }

    [Fact]
    public void DifferentActivationsOrWideWeightsStayApart()
    {
        var x = new Dictionary<string, Tensor> { ["x"] = RandomFloats(new Random(4), B, S, K) };
        var optimized = AssertSameOutputs(() => Projections([12, 12], [null, "Relu"]), x);
        Assert.Equal(["MatMulBias", "MatMulBias"], Ops(optimized));
        optimized = AssertSameOutputs(() => Projections([MatMulBiasMerge.MaxColumns + 1, 8]), x);
        Assert.Equal(["MatMulBias", "MatMulBias"], Ops(optimized));
        Assert.All(optimized.Graph.Nodes, n => Assert.Equal(FusedDomain.Name, n.Domain));
        // Only one of the siblings fits: nothing to merge it with.
        optimized = AssertSameOutputs(() => Projections([MatMulBiasMerge.MaxColumns + 1, 8, 8]), x);
        Assert.Equal(["MatMulBias", "MatMulBias", "Slice", "Slice"], Ops(optimized));
    }
}
