using NetOnnx.Optimizer;
using NetOnnx.Runtime;
using Xunit;
using static NetOnnx.Tests.IrBuilder;

namespace NetOnnx.Tests;

/// <summary>
/// The pipeline also rewrites If/Loop bodies: fusions fire inside branches (with the outer values' types lent
/// to the body), the outputs stay those of level None for both branches, and a body never loses a value it
/// passes out.
/// </summary>
public class SubgraphFusionTests
{
    private static Graph Branch(string name, string activation, Tensor w)
    {
        var g = new Graph { Name = name };
        g.Outputs.Add(new ValueInfo(name + "_y", null));
        g.Initializers[name + "_w"] = w;
        g.Nodes.Add(N("Conv", ["x", name + "_w"], [name + "_c"], NodeAttribute.Of("pads", new long[] { 1, 1, 1, 1 })));
        g.Nodes.Add(N(activation, [name + "_c"], [name + "_a"]));
        // An Identity the clean-up removes: the branch output then comes straight from the fused node.
        g.Nodes.Add(N("Identity", [name + "_a"], [name + "_y"]));
        return g;
    }

    private static Model Build()
    {
        var rng = new Random(5);
        var ifNode = N("If", ["cond"], ["y"],
            NodeAttribute.Of("then_branch", Branch("then", "Relu", RandomFloats(rng, 3, 2, 3, 3))),
            NodeAttribute.Of("else_branch", Branch("else", "Sigmoid", RandomFloats(rng, 3, 2, 3, 3))));
        return Model([F("x", 1, 2, 5, 5), new ValueInfo("cond", OnnxType.Tensor(DataType.Bool, []))], [F("y", 1, 3, 5, 5)], [ifNode], opset: 16);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void ConvActivationFusesInsideBothBranches(bool cond)
    {
        var feeds = new Dictionary<string, Tensor>
        {
            ["x"] = RandomFloats(new Random(9), 1, 2, 5, 5),
            ["cond"] = Tensor.Create(new[] { cond }),
        };
        var optimized = AssertSameOutputs(Build, feeds);
        var ifNode = Assert.Single(optimized.Graph.Nodes);
        foreach (var body in optimized.Graph.Subgraphs(ifNode))
        {
            var fused = Assert.Single(body.Nodes);
            Assert.Equal((FusedOps.Domain, "FusedConv"), (fused.Domain, fused.OpType));
            Assert.Equal(body.Outputs[0].Name, fused.Outputs[0]);
        }
        Assert.True(optimized.Opsets.ContainsKey(FusedOps.Domain));
    }

    [Fact]
    public void PassReportsCountSubgraphRewrites()
    {
        var m = Build();
        var reports = PassManager.CreateDefault().Run(m, OptimizationLevel.All);
        var conv = reports.Where(r => r.Pass == "ConvActivationFusion").Sum(r => r.Result.NodesRemoved);
        Assert.Equal(4, conv); // Conv + activation in each of the two branches
        Assert.Contains(reports, r => r.Result.Detail?.Contains("in a subgraph") == true);
    }

    [Fact]
    public void ConvActivationFusesInsideALoopBody()
    {
        Model Build()
        {
            var body = new Graph { Name = "body" };
            body.Inputs.Add(new ValueInfo("i", OnnxType.Tensor(DataType.Int64, [])));
            body.Inputs.Add(new ValueInfo("c", OnnxType.Tensor(DataType.Bool, [])));
            body.Inputs.Add(F("v", 1, 2, 5, 5));
            body.Outputs.Add(new ValueInfo("c_out", OnnxType.Tensor(DataType.Bool, [])));
            body.Outputs.Add(F("v_out", 1, 2, 5, 5));
            body.Initializers["w"] = RandomFloats(new Random(11), 2, 2, 3, 3);
            body.Nodes.Add(N("Identity", ["c"], ["c_out"]));
            body.Nodes.Add(N("Conv", ["v", "w"], ["conv"], NodeAttribute.Of("pads", new long[] { 1, 1, 1, 1 })));
            body.Nodes.Add(N("Relu", ["conv"], ["v_out"]));
            return Model([F("x", 1, 2, 5, 5)], [F("y", 1, 2, 5, 5)],
                [N("Loop", ["trips", "", "x"], ["y"], NodeAttribute.Of("body", body))],
                new Dictionary<string, Tensor> { ["trips"] = Tensor.Scalar(3L) }, opset: 16);
        }
        var optimized = AssertSameOutputs(Build, new Dictionary<string, Tensor> { ["x"] = RandomFloats(new Random(2), 1, 2, 5, 5) });
        var body = optimized.Graph.Subgraphs(Assert.Single(optimized.Graph.Nodes)).Single();
        Assert.Contains(body.Nodes, n => n.OpType == "FusedConv" && n.Outputs[0] == "v_out");
        Assert.DoesNotContain(body.Nodes, n => n.OpType is "Conv" or "Relu");
    }
}
