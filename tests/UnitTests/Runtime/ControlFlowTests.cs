using NetOnnx.Runtime;
using Xunit;

namespace NetOnnx.Tests;

/// <summary>Subgraph execution (If, Loop, Scan), sequences, optionals, random ops and output detaching.</summary>
public class ControlFlowTests
{
    private static readonly Dim[] Four = [Dim.Known(4)];

    private static SessionOptions Options(float factor = 2f)
    {
        var reg = KernelRegistry.CreateWithBuiltIns();
        reg.Register("test", "Scale", _ => new ScaleKernel(factor));
        return new SessionOptions { Kernels = reg, IntraOpThreads = 1 };
    }

    private static Model NewModel()
    {
        var m = new Model();
        m.Opsets[""] = 17;
        m.Opsets["test"] = 1;
        return m;
    }

    private static NodeAttribute GraphAttr(string name, Graph g) => new(name, AttributeKind.Graph) { Graph = g };
    private static NodeAttribute IntAttr(string name, long v) => new(name, AttributeKind.Int) { Int = v };
    private static NodeAttribute IntsAttr(string name, params long[] v) => new(name, AttributeKind.Ints) { Ints = v };
    private static Tensor Floats(params float[] v) => Tensor.Create(v, v.Length);

    [Fact]
    public void LoopCarriesPooledValuesAndReadsOuterScope()
    {
        // body(i, cond, x): x' = Scale(x); s = Scale(w) with w from the outer graph.
        var body = new Graph { Name = "body" };
        body.Inputs.Add(new ValueInfo("i", OnnxType.Tensor(DataType.Int64)));
        body.Inputs.Add(new ValueInfo("c", OnnxType.Tensor(DataType.Bool)));
        body.Inputs.Add(new ValueInfo("x", OnnxType.Tensor(DataType.Float, Four)));
        body.Nodes.Add(new Node("Identity", ["c"], ["c_out"]));
        body.Nodes.Add(new Node("Scale", ["x"], ["x_out"], "sx", "test"));
        body.Nodes.Add(new Node("Scale", ["w"], ["s"], "sw", "test"));
        body.Outputs.Add(new ValueInfo("c_out", OnnxType.Tensor(DataType.Bool)));
        body.Outputs.Add(new ValueInfo("x_out", OnnxType.Tensor(DataType.Float, Four)));
        body.Outputs.Add(new ValueInfo("s", OnnxType.Tensor(DataType.Float, Four)));

        var m = NewModel();
        var g = m.Graph;
        g.Inputs.Add(new ValueInfo("x0", OnnxType.Tensor(DataType.Float, Four)));
        g.Inputs.Add(new ValueInfo("w0", OnnxType.Tensor(DataType.Float, Four)));
        g.Initializers["m"] = Tensor.Scalar(5L);
        g.Nodes.Add(new Node("Scale", ["w0"], ["w"], "pre", "test"));
        g.Nodes.Add(new Node("Loop", ["m", "", "x0"], ["x_final", "scans"], "loop", "", [GraphAttr("body", body)]));
        g.Outputs.Add(new ValueInfo("x_final", null));
        g.Outputs.Add(new ValueInfo("scans", null));

        var s = new Session(m, Options());
        for (int run = 0; run < 2; run++)
        {
            var r = s.Run(new Dictionary<string, object> { ["x0"] = Floats(1, 2, 3, 4), ["w0"] = Floats(1, 1, 1, 1) });
            Assert.Equal([32f, 64f, 96f, 128f], ((Tensor)r["x_final"]).ToArray<float>());
            var scans = (Tensor)r["scans"];
            Assert.Equal([5, 4], scans.Shape);
            Assert.All(scans.ToArray<float>(), v => Assert.Equal(4f, v));
        }
    }

    [Fact]
    public void IfPicksTheBranchAndReturnsOuterValues()
    {
        var then = new Graph { Name = "then" };
        then.Nodes.Add(new Node("Scale", ["x"], ["t"], "st", "test"));
        then.Outputs.Add(new ValueInfo("t", null));
        var els = new Graph { Name = "else" };
        els.Outputs.Add(new ValueInfo("x", null)); // an outer value passed straight through

        var m = NewModel();
        var g = m.Graph;
        g.Inputs.Add(new ValueInfo("c", OnnxType.Tensor(DataType.Bool)));
        g.Inputs.Add(new ValueInfo("x", OnnxType.Tensor(DataType.Float, Four)));
        g.Nodes.Add(new Node("If", ["c"], ["y"], "if", "", [GraphAttr("then_branch", then), GraphAttr("else_branch", els)]));
        g.Outputs.Add(new ValueInfo("y", null));
        var s = new Session(m, Options(3f));
        var x = Floats(1, 2, 3, 4);
        Assert.Equal([3f, 6f, 9f, 12f], ((Tensor)s.Run(new Dictionary<string, object> { ["c"] = Tensor.Scalar(true), ["x"] = x })["y"]).ToArray<float>());
        var y = (Tensor)s.Run(new Dictionary<string, object> { ["c"] = Tensor.Scalar(false), ["x"] = x })["y"];
        Assert.Equal([1f, 2f, 3f, 4f], y.ToArray<float>());
        Assert.NotSame(x.Buffer, y.Buffer); // the caller's input comes back as a copy
    }

    [Fact]
    public void SubgraphNodesOnConstantsAreEvaluatedOnceAtPlanTime()
    {
        // then: a = Add(w, k) with w an outer initializer and k a Constant node; b = Add(wi, k) with wi an
        // initializer the caller may override; y = a * x + b. Only the nodes reading x or wi must run.
        var then = new Graph { Name = "then" };
        then.Nodes.Add(new Node("Constant", [], ["k"], "k", "", [new NodeAttribute("value", AttributeKind.Tensor) { Tensor = Floats(10, 20, 30, 40) }]));
        then.Nodes.Add(new Node("Add", ["w", "k"], ["a"], "add_w"));
        then.Nodes.Add(new Node("Add", ["wi", "k"], ["b"], "add_wi"));
        then.Nodes.Add(new Node("Mul", ["a", "x"], ["ax"], "mul"));
        then.Nodes.Add(new Node("Add", ["ax", "b"], ["t"], "sum"));
        then.Outputs.Add(new ValueInfo("t", null));
        // else: a constant Reshape that cannot succeed; planning must not fail, running the branch must name it.
        var els = new Graph { Name = "else" };
        els.Initializers["bad_shape"] = Tensor.Create(new long[] { 3 }, 1);
        els.Nodes.Add(new Node("Constant", [], ["k2"], "k2", "", [new NodeAttribute("value", AttributeKind.Tensor) { Tensor = Floats(1, 2, 3, 4) }]));
        els.Nodes.Add(new Node("Reshape", ["k2", "bad_shape"], ["e"], "bad_reshape"));
        els.Outputs.Add(new ValueInfo("e", null));

        var m = NewModel();
        var g = m.Graph;
        g.Inputs.Add(new ValueInfo("c", OnnxType.Tensor(DataType.Bool)));
        g.Inputs.Add(new ValueInfo("x", OnnxType.Tensor(DataType.Float, Four)));
        g.Inputs.Add(new ValueInfo("wi", OnnxType.Tensor(DataType.Float, Four)));
        g.Initializers["w"] = Floats(1, 2, 3, 4);
        g.Initializers["wi"] = Floats(100, 100, 100, 100);
        g.Nodes.Add(new Node("If", ["c"], ["y"], "if", "", [GraphAttr("then_branch", then), GraphAttr("else_branch", els)]));
        g.Outputs.Add(new ValueInfo("y", null));
        var opts = Options();
        opts.EnableProfiling = true;
        var s = new Session(m, opts);
        var x = Floats(1, -1, 2, 0.5f);
        for (int run = 0; run < 2; run++)
        {
            var y = (Tensor)s.Run(new Dictionary<string, object> { ["c"] = Tensor.Scalar(true), ["x"] = x })["y"];
            Assert.Equal([11f * 1 + 110, 22f * -1 + 120, 33f * 2 + 130, 44f * 0.5f + 140], y.ToArray<float>());
        }
        var ran = s.Profile[^1].Nodes.Select(n => n.NodeName).ToHashSet();
        Assert.Contains("mul", ran);
        Assert.Contains("add_wi", ran);
        Assert.DoesNotContain("k", ran);
        Assert.DoesNotContain("add_w", ran);

        // Overriding the initializer input changes b: it was not folded.
        var y2 = (Tensor)s.Run(new Dictionary<string, object> { ["c"] = Tensor.Scalar(true), ["x"] = x, ["wi"] = Floats(0, 0, 0, 0) })["y"];
        Assert.Equal([11f + 10, -22f + 20, 66f + 30, 22f + 40], y2.ToArray<float>());

        var ex = Assert.Throws<InferenceException>(() => s.Run(new Dictionary<string, object> { ["c"] = Tensor.Scalar(false), ["x"] = x }));
        Assert.Contains("bad_reshape", ex.Message);
    }

    [Fact]
    public void ScanStacksOutputsOnTheRequestedAxisAndDirection()
    {
        // body(state, row): state' = state, out = Scale(row).
        var body = new Graph { Name = "scan_body" };
        body.Inputs.Add(new ValueInfo("st", null));
        body.Inputs.Add(new ValueInfo("row", null));
        body.Nodes.Add(new Node("Identity", ["st"], ["st_out"]));
        body.Nodes.Add(new Node("Scale", ["row"], ["o"], "s", "test"));
        body.Outputs.Add(new ValueInfo("st_out", null));
        body.Outputs.Add(new ValueInfo("o", null));

        var m = NewModel();
        var g = m.Graph;
        g.Inputs.Add(new ValueInfo("s0", OnnxType.Tensor(DataType.Float, [Dim.Known(1)])));
        g.Inputs.Add(new ValueInfo("x", OnnxType.Tensor(DataType.Float, [Dim.Known(2), Dim.Known(3)])));
        g.Nodes.Add(new Node("Scan", ["s0", "x"], ["s_final", "y"], "scan", "",
            [GraphAttr("body", body), IntAttr("num_scan_inputs", 1), IntsAttr("scan_input_axes", 1),
             IntsAttr("scan_output_axes", 1), IntsAttr("scan_output_directions", 1)]));
        g.Outputs.Add(new ValueInfo("s_final", null));
        g.Outputs.Add(new ValueInfo("y", null));
        var r = new Session(m, Options(1f)).Run(new Dictionary<string, object>
        {
            ["s0"] = Floats(7),
            ["x"] = Tensor.Create(new float[] { 0, 1, 2, 10, 11, 12 }, 2, 3),
        });
        // Slices along axis 1 are columns [0,10], [1,11], [2,12]; stacked on axis 1 in reverse order.
        var y = (Tensor)r["y"];
        Assert.Equal([2, 3], y.Shape);
        Assert.Equal([2f, 1f, 0f, 12f, 11f, 10f], y.ToArray<float>());
        Assert.Equal([7f], ((Tensor)r["s_final"]).ToArray<float>());
    }

    [Fact]
    public void SequenceOutputsAreIndependentOfConstants()
    {
        var m = NewModel();
        var g = m.Graph;
        g.Initializers["k"] = Floats(1, 2);
        g.Nodes.Add(new Node("SequenceConstruct", ["k", "k"], ["seq"]));
        g.Outputs.Add(new ValueInfo("seq", null));
        var s = new Session(m, Options());
        var first = (TensorSequence)s.Run(new Dictionary<string, object>())["seq"];
        first.Items[0].Span<float>()[0] = 99;
        var second = (TensorSequence)s.Run(new Dictionary<string, object>())["seq"];
        Assert.Equal([1f, 2f], second.Items[0].ToArray<float>());
        Assert.NotSame(first.Items[0].Buffer, first.Items[1].Buffer);
    }

    [Fact]
    public void SplitAndConcatFromSequenceRoundTrip()
    {
        var m = NewModel();
        var g = m.Graph;
        g.Inputs.Add(new ValueInfo("x", OnnxType.Tensor(DataType.Int64, [Dim.Known(2), Dim.Known(3)])));
        g.Nodes.Add(new Node("SplitToSequence", ["x"], ["parts"], "split", "", [IntAttr("axis", 1), IntAttr("keepdims", 0)]));
        g.Nodes.Add(new Node("ConcatFromSequence", ["parts"], ["y"], "concat", "", [IntAttr("axis", 0), IntAttr("new_axis", 1)]));
        g.Nodes.Add(new Node("SequenceLength", ["parts"], ["n"]));
        g.Outputs.Add(new ValueInfo("y", null));
        g.Outputs.Add(new ValueInfo("n", null));
        var r = new Session(m, Options()).Run(new Dictionary<string, object> { ["x"] = Tensor.Create(new long[] { 1, 2, 3, 4, 5, 6 }, 2, 3) });
        var y = (Tensor)r["y"];
        Assert.Equal([3, 2], y.Shape); // columns stacked: the transpose
        Assert.Equal([1L, 4, 2, 5, 3, 6], y.ToArray<long>());
        Assert.Equal(3L, ((Tensor)r["n"]).Item<long>());
    }

    [Fact]
    public void SeededRandomOpsAreDeterministicWithTheRightShapeAndType()
    {
        var m = NewModel();
        var g = m.Graph;
        g.Nodes.Add(new Node("RandomNormal", [], ["a"], "rn", "",
            [IntsAttr("shape", 3, 5), IntAttr("dtype", (long)DataType.Double), new NodeAttribute("seed", AttributeKind.Float) { Float = 3 }]));
        g.Nodes.Add(new Node("RandomUniformLike", ["a"], ["b"], "ru", "",
            [new NodeAttribute("seed", AttributeKind.Float) { Float = 1 }, new NodeAttribute("low", AttributeKind.Float) { Float = 0.25f }, new NodeAttribute("high", AttributeKind.Float) { Float = 0.75f }]));
        g.Nodes.Add(new Node("Bernoulli", ["b"], ["c"], "bern", "", [IntAttr("dtype", (long)DataType.Int32)]));
        g.Outputs.Add(new ValueInfo("a", null));
        g.Outputs.Add(new ValueInfo("b", null));
        g.Outputs.Add(new ValueInfo("c", null));
        var s = new Session(m, Options());
        var r1 = s.Run(new Dictionary<string, object>());
        var r2 = s.Run(new Dictionary<string, object>());
        var a = (Tensor)r1["a"];
        Assert.Equal(DataType.Double, a.ElementType);
        Assert.Equal([3, 5], a.Shape);
        Assert.Equal(a.ToArray<double>(), ((Tensor)r2["a"]).ToArray<double>());
        var b = (Tensor)r1["b"];
        Assert.Equal(DataType.Double, b.ElementType);
        Assert.All(b.ToArray<double>(), v => Assert.InRange(v, 0.25, 0.75));
        var c = (Tensor)r1["c"];
        Assert.Equal(DataType.Int32, c.ElementType);
        Assert.Equal([3, 5], c.Shape);
    }

    [Fact]
    public void OptionalOpsAndBadPositionsReportClearly()
    {
        var m = NewModel();
        var g = m.Graph;
        g.Inputs.Add(new ValueInfo("x", OnnxType.Tensor(DataType.Float, Four)));
        g.Initializers["pos"] = Tensor.Scalar(5L);
        g.Nodes.Add(new Node("Optional", ["x"], ["o"]));
        g.Nodes.Add(new Node("OptionalHasElement", ["o"], ["has"]));
        g.Nodes.Add(new Node("SequenceConstruct", ["x"], ["seq"]));
        g.Nodes.Add(new Node("SequenceAt", ["seq", "pos"], ["bad"], "at"));
        g.Outputs.Add(new ValueInfo("has", null));
        g.Outputs.Add(new ValueInfo("bad", null));
        var s = new Session(m, Options());
        var e = Assert.Throws<InferenceException>(() => s.Run(new Dictionary<string, object> { ["x"] = Floats(1, 2, 3, 4) }));
        Assert.Contains("SequenceAt", e.Message);
        Assert.Contains("out of range", e.Message);
    }
}
