using NetOnnx.Optimizer.Patterns;
using NetOnnx.Runtime;
using Xunit;
using static NetOnnx.Optimizer.Patterns.Pattern;
using static NetOnnx.Tests.IrBuilder;

namespace NetOnnx.Tests;

/// <summary>The declarative pattern matcher and the graph editor that fusion passes build on.</summary>
public class PatternTests
{
    // y = Add(MatMul(x, w), b); also z = Relu(mm) when shared.
    private static Model Linear(bool shareMatMul = false, bool biasIsInput = false)
    {
        var inits = new Dictionary<string, Tensor>
        {
            ["w"] = Tensor.Create(new float[] { 1, 2, 3, 4 }, 2, 2),
            ["b"] = Tensor.Create(new float[] { 1, 1 }, 2),
        };
        var inputs = new List<ValueInfo> { F("x", 1, 2) };
        if (biasIsInput) inputs.Add(F("b", 2));
        var outputs = new List<ValueInfo> { F("y", 1, 2) };
        var nodes = new List<Node> { N("MatMul", ["x", "w"], ["mm"]), N("Add", ["mm", "b"], ["y"]) };
        if (shareMatMul) { nodes.Add(N("Relu", ["mm"], ["z"])); outputs.Add(F("z", 1, 2)); }
        return Model(inputs, outputs, nodes, inits);
    }

    private static readonly OpPattern s_linear = Op("Add", Op("MatMul", Any("a"), Const("w")).As("mm"), Const("b")).As("add");

    [Fact]
    public void MatchesAndCapturesValuesAndNodes()
    {
        var m = Linear();
        var ed = new GraphEditor(m.Graph);
        var match = s_linear.Match(ed, m.Graph.Nodes[1]);
        Assert.NotNull(match);
        Assert.Equal("x", match["a"]);
        Assert.Equal("w", match["w"]);
        Assert.Equal("b", match["b"]);
        Assert.Equal("MatMul", match.Node("mm").OpType);
        Assert.Same(m.Graph.Nodes[1], match.Root);
        Assert.Equal(["MatMul", "Add"], match.Nodes.Select(n => n.OpType));
    }

    [Fact]
    public void InnerNodeWithAnotherReaderDoesNotMatchUnlessAllowed()
    {
        var m = Linear(shareMatMul: true);
        var ed = new GraphEditor(m.Graph);
        Assert.Null(s_linear.Match(ed, m.Graph.Nodes[1]));
        var shared = Op("Add", Op("MatMul", Any("a"), Const("w")).AllowSharedOutput(), Const("b"));
        Assert.NotNull(shared.Match(ed, m.Graph.Nodes[1]));
    }

    [Fact]
    public void ConstRejectsInitializersTheCallerMayOverride()
    {
        var m = Linear(biasIsInput: true);
        Assert.Null(s_linear.Match(new GraphEditor(m.Graph), m.Graph.Nodes[1]));
    }

    [Fact]
    public void CommutativeTriesBothInputOrdersAndRepeatedCapturesMustAgree()
    {
        var m = Model([F("x", 2)], [F("y", 2)],
            [N("Mul", ["x", "x"], ["sq"]), N("Add", ["c", "sq"], ["y"])],
            new Dictionary<string, Tensor> { ["c"] = Tensor.Create(new float[] { 1, 2 }, 2) });
        var ed = new GraphEditor(m.Graph);
        var square = Op("Add", Op("Mul", Any("v"), Any("v")), Const("k"));
        Assert.Null(square.Match(ed, m.Graph.Nodes[1]));
        var either = Op("Add", Op("Mul", Any("v"), Any("v")), Const("k")).Commutative();
        var match = either.Match(ed, m.Graph.Nodes[1]);
        Assert.NotNull(match);
        Assert.Equal("x", match["v"]);
        Assert.Equal("c", match["k"]);
        Assert.Null(Op("Add", Op("Mul", Any("v"), Const("v")), Const("k")).Commutative().Match(ed, m.Graph.Nodes[1]));
    }

    [Fact]
    public void WhereAndConstPredicatesFilter()
    {
        var m = Linear();
        var ed = new GraphEditor(m.Graph);
        Assert.Null(Op("Add", Any(), Const(null, t => t.Length == 3)).Match(ed, m.Graph.Nodes[1]));
        Assert.NotNull(Op("Add", Any(), Const(null, t => t.Length == 2)).Match(ed, m.Graph.Nodes[1]));
        Assert.Null(Op("Add", Any(), Any()).Where(n => n.HasAttr("alpha")).Match(ed, m.Graph.Nodes[1]));
    }

    [Fact]
    public void MatchAllFindsEveryRootOnce()
    {
        var m = Model([F("x", 2)], [F("y", 2)],
            [N("Relu", ["x"], ["a"]), N("Neg", ["a"], ["b"]), N("Relu", ["b"], ["c"]), N("Neg", ["c"], ["y"])]);
        var ed = new GraphEditor(m.Graph);
        var matches = Op("Neg", Op("Relu", Any("in"))).MatchAll(ed).ToList();
        Assert.Equal(["x", "b"], matches.Select(x => x["in"]));
    }

    [Fact]
    public void EditorReplacesAFusedSubgraphAndKeepsOrder()
    {
        var m = Linear();
        var ed = new GraphEditor(m.Graph);
        var match = s_linear.Match(ed, m.Graph.Nodes[1])!;
        var gemm = new Node("Gemm", [match["a"], match["w"], match["b"]], [match.Root.Outputs[0]], "fused");
        ed.Replace(match.Root, gemm);
        foreach (var n in match.Nodes) ed.Remove(n);
        var r = ed.Commit();
        Assert.Equal(2, r.NodesRemoved);
        Assert.Equal(1, r.NodesAdded);
        Assert.Equal(["Gemm"], m.Graph.Nodes.Select(n => n.OpType));
        Assert.Equal([2f, 3f], RunY(m, [1f, 0f]));
    }

    [Fact]
    public void BypassRenamesTheProducerWhenTheOutputIsAGraphOutput()
    {
        var m = Model([F("x", 2)], [F("y", 2)], [N("Relu", ["x"], ["r"]), N("Identity", ["r"], ["y"])]);
        var ed = new GraphEditor(m.Graph);
        Assert.True(ed.Bypass(m.Graph.Nodes[1], "r", "y"));
        ed.Commit();
        Assert.Equal("y", Assert.Single(m.Graph.Nodes).Outputs[0]);

        // x -> y directly: there is no producer to rename, so the Identity must stay.
        var direct = Model([F("x", 2)], [F("y", 2)], [N("Identity", ["x"], ["y"])]);
        Assert.False(new GraphEditor(direct.Graph).Bypass(direct.Graph.Nodes[0], "x", "y"));
    }

    [Fact]
    public void ReplaceUsesReachesIntoSubgraphs()
    {
        var thenG = new Graph { Name = "then" };
        thenG.Outputs.Add(F("t_out", 2));
        thenG.Nodes.Add(N("Neg", ["v"], ["t_out"]));
        var elseG = new Graph { Name = "else" };
        elseG.Outputs.Add(F("v", 2)); // passes the outer value straight through
        var m = Model([F("x", 2), new ValueInfo("c", OnnxType.Tensor(DataType.Bool))], [F("y", 2)],
            [N("Identity", ["x"], ["v"]),
             new Node("If", ["c"], ["y"], "if", attributes: [NodeAttribute.Of("then_branch", thenG), NodeAttribute.Of("else_branch", elseG)])]);
        var ed = new GraphEditor(m.Graph);
        Assert.Contains(m.Graph.Nodes[1], ed.Consumers("v"));
        ed.ReplaceUses("v", "x");
        Assert.Equal("x", thenG.Nodes[0].Inputs[0]);
        Assert.Equal("x", elseG.Outputs[0].Name);
    }

    private static float[] RunY(Model m, float[] x)
    {
        using var s = new InferenceSession(m, new SessionOptions { OptimizationLevel = OptimizationLevel.None });
        return s.Run(new Dictionary<string, Tensor> { ["x"] = Tensor.Create(x, 1, 2) })["y"].ToArray<float>();
    }

    [Fact]
    public void SoleReaderCountsEveryReadAndFreshNamesAreNeverHandedOutTwice()
    {
        // s = Sigmoid(x); y = Mul(s, s): one reader node, two reads, so s may not be fused away as a private value.
        var m = Model([F("x", 2)], [F("y", 2), F("r", 2)],
            [N("Sigmoid", ["x"], ["s"]), N("Mul", ["s", "s"], ["y"]), N("Relu", ["x"], ["q"]), N("Neg", ["q"], ["r"])]);
        var ed = new GraphEditor(m.Graph);
        Assert.Equal(2, ed.ReadCount("s"));
        Assert.Null(ed.SoleReader("s"));
        Assert.Equal("Neg", ed.SoleReader("q", "Neg")?.OpType);
        Assert.Null(ed.SoleReader("q", "Abs"));
        Assert.Null(ed.SoleReader("r")); // a graph output
        var a = ed.FreshName("s");
        var b = ed.FreshName("s");
        Assert.NotEqual("s", a);
        Assert.NotEqual(a, b);
    }

    [Fact]
    public void ReplaceSubgraphPutsTheFusedNodeInPlaceAndDropsStaleTypes()
    {
        var m = Model([F("x", 2)], [F("y", 2)], [N("Relu", ["x"], ["a"]), N("Neg", ["a"], ["b"]), N("Abs", ["b"], ["y"])]);
        m.Graph.ValueTypes["a"] = OnnxType.Tensor(DataType.Float, Dim.Known(2));
        m.Graph.ValueTypes["b"] = OnnxType.Tensor(DataType.Float, Dim.Known(2));
        var ed = new GraphEditor(m.Graph);
        var relu = m.Graph.Nodes[0];
        var neg = m.Graph.Nodes[1];
        Assert.True(ed.IsSelfContained([relu, neg], neg));
        ed.ReplaceSubgraph([relu, neg], neg, N("Elu", ["x"], ["b"]));
        var r = ed.Commit();
        Assert.Equal((2, 1), (r.NodesRemoved, r.NodesAdded));
        Assert.Equal(["Elu", "Abs"], m.Graph.Nodes.Select(n => n.OpType));
        Assert.False(m.Graph.ValueTypes.ContainsKey("a")); // nothing makes it any more
        Assert.True(m.Graph.ValueTypes.ContainsKey("b"));  // the fused node makes it
    }
}
