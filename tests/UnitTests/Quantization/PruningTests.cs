using NetOnnx.OnnxImport;
using NetOnnx.Optimizer.Passes.Pruning;
using NetOnnx.Runtime;
using NetOnnx.Tools;
using Xunit;
using static NetOnnx.Tests.IrBuilder;

namespace NetOnnx.Tests;

public class PruningTests
{
    private static Model TwoLayers()
    {
        var rng = new Random(8);
        return Model([F("x", 2, 16)], [F("y", 2, 4)],
        [
            N("MatMul", ["x", "w1"], ["h"]),
            N("Gemm", ["h", "w2"], ["y"]),
        ], new Dictionary<string, Tensor> { ["w1"] = RandomFloats(rng, 16, 32), ["w2"] = RandomFloats(rng, 32, 4) }, opset: 13);
    }

    [Fact]
    public void PerLayerPruningZeroesTheSmallestWeightsOfEachLayer()
    {
        var original = TwoLayers();
        var w1 = original.Graph.Initializers["w1"].ToArray<float>();
        var m = TwoLayers();
        var layers = MagnitudePruning.Apply(m, new MagnitudePruningOptions { Sparsity = 0.75 });
        Assert.Equal([384L, 96L], layers.Select(l => l.Zeros));
        var p1 = m.Graph.Initializers[m.Graph.Nodes[0].Inputs[1]].ToArray<float>();
        // Every surviving weight is at least as large in magnitude as every pruned one, and unchanged.
        float smallestKept = p1.Where(v => v != 0).Min(MathF.Abs);
        for (int i = 0; i < w1.Length; i++)
        {
            if (p1[i] == 0) Assert.True(MathF.Abs(w1[i]) <= smallestKept);
            else Assert.Equal(w1[i], p1[i]);
        }
    }

    [Fact]
    public void GlobalPruningUsesOneThresholdAcrossLayers()
    {
        var m = TwoLayers();
        var layers = MagnitudePruning.Apply(m, new MagnitudePruningOptions { Sparsity = 0.5, Global = true });
        long total = layers.Sum(l => l.Weights), zeros = layers.Sum(l => l.Zeros);
        Assert.InRange(zeros, total / 2 - 2, total / 2 + 2);
        var all = m.Graph.Nodes.SelectMany(n => m.Graph.Initializers[n.Inputs[1]].ToArray<float>()).ToArray();
        var orig = TwoLayers().Graph.Initializers.Values.SelectMany(t => t.ToArray<float>()).Select(MathF.Abs).Order().ToArray();
        float threshold = orig[zeros - 1];
        Assert.All(all.Where(v => v != 0), v => Assert.True(MathF.Abs(v) >= threshold));
    }

    [Fact]
    public void SparsityOutsideTheRangeIsRefused()
    {
        Assert.Throws<OnnxException>(() => MagnitudePruning.Apply(TwoLayers(), new MagnitudePruningOptions { Sparsity = 1.0 }));
        Assert.Throws<OnnxException>(() => MagnitudePruning.Apply(TwoLayers(), new MagnitudePruningOptions { Sparsity = double.NaN }));
    }

    [Fact]
    public void PruneCommandWritesTheModelAndTheReport()
    {
        var dir = Directory.CreateTempSubdirectory("netonnx-prune-");
        var path = Path.Combine(dir.FullName, "model.onnx");
        OnnxModelWriter.Save(TwoLayers(), path);
        var outPath = Path.Combine(dir.FullName, "pruned.onnx");
        var o = new StringWriter();
        var e = new StringWriter();
        Assert.True(Cli.Run(["prune", path, "-o", outPath, "--sparsity", "0.5"], o, e) == 0, e.ToString());
        Assert.Contains("50.0%", o.ToString());
        Assert.Contains("layer sensitivity", o.ToString());
        var pruned = OnnxModelLoader.Load(outPath);
        Assert.Equal(256, pruned.Graph.Initializers[pruned.Graph.Nodes[0].Inputs[1]].ToArray<float>().Count(v => v == 0));
        Assert.Equal(2, Cli.Run(["prune", path, "-o", outPath], o, e));
    }
}
