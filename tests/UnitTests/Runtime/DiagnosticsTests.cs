using System.Diagnostics;
using System.Diagnostics.Metrics;
using System.Text.Json;
using NetOnnx.Runtime;
using NetOnnx.Runtime.Diagnostics;
using Xunit;

namespace NetOnnx.Tests;

/// <summary>A test kernel that always fails, to count errors.</summary>
internal sealed class FailingKernel : OpKernel
{
    public override void Compute(KernelContext ctx) => throw new InvalidOperationException("deliberate failure");
}

public class DiagnosticsTests
{
    // A unique graph name per model: listeners are process-wide and other tests run sessions at the same time.
    private static Model ReluChain(int length, string name, int size = 1000, string op = "Relu", string domain = "")
    {
        var m = new Model();
        m.Opsets[""] = 17;
        if (domain.Length > 0) m.Opsets[domain] = 1;
        var g = m.Graph;
        g.Name = name;
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

    private static Dictionary<string, Tensor> Input(int size = 1000) => new() { ["x"] = Tensor.Zeros(DataType.Float, size) };

    private static string Unique(string stem) => $"{stem}-{Guid.NewGuid():N}";

    [Fact]
    public void MeterReportsLatencyRunsAndErrorsTaggedWithTheModel()
    {
        string name = Unique("meter");
        var durations = new List<double>();
        long runs = 0, errors = 0;
        using var listener = new MeterListener();
        listener.InstrumentPublished = (inst, l) => { if (inst.Meter.Name == RuntimeTelemetry.Name) l.EnableMeasurementEvents(inst); };
        bool Ours(ReadOnlySpan<KeyValuePair<string, object?>> tags)
        {
            foreach (var t in tags) if (t.Key == "model" && (string?)t.Value == name) return true;
            return false;
        }
        listener.SetMeasurementEventCallback<double>((inst, v, tags, _) =>
        {
            if (inst.Name == "netonnx.run.duration" && Ours(tags)) lock (durations) durations.Add(v);
        });
        listener.SetMeasurementEventCallback<long>((inst, v, tags, _) =>
        {
            if (!Ours(tags)) return;
            if (inst.Name == "netonnx.runs") Interlocked.Add(ref runs, v);
            if (inst.Name == "netonnx.run.errors") Interlocked.Add(ref errors, v);
        });
        listener.Start();

        var s = new Session(ReluChain(3, name), new SessionOptions { IntraOpThreads = 1 });
        for (int i = 0; i < 5; i++) s.Run(Input());

        var reg = KernelRegistry.CreateWithBuiltIns();
        reg.Register("test", "Fail", _ => new FailingKernel());
        var bad = new Session(ReluChain(1, name, op: "Fail", domain: "test"), new SessionOptions { Kernels = reg });
        Assert.Throws<InferenceException>(() => bad.Run(Input()));

        Assert.Equal(5, durations.Count);
        Assert.All(durations, d => Assert.True(d > 0 && d < 60_000, $"duration {d} ms"));
        Assert.Equal(5, Interlocked.Read(ref runs));
        Assert.Equal(1, Interlocked.Read(ref errors));
    }

    [Fact]
    public void ActivitySourceGivesASpanPerRunAndChildSpansPerNodeOnlyWhenProfiling()
    {
        string name = Unique("spans");
        var stopped = new List<Activity>();
        using var listener = new ActivityListener
        {
            ShouldListenTo = src => src.Name == RuntimeTelemetry.Name,
            Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
            ActivityStopped = a => { lock (stopped) stopped.Add(a); },
        };
        ActivitySource.AddActivityListener(listener);

        var plain = new Session(ReluChain(4, name), new SessionOptions { IntraOpThreads = 1 });
        plain.Run(Input());
        var profiled = new Session(ReluChain(4, name), new SessionOptions { IntraOpThreads = 1, EnableProfiling = true });
        profiled.Run(Input());

        List<Activity> all;
        lock (stopped) all = stopped.ToList();
        var runs = all.Where(a => a.OperationName == RuntimeTelemetry.RunActivityName && (string?)a.GetTagItem("netonnx.model") == name).ToList();
        Assert.Equal(2, runs.Count);
        var children = runs.Select(r => all.Where(a => a.ParentSpanId == r.SpanId && a.TraceId == r.TraceId).ToList()).ToList();
        Assert.Empty(children[0]);
        Assert.Equal(["n0", "n1", "n2", "n3"], children[1].Select(c => (string?)c.GetTagItem("netonnx.node")).Order());
        foreach (var c in children[1])
        {
            Assert.Equal("Relu", c.OperationName);
            Assert.Equal("[1000]", c.GetTagItem("netonnx.output"));
            // Each node span lies inside its run's span.
            Assert.True(c.StartTimeUtc >= runs[1].StartTimeUtc && c.StartTimeUtc + c.Duration <= runs[1].StartTimeUtc + runs[1].Duration + TimeSpan.FromMilliseconds(1));
        }
    }

    [Fact]
    public void ProfileRecordsShapesOrderOfStartsPeakAndAllocations()
    {
        var s = new Session(ReluChain(4, Unique("profile")), new SessionOptions { IntraOpThreads = 1, EnableProfiling = true });
        s.Run(Input());
        var p = Assert.Single(s.Profile);
        Assert.All(p.Nodes, n => Assert.Equal("[1000]", n.InputShapes));
        for (int i = 1; i < p.Nodes.Count; i++) Assert.True(p.Nodes[i].StartTimestamp >= p.Nodes[i - 1].StartTimestamp);
        Assert.True(p.Nodes[0].StartTimestamp >= p.StartTimestamp);
        // A chain holds at most its input-side and output-side intermediate at once: between one and two 4000-byte buffers
        // (the graph output is an intermediate buffer handed to the caller).
        Assert.InRange(p.PeakBytes, 4000, 8000);
        Assert.Equal(p.PeakBytes, s.LastRunPeakBytes);
        Assert.True(p.ManagedAllocatedBytes > 0);
        Assert.Equal(Environment.CurrentManagedThreadId, p.ThreadId);
    }

    private static RunProfile Hand(long start, params (string Name, string Op, double Ms, long StartTicks)[] nodes) =>
        new(nodes.Sum(n => n.Ms) + 1, nodes.Select(n => new NodeTiming(n.Name, n.Op, n.Op + "Kernel", n.Ms, "[2]") { InputShapes = "[2]", StartTimestamp = n.StartTicks }).ToList())
        { StartTimestamp = start, ThreadId = 7, PeakBytes = 100 };

    [Fact]
    public void SummaryAddsTimesPerOpAndNodeAndSharesOfTheMeanRun()
    {
        // Two runs: total 1 + (2+3+5) = 11 ms and 1 + (4+1+5) = 11 ms.
        var runs = new[]
        {
            Hand(0, ("a", "Conv", 2, 0), ("b", "Relu", 3, 0), ("c", "Conv", 5, 0)),
            Hand(0, ("a", "Conv", 4, 0), ("b", "Relu", 1, 0), ("c", "Conv", 5, 0)),
        };
        var s = new ProfileSummary(runs);
        Assert.Equal(2, s.Runs);
        Assert.Equal(11, s.MeanRunMilliseconds, 9);
        Assert.Equal(["Conv", "Relu"], s.Ops.Select(o => o.OpType));
        Assert.Equal(8, s.Ops[0].MillisecondsPerRun, 9);    // (2+5+4+5)/2
        Assert.Equal(2, s.Ops[0].Nodes);
        Assert.Equal(8 / 11.0, s.Ops[0].Share, 9);
        Assert.Equal(2, s.Ops[1].MillisecondsPerRun, 9);    // (3+1)/2
        Assert.Equal(["c", "a", "b"], s.Nodes.Select(n => n.NodeName)); // 5, 3, 2 ms per run
        Assert.Equal(1, s.BetweenNodesMilliseconds, 9);
        Assert.False(s.HasNestedNodes);
        Assert.Equal(100, s.MaxPeakBytes);
    }

    [Fact]
    public void ChromeTraceHasOneEventPerNodePerRunInMicroseconds()
    {
        long f = Stopwatch.Frequency;
        var runs = new[]
        {
            Hand(1000 * f, ("a", "Conv", 2, 1000 * f + f / 1000), ("b", "Relu", 3, 1000 * f + 3 * f / 1000)),
            Hand(1001 * f, ("a", "Conv", 4, 1001 * f), ("b", "Relu", 1, 1001 * f + 4 * f / 1000)),
        };
        var ms = new MemoryStream();
        ChromeTraceWriter.Write(ms, [new TraceSection("model t1", runs)]);
        using var doc = JsonDocument.Parse(ms.ToArray());
        var events = doc.RootElement.GetProperty("traceEvents").EnumerateArray().ToList();
        var nodes = events.Where(e => e.TryGetProperty("cat", out var c) && c.GetString() == "node").ToList();
        Assert.Equal(4, nodes.Count);
        Assert.Equal(2, events.Count(e => e.TryGetProperty("cat", out var c) && c.GetString() == "run"));
        Assert.Contains(events, e => e.GetProperty("ph").GetString() == "M" && e.GetProperty("args").GetProperty("name").GetString() == "model t1");
        Assert.All(nodes, n => Assert.Equal("X", n.GetProperty("ph").GetString()));
        // Microseconds from the first run's start: node b of run 0 starts at 3 ms and lasts 3 ms; run 1 starts 1 s later.
        var b0 = nodes.Single(n => n.GetProperty("name").GetString() == "b" && n.GetProperty("args").GetProperty("run").GetInt32() == 0);
        Assert.Equal(3000, b0.GetProperty("ts").GetDouble(), 3);
        Assert.Equal(3000, b0.GetProperty("dur").GetDouble(), 3);
        Assert.Equal("Relu", b0.GetProperty("args").GetProperty("op").GetString());
        Assert.Equal(7, b0.GetProperty("tid").GetInt32());
        var a1 = nodes.Single(n => n.GetProperty("name").GetString() == "a" && n.GetProperty("args").GetProperty("run").GetInt32() == 1);
        Assert.Equal(1_000_000, a1.GetProperty("ts").GetDouble(), 3);
    }
}

public class ProfileSelfTimeTests
{
    [Fact]
    public void ABodysNodesAreTakenOutOfTheNodeThatRanIt()
    {
        long f = System.Diagnostics.Stopwatch.Frequency;
        long Ms(double ms) => (long)(ms * f / 1000);
        // Main graph: "if" runs 0-10 ms; its body: "conv" 1-5 ms and a nested "inner_if" 5-9 ms whose own body has "relu" 6-8 ms.
        // Then "out" 10-11 ms. Self times: if 10-4-4 = 2, inner_if 4-2 = 2, conv 4, relu 2, out 1; they add up to 11.
        NodeTiming N(string name, string op, double start, double ms, int depth) => new(name, op, op, ms, "") { StartTimestamp = Ms(start), Depth = depth };
        var nodes = new List<NodeTiming>
        {
            N("conv", "Conv", 1, 4, 1), N("relu", "Relu", 6, 2, 2), N("inner_if", "If", 5, 4, 1), N("if", "If", 0, 10, 0), N("out", "Identity", 10, 1, 0),
        };
        var self = ProfileSummary.SelfTimes(nodes).ToDictionary(x => x.Node.NodeName, x => x.SelfMs);
        Assert.Equal(2, self["if"], 6);
        Assert.Equal(2, self["inner_if"], 6);
        Assert.Equal(4, self["conv"], 6);
        Assert.Equal(2, self["relu"], 6);
        Assert.Equal(1, self["out"], 6);

        var s = new ProfileSummary([new RunProfile(12, nodes) { StartTimestamp = 0 }]);
        Assert.True(s.HasNestedNodes);
        Assert.Equal(4, s.Ops.Single(o => o.OpType == "If").MillisecondsPerRun, 6);
        Assert.Equal(1, s.BetweenNodesMilliseconds, 6); // 12 - 11
        Assert.Equal(11 / 12.0, s.Ops.Sum(o => o.Share), 6);
    }
}
