using NetOnnx.Kernels.Elementwise;
using NetOnnx.Kernels.Gemm;
using NetOnnx.OnnxImport;
using NetOnnx.Optimizer;
using NetOnnx.Runtime;
using NetOnnx.Runtime.Operators.Fused;
using NetOnnx.Tools.Conformance;
using Xunit;
using static NetOnnx.Tests.IrBuilder;
using Ort = Microsoft.ML.OnnxRuntime;

namespace NetOnnx.Tests;

/// <summary>
/// Gelu (erf form and tanh approximation) applied in the SGEMM epilogue, and the fusion that puts a transformer's
/// MatMul + bias + Gelu chain there: checked against Gelu(MatMul + bias) in double precision with an erf written
/// here (a positive-term series, no cancellation), tolerance 2e-4 * (1 + |y|) (float accumulation over K plus the
/// ~3e-7 of the vector erf/tanh); and ONNX Runtime runs the fused node's exported function body to the same values.
/// </summary>
public class GeluEpilogueTests
{
    /// <summary>erf(x) = 2/sqrt(pi) e^(-x^2) sum_n 2^n x^(2n+1) / (1*3*...*(2n+1)); all terms positive for x > 0.</summary>
    internal static double Erf(double x)
    {
        double ax = Math.Abs(x);
        if (ax > 6) return Math.Sign(x);
        double term = ax, sum = ax;
        for (int n = 1; term > 1e-17 * sum; n++)
        {
            term *= 2 * ax * ax / (2 * n + 1);
            sum += term;
        }
        return Math.Sign(x) * 2 / Math.Sqrt(Math.PI) * Math.Exp(-ax * ax) * sum;
    }

    internal static double Gelu(double x, bool tanh) => tanh
        ? 0.5 * x * (1 + Math.Tanh(Math.Sqrt(2 / Math.PI) * (x + 0.044715 * x * x * x)))
        : 0.5 * x * (1 + Erf(x / Math.Sqrt(2)));

    private static float[] Rand(Random r, int n, double scale = 1) =>
        Enumerable.Range(0, n).Select(_ => (float)((r.NextDouble() * 2 - 1) * scale)).ToArray();

    private static void Close(double expected, float got, string what)
    {
        if (!(Math.Abs(got - expected) <= 2e-4 * (1 + Math.Abs(expected))))
            Assert.Fail($"{what}: got {got}, expected {expected}");
    }

    [Fact]
    public void ReferenceErfMatchesKnownValues()
    {
        // Abramowitz & Stegun table 7.1.
        Assert.Equal(0.0, Erf(0), 15);
        Assert.Equal(0.5204998778, Erf(0.5), 9);
        Assert.Equal(0.8427007929, Erf(1), 9);
        Assert.Equal(-0.9953222650, Erf(-2), 9);
        Assert.Equal(0.9999779095, Erf(3), 9);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void GeluEpilogueMatchesNaiveGeluOfMatMulPlusBias(bool tanh)
    {
        var act = new FusedActivation(tanh ? ActivationKind.GeluTanh : ActivationKind.Gelu);
        var rng = new Random(tanh ? 21 : 20);
        // Off-tile sizes, full 8x32 tiles (the AVX-512 store path), K across the 256 block, 1 and 2 threads.
        (int M, int N, int K)[] shapes = [(1, 5, 7), (7, 33, 19), (8, 32, 64), (9, 70, 300), (128, 1024, 256), (130, 256, 513)];
        foreach (var (m, n, k) in shapes)
        {
            var a = Rand(rng, m * k, 2);
            var b = Rand(rng, k * n, 1.5 / Math.Sqrt(k));
            var bias = Rand(rng, n);
            var expected = new double[m * n];
            for (int i = 0; i < m; i++)
                for (int j = 0; j < n; j++)
                {
                    double s = bias[j];
                    for (int p = 0; p < k; p++) s += (double)a[i * k + p] * b[p * n + j];
                    expected[i * n + j] = Gelu(s, tanh);
                }
            var packed = Sgemm.PackB(false, k, n, b, n);
            foreach (int threads in new[] { 1, 2 })
            {
                var got = new float[m * n];
                Sgemm.Multiply(m, a, k, packed, got, n, bias, act, threads);
                for (int i = 0; i < got.Length; i++) Close(expected[i], got[i], $"packed {m}x{n}x{k} t={threads} [{i}]");
                // B read at run time: C starts at the bias rows and the activation runs after the last K block.
                var c = new float[m * n];
                for (int i = 0; i < m; i++) bias.CopyTo(c, i * n);
                Sgemm.Multiply(false, false, m, n, k, 1f, a, k, b, n, 1f, c, n, default, default, 0, act, threads);
                for (int i = 0; i < c.Length; i++) Close(expected[i], c[i], $"unpacked {m}x{n}x{k} t={threads} [{i}]");
            }
        }
    }

    [Fact]
    public void ScalarAndVectorGeluAgree()
    {
        // The tail of a span (not a multiple of the vector width) goes through the scalar form.
        var x = Enumerable.Range(0, 37).Select(i => (i - 18) * 0.31f).ToArray();
        foreach (var kind in new[] { ActivationKind.Gelu, ActivationKind.GeluTanh })
        {
            var y = (float[])x.Clone();
            new FusedActivation(kind).Apply(y);
            for (int i = 0; i < x.Length; i++) Close(Gelu(x[i], kind == ActivationKind.GeluTanh), y[i], $"{kind} x={x[i]}");
            Assert.Equal(kind, FusedActivation.Parse(kind.ToString(), null).Kind);
        }
    }

    private const int Bt = 2, S = 5, K = 24, Nn = 40;

    /// <summary>x [2, 5, 24] · W + bias, then Gelu as an exporter writes it: primitive erf or tanh chain, or ai.onnx Gelu.</summary>
    private static Model Projection(string form)
    {
        var rng = new Random(5);
        var init = new Dictionary<string, Tensor>
        {
            ["W"] = Tensor.Create(Rand(rng, K * Nn, 0.4), K, Nn),
            ["bias"] = Tensor.Create(Rand(rng, Nn), Nn),
        };
        Tensor Scalar(float v) => Tensor.Create([v]);
        var nodes = new List<Node> { N("MatMul", ["x", "W"], ["mm"]), N("Add", ["mm", "bias"], ["lin"]) };
        long opset = 17;
        switch (form)
        {
            case "erf":
                init["sqrt2"] = Scalar(MathF.Sqrt(2f)); init["one"] = Scalar(1f); init["half"] = Scalar(0.5f);
                nodes.AddRange([N("Div", ["lin", "sqrt2"], ["d"]), N("Erf", ["d"], ["e"]), N("Add", ["e", "one"], ["e1"]),
                    N("Mul", ["lin", "e1"], ["xe"]), N("Mul", ["xe", "half"], ["y"])]);
                break;
            case "tanh":
                init["three"] = Scalar(3f); init["c"] = Scalar(0.044715f); init["k"] = Scalar(MathF.Sqrt(2f / MathF.PI));
                init["one"] = Scalar(1f); init["half"] = Scalar(0.5f);
                nodes.AddRange([N("Pow", ["lin", "three"], ["cube"]), N("Mul", ["cube", "c"], ["cc"]), N("Add", ["lin", "cc"], ["poly"]),
                    N("Mul", ["poly", "k"], ["pk"]), N("Tanh", ["pk"], ["t"]), N("Add", ["t", "one"], ["t1"]),
                    N("Mul", ["lin", "t1"], ["xt"]), N("Mul", ["xt", "half"], ["y"])]);
                break;
            default: // "op-none" or "op-tanh": the ai.onnx Gelu of opset 20
                opset = 20;
                nodes.Add(N("Gelu", ["lin"], ["y"], NodeAttribute.Of("approximate", form[3..])));
                break;
        }
        return Model([F("x", Bt, S, K)], [F("y", Bt, S, Nn)], nodes, init, opset);
    }

    private static double[] Naive(Model m, float[] x, bool tanh)
    {
        var w = m.Graph.Initializers["W"].ToArray<float>();
        var bias = m.Graph.Initializers["bias"].ToArray<float>();
        var y = new double[Bt * S * Nn];
        for (int r = 0; r < Bt * S; r++)
            for (int j = 0; j < Nn; j++)
            {
                double s = bias[j];
                for (int p = 0; p < K; p++) s += (double)x[r * K + p] * w[p * Nn + j];
                y[r * Nn + j] = Gelu(s, tanh);
            }
        return y;
    }

    [Theory]
    [InlineData("erf", "Gelu")]
    [InlineData("tanh", "GeluTanh")]
    [InlineData("op-none", "Gelu")]
    [InlineData("op-tanh", "GeluTanh")]
    public void MatMulBiasGeluBecomesOneNodeAndMatchesNaive(string form, string activation)
    {
        Model Build() => Projection(form);
        var x = RandomFloats(new Random(9), Bt, S, K);
        var feeds = new Dictionary<string, Tensor> { ["x"] = x };
        var optimized = AssertSameOutputs(Build, feeds);
        var node = Assert.Single(optimized.Graph.Nodes);
        Assert.Equal(("MatMulBias", FusedDomain.Name, activation), (node.OpType, node.Domain, node.GetString("activation", "")));

        var expected = Naive(Build(), x.ToArray<float>(), activation == "GeluTanh");
        foreach (int threads in new[] { 1, 2 })
        {
            using var s = new InferenceSession(Build(), new SessionOptions { OptimizationLevel = OptimizationLevel.All, IntraOpThreads = threads });
            var y = s.Run(feeds)["y"].ToArray<float>();
            for (int i = 0; i < y.Length; i++) Close(expected[i], y[i], $"{form} t={threads} [{i}]");
        }

        // Written with its function body, the fused node runs in ONNX Runtime to the same values.
        var export = Build();
        PassManager.CreateDefault().Run(export, OptimizationLevel.All);
        InternalOpFunctions.Attach(export);
        using var so = new Ort.SessionOptions { GraphOptimizationLevel = Ort.GraphOptimizationLevel.ORT_DISABLE_ALL };
        using var ort = new Ort.InferenceSession(OnnxModelWriter.ToBytes(export), so);
        using var input = OrtValues.From(x);
        using var results = ort.Run(new Ort.RunOptions(), new Dictionary<string, Ort.OrtValue> { ["x"] = input }, ort.OutputNames);
        var ortY = OrtValues.To(results[0]).ToArray<float>();
        for (int i = 0; i < ortY.Length; i++) Close(expected[i], ortY[i], $"ORT {form} [{i}]");
    }

    [Fact]
    public void GeluWhoseInputIsReadElsewhereStaysOut()
    {
        // The sum feeds a second output, so the Gelu cannot move into the GEMM epilogue.
        Model Build()
        {
            var m = Projection("op-none");
            m.Graph.Outputs.Add(F("lin", Bt, S, Nn));
            return m;
        }
        var feeds = new Dictionary<string, Tensor> { ["x"] = RandomFloats(new Random(4), Bt, S, K) };
        var optimized = AssertSameOutputs(Build, feeds);
        Assert.Equal(["MatMulBias", "Gelu"], optimized.Graph.Nodes.Select(n => n.OpType));
        Assert.Equal("", optimized.Graph.Nodes[0].GetString("activation", ""));
    }
}
