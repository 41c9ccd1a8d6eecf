using Google.Protobuf;
using NetOnnx.OnnxImport;
using NetOnnx.OnnxImport.Proto;
using NetOnnx.Optimizer;
using NetOnnx.Optimizer.Passes;
using NetOnnx.Runtime;
using Xunit;
using static NetOnnx.Tests.TestModels;

namespace NetOnnx.Tests;

/// <summary>Each pass alone: what it rewrites, what it must leave alone, and that outputs are kept.</summary>
public class PassTests
{
    // y = x * (c1 + c2) + (dead branch: z = Neg(c1), unused); c3 is an unused initializer.
    private static byte[] FoldableModel(bool c1IsInput = false)
    {
        var g = new GraphProto { Name = "fold" };
        g.Input.Add(Info("x", 1, 2));
        if (c1IsInput) g.Input.Add(Info("c1", 1, 2));
        g.Output.Add(Info("y", 1, 2));
        g.Initializer.Add(FloatTensor("c1", [1f, 2f], 2));
        g.Initializer.Add(FloatTensor("c2", [3f, 4f], 2));
        g.Initializer.Add(FloatTensor("c3", [9f], 1));
        g.Node.Add(NodeOf("Add", ["c1", "c2"], ["t"], "sum"));
        g.Node.Add(NodeOf("Neg", ["c1"], ["z"], "dead"));
        g.Node.Add(NodeOf("Mul", ["x", "t"], ["y"], "scale"));
        return Model(g).ToByteArray();
    }

    [Fact]
    public void ConstantFoldingTurnsConstantNodesIntoInitializers()
    {
        var m = OnnxModelLoader.Load(FoldableModel());
        var r = new ConstantFolding().Run(m);
        Assert.True(r.Changed);
        Assert.DoesNotContain(m.Graph.Nodes, n => n.Name == "sum");
        Assert.Equal([4f, 6f], m.Graph.Initializers["t"].ToArray<float>());
        Assert.Contains(m.Graph.Nodes, n => n.Name == "scale");
    }

    [Fact]
    public void ConstantFoldingLeavesInitializersThatCallersMayOverride()
    {
        // An initializer that is also a graph input is only a default: folding it would ignore the caller.
        var m = OnnxModelLoader.Load(FoldableModel(c1IsInput: true));
        new ConstantFolding().Run(m);
        Assert.Contains(m.Graph.Nodes, n => n.Name == "sum");
        Assert.False(m.Graph.Initializers.ContainsKey("t"));
    }

    [Fact]
    public void ConstantFoldingRespectsItsSizeBudget()
    {
        var m = OnnxModelLoader.Load(FoldableModel());
        var r = new ConstantFolding { MaxOutputBytes = 4 }.Run(m);
        Assert.False(r.Changed);
        Assert.Contains(m.Graph.Nodes, n => n.Name == "sum");
    }

    [Fact]
    public void DeadCodeEliminationRemovesUnreadNodesAndInitializers()
    {
        var m = OnnxModelLoader.Load(FoldableModel());
        var r = new DeadCodeElimination().Run(m);
        Assert.Equal(1, r.NodesRemoved);
        Assert.DoesNotContain(m.Graph.Nodes, n => n.Name == "dead");
        Assert.False(m.Graph.Initializers.ContainsKey("c3"));
        Assert.True(m.Graph.Initializers.ContainsKey("c1"));
    }

    [Fact]
    public void PassManagerHonoursLevelAndDisabledPasses()
    {
        var m = OnnxModelLoader.Load(FoldableModel());
        Assert.Empty(PassManager.CreateDefault().Run(m, OptimizationLevel.None));
        Assert.Equal(3, m.Graph.Nodes.Count);

        var reports = PassManager.CreateDefault().Run(m, OptimizationLevel.All, new HashSet<string> { "ConstantFolding" });
        Assert.DoesNotContain(reports, r => r.Pass == "ConstantFolding");
        Assert.Contains(m.Graph.Nodes, n => n.Name == "sum");
        Assert.DoesNotContain(m.Graph.Nodes, n => n.Name == "dead");
    }

    [Fact]
    public void OptimizedModelGivesTheSameOutputs()
    {
        var x = Tensor.Create(new[] { 0.5f, -2f }, 2);
        float[] RunAt(OptimizationLevel level)
        {
            using var s = new InferenceSession(FoldableModel(), new SessionOptions { OptimizationLevel = level });
            return s.Run(new Dictionary<string, Tensor> { ["x"] = x })["y"].ToArray<float>();
        }
        var expected = new[] { 0.5f * 4f, -2f * 6f };
        Assert.Equal(expected, RunAt(OptimizationLevel.None));
        Assert.Equal(expected, RunAt(OptimizationLevel.All));
        using var all = new InferenceSession(FoldableModel());
        Assert.Single(all.Model.Graph.Nodes);
    }
}
