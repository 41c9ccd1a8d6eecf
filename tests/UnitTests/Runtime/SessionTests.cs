using NetOnnx.Runtime;
using Xunit;

namespace NetOnnx.Tests;

/// <summary>A custom kernel for tests: y = x * factor, element-wise on floats.</summary>
internal sealed class ScaleKernel(float factor) : OpKernel
{
    public override void Compute(KernelContext ctx)
    {
        var x = ctx.Input(0);
        var y = ctx.OutputUninitialized(0, DataType.Float, x.Shape);
        var xs = x.ReadOnlySpan<float>();
        var ys = y.Span<float>();
        for (int i = 0; i < xs.Length; i++) ys[i] = xs[i] * factor;
    }
}

public class SessionTests
{
    private static Model Chain(int length, string op = "Scale", string domain = "test", int size = 1000)
    {
        var m = new Model();
        m.Opsets[""] = 17;
        if (domain.Length > 0) m.Opsets[domain] = 1;
        var g = m.Graph;
        g.Inputs.Add(new ValueInfo("x", OnnxType.Tensor(DataType.Float, Dim.Known(size))));
        string prev = "x";
        for (int i = 0; i < length; i++)
        {
            string next = i == length - 1 ? "y" : $"t{i}";
            g.Nodes.Add(new Node(op, [prev], [next], $"n{i}", domain));
            g.ValueTypes[next] = OnnxType.Tensor(DataType.Float, Dim.Known(size));
            prev = next;
        }
        g.Outputs.Add(new ValueInfo("y", OnnxType.Tensor(DataType.Float, Dim.Known(size))));
        return m;
    }

    private static SessionOptions WithScale(float factor = 2f)
    {
        var reg = KernelRegistry.CreateWithBuiltIns();
        reg.Register("test", "Scale", _ => new ScaleKernel(factor));
        return new SessionOptions { Kernels = reg, IntraOpThreads = 1 };
    }

    [Fact]
    public void CustomOpRunsThroughTheRegistry()
    {
        var s = new Session(Chain(3), WithScale(2f));
        var r = s.Run(new Dictionary<string, Tensor> { ["x"] = Tensor.Create(Enumerable.Repeat(1.5f, 1000).ToArray(), 1000) });
        Assert.All(r["y"].ToArray<float>(), v => Assert.Equal(12f, v));
    }

    [Fact]
    public void CustomKernelCanOverrideABuiltIn()
    {
        var reg = KernelRegistry.CreateWithBuiltIns();
        reg.Register("", "Identity", 1, int.MaxValue, _ => new ScaleKernel(-1f));
        var s = new Session(Chain(1, "Identity", ""), new SessionOptions { Kernels = reg });
        var r = s.Run(new Dictionary<string, Tensor> { ["x"] = Tensor.Create(Enumerable.Repeat(3f, 1000).ToArray(), 1000) });
        Assert.Equal(-3f, r["y"].ToArray<float>()[999]);
        // The default registry is untouched.
        var d = new Session(Chain(1, "Identity", ""));
        Assert.Equal(3f, d.Run(new Dictionary<string, Tensor> { ["x"] = Tensor.Create(Enumerable.Repeat(3f, 1000).ToArray(), 1000) })["y"].ToArray<float>()[0]);
    }

    [Fact]
    public void BuffersAreReusedAlongAChain()
    {
        var s = new Session(Chain(10), WithScale());
        // Ten 4000-byte values (nine intermediates and the output), but at most two are alive at once.
        Assert.Equal(10 * 4000, s.Plan.PlannedTotalBytes);
        Assert.Equal(2 * 4000, s.Plan.PlannedPeakBytes);
        s.Run(new Dictionary<string, Tensor> { ["x"] = Tensor.Zeros(DataType.Float, 1000) });
        Assert.True(s.LastRunAllocatedBytes <= 3 * 4000, $"allocated {s.LastRunAllocatedBytes} bytes");
    }

    [Fact]
    public void WarmRunsReuseTheFirstRunsBuffersAndKeepOutputsApart()
    {
        var s = new Session(Chain(10), WithScale());
        var x = Tensor.Create(Enumerable.Range(0, 1000).Select(i => (float)i).ToArray(), 1000);
        var first = s.Run(new Dictionary<string, Tensor> { ["x"] = x })["y"];
        var firstValues = first.ToArray<float>();
        var second = s.Run(new Dictionary<string, Tensor> { ["x"] = x })["y"];
        // Only the output, which now belongs to the caller, needs a new buffer.
        Assert.True(s.LastRunAllocatedBytes <= 4000, $"allocated {s.LastRunAllocatedBytes} bytes");
        Assert.NotSame(first.Buffer, second.Buffer);
        Assert.Equal(firstValues, first.ToArray<float>());
        Assert.Equal(firstValues, second.ToArray<float>());
    }

    [Fact]
    public void WarmRunsAllocateLittleBesidesTheirOutputs()
    {
        // Ten nodes: per-node bookkeeping (contexts, closures, value arrays) would show as hundreds of bytes
        // per node. What is left per run: the output (4000-byte array, tensor, shape), the result dictionary
        // and one frame; a kernel-free limit of 1.5 KiB on top of the output catches any per-node allocation.
        var s = new Session(Chain(10), WithScale());
        var inputs = new Dictionary<string, Tensor> { ["x"] = Tensor.Zeros(DataType.Float, 1000) };
        for (int i = 0; i < 50; i++) s.Run(inputs);
        const int runs = 200;
        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < runs; i++) s.Run(inputs);
        long perRun = (GC.GetAllocatedBytesForCurrentThread() - before) / runs;
        long outputBytes = 1000 * sizeof(float);
        Assert.True(perRun >= outputBytes, $"{perRun} bytes per run cannot include the 4000-byte output");
        Assert.True(perRun - outputBytes < 1536, $"a warm run allocated {perRun} bytes, {perRun - outputBytes} besides its output");
    }

    [Fact]
    public void UnknownOpIsNamedAtLoad()
    {
        var e = Assert.Throws<ModelLoadException>(() => new Session(Chain(1, "NoSuchOp", "")));
        Assert.Contains("NoSuchOp", e.Message);
        Assert.Contains("n0", e.Message);
    }

    [Fact]
    public void OpUnknownAtTheModelsOpsetIsRefused()
    {
        var reg = KernelRegistry.CreateWithBuiltIns();
        reg.Register("", "NewOp", 20, int.MaxValue, _ => new ScaleKernel(1));
        var e = Assert.Throws<ModelLoadException>(() => new Session(Chain(1, "NewOp", ""), new SessionOptions { Kernels = reg }));
        Assert.Contains("opset 17", e.Message);
    }

    [Fact]
    public void InputThatNothingProducesIsNamed()
    {
        var m = Chain(2);
        m.Graph.Nodes[1].Inputs[0] = "ghost";
        var e = Assert.Throws<ModelLoadException>(() => new Session(m, WithScale()));
        Assert.Contains("'ghost'", e.Message);
    }

    [Fact]
    public void NodesOutOfOrderAreSorted()
    {
        var m = Chain(3);
        m.Graph.Nodes.Reverse();
        var s = new Session(m, WithScale(3f));
        var r = s.Run(new Dictionary<string, Tensor> { ["x"] = Tensor.Create(Enumerable.Repeat(1f, 1000).ToArray(), 1000) });
        Assert.Equal(27f, r["y"].ToArray<float>()[0]);
    }

    [Fact]
    public void WrongInputNameTypeAndShapeAreReported()
    {
        var s = new Session(Chain(1), WithScale());
        var e1 = Assert.Throws<InferenceException>(() => s.Run(new Dictionary<string, Tensor> { ["z"] = Tensor.Zeros(DataType.Float, 1000) }));
        Assert.Contains("'z'", e1.Message);
        var e2 = Assert.Throws<InferenceException>(() => s.Run(new Dictionary<string, Tensor> { ["x"] = Tensor.Zeros(DataType.Int32, 1000) }));
        Assert.Contains("int32", e2.Message);
        var e3 = Assert.Throws<InferenceException>(() => s.Run(new Dictionary<string, Tensor> { ["x"] = Tensor.Zeros(DataType.Float, 999) }));
        Assert.Contains("[999]", e3.Message);
        var e4 = Assert.Throws<InferenceException>(() => s.Run(new Dictionary<string, Tensor>()));
        Assert.Contains("'x'", e4.Message);
    }

    [Fact]
    public void ConcurrentRunsGiveIndependentResults()
    {
        var s = new Session(Chain(5), WithScale(2f));
        var results = new float[16];
        Parallel.For(0, 16, new ParallelOptions { MaxDegreeOfParallelism = 4 }, i =>
        {
            for (int rep = 0; rep < 20; rep++)
            {
                var r = s.Run(new Dictionary<string, Tensor> { ["x"] = Tensor.Create(Enumerable.Repeat((float)i, 1000).ToArray(), 1000) });
                var y = r["y"].ToArray<float>();
                Assert.All(y, v => Assert.Equal(i * 32f, v));
                results[i] = y[0];
            }
        });
        Assert.Equal(Enumerable.Range(0, 16).Select(i => i * 32f), results);
    }

    [Fact]
    public void OutputsThatAliasConstantsAreCopies()
    {
        var m = new Model();
        m.Opsets[""] = 17;
        m.Graph.Initializers["c"] = Tensor.Create(new[] { 1f, 2f }, 2);
        m.Graph.Nodes.Add(new Node("Identity", ["c"], ["y"]));
        m.Graph.Outputs.Add(new ValueInfo("y", null));
        var s = new Session(m);
        var y = (Tensor)s.Run(new Dictionary<string, object>())["y"];
        y.Span<float>()[0] = 100;
        Assert.Equal(1f, ((Tensor)s.Run(new Dictionary<string, object>())["y"]).ToArray<float>()[0]);
    }

    [Fact]
    public void ProfilingRecordsEveryNode()
    {
        var o = WithScale();
        o.EnableProfiling = true;
        var s = new Session(Chain(4), o);
        s.Run(new Dictionary<string, Tensor> { ["x"] = Tensor.Zeros(DataType.Float, 1000) });
        var p = Assert.Single(s.Profile);
        Assert.Equal(["n0", "n1", "n2", "n3"], p.Nodes.Select(n => n.NodeName));
    }
}
