using System.Runtime.CompilerServices;
using NetOnnx.Runtime;
using Xunit;

namespace NetOnnx.Tests;

/// <summary>Initializers every reader packed are left unbound by the plan; runs still compute the naive product.</summary>
public class PackedWeightReleaseTests
{
    private const int M = 3, K = 4, N = 5;

    private static float[] Values(int n, int seed)
    {
        var r = new Random(seed);
        return Enumerable.Range(0, n).Select(_ => (float)(r.NextDouble() * 2 - 1)).ToArray();
    }

    /// <summary>Row-major naive product plus an optional bias row.</summary>
    private static float[] Naive(float[] a, int m, float[] w, float[]? bias = null)
    {
        var y = new float[m * N];
        for (int i = 0; i < m; i++)
            for (int j = 0; j < N; j++)
            {
                double s = bias?[j] ?? 0;
                for (int p = 0; p < K; p++) s += a[i * K + p] * w[p * N + j];
                y[i * N + j] = (float)s;
            }
        return y;
    }

    private static Model MatMulModel(float[] w, Action<Graph>? extra = null)
    {
        var m = new Model();
        m.Opsets[""] = 17;
        m.Opsets[FusedOps.Domain] = FusedOps.Version;
        var g = m.Graph;
        g.Inputs.Add(new ValueInfo("x", OnnxType.Tensor(DataType.Float, [Dim.Known(M), Dim.Known(K)])));
        g.Outputs.Add(new ValueInfo("y", OnnxType.Tensor(DataType.Float)));
        g.Initializers["W"] = Tensor.Create((float[])w.Clone(), K, N);
        g.Nodes.Add(new Node("MatMul", ["x", "W"], ["y"]));
        extra?.Invoke(g);
        return m;
    }

    private static void AssertClose(float[] expected, Tensor actual)
    {
        var a = actual.ToArray<float>();
        Assert.Equal(expected.Length, a.Length);
        for (int i = 0; i < a.Length; i++) Assert.True(Math.Abs(expected[i] - a[i]) <= 1e-5f, $"[{i}]: {expected[i]} vs {a[i]}");
    }

    [Fact]
    public void PackedMatMulWeightIsUnboundAndRunsMatchNaiveRepeatedlyAndConcurrently()
    {
        var w = Values(K * N, 1);
        using var s = new Session(MatMulModel(w), new SessionOptions { IntraOpThreads = 1 });
        Assert.Equal(["W"], s.Plan.ReleasedConstants);
        Assert.Null(s.Plan.Constants[s.Plan.SlotOf["W"]]);
        for (int run = 0; run < 3; run++)
        {
            var x = Values(M * K, 10 + run);
            AssertClose(Naive(x, M, w), s.Run(new Dictionary<string, Tensor> { ["x"] = Tensor.Create(x, M, K) })["y"]);
        }
        Parallel.For(0, 16, new ParallelOptions { MaxDegreeOfParallelism = 4 }, i =>
        {
            var x = Values(M * K, 100 + i);
            AssertClose(Naive(x, M, w), s.Run(new Dictionary<string, Tensor> { ["x"] = Tensor.Create(x, M, K) })["y"]);
        });
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static (Session, WeakReference) SessionThenDropModelCopy(float[] w)
    {
        var model = MatMulModel(w);
        var weak = new WeakReference(model.Graph.Initializers["W"]);
        var s = new Session(model, new SessionOptions { IntraOpThreads = 1 });
        model.Graph.Initializers.Remove("W"); // the model's copy is the only other reference
        return (s, weak);
    }

    [Fact]
    public void ReleasedWeightIsNotReferencedByThePlanOrKernels()
    {
        var w = Values(K * N, 2);
        var (s, weak) = SessionThenDropModelCopy(w);
        using (s)
        {
            var x = Values(M * K, 3);
            AssertClose(Naive(x, M, w), s.Run(new Dictionary<string, Tensor> { ["x"] = Tensor.Create(x, M, K) })["y"]);
            GC.Collect();
            GC.WaitForPendingFinalizers();
            GC.Collect();
            Assert.False(weak.IsAlive, "the session still references the packed initializer");
            AssertClose(Naive(x, M, w), s.Run(new Dictionary<string, Tensor> { ["x"] = Tensor.Create(x, M, K) })["y"]);
        }
    }

    [Fact]
    public void WeightStaysBoundWhenAnotherReaderNeedsIt()
    {
        var w = Values(K * N, 4);
        var model = MatMulModel(w, g =>
        {
            g.Nodes.Add(new Node("Neg", ["W"], ["nw"]));
            g.Outputs.Add(new ValueInfo("nw", OnnxType.Tensor(DataType.Float)));
        });
        using var s = new Session(model, new SessionOptions { IntraOpThreads = 1 });
        Assert.Empty(s.Plan.ReleasedConstants);
        var x = Values(M * K, 5);
        var r = s.Run(new Dictionary<string, Tensor> { ["x"] = Tensor.Create(x, M, K) });
        AssertClose(Naive(x, M, w), r["y"]);
        AssertClose(w.Select(v => -v).ToArray(), r["nw"]);
    }

    [Fact]
    public void WeightThatIsAGraphOutputOrInputStaysBound()
    {
        var w = Values(K * N, 6);
        using (var s = new Session(MatMulModel(w, g => g.Outputs.Add(new ValueInfo("W", OnnxType.Tensor(DataType.Float)))), new SessionOptions { IntraOpThreads = 1 }))
        {
            Assert.Empty(s.Plan.ReleasedConstants);
            var r = s.Run(new Dictionary<string, Tensor> { ["x"] = Tensor.Create(Values(M * K, 7), M, K) });
            AssertClose(w, r["W"]);
        }
        // An initializer that is also a graph input may be overridden by the caller: never packed or released.
        using (var s = new Session(MatMulModel(w, g => g.Inputs.Add(new ValueInfo("W", OnnxType.Tensor(DataType.Float, [Dim.Known(K), Dim.Known(N)])))), new SessionOptions { IntraOpThreads = 1 }))
        {
            Assert.Empty(s.Plan.ReleasedConstants);
            var x = Values(M * K, 8);
            var other = Values(K * N, 9);
            AssertClose(Naive(x, M, other), s.Run(new Dictionary<string, Tensor> { ["x"] = Tensor.Create(x, M, K), ["W"] = Tensor.Create(other, K, N) })["y"]);
            AssertClose(Naive(x, M, w), s.Run(new Dictionary<string, Tensor> { ["x"] = Tensor.Create(x, M, K) })["y"]);
        }
    }

    [Fact]
    public void PackedPathTakesVectorAAndRejectsWrongInnerDimension()
    {
        var w = Values(K * N, 10);
        var m = MatMulModel(w);
        m.Graph.Inputs[0] = new ValueInfo("x", OnnxType.Tensor(DataType.Float, null));
        using var s = new Session(m, new SessionOptions { IntraOpThreads = 1 });
        var x = Values(K, 11);
        var y = s.Run(new Dictionary<string, Tensor> { ["x"] = Tensor.Create(x, K) })["y"];
        Assert.Equal([N], y.Shape);
        AssertClose(Naive(x, 1, w), y);
        var e = Assert.Throws<InferenceException>(() => s.Run(new Dictionary<string, Tensor> { ["x"] = Tensor.Create(Values(2 * (K + 1), 12), 2, K + 1) }));
        Assert.Contains("inner dimensions", e.Message);
    }

    [Fact]
    public void PackedMatMulBiasWeightIsUnboundAndMatchesNaive()
    {
        var w = Values(K * N, 13);
        var bias = Values(N, 14);
        var model = MatMulModel(w, g =>
        {
            g.Nodes.Clear();
            g.Initializers["b"] = Tensor.Create((float[])bias.Clone(), N);
            g.Nodes.Add(new Node("MatMulBias", ["x", "W", "b"], ["y"], "mb", FusedOps.Domain));
        });
        using var s = new Session(model, new SessionOptions { IntraOpThreads = 1 });
        Assert.Equal(["W"], s.Plan.ReleasedConstants);
        Parallel.For(0, 8, new ParallelOptions { MaxDegreeOfParallelism = 4 }, i =>
        {
            var x = Values(M * K, 20 + i);
            AssertClose(Naive(x, M, w, bias), s.Run(new Dictionary<string, Tensor> { ["x"] = Tensor.Create(x, M, K) })["y"]);
        });
    }
}
