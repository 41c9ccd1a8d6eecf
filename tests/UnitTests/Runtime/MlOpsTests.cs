using NetOnnx.Runtime;
using Xunit;

namespace NetOnnx.Tests;

/// <summary>The legacy ai.onnx.ml models (tree ensembles, linear models) on hand-computed cases.</summary>
public class MlOpsTests
{
    private static NodeAttribute Ints(string n, params long[] v) => new(n, AttributeKind.Ints) { Ints = v };
    private static NodeAttribute Floats(string n, params float[] v) => new(n, AttributeKind.Floats) { Floats = v };
    private static NodeAttribute Strings(string n, params string[] v) =>
        new(n, AttributeKind.Strings) { ByteStrings = v.Select(s => System.Text.Encoding.UTF8.GetBytes(s)).ToArray() };
    private static NodeAttribute Str(string n, string v) => new(n, AttributeKind.String) { Bytes = System.Text.Encoding.UTF8.GetBytes(v) };

    private static Dictionary<string, object> Run(Node node, Tensor x)
    {
        var m = new Model();
        m.Opsets[""] = 17;
        m.Opsets["ai.onnx.ml"] = 3;
        m.Graph.Inputs.Add(new ValueInfo("x", OnnxType.Tensor(x.ElementType, x.Shape.Select(d => Dim.Known(d)).ToArray())));
        m.Graph.Nodes.Add(node);
        foreach (var o in node.Outputs) m.Graph.Outputs.Add(new ValueInfo(o, null));
        return new Session(m).Run(new Dictionary<string, object> { ["x"] = x });
    }

    // One stump per tree: tree 0 splits feature 0 at 0.5 (LEQ), tree 1 always lands on its single leaf.
    private static IEnumerable<NodeAttribute> TwoTrees(string votes, long[] voteIds, float[] weights) =>
    [
        Ints("nodes_treeids", 0, 0, 0, 1), Ints("nodes_nodeids", 0, 1, 2, 0),
        Ints("nodes_featureids", 0, 0, 0, 0), Floats("nodes_values", 0.5f, 0, 0, 0),
        Strings("nodes_modes", "BRANCH_LEQ", "LEAF", "LEAF", "LEAF"),
        Ints("nodes_truenodeids", 1, 0, 0, 0), Ints("nodes_falsenodeids", 2, 0, 0, 0),
        Ints(votes + "_treeids", 0, 0, 1), Ints(votes + "_nodeids", 1, 2, 0), Ints(votes + "_ids", voteIds), Floats(votes + "_weights", weights),
    ];

    [Fact]
    public void TreeEnsembleRegressorAveragesTreesAndAddsBase()
    {
        var node = new Node("TreeEnsembleRegressor", ["x"], ["y"], "reg", "ai.onnx.ml",
            [.. TwoTrees("target", [0, 0, 0], [10, 20, 2]), new NodeAttribute("n_targets", AttributeKind.Int) { Int = 1 },
             Str("aggregate_function", "AVERAGE"), Floats("base_values", 1)]);
        var y = (Tensor)Run(node, Tensor.Create(new float[] { 0.2f, 0.9f }, 2, 1))["y"];
        Assert.Equal([2, 1], y.Shape);
        Assert.Equal([7f, 12f], y.ToArray<float>()); // (10+2)/2+1, (20+2)/2+1
    }

    [Fact]
    public void TreeEnsembleClassifierVotesForTheTopClass()
    {
        var node = new Node("TreeEnsembleClassifier", ["x"], ["label", "scores"], "cls", "ai.onnx.ml",
            [.. TwoTrees("class", [0, 2, 1], [1, 1, 0.5f]), Ints("classlabels_int64s", 5, 6, 7)]);
        var r = Run(node, Tensor.Create(new float[] { 0.2f, 0.9f }, 2, 1));
        Assert.Equal([5L, 7L], ((Tensor)r["label"]).ToArray<long>());
        Assert.Equal([1f, 0.5f, 0f, 0f, 0.5f, 1f], ((Tensor)r["scores"]).ToArray<float>());
    }

    [Fact]
    public void SvmRegressorSumsKernelsOverSupportVectors()
    {
        var node = new Node("SVMRegressor", ["x"], ["y"], "svm", "ai.onnx.ml",
        [
            Str("kernel_type", "RBF"), Floats("kernel_params", 0.5f, 0, 0), new NodeAttribute("n_supports", AttributeKind.Int) { Int = 2 },
            Floats("support_vectors", 0, 0, 1, 1), Floats("coefficients", 2, -1), Floats("rho", 0.5f),
        ]);
        var y = (Tensor)Run(node, Tensor.Create(new float[] { 0, 0 }, 1, 2))["y"];
        Assert.Equal([1, 1], y.Shape);
        Assert.Equal(2 - Math.Exp(-1) + 0.5, y.ToArray<float>()[0], 5);
    }

    [Fact]
    public void ZipMapMakesOneMapPerRowAndSerialises()
    {
        var node = new Node("ZipMap", ["x"], ["maps"], "zip", "ai.onnx.ml", [Strings("classlabels_strings", "a", "b")]);
        var r = Run(node, Tensor.Create(new float[] { 0.25f, 0.75f, 1, 0 }, 2, 2));
        var maps = Assert.IsType<MapSequence>(r["maps"]);
        Assert.Equal(2, maps.Count);
        Assert.Equal(["a", "b"], maps.Items[1].Keys.ToArray<string>());
        Assert.Equal([1f, 0f], ((Tensor)maps.Items[1].Values).ToArray<float>());
        var bytes = NetOnnx.OnnxImport.ValueCodec.Write(maps, "maps");
        var back = NetOnnx.OnnxImport.Proto.SequenceProto.Parser.ParseFrom(bytes);
        Assert.Equal(2, back.MapValues.Count);
        Assert.Equal(2, back.MapValues[0].Values.TensorValues.Count);
    }

    [Fact]
    public void LinearClassifierBinaryFormExpandsToTwoColumns()
    {
        var node = new Node("LinearClassifier", ["x"], ["label", "scores"], "lin", "ai.onnx.ml",
            [Floats("coefficients", 1, -1), Floats("intercepts", 0.5f), Strings("classlabels_strings", "no", "yes")]);
        var r = Run(node, Tensor.Create(new float[] { 1, 3, 3, 1 }, 2, 2));
        Assert.Equal(["no", "yes"], ((Tensor)r["label"]).ToArray<string>());
        Assert.Equal([1.5f, -1.5f, -2.5f, 2.5f], ((Tensor)r["scores"]).ToArray<float>());
    }
}

public class StringOpsTests
{
    [Theory]
    [InlineData(@"\d+", "123", true)]
    [InlineData(@"\d+", "١٢٣", false)] // RE2's \d is ASCII only
    [InlineData(@"[[:alpha:]]+[[:digit:]]", "abc7", true)]
    [InlineData(@"(?P<user>\w+)@\pL+\.com", "me@example.com", true)]
    [InlineData(@"[]a]+", "a]a", true)]
    [InlineData(@"a.c", "a\nc", false)]
    public void RegexFullMatchUsesRe2Semantics(string pattern, string text, bool expected)
    {
        var m = new Model();
        m.Opsets[""] = 20;
        m.Graph.Inputs.Add(new ValueInfo("x", OnnxType.Tensor(DataType.String, Dim.Known(1))));
        m.Graph.Nodes.Add(new Node("RegexFullMatch", ["x"], ["y"], "re", "",
            [new NodeAttribute("pattern", AttributeKind.String) { Bytes = System.Text.Encoding.UTF8.GetBytes(pattern) }]));
        m.Graph.Outputs.Add(new ValueInfo("y", null));
        var y = (Tensor)new Session(m).Run(new Dictionary<string, object> { ["x"] = Tensor.Create(new[] { text }, 1) })["y"];
        Assert.Equal(expected, y.ToArray<bool>()[0]);
    }
}
