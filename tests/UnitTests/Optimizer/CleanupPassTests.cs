using NetOnnx.Optimizer.Passes;
using NetOnnx.Runtime;
using Xunit;
using static NetOnnx.Tests.IrBuilder;

namespace NetOnnx.Tests;

/// <summary>Identity elimination, CSE, shape folding and transpose cancellation: what each rewrites and what it must leave.</summary>
public class CleanupPassTests
{
    private static readonly Random s_rng = new(7);
    private static Dictionary<string, Tensor> Feed(string name, params int[] shape) => new() { [name] = RandomFloats(s_rng, shape) };
    private static Tensor I64(params long[] v) => Tensor.Create(v, v.Length);
    private static string[] Ops(Model m) => m.Graph.Nodes.Select(n => n.OpType).ToArray();

    // ---- IdentityElimination ----

    private static Model PassThroughChain() => Model([F("x", 2, 3)], [F("y", 2, 3)],
        [
            N("Relu", ["x"], ["r"]),
            N("Identity", ["r"], ["i"]),
            N("Dropout", ["i"], ["d"]),
            N("Cast", ["d"], ["c"], NodeAttribute.Of("to", (long)DataType.Float)),
            N("Reshape", ["c", "shape"], ["rs"]),
            N("Unsqueeze", ["rs", "axes"], ["u"]),
            N("Squeeze", ["u", "axes"], ["s"]),
            N("Expand", ["s", "shape"], ["e"]),
            N("Neg", ["e"], ["y"]),
        ],
        new Dictionary<string, Tensor> { ["shape"] = I64(2, 3), ["axes"] = I64(0) });

    [Fact]
    public void IdentityEliminationRemovesEveryPassThrough()
    {
        var m = PassThroughChain();
        var r = new IdentityElimination().Run(m);
        // Unsqueeze and Squeeze change the shape one at a time, so they stay; the rest go.
        Assert.Equal(["Relu", "Unsqueeze", "Squeeze", "Neg"], Ops(m));
        Assert.Equal(5, r.NodesRemoved);
        Assert.Equal("r", m.Graph.Nodes[1].Inputs[0]);
        AssertSameOutputs(PassThroughChain, Feed("x", 2, 3));
    }

    [Fact]
    public void IdentityEliminationKeepsShapeChangesAndRealCasts()
    {
        Model Build() => Model([F("x", 2, 3)], [new ValueInfo("y", OnnxType.Tensor(DataType.Double, Dim.Known(6)))],
            [N("Reshape", ["x", "shape"], ["rs"]), N("Cast", ["rs"], ["y"], NodeAttribute.Of("to", (long)DataType.Double))],
            new Dictionary<string, Tensor> { ["shape"] = I64(6) });
        var m = Build();
        Assert.False(new IdentityElimination().Run(m).Changed);
        Assert.Equal(["Reshape", "Cast"], Ops(m));
    }

    [Fact]
    public void IdentityFeedingAGraphOutputIsRenamedOrKept()
    {
        // Relu -> Identity -> y: the Relu is renamed to produce y.
        Model Renamable() => Model([F("x", 2)], [F("y", 2)], [N("Relu", ["x"], ["r"]), N("Identity", ["r"], ["y"])]);
        var m = Renamable();
        new IdentityElimination().Run(m);
        Assert.Equal(["Relu"], Ops(m));
        Assert.Equal("y", m.Graph.Nodes[0].Outputs[0]);
        AssertSameOutputs(Renamable, Feed("x", 2));

        // x -> Identity -> y and r -> Identity -> both outputs: renaming is impossible, the nodes stay.
        Model Pinned() => Model([F("x", 2)], [F("y", 2), F("r", 2), F("z", 2)],
            [N("Identity", ["x"], ["y"]), N("Relu", ["x"], ["r"]), N("Identity", ["r"], ["z"])]);
        var p = Pinned();
        Assert.False(new IdentityElimination().Run(p).Changed);
        Assert.Equal(3, p.Graph.Nodes.Count);
        AssertSameOutputs(Pinned, Feed("x", 2));
    }

    [Fact]
    public void DropoutWithAReadMaskOrTrainingModeStays()
    {
        var m = Model([F("x", 2)], [F("y", 2), new ValueInfo("mask", OnnxType.Tensor(DataType.Bool, Dim.Known(2)))],
            [N("Dropout", ["x"], ["d", "mask"]), N("Neg", ["d"], ["y"])]);
        Assert.False(new IdentityElimination().Run(m).Changed);

        var t = Model([F("x", 2)], [F("y", 2)], [N("Dropout", ["x", "", "train"], ["d"]), N("Neg", ["d"], ["y"])],
            new Dictionary<string, Tensor> { ["train"] = Tensor.Scalar(true) });
        Assert.False(new IdentityElimination().Run(t).Changed);
    }

    // ---- CommonSubexpressionElimination ----

    private static Model Duplicated() => Model([F("x", 2, 2)], [F("y", 2, 2)],
        [
            N("Transpose", ["x"], ["t1"], NodeAttribute.Of("perm", new long[] { 1, 0 })),
            N("Transpose", ["x"], ["t2"], NodeAttribute.Of("perm", new long[] { 1, 0 })),
            N("Transpose", ["x"], ["t3"], NodeAttribute.Of("perm", new long[] { 0, 1 })),
            N("Relu", ["t1"], ["r1"]),
            N("Relu", ["t2"], ["r2"]),
            N("Add", ["r1", "r2"], ["s"]),
            N("Add", ["s", "t3"], ["y"]),
        ]);

    [Fact]
    public void CseMergesDuplicateChainsInOneRun()
    {
        var m = Duplicated();
        var r = new CommonSubexpressionElimination().Run(m);
        Assert.Equal(2, r.NodesRemoved); // t2 and then r2, whose input became t1
        Assert.Equal(["r1", "r1"], m.Graph.Nodes.Single(n => n.Outputs[0] == "s").Inputs);
        Assert.Equal(2, m.Graph.Nodes.Count(n => n.OpType == "Transpose")); // different perms stay apart
        AssertSameOutputs(Duplicated, Feed("x", 2, 2));
    }

    [Fact]
    public void CseLeavesRandomOpsAndGraphOutputs()
    {
        var shape = NodeAttribute.Of("shape", new long[] { 2 });
        var m = Model([F("x", 2)], [F("y", 2), F("a", 2), F("b", 2)],
            [
                N("RandomUniform", [], ["u1"], shape), N("RandomUniform", [], ["u2"], shape),
                N("Add", ["u1", "u2"], ["y"]),
                N("Neg", ["x"], ["a"]), N("Neg", ["x"], ["b"]),
            ]);
        Assert.False(new CommonSubexpressionElimination().Run(m).Changed);
        Assert.Equal(5, m.Graph.Nodes.Count);
    }

    [Fact]
    public void CseMergesEqualSmallConstantsOnly()
    {
        static Node Const(string name, float[] v) => new("Constant", [], [name], name, attributes: [NodeAttribute.Of("value", Tensor.Create(v, v.Length))]);
        Model Build() => Model([F("x", 2)], [F("y", 2)],
            [Const("k1", [1, 2]), Const("k2", [1, 2]), Const("k3", [1, 3]),
             N("Add", ["x", "k1"], ["a"]), N("Mul", ["a", "k2"], ["b"]), N("Sub", ["b", "k3"], ["y"])]);
        var m = Build();
        Assert.Equal(1, new CommonSubexpressionElimination().Run(m).NodesRemoved);
        Assert.Equal("k1", m.Graph.Nodes.Single(n => n.OpType == "Mul").Inputs[1]);
        Assert.Equal("k3", m.Graph.Nodes.Single(n => n.OpType == "Sub").Inputs[1]);
        AssertSameOutputs(Build, Feed("x", 2));
    }

    // ---- ShapeFolding ----

    // y = Reshape(x, Concat(Unsqueeze(Gather(Shape(x), 0)), [-1])): the usual exporter flatten.
    private static Model ShapeChain() => Model([F("x", 2, 3, 4)], [F("y", 2, 12), new ValueInfo("n", OnnxType.Tensor(DataType.Int64))],
        [
            N("Shape", ["x"], ["s"]),
            N("Gather", ["s", "zero"], ["d0"], NodeAttribute.Of("axis", 0L)),
            N("Unsqueeze", ["d0", "axes"], ["d0v"]),
            N("Concat", ["d0v", "minus1"], ["target"], NodeAttribute.Of("axis", 0L)),
            N("Reshape", ["x", "target"], ["y"]),
            N("Size", ["x"], ["n"]),
        ],
        new Dictionary<string, Tensor> { ["zero"] = Tensor.Scalar(0L), ["axes"] = I64(0), ["minus1"] = I64(-1) });

    [Fact]
    public void ShapeFoldingLetsConstantFoldingCollapseShapeArithmetic()
    {
        var m = ShapeChain();
        var r = new ShapeFolding().Run(m);
        Assert.Equal(1, r.NodesRemoved); // Shape; Size feeds a graph output and stays
        Assert.Equal([2L, 3, 4], m.Graph.Initializers["s"].ToArray<long>());
        Assert.Contains(m.Graph.Nodes, n => n.OpType == "Size");

        using var s = new InferenceSession(ShapeChain());
        Assert.Equal(["Reshape", "Size"], Ops(s.Model));
        var outs = s.Run(Feed("x", 2, 3, 4));
        Assert.Equal([2, 12], outs["y"].Shape);
        Assert.Equal(24L, outs["n"].ToArray<long>()[0]);
    }

    [Fact]
    public void ShapeFoldingHonoursStartEndAndLeavesDynamicShapes()
    {
        var m = Model([F("x", 2, 3, 4)], [F("y", 2)],
            [N("Shape", ["x"], ["s"], NodeAttribute.Of("start", -2L)), N("Cast", ["s"], ["y"], NodeAttribute.Of("to", (long)DataType.Float))],
            opset: 15);
        new ShapeFolding().Run(m);
        Assert.Equal([3L, 4], m.Graph.Initializers["s"].ToArray<long>());

        var dyn = Model([new ValueInfo("x", OnnxType.Tensor(DataType.Float, Dim.Named("batch"), Dim.Known(3)))], [F("y", 2)],
            [N("Shape", ["x"], ["s"]), N("Cast", ["s"], ["y"], NodeAttribute.Of("to", (long)DataType.Float))]);
        Assert.False(new ShapeFolding().Run(dyn).Changed);
    }

    // ---- TransposeCancellation ----

    private static Model Transposes() => Model([F("x", 2, 3, 4)], [F("y", 2, 3, 4), F("z", 3, 2, 4)],
        [
            N("Transpose", ["x"], ["a"], NodeAttribute.Of("perm", new long[] { 2, 0, 1 })),
            N("Transpose", ["a"], ["b"], NodeAttribute.Of("perm", new long[] { 1, 2, 0 })), // undoes a
            N("Relu", ["b"], ["y"]),
            N("Transpose", ["x"], ["c"], NodeAttribute.Of("perm", new long[] { 1, 2, 0 })),
            N("Transpose", ["c"], ["z"], NodeAttribute.Of("perm", new long[] { 0, 2, 1 })), // merges with c
        ]);

    [Fact]
    public void TransposePairsCancelOrMerge()
    {
        var m = Transposes();
        new TransposeCancellation().Run(m);
        new DeadCodeElimination().Run(m);
        Assert.Equal(["Relu", "Transpose"], Ops(m));
        Assert.Equal("x", m.Graph.Nodes[0].Inputs[0]);
        var merged = m.Graph.Nodes[1];
        Assert.Equal("x", merged.Inputs[0]);
        Assert.Equal([1L, 0, 2], merged.GetInts("perm")!);
        AssertSameOutputs(Transposes, Feed("x", 2, 3, 4));
    }

    [Fact]
    public void TransposeWithOtherReadersIsKept()
    {
        Model Build() => Model([F("x", 2, 3)], [F("y", 2, 3), F("t", 3, 2)],
            [N("Transpose", ["x"], ["t"]), N("Transpose", ["t"], ["u"]), N("Relu", ["u"], ["y"])]);
        var m = Build();
        new TransposeCancellation().Run(m);
        new DeadCodeElimination().Run(m);
        Assert.Equal(["Transpose", "Relu"], Ops(m)); // Relu now reads x directly; t is still an output
        Assert.Equal("t", m.Graph.Nodes[0].Outputs[0]);
        Assert.Equal("x", m.Graph.Nodes[1].Inputs[0]);
        AssertSameOutputs(Build, Feed("x", 2, 3));
    }
}
