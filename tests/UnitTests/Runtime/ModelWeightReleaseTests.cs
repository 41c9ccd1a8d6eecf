using System.Runtime.CompilerServices;
using NetOnnx.OnnxImport;
using NetOnnx.Runtime;
using Xunit;

namespace NetOnnx.Tests;

/// <summary>
/// SessionOptions.ReleaseModelWeights: packed weights leave the model, runs stay identical, the dropped tensors are
/// collectable, and Model access afterwards re-reads the file or fails naming the option.
/// </summary>
public class ModelWeightReleaseTests
{
    private const int M = 3, K = 6, N = 5;

    internal static float[] Values(int n, int seed)
    {
        var r = new Random(seed);
        return Enumerable.Range(0, n).Select(_ => (float)(r.NextDouble() * 2 - 1)).ToArray();
    }

    /// <summary>y = Relu(x·W1 + b) · W2 and z = x + 1 - E (E read by Sub at run time, so never released).</summary>
    internal static Model TwoLayerModel()
    {
        var m = new Model();
        m.Opsets[""] = 17;
        var g = m.Graph;
        g.Inputs.Add(new ValueInfo("x", OnnxType.Tensor(DataType.Float, [Dim.Known(M), Dim.Known(K)])));
        g.Outputs.Add(new ValueInfo("y", OnnxType.Tensor(DataType.Float, [Dim.Known(M), Dim.Known(N)])));
        g.Outputs.Add(new ValueInfo("z", OnnxType.Tensor(DataType.Float, [Dim.Known(M), Dim.Known(K)])));
        g.Initializers["W1"] = Tensor.Create(Values(K * K, 1), K, K);
        g.Initializers["b"] = Tensor.Create(Values(K, 2), K);
        g.Initializers["W2"] = Tensor.Create(Values(K * N, 3), K, N);
        g.Initializers["E"] = Tensor.Create(Values(M * K, 4), M, K);
        g.Initializers["one"] = Tensor.Create(new[] { 1f }, 1);
        g.Nodes.Add(new Node("MatMul", ["x", "W1"], ["h0"], "mm1"));
        g.Nodes.Add(new Node("Add", ["h0", "b"], ["h1"], "add"));
        g.Nodes.Add(new Node("Relu", ["h1"], ["h2"], "relu"));
        g.Nodes.Add(new Node("MatMul", ["h2", "W2"], ["y"], "mm2"));
        g.Nodes.Add(new Node("Add", ["x", "one"], ["x1"], "inc"));
        g.Nodes.Add(new Node("Sub", ["x1", "E"], ["z"], "sub"));
        return m;
    }

    /// <summary>The model computed in doubles from its own initializers.</summary>
    internal static (float[] Y, float[] Z) Naive(Model m, float[] x)
    {
        float[] I(string n) => m.Graph.Initializers[n].ToArray<float>();
        float[] w1 = I("W1"), b = I("b"), w2 = I("W2"), e = I("E");
        var h = new double[M * K];
        for (int i = 0; i < M; i++)
            for (int j = 0; j < K; j++)
            {
                double s = b[j];
                for (int p = 0; p < K; p++) s += (double)x[i * K + p] * w1[p * K + j];
                h[i * K + j] = Math.Max(0, s);
            }
        var y = new float[M * N];
        for (int i = 0; i < M; i++)
            for (int j = 0; j < N; j++)
            {
                double s = 0;
                for (int p = 0; p < K; p++) s += h[i * K + p] * w2[p * N + j];
                y[i * N + j] = (float)s;
            }
        var z = new float[M * K];
        for (int i = 0; i < z.Length; i++) z[i] = x[i] + 1f - e[i];
        return (y, z);
    }

    internal static void AssertClose(float[] expected, Tensor actual, float tol = 1e-5f)
    {
        var a = actual.ToArray<float>();
        Assert.Equal(expected.Length, a.Length);
        for (int i = 0; i < a.Length; i++) Assert.True(Math.Abs(expected[i] - a[i]) <= tol, $"[{i}]: {expected[i]} vs {a[i]}");
    }

    private static string WriteModel(Model m)
    {
        string path = Path.Combine(Path.GetTempPath(), $"netonnx-release-{Guid.NewGuid():N}.onnx");
        File.WriteAllBytes(path, OnnxModelWriter.ToBytes(m));
        return path;
    }

    private static Dictionary<string, Tensor> Feed(float[] x) => new() { ["x"] = Tensor.Create(x, M, K) };

    [Fact]
    public void FilePathSessionReleasesPackedWeightsAndRunsMatchAKeptSessionRepeatedlyAndConcurrently()
    {
        var reference = TwoLayerModel();
        string path = WriteModel(reference);
        try
        {
            using var released = new InferenceSession(path, new SessionOptions { IntraOpThreads = 1 });
            using var kept = new InferenceSession(path, new SessionOptions { IntraOpThreads = 1, ReleaseModelWeights = false });
            Assert.True(released.Core.ModelWeightsReleased);
            Assert.False(kept.Core.ModelWeightsReleased);
            // W1 and b went into FusedGemm's packed weights and bias (MatMul+Add+Relu fused), W2 into MatMul's.
            Assert.Equal(["W1", "W2", "b"], released.Core.Plan.ReleasedConstants.Order());
            Assert.Contains("W1", kept.Model.Graph.Initializers.Keys);
            for (int run = 0; run < 3; run++)
            {
                var x = Values(M * K, 10 + run);
                var a = released.Run(Feed(x));
                var b = kept.Run(Feed(x));
                Assert.Equal(b["y"].ToArray<float>(), a["y"].ToArray<float>());
                Assert.Equal(b["z"].ToArray<float>(), a["z"].ToArray<float>());
                var (y, z) = Naive(reference, x);
                AssertClose(y, a["y"]);
                AssertClose(z, a["z"]);
            }
            Parallel.For(0, 16, new ParallelOptions { MaxDegreeOfParallelism = 4 }, i =>
            {
                var x = Values(M * K, 100 + i);
                var a = released.Run(Feed(x));
                Assert.Equal(kept.Run(Feed(x))["y"].ToArray<float>(), a["y"].ToArray<float>());
                AssertClose(Naive(reference, x).Y, a["y"]);
            });
        }
        finally { File.Delete(path); }
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static (Session, Model, WeakReference[]) ReleasingSession(bool release)
    {
        var model = TwoLayerModel();
        var weak = new[] { new WeakReference(model.Graph.Initializers["W1"]), new WeakReference(model.Graph.Initializers["W2"]) };
        var s = new Session(model, new SessionOptions { IntraOpThreads = 1, ReleaseModelWeights = release });
        return (s, model, weak);
    }

    [Fact]
    public void ReleasedWeightsAreCollectableWhileTheModelObjectLives()
    {
        var expected = TwoLayerModel();
        var (s, model, weak) = ReleasingSession(release: true);
        using (s)
        {
            Assert.DoesNotContain("W1", model.Graph.Initializers.Keys);
            Assert.Contains("E", model.Graph.Initializers.Keys); // read at run time: kept, and held once
            GC.Collect();
            GC.WaitForPendingFinalizers();
            GC.Collect();
            Assert.All(weak, w => Assert.False(w.IsAlive, "a released weight is still referenced"));
            var x = Values(M * K, 5);
            AssertClose(Naive(expected, x).Y, s.Run(Feed(x))["y"]);
            GC.KeepAlive(model);
        }
    }

    [Fact]
    public void WithoutTheOptionACallersModelKeepsItsWeights()
    {
        var (s, model, weak) = ReleasingSession(release: false);
        using (s)
        {
            Assert.False(s.ModelWeightsReleased);
            Assert.Same(model, s.Model);
            GC.Collect();
            Assert.All(weak, w => Assert.True(w.IsAlive));
            Assert.Contains("W1", s.Model.Graph.Initializers.Keys);
        }
        // The default for a caller's model is to keep it whole.
        var m = TwoLayerModel();
        using var d = new Session(m, new SessionOptions { IntraOpThreads = 1 });
        Assert.Contains("W2", d.Model.Graph.Initializers.Keys);
    }

    [Fact]
    public void ModelAccessAfterReleaseThrowsNamingTheOptionOrReReadsTheFile()
    {
        var (s, _, _) = ReleasingSession(release: true);
        using (s)
        {
            var e = Assert.Throws<InvalidOperationException>(() => s.Model);
            Assert.Contains("ReleaseModelWeights", e.Message);
        }
        var reference = TwoLayerModel();
        var bytes = OnnxModelWriter.ToBytes(reference);
        using (var fromBytes = new InferenceSession(bytes, new SessionOptions { ReleaseModelWeights = true }))
        {
            var e = Assert.Throws<InvalidOperationException>(() => fromBytes.Model);
            Assert.Contains("ReleaseModelWeights", e.Message);
        }
        using (var fromBytes = new InferenceSession(bytes))
            Assert.Contains("W1", fromBytes.Model.Graph.Initializers.Keys); // bytes: kept by default
        string path = WriteModel(reference);
        try
        {
            using var fromFile = new InferenceSession(path);
            Assert.True(fromFile.Core.ModelWeightsReleased);
            var reread = fromFile.Model;
            Assert.Equal(reference.Graph.Initializers["W1"].ToArray<float>(), reread.Graph.Initializers["W1"].ToArray<float>());
            Assert.Equal(reference.Graph.Initializers["W2"].ToArray<float>(), reread.Graph.Initializers["W2"].ToArray<float>());
            Assert.Equal(fromFile.Core.Plan.Steps.Length, reread.Graph.Nodes.Count);
        }
        finally { File.Delete(path); }
    }

    [Fact]
    public void StreamLoadsMatchByteLoadsAndBadStreamsAreNamed()
    {
        var bytes = OnnxModelWriter.ToBytes(TwoLayerModel());
        var fromBytes = OnnxModelLoader.Load(bytes);
        var fromStream = OnnxModelLoader.Load(new MemoryStream(bytes));
        Assert.Equal(fromBytes.Graph.Initializers.Keys.Order(), fromStream.Graph.Initializers.Keys.Order());
        foreach (var (name, t) in fromBytes.Graph.Initializers)
            Assert.Equal(t.ToArray<float>(), fromStream.Graph.Initializers[name].ToArray<float>());
        Assert.Contains("empty", Assert.Throws<ModelLoadException>(() => OnnxModelLoader.Load(new MemoryStream())).Message);
        Assert.Contains("not a valid ONNX model", Assert.Throws<ModelLoadException>(() => OnnxModelLoader.Load(new MemoryStream(bytes, 0, bytes.Length / 2))).Message);
    }
}
