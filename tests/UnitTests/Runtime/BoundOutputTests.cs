using NetOnnx.Runtime;
using Xunit;
using static NetOnnx.Tests.ModelWeightReleaseTests;

namespace NetOnnx.Tests;

/// <summary>Session.Run(inputs, outputs): values written into caller tensors, clear errors, no steady-state allocation.</summary>
public class BoundOutputTests
{
    private const int M = 3, K = 6, N = 5;

    private static Dictionary<string, Tensor> Feed(float[] x) => new() { ["x"] = Tensor.Create(x, M, K) };

    [Fact]
    public void BoundOutputsReceiveTheValuesOverRepeatedAndConcurrentRuns()
    {
        var reference = TwoLayerModel();
        using var s = new Session(TwoLayerModel(), new SessionOptions { IntraOpThreads = 1 });
        var y = Tensor.Zeros(DataType.Float, M, N);
        var z = Tensor.Zeros(DataType.Float, M, K);
        var bound = new Dictionary<string, Tensor> { ["y"] = y, ["z"] = z };
        for (int run = 0; run < 4; run++)
        {
            var x = Values(M * K, 30 + run);
            s.Run(Feed(x), bound);
            var (ey, ez) = Naive(reference, x);
            AssertClose(ey, y);
            AssertClose(ez, z);
            Assert.Same(y, bound["y"]);
        }
        // A subset: only y is written; the first run's results work as the container too.
        var x0 = Values(M * K, 40);
        var results = s.Run(Feed(x0));
        var onlyY = new Dictionary<string, Tensor> { ["y"] = results["y"] };
        var x1 = Values(M * K, 41);
        s.Run(Feed(x1), onlyY);
        AssertClose(Naive(reference, x1).Y, results["y"]);
        AssertClose(Naive(reference, x0).Z, results["z"]); // not bound this time: untouched
        Parallel.For(0, 12, new ParallelOptions { MaxDegreeOfParallelism = 4 }, i =>
        {
            var x = Values(M * K, 50 + i);
            var mine = new Dictionary<string, Tensor> { ["y"] = Tensor.Zeros(DataType.Float, M, N) };
            for (int r = 0; r < 3; r++) s.Run(Feed(x), mine);
            AssertClose(Naive(reference, x).Y, mine["y"]);
        });
    }

    [Fact]
    public void WrongNameShapeOrElementTypeIsNamed()
    {
        using var s = new Session(TwoLayerModel(), new SessionOptions { IntraOpThreads = 1 });
        var feed = Feed(Values(M * K, 1));
        var e = Assert.Throws<InferenceException>(() => s.Run(feed, new Dictionary<string, Tensor> { ["nope"] = Tensor.Zeros(DataType.Float, M, N) }));
        Assert.Contains("'nope' is not an output", e.Message);
        e = Assert.Throws<InferenceException>(() => s.Run(feed, new Dictionary<string, Tensor> { ["y"] = Tensor.Zeros(DataType.Float, M, N + 1) }));
        Assert.Contains("'y'", e.Message);
        Assert.Contains("dimension 1 must be 5", e.Message);
        e = Assert.Throws<InferenceException>(() => s.Run(feed, new Dictionary<string, Tensor> { ["y"] = Tensor.Zeros(DataType.Float, M * N) }));
        Assert.Contains("rank 2", e.Message);
        e = Assert.Throws<InferenceException>(() => s.Run(feed, new Dictionary<string, Tensor> { ["y"] = Tensor.Zeros(DataType.Double, M, N) }));
        Assert.Contains("double", e.Message);
        Assert.Contains("float", e.Message);
        // A dimension the model leaves open is checked against what the run computed.
        var open = TwoLayerModel();
        open.Graph.Inputs[0] = new ValueInfo("x", OnnxType.Tensor(DataType.Float, [Dim.Named("n"), Dim.Known(K)]));
        open.Graph.Outputs[0] = new ValueInfo("y", OnnxType.Tensor(DataType.Float, [Dim.Named("n"), Dim.Known(N)]));
        open.Graph.Outputs.RemoveAt(1);
        open.Graph.Nodes.RemoveAll(n => n.Name is "inc" or "sub");
        using var o = new Session(open, new SessionOptions { IntraOpThreads = 1 });
        e = Assert.Throws<InferenceException>(() => o.Run(feed, new Dictionary<string, Tensor> { ["y"] = Tensor.Zeros(DataType.Float, M + 1, N) }));
        Assert.Contains("output 'y' came out as float [3,5], but the bound tensor is float [4,5]", e.Message);
        // The session still works after the rejected calls.
        var y = Tensor.Zeros(DataType.Float, M, N);
        var x = Values(M * K, 2);
        s.Run(Feed(x), new Dictionary<string, Tensor> { ["y"] = y });
        AssertClose(Naive(TwoLayerModel(), x).Y, y);
    }

    [Fact]
    public void WarmBoundRunsAllocateNothingOnTheManagedHeap()
    {
        using var s = new Session(TwoLayerModel(), new SessionOptions { IntraOpThreads = 1 });
        var feed = Feed(Values(M * K, 3));
        var outs = s.Run(feed);
        for (int i = 0; i < 5; i++) s.Run(feed, outs);
        // A listener another test starts (Activity, Meter) would allocate on this thread while it is active, so
        // take the best of a few windows; any per-run allocation of ours shows in every window.
        long best = long.MaxValue;
        for (int attempt = 0; attempt < 5 && best != 0; attempt++)
        {
            long before = GC.GetAllocatedBytesForCurrentThread();
            for (int i = 0; i < 20; i++) s.Run(feed, outs);
            best = Math.Min(best, GC.GetAllocatedBytesForCurrentThread() - before);
        }
        Assert.Equal(0, best);
        AssertClose(Naive(TwoLayerModel(), feed["x"].ToArray<float>()).Y, outs["y"]);
    }
}
