using Google.Protobuf;
using NetOnnx.OnnxImport;
using NetOnnx.OnnxImport.Proto;
using NetOnnx.Optimizer;
using NetOnnx.Optimizer.Passes;
using NetOnnx.Runtime;
using Xunit;
using static NetOnnx.Tests.TestModels;

namespace NetOnnx.Tests;

/// <summary>
/// MatMulBiasFusion: 3-D MatMul(x, W) + bias (+ activation) becomes one com.netonnx MatMulBias, checked against
/// a naive double-precision product and against the unoptimised graph; and what the pass must leave alone.
/// Also the plain MatMul kernel with a constant (packed) B against the naive product.
/// </summary>
public class MatMulBiasFusionTests
{
    private const int B = 2, S = 5, K = 19, N = 37;

    private static float[] Random(int n, int seed)
    {
        var r = new Random(seed);
        return Enumerable.Range(0, n).Select(_ => (float)(r.NextDouble() * 2 - 1)).ToArray();
    }

    private static readonly float[] X = Random(B * S * K, 1), W = Random(K * N, 2), Bias = Random(N, 3);

    /// <summary>x [B, S, K] -> MatMul(x, W) -> "mm" -> Add(mm, bias) -> "lin"; the caller adds the rest.</summary>
    private static GraphProto Projection(bool constW = true, float[]? bias = null, long[]? biasDims = null, bool biasFirst = false)
    {
        var g = new GraphProto { Name = "proj" };
        g.Input.Add(Info("x", 1, B, S, K));
        if (constW) g.Initializer.Add(FloatTensor("W", W, K, N));
        else g.Input.Add(Info("W", 1, K, N));
        g.Initializer.Add(FloatTensor("bias", bias ?? Bias, biasDims ?? [N]));
        g.Node.Add(NodeOf("MatMul", ["x", "W"], ["mm"], "mm"));
        g.Node.Add(NodeOf("Add", biasFirst ? ["bias", "mm"] : ["mm", "bias"], ["lin"], "add"));
        return g;
    }

    private static Dictionary<string, Tensor> Inputs(bool withW = false)
    {
        var d = new Dictionary<string, Tensor> { ["x"] = Tensor.Create(X, B, S, K) };
        if (withW) d["W"] = Tensor.Create(W, K, N);
        return d;
    }

    /// <summary>act(x · W + bias) in double precision, written independently of the runtime.</summary>
    private static double[] Naive(Func<double, double> act)
    {
        var y = new double[B * S * N];
        for (int r = 0; r < B * S; r++)
            for (int j = 0; j < N; j++)
            {
                double s = Bias[j];
                for (int p = 0; p < K; p++) s += (double)X[r * K + p] * W[p * N + j];
                y[r * N + j] = act(s);
            }
        return y;
    }

    private static float[] RunAt(byte[] model, OptimizationLevel level, Dictionary<string, Tensor> inputs, string output = "y", int threads = 1)
    {
        using var s = new InferenceSession(model, new SessionOptions { OptimizationLevel = level, IntraOpThreads = threads });
        return s.Run(inputs)[output].ToArray<float>();
    }

    private static void AssertClose(double[] expected, float[] actual, string what)
    {
        Assert.Equal(expected.Length, actual.Length);
        for (int i = 0; i < expected.Length; i++)
            Assert.True(Math.Abs(expected[i] - actual[i]) <= 1e-4 * (1 + Math.Abs(expected[i])), $"{what}[{i}]: {actual[i]} vs {expected[i]}");
    }

    private static Graph Optimized(byte[] bytes)
    {
        var m = OnnxModelLoader.Load(bytes);
        PassManager.CreateDefault().Run(m, OptimizationLevel.All);
        return m.Graph;
    }

    private static string[] Ops(Graph g) => g.Nodes.Select(n => n.OpType).ToArray();

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void ProjectionBecomesOneMatMulBias(bool biasFirst)
    {
        var g = Projection(biasFirst: biasFirst);
        g.Node[^1].Output[0] = "y";
        g.Output.Add(Info("y", 1, B, S, N));
        var bytes = Model(g).ToByteArray();
        var opt = Optimized(bytes);
        var node = Assert.Single(opt.Nodes);
        Assert.Equal(("MatMulBias", "com.netonnx"), (node.OpType, node.Domain));
        var expected = Naive(v => v);
        foreach (int threads in new[] { 1, 2 })
        {
            AssertClose(expected, RunAt(bytes, OptimizationLevel.All, Inputs(), threads: threads), $"all t={threads}");
            AssertClose(expected, RunAt(bytes, OptimizationLevel.None, Inputs(), threads: threads), $"none t={threads}");
        }
    }

    [Theory]
    [InlineData("Relu")]
    [InlineData("Sigmoid")]
    public void FollowingActivationIsFolded(string activation)
    {
        var g = Projection();
        g.Node.Add(NodeOf(activation, ["lin"], ["y"], "act"));
        g.Output.Add(Info("y", 1, B, S, N));
        var bytes = Model(g).ToByteArray();
        var node = Assert.Single(Optimized(bytes).Nodes);
        Assert.Equal(activation, node.GetString("activation", ""));
        Func<double, double> act = activation == "Relu" ? v => Math.Max(v, 0) : v => 1 / (1 + Math.Exp(-v));
        AssertClose(Naive(act), RunAt(bytes, OptimizationLevel.All, Inputs()), activation);
    }

    [Fact]
    public void BiasWithLeadingOnesFuses()
    {
        var g = Projection(biasDims: [1, 1, N]);
        g.Node[^1].Output[0] = "y";
        g.Output.Add(Info("y", 1, B, S, N));
        var bytes = Model(g).ToByteArray();
        Assert.Equal(["MatMulBias"], Ops(Optimized(bytes)));
        AssertClose(Naive(v => v), RunAt(bytes, OptimizationLevel.All, Inputs()), "y");
    }

    [Fact]
    public void RuntimeWeightIsLeftAlone()
    {
        var g = Projection(constW: false);
        g.Node[^1].Output[0] = "y";
        g.Output.Add(Info("y", 1, B, S, N));
        var m = OnnxModelLoader.Load(Model(g).ToByteArray());
        Assert.False(new MatMulBiasFusion().Run(m).Changed);
        AssertClose(Naive(v => v), RunAt(Model(g).ToByteArray(), OptimizationLevel.All, Inputs(withW: true)), "y");
    }

    [Fact]
    public void BiasOfAnotherShapeIsLeftAlone()
    {
        // [S, N] adds a different row per position: not one bias row.
        var g = Projection(bias: Random(S * N, 4), biasDims: [S, N]);
        g.Node[^1].Output[0] = "y";
        g.Output.Add(Info("y", 1, B, S, N));
        Assert.False(new MatMulBiasFusion().Run(OnnxModelLoader.Load(Model(g).ToByteArray())).Changed);
        // [1, 1, 1, N] would broadcast the output up to rank 4.
        g = Projection(biasDims: [1, 1, 1, N]);
        g.Node[^1].Output[0] = "y";
        g.Output.Add(Info("y", 1, 1, B, S, N));
        Assert.False(new MatMulBiasFusion().Run(OnnxModelLoader.Load(Model(g).ToByteArray())).Changed);
        // A single value broadcasts over every column.
        g = Projection(bias: [0.5f], biasDims: [1]);
        g.Node[^1].Output[0] = "y";
        g.Output.Add(Info("y", 1, B, S, N));
        Assert.False(new MatMulBiasFusion().Run(OnnxModelLoader.Load(Model(g).ToByteArray())).Changed);
    }

    [Fact]
    public void MatMulOutputReadElsewhereIsLeftAlone()
    {
        var g = Projection();
        g.Node[^1].Output[0] = "y";
        g.Output.Add(Info("y", 1, B, S, N));
        g.Output.Add(Info("mm", 1, B, S, N));
        Assert.False(new MatMulBiasFusion().Run(OnnxModelLoader.Load(Model(g).ToByteArray())).Changed);

        g = Projection();
        g.Node[^1].Output[0] = "y";
        g.Node.Add(NodeOf("Neg", ["mm"], ["z"], "neg"));
        g.Output.Add(Info("y", 1, B, S, N));
        g.Output.Add(Info("z", 1, B, S, N));
        Assert.False(new MatMulBiasFusion().Run(OnnxModelLoader.Load(Model(g).ToByteArray())).Changed);
    }

    [Fact]
    public void ActivationIsLeftOutWhenTheSumIsReadElsewhere()
    {
        var g = Projection();
        g.Node.Add(NodeOf("Relu", ["lin"], ["y"], "act"));
        g.Output.Add(Info("y", 1, B, S, N));
        g.Output.Add(Info("lin", 1, B, S, N));
        var bytes = Model(g).ToByteArray();
        Assert.Equal(["MatMulBias", "Relu"], Ops(Optimized(bytes)));
        AssertClose(Naive(v => Math.Max(v, 0)), RunAt(bytes, OptimizationLevel.All, Inputs()), "y");
        AssertClose(Naive(v => v), RunAt(bytes, OptimizationLevel.All, Inputs(), output: "lin"), "lin");
    }

    [Fact]
    public void MatMulWithConstantWeightMatchesNaive()
    {
        // No bias: the plain MatMul kernel packs W at creation. Run twice to reuse the packed panels.
        var g = new GraphProto { Name = "mm" };
        g.Input.Add(Info("x", 1, B, S, K));
        g.Initializer.Add(FloatTensor("W", W, K, N));
        g.Node.Add(NodeOf("MatMul", ["x", "W"], ["y"], "mm"));
        g.Output.Add(Info("y", 1, B, S, N));
        var expected = new double[B * S * N];
        for (int r = 0; r < B * S; r++)
            for (int j = 0; j < N; j++)
                for (int p = 0; p < K; p++) expected[r * N + j] += (double)X[r * K + p] * W[p * N + j];
        using var s = new InferenceSession(Model(g).ToByteArray(), new SessionOptions { OptimizationLevel = OptimizationLevel.None });
        for (int run = 0; run < 2; run++) AssertClose(expected, s.Run(Inputs())["y"].ToArray<float>(), $"run {run}");
        // A of the wrong width is reported, not read out of bounds.
        var bad = new Dictionary<string, Tensor> { ["x"] = Tensor.Create(new float[B * S * (K + 1)], B, S, K + 1) };
        Assert.ThrowsAny<OnnxException>(() => s.Run(bad));
    }
}

/// <summary>The com.netonnx MatMulBias kernel used directly: run-time weights, and bad bias shapes.</summary>
public class MatMulBiasKernelTests
{
    private static byte[] Direct(bool constW, int biasLen, string activation = "")
    {
        const int S = 6, K = 40, N = 33;
        var g = new GraphProto { Name = "direct" };
        g.Input.Add(Info("x", 1, 1, S, K));
        if (constW) g.Initializer.Add(FloatTensor("W", Weights(K * N), K, N));
        else g.Input.Add(Info("W", 1, K, N));
        g.Initializer.Add(FloatTensor("bias", Weights(biasLen, 0.25f), biasLen));
        var node = NodeOf("MatMulBias", ["x", "W", "bias"], ["y"], "mmb");
        node.Domain = "com.netonnx";
        if (activation.Length > 0) node.Attribute.Add(new AttributeProto { Name = "activation", Type = AttributeProto.Types.AttributeType.String, S = ByteString.CopyFromUtf8(activation) });
        g.Node.Add(node);
        g.Output.Add(Info("y", 1, 1, S, N));
        var m = Model(g);
        m.OpsetImport.Add(new OperatorSetIdProto { Domain = "com.netonnx", Version = 1 });
        return m.ToByteArray();
    }

    private static float[] Weights(int n, float step = 0.01f) => Enumerable.Range(0, n).Select(i => ((i * 7) % 13 - 6) * step).ToArray();

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void PackedAndRunTimeWeightsMatchNaive(bool constW)
    {
        const int S = 6, K = 40, N = 33;
        var x = Enumerable.Range(0, S * K).Select(i => MathF.Sin(i * 0.37f)).ToArray();
        var w = Weights(K * N); var bias = Weights(N, 0.25f);
        var inputs = new Dictionary<string, Tensor> { ["x"] = Tensor.Create(x, 1, S, K) };
        if (!constW) inputs["W"] = Tensor.Create(w, K, N);
        using var s = new InferenceSession(Direct(constW, N, "Relu"), new SessionOptions { OptimizationLevel = OptimizationLevel.None });
        var y = s.Run(inputs)["y"].ToArray<float>();
        for (int r = 0; r < S; r++)
            for (int j = 0; j < N; j++)
            {
                double e = bias[j];
                for (int p = 0; p < K; p++) e += (double)x[r * K + p] * w[p * N + j];
                e = Math.Max(e, 0);
                Assert.True(Math.Abs(y[r * N + j] - e) <= 1e-4 * (1 + Math.Abs(e)), $"[{r},{j}]: {y[r * N + j]} vs {e}");
            }
    }

    [Fact]
    public void BiasOfTheWrongLengthIsReported()
    {
        using var s = new InferenceSession(Direct(true, 34), new SessionOptions { OptimizationLevel = OptimizationLevel.None });
        var ex = Assert.ThrowsAny<OnnxException>(() => s.Run(new Dictionary<string, Tensor> { ["x"] = Tensor.Create(new float[6 * 40], 1, 6, 40) }));
        Assert.Contains("bias", ex.Message);
    }
}
