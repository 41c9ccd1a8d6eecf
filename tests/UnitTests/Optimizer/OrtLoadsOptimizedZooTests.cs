using Ort = Microsoft.ML.OnnxRuntime;
using NetOnnx.OnnxImport;
using NetOnnx.Optimizer;
using NetOnnx.Runtime;
using NetOnnx.Tools.Conformance;
using Xunit;

namespace NetOnnx.Tests;

/// <summary>
/// Each zoo model, optimised at level All (fused com.netonnx nodes included) and written with their
/// standard-op function bodies, loads in ONNX Runtime, and ONNX Runtime's outputs on it match the zoo's
/// reference outputs (rtol 1e-3, atol 1e-4). Skips without the zoo.
/// </summary>
public class OrtLoadsOptimizedZooTests
{
    private static readonly string Root = Path.Combine(TestModels.SharedRoot, "zoo");

    public static TheoryData<string> Models() => OptimizedZooRoundTripTests.Models();

    [Theory]
    [MemberData(nameof(Models))]
    public void OnnxRuntimeRunsOptimizedModel(string model)
    {
        var source = Path.Combine(Root, model);
        if (!Directory.Exists(source)) Assert.Skip($"zoo not found at {Root}");
        var m = OnnxModelLoader.Load(Path.Combine(source, "model.onnx"));
        PassManager.CreateDefault().Run(m, OptimizationLevel.All);
        InternalOpFunctions.Attach(m);
        var bytes = OnnxModelWriter.ToBytes(m);

        // ORT must run our bodies as written, not re-fuse them: that is what the check is about.
        using var so = new Ort.SessionOptions { GraphOptimizationLevel = Ort.GraphOptimizationLevel.ORT_DISABLE_ALL, IntraOpNumThreads = 1 };
        using var session = new Ort.InferenceSession(bytes, so);
        foreach (var set in Directory.GetDirectories(source, "test_data_set_*").Order(StringComparer.Ordinal))
        {
            var inputs = ConformanceRunner.ReadInputs(set, m.Graph);
            var expected = ConformanceRunner.ReadOutputs(set, m.Graph);
            var feeds = inputs.ToDictionary(kv => kv.Key, kv => OrtValues.From((Tensor)kv.Value));
            try
            {
                using var results = session.Run(new Ort.RunOptions(), feeds, session.OutputNames);
                var byName = session.OutputNames.Zip(results).ToDictionary(p => p.First, p => OrtValues.To(p.Second));
                foreach (var (name, value) in expected)
                {
                    Assert.True(byName.ContainsKey(name), $"{model}: ORT gave no output '{name}'");
                    var diff = TensorComparer.Compare(value, byName[name], 1e-3, 1e-4);
                    Assert.True(diff is null, $"{model} {Path.GetFileName(set)} output '{name}': {diff}");
                }
            }
            finally { foreach (var v in feeds.Values) v.Dispose(); }
        }
    }

    [Fact]
    public void FusedNodesCallFunctionOverloadsThatOurLoaderSkips()
    {
        // Two FusedConv variants (Relu, Clip) and one Gelu: three bodies, the two FusedConvs as distinct overloads.
        var pads = NodeAttribute.Of("pads", new long[] { 1, 1, 1, 1 });
        var w = Tensor.Create(Enumerable.Range(0, 2 * 2 * 9).Select(i => (i % 7 - 3) * 0.1f).ToArray(), 2, 2, 3, 3);
        Node Fused(Node n) { n.Domain = FusedOps.Domain; return n; }
        var model = IrBuilder.Model([IrBuilder.F("x", 1, 2, 4, 4)], [IrBuilder.F("y", 1, 2, 4, 4)],
        [
            Fused(IrBuilder.N("FusedConv", ["x", "w"], ["c1"], pads, NodeAttribute.Of("activation", "Relu"))),
            Fused(IrBuilder.N("FusedConv", ["c1", "w"], ["c2"], pads, NodeAttribute.Of("activation", "Clip"), NodeAttribute.Of("activation_params", new[] { 0f, 0.5f }))),
            Fused(IrBuilder.N("Gelu", ["c2"], ["y"])),
        ], new Dictionary<string, Tensor> { ["w"] = w }, opset: 13);
        model.Opsets[FusedOps.Domain] = FusedOps.Version;
        var input = Tensor.Create(Enumerable.Range(0, 32).Select(i => MathF.Sin(i)).ToArray(), 1, 2, 4, 4);

        // Reference: the same graph in standard ops (Relu, Clip, erf Gelu of opset 20) on our runtime.
        var reference = IrBuilder.Model([IrBuilder.F("x", 1, 2, 4, 4)], [IrBuilder.F("y", 1, 2, 4, 4)],
        [
            IrBuilder.N("Conv", ["x", "w"], ["a"], pads), IrBuilder.N("Relu", ["a"], ["c1"]),
            IrBuilder.N("Conv", ["c1", "w"], ["b"], pads), IrBuilder.N("Clip", ["b", "lo", "hi"], ["c2"]),
            IrBuilder.N("Gelu", ["c2"], ["y"]),
        ], new Dictionary<string, Tensor> { ["w"] = w, ["lo"] = Tensor.Scalar(0f), ["hi"] = Tensor.Scalar(0.5f) }, opset: 20);
        using var refSession = new InferenceSession(reference, new SessionOptions { OptimizationLevel = OptimizationLevel.None });
        var want = refSession.Run(new Dictionary<string, Tensor> { ["x"] = input })["y"];

        Assert.Equal(3, InternalOpFunctions.Attach(model));
        Assert.Equal(["v0", "v1", "v0"], model.Graph.Nodes.Select(n => n.Overload));
        var bytes = OnnxModelWriter.ToBytes(model);

        // Our loader keeps the fused nodes (no inlining) ...
        var reloaded = OnnxModelLoader.Load(bytes);
        Assert.Equal(["FusedConv", "FusedConv", "Gelu"], reloaded.Graph.Nodes.Select(n => n.OpType));
        using var ourSession = new InferenceSession(reloaded, new SessionOptions { OptimizationLevel = OptimizationLevel.None });
        var ours = ourSession.Run(new Dictionary<string, Tensor> { ["x"] = input })["y"];
        Assert.Null(TensorComparer.Compare(want, ours, 1e-5, 1e-6));

        // ... and ONNX Runtime runs the bodies and agrees.
        using var so = new Ort.SessionOptions { GraphOptimizationLevel = Ort.GraphOptimizationLevel.ORT_DISABLE_ALL };
        using var session = new Ort.InferenceSession(bytes, so);
        using var feed = OrtValues.From(input);
        using var results = session.Run(new Ort.RunOptions(), new Dictionary<string, Ort.OrtValue> { ["x"] = feed }, session.OutputNames);
        Assert.Null(TensorComparer.Compare(want, OrtValues.To(results[0]), 1e-5, 1e-6));
    }
}

/// <summary>Tensor conversions to and from ONNX Runtime values, for tests that use it as the reference.</summary>
internal static class OrtValues
{
    public static Ort.OrtValue From(Tensor t)
    {
        long[] shape = t.Shape.Select(d => (long)d).ToArray();
        return t.ElementType switch
        {
            DataType.Float => Ort.OrtValue.CreateTensorValueFromMemory(t.ToArray<float>(), shape),
            DataType.Int64 => Ort.OrtValue.CreateTensorValueFromMemory(t.ToArray<long>(), shape),
            DataType.Int32 => Ort.OrtValue.CreateTensorValueFromMemory(t.ToArray<int>(), shape),
            DataType.Bool => Ort.OrtValue.CreateTensorValueFromMemory(t.ToArray<bool>(), shape),
            _ => throw new NotSupportedException($"test inputs of type {t.ElementType.OnnxName()} are not supported"),
        };
    }

    public static Tensor To(Ort.OrtValue v)
    {
        var info = v.GetTensorTypeAndShape();
        int[] shape = info.Shape.Select(d => checked((int)d)).ToArray();
        return info.ElementDataType switch
        {
            Ort.Tensors.TensorElementType.Float => Tensor.Create(v.GetTensorDataAsSpan<float>().ToArray(), shape),
            Ort.Tensors.TensorElementType.Int64 => Tensor.Create(v.GetTensorDataAsSpan<long>().ToArray(), shape),
            Ort.Tensors.TensorElementType.Bool => Tensor.Create(v.GetTensorDataAsSpan<bool>().ToArray(), shape),
            _ => throw new NotSupportedException($"ORT output of type {info.ElementDataType} is not supported"),
        };
    }
}
