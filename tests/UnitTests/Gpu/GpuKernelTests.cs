using NetOnnx.Runtime;
using Xunit;
using static NetOnnx.Tests.IrBuilder;

namespace NetOnnx.Tests.Gpu;

/// <summary>Every GPU kernel against the CPU kernels, on ILGPU's CPU simulator with small shapes.</summary>
public class GpuKernelTests
{
    private static readonly Random Rng = new(1234);
    private static NodeAttribute A(string n, long v) => NodeAttribute.Of(n, v);
    private static NodeAttribute A(string n, float v) => NodeAttribute.Of(n, v);
    private static NodeAttribute A(string n, string v) => NodeAttribute.Of(n, v);
    private static NodeAttribute A(string n, long[] v) => NodeAttribute.Of(n, v);

    private static Tensor Positive(params int[] shape)
    {
        var t = RandomFloats(Rng, shape);
        var s = t.Span<float>();
        for (int i = 0; i < s.Length; i++) s[i] = Math.Abs(s[i]) + 0.1f;
        return t;
    }

    /// <summary>One node over float inputs x0, x1, ... (given values), output y of the declared shape.</summary>
    private static void One(string op, Tensor[] inputs, int[] outShape, NodeAttribute[]? attrs = null, long opset = 17,
        string domain = "", Dictionary<string, Tensor>? constants = null, string[]? inputNames = null, string device = GpuCheck.Simulator,
        double rtol = 1e-4, double atol = 1e-5)
    {
        var names = inputNames ?? inputs.Select((_, i) => $"x{i}").ToArray();
        Model Build()
        {
            var node = new Node(op, names, ["y"], "n", domain, attrs);
            var m = Model(inputs.Select((t, i) => new ValueInfo(names[i], OnnxType.Tensor(t.ElementType, t.Shape.Select(d => Dim.Known(d)).ToArray()))),
                [F("y", outShape)], [node], constants, opset);
            if (domain.Length > 0) m.Opsets[domain] = 1;
            return m;
        }
        var feeds = inputs.Select((t, i) => (names[i], t)).ToDictionary(p => p.Item1, p => p.t);
        GpuCheck.Matches(Build, feeds, device, rtol, atol);
    }

    [Theory]
    [InlineData("Relu")]
    [InlineData("Sigmoid")]
    [InlineData("Tanh")]
    [InlineData("HardSigmoid")]
    [InlineData("HardSwish")]
    [InlineData("LeakyRelu")]
    [InlineData("Exp")]
    [InlineData("Neg")]
    [InlineData("Abs")]
    [InlineData("Erf")]
    [InlineData("Floor")]
    [InlineData("Ceil")]
    [InlineData("Softplus")]
    [InlineData("Elu")]
    public void UnaryMatchesCpu(string op) => One(op, [RandomFloats(Rng, 3, 5, 7)], [3, 5, 7]);

    [Theory]
    [InlineData("Sqrt")]
    [InlineData("Log")]
    [InlineData("Reciprocal")]
    public void PositiveDomainUnaryMatchesCpu(string op) => One(op, [Positive(4, 9)], [4, 9]);

    [Theory]
    [InlineData("none")]
    [InlineData("tanh")]
    public void GeluMatchesCpu(string approx) => One("Gelu", [RandomFloats(Rng, 2, 33)], [2, 33], [A("approximate", approx)], opset: 20);

    [Fact]
    public void ClipWithConstantBoundsMatchesCpu() =>
        One("Clip", [RandomFloats(Rng, 6, 6)], [6, 6], inputNames: ["x0", "lo", "hi"],
            constants: new() { ["lo"] = Tensor.Scalar(-0.5f), ["hi"] = Tensor.Scalar(0.75f) });

    [Theory]
    [InlineData("Add")]
    [InlineData("Sub")]
    [InlineData("Mul")]
    [InlineData("Div")]
    [InlineData("Max")]
    [InlineData("Min")]
    public void BinaryBroadcastMatchesCpu(string op)
    {
        One(op, [RandomFloats(Rng, 2, 3, 4), Positive(3, 1)], [2, 3, 4]);
        One(op, [RandomFloats(Rng, 1, 3, 1, 5), Positive(2, 1, 4, 1)], [2, 3, 4, 5]);
        One(op, [RandomFloats(Rng, 7), Positive()], [7]);
    }

    [Fact]
    public void PowMatchesCpu() => One("Pow", [Positive(3, 4), RandomFloats(Rng, 4)], [3, 4], rtol: 1e-4);

    [Theory]
    [InlineData(GpuCheck.Simulator)]
    [InlineData(GpuCheck.TiledSimulator)]
    public void MatMulMatchesCpu(string device)
    {
        One("MatMul", [RandomFloats(Rng, 5, 7), RandomFloats(Rng, 7, 3)], [5, 3], device: device);
        One("MatMul", [RandomFloats(Rng, 2, 3, 9, 11), RandomFloats(Rng, 11, 10)], [2, 3, 9, 10], device: device);
        One("MatMul", [RandomFloats(Rng, 2, 1, 5, 7), RandomFloats(Rng, 3, 7, 4)], [2, 3, 5, 4], device: device);
        One("MatMul", [RandomFloats(Rng, 7), RandomFloats(Rng, 2, 7, 3)], [2, 3], device: device);
        One("MatMul", [RandomFloats(Rng, 4, 7), RandomFloats(Rng, 7)], [4], device: device);
    }

    [Theory]
    [InlineData(GpuCheck.Simulator, 0, 0, new[] { 6 })]
    [InlineData(GpuCheck.TiledSimulator, 1, 0, new[] { 6 })]
    [InlineData(GpuCheck.TiledSimulator, 0, 1, new[] { 5, 1 })]
    [InlineData(GpuCheck.Simulator, 1, 1, new[] { 5, 6 })]
    [InlineData(GpuCheck.TiledSimulator, 0, 0, new int[0])]
    public void GemmMatchesCpu(string device, long transA, long transB, int[] cShape)
    {
        const int m = 5, k = 19, n = 6;
        var a = transA != 0 ? RandomFloats(Rng, k, m) : RandomFloats(Rng, m, k);
        var b = transB != 0 ? RandomFloats(Rng, n, k) : RandomFloats(Rng, k, n);
        One("Gemm", [a, b, RandomFloats(Rng, cShape)], [m, n],
            [A("transA", transA), A("transB", transB), A("alpha", 0.5f), A("beta", 2f)], device: device);
    }

    [Theory]
    [InlineData(GpuCheck.Simulator)]
    [InlineData(GpuCheck.TiledSimulator)]
    public void FusedGemmAppliesActivation(string device) =>
        One("FusedGemm", [RandomFloats(Rng, 9, 13), RandomFloats(Rng, 13, 10), RandomFloats(Rng, 10)], [9, 10],
            [A("activation", "LeakyRelu"), NodeAttribute.Of("activation_params", new[] { 0.1f })], domain: FusedOps.Domain, device: device);

    public static TheoryData<string, int[], int[], long, long[], long[], long[]> Convs() => new()
    {
        // device, x, w, group, pads, strides, dilations
        { GpuCheck.Simulator, [1, 3, 9, 8], [4, 3, 3, 3], 1, [1, 1, 1, 1], [1, 1], [1, 1] },
        { GpuCheck.TiledSimulator, [2, 3, 9, 8], [5, 3, 3, 2], 1, [1, 0, 2, 1], [2, 1], [1, 2] },
        { GpuCheck.TiledSimulator, [1, 4, 7, 7], [6, 2, 3, 3], 2, [1, 1, 1, 1], [1, 1], [1, 1] },
        { GpuCheck.Simulator, [1, 4, 7, 7], [6, 2, 3, 3], 2, [0, 0, 0, 0], [2, 2], [1, 1] },
        { GpuCheck.Simulator, [2, 4, 8, 6], [4, 1, 3, 3], 4, [1, 1, 1, 1], [2, 1], [1, 1] },
        { GpuCheck.TiledSimulator, [1, 3, 6, 6], [6, 1, 3, 3], 3, [1, 1, 1, 1], [1, 1], [1, 1] },
        { GpuCheck.TiledSimulator, [1, 3, 17], [4, 3, 5], 1, [2, 2], [2], [1] },
    };

    [Theory]
    [MemberData(nameof(Convs))]
    public void ConvMatchesCpu(string device, int[] x, int[] w, long group, long[] pads, long[] strides, long[] dilations)
    {
        var g = NetOnnx.Kernels.ConvPool.ConvGeometry.Create(x.AsSpan(2), w.AsSpan(2), strides, dilations, pads, "NOTSET", false);
        int[] y = [x[0], w[0], .. g.OutShape];
        One("Conv", [RandomFloats(Rng, x), RandomFloats(Rng, w), RandomFloats(Rng, w[0])], y,
            [A("group", group), A("pads", pads), A("strides", strides), A("dilations", dilations)], device: device);
    }

    [Theory]
    [InlineData(GpuCheck.Simulator, 1L)]
    [InlineData(GpuCheck.TiledSimulator, 1L)]
    [InlineData(GpuCheck.Simulator, 4L)]
    public void FusedConvAddsResidualAndActivation(string device, long group) =>
        One("FusedConv", [RandomFloats(Rng, 1, 4, 6, 6), RandomFloats(Rng, 4, 4 / (int)group, 3, 3), RandomFloats(Rng, 4), RandomFloats(Rng, 1, 4, 6, 6)], [1, 4, 6, 6],
            [A("group", group), A("pads", new long[] { 1, 1, 1, 1 }), A("activation", "Relu")], domain: FusedOps.Domain, device: device);

    [Fact]
    public void ConvSameUpperAutoPadMatchesCpu() =>
        One("Conv", [RandomFloats(Rng, 1, 2, 7, 5), RandomFloats(Rng, 3, 2, 3, 3)], [1, 3, 4, 3], [A("auto_pad", "SAME_UPPER"), A("strides", new long[] { 2, 2 })]);

    [Fact]
    public void PoolsMatchCpu()
    {
        One("MaxPool", [RandomFloats(Rng, 1, 2, 7, 7)], [1, 2, 4, 4], [A("kernel_shape", new long[] { 3, 3 }), A("strides", new long[] { 2, 2 }), A("pads", new long[] { 1, 1, 1, 1 })]);
        One("MaxPool", [RandomFloats(Rng, 1, 2, 6, 6)], [1, 2, 3, 3], [A("kernel_shape", new long[] { 2, 2 }), A("strides", new long[] { 2, 2 }), A("ceil_mode", 1L)]);
        One("AveragePool", [RandomFloats(Rng, 2, 3, 5, 5)], [2, 3, 5, 5], [A("kernel_shape", new long[] { 3, 3 }), A("pads", new long[] { 1, 1, 1, 1 })]);
        One("AveragePool", [RandomFloats(Rng, 2, 3, 5, 5)], [2, 3, 5, 5], [A("kernel_shape", new long[] { 3, 3 }), A("pads", new long[] { 1, 1, 1, 1 }), A("count_include_pad", 1L)]);
        One("GlobalAveragePool", [RandomFloats(Rng, 2, 3, 5, 4)], [2, 3, 1, 1]);
        One("GlobalMaxPool", [RandomFloats(Rng, 2, 3, 5, 4)], [2, 3, 1, 1]);
    }

    [Fact]
    public void SoftmaxMatchesCpu()
    {
        One("Softmax", [RandomFloats(Rng, 3, 4, 37)], [3, 4, 37]);
        One("Softmax", [RandomFloats(Rng, 3, 4, 5)], [3, 4, 5], [A("axis", 1L)], opset: 11);
    }

    [Fact]
    public void LayerNormalizationMatchesCpu()
    {
        One("LayerNormalization", [RandomFloats(Rng, 3, 5, 24), RandomFloats(Rng, 24), RandomFloats(Rng, 24)], [3, 5, 24]);
        One("LayerNormalization", [RandomFloats(Rng, 3, 5, 6), RandomFloats(Rng, 5, 6)], [3, 5, 6], [A("axis", -2L), A("epsilon", 1e-3f)]);
    }

    [Fact]
    public void SkipLayerNormalizationWritesBothOutputs()
    {
        var x = RandomFloats(Rng, 2, 4, 16);
        var skip = RandomFloats(Rng, 2, 4, 16);
        var gamma = RandomFloats(Rng, 16);
        var beta = RandomFloats(Rng, 16);
        Model Build()
        {
            var m = Model([F("x", 2, 4, 16), F("s", 2, 4, 16)], [F("y", 2, 4, 16), F("sum", 2, 4, 16)],
                [new Node("SkipLayerNormalization", ["x", "s", "g", "b"], ["y", "sum"], "n", FusedOps.Domain)],
                new Dictionary<string, Tensor> { ["g"] = gamma, ["b"] = beta });
            m.Opsets[FusedOps.Domain] = 1;
            return m;
        }
        GpuCheck.Matches(Build, new() { ["x"] = x, ["s"] = skip });
    }

    [Fact]
    public void BatchNormalizationMatchesCpu()
    {
        var c = new Dictionary<string, Tensor> { ["s"] = RandomFloats(Rng, 3), ["b"] = RandomFloats(Rng, 3), ["m"] = RandomFloats(Rng, 3), ["v"] = Positive(3) };
        One("BatchNormalization", [RandomFloats(Rng, 2, 3, 4, 5)], [2, 3, 4, 5], inputNames: ["x0", "s", "b", "m", "v"], constants: c);
    }

    [Theory]
    [InlineData("ReduceMean")]
    [InlineData("ReduceSum")]
    [InlineData("ReduceMax")]
    [InlineData("ReduceMin")]
    public void ReductionsMatchCpu(string op)
    {
        long opset = op == "ReduceSum" ? 13 : 17;
        if (op == "ReduceSum")
        {
            One(op, [RandomFloats(Rng, 3, 4, 5)], [3, 1, 5], inputNames: ["x0", "axes"], constants: new() { ["axes"] = Tensor.Create(new long[] { 1 }, 1) }, opset: opset);
            return;
        }
        One(op, [RandomFloats(Rng, 3, 4, 5)], [3, 1, 5], [A("axes", new long[] { 1 })], opset: opset);
        One(op, [RandomFloats(Rng, 3, 4, 5)], [3], [A("axes", new long[] { -1, 1 }), A("keepdims", 0L)], opset: opset);
        One(op, [RandomFloats(Rng, 3, 4, 5)], [1, 1, 1], opset: opset);
    }

    [Fact]
    public void TransposeSliceConcatExpandMatchCpu()
    {
        One("Transpose", [RandomFloats(Rng, 2, 3, 4, 5)], [4, 2, 5, 3], [A("perm", new long[] { 2, 0, 3, 1 })]);
        One("Slice", [RandomFloats(Rng, 5, 6, 7)], [2, 6, 3], inputNames: ["x0", "st", "en", "ax", "sp"], constants: new()
        {
            ["st"] = Tensor.Create(new long[] { 4, 1 }, 2), ["en"] = Tensor.Create(new long[] { 0, 7 }, 2),
            ["ax"] = Tensor.Create(new long[] { 0, 2 }, 2), ["sp"] = Tensor.Create(new long[] { -2, 2 }, 2),
        });
        One("Concat", [RandomFloats(Rng, 2, 3, 4), RandomFloats(Rng, 2, 1, 4), RandomFloats(Rng, 2, 5, 4)], [2, 9, 4], [A("axis", 1L)]);
        One("Expand", [RandomFloats(Rng, 3, 1)], [2, 3, 4], inputNames: ["x0", "shape"], constants: new() { ["shape"] = Tensor.Create(new long[] { 2, 1, 4 }, 3) });
    }

    [Fact]
    public void ViewOpsMatchCpu()
    {
        One("Reshape", [RandomFloats(Rng, 2, 3, 4)], [6, 4], inputNames: ["x0", "shape"], constants: new() { ["shape"] = Tensor.Create(new long[] { -1, 4 }, 2) });
        One("Flatten", [RandomFloats(Rng, 2, 3, 4)], [2, 12]);
        One("Unsqueeze", [RandomFloats(Rng, 2, 3)], [2, 1, 3], inputNames: ["x0", "axes"], constants: new() { ["axes"] = Tensor.Create(new long[] { 1 }, 1) });
        One("Squeeze", [RandomFloats(Rng, 2, 1, 3)], [2, 3]);
    }

    [Fact]
    public void GatherAndCastTakeIntegerInputs()
    {
        var table = RandomFloats(Rng, 10, 6);
        var ids = Tensor.Create(new long[] { 3, 0, 9, -1, 3, 5 }, 2, 3);
        Model Build() => Model([F("t", 10, 6), new ValueInfo("ids", OnnxType.Tensor(DataType.Int64, [Dim.Known(2), Dim.Known(3)]))],
            [F("y", 2, 3, 6), F("c", 2, 3)],
            [new Node("Gather", ["t", "ids"], ["y"], "g"), new Node("Cast", ["ids"], ["c"], "c", attributes: [A("to", (long)DataType.Float)])]);
        GpuCheck.Matches(Build, new() { ["t"] = table, ["ids"] = ids });
        One("Gather", [RandomFloats(Rng, 3, 5, 2)], [3, 2, 2], [A("axis", 1L)], inputNames: ["x0", "idx"],
            constants: new() { ["idx"] = Tensor.Create(new long[] { 4, 1 }, 2) });
    }

    [Fact]
    public void GatherRejectsIndexOutOfRange()
    {
        Model Build() => Model([F("t", 4, 2), new ValueInfo("ids", OnnxType.Tensor(DataType.Int64, [Dim.Known(2)]))], [F("y", 2, 2)],
            [new Node("Gather", ["t", "ids"], ["y"], "emb")]);
        using var s = GpuCheck.Open(Build(), GpuCheck.Simulator);
        var e = Assert.Throws<InferenceException>(() => s.Run(new Dictionary<string, Tensor> { ["t"] = RandomFloats(Rng, 4, 2), ["ids"] = Tensor.Create(new long[] { 1, 4 }, 2) }));
        Assert.Contains("emb", e.Message);
        Assert.Contains("out of range", e.Message);
    }

    [Fact]
    public void AttentionWithMasksMatchesCpu()
    {
        var q = RandomFloats(Rng, 1, 2, 5, 4);
        var kt = RandomFloats(Rng, 1, 2, 4, 6);
        var v = RandomFloats(Rng, 1, 2, 6, 3);
        var add = RandomFloats(Rng, 1, 1, 1, 6);
        var keep = Tensor.Create(Enumerable.Range(0, 30).Select(i => i % 6 <= i / 6).ToArray(), 1, 1, 5, 6);
        Model Build()
        {
            var m = Model([F("q", 1, 2, 5, 4), F("kt", 1, 2, 4, 6), F("v", 1, 2, 6, 3), F("add", 1, 1, 1, 6),
                    new ValueInfo("keep", OnnxType.Tensor(DataType.Bool, [Dim.Known(1), Dim.Known(1), Dim.Known(5), Dim.Known(6)]))],
                [F("y", 1, 2, 5, 3)],
                [new Node("ScaledDotProductAttention", ["q", "kt", "v", "add", "keep"], ["y"], "sdpa", FusedOps.Domain,
                    [A("scale", 0.5f), A("fill", -1e4f), A("fill_where_true", 0L)])]);
            m.Opsets[FusedOps.Domain] = 1;
            return m;
        }
        GpuCheck.Matches(Build, new() { ["q"] = q, ["kt"] = kt, ["v"] = v, ["add"] = add, ["keep"] = keep });
    }

    [Fact]
    public void ConvTransposeMatchesCpu()
    {
        One("ConvTranspose", [RandomFloats(Rng, 1, 3, 4, 5), RandomFloats(Rng, 3, 2, 2, 2)], [1, 2, 8, 10], [A("strides", new long[] { 2, 2 })]);
        One("ConvTranspose", [RandomFloats(Rng, 2, 4, 3, 3), RandomFloats(Rng, 4, 3, 3, 3), RandomFloats(Rng, 6)], [2, 6, 6, 6],
            [A("strides", new long[] { 2, 2 }), A("pads", new long[] { 1, 1, 1, 1 }), A("output_padding", new long[] { 1, 1 }), A("group", 2L)]);
        One("ConvTranspose", [RandomFloats(Rng, 1, 2, 7), RandomFloats(Rng, 2, 3, 3)], [1, 3, 15], [A("strides", new long[] { 2 }), A("dilations", new long[] { 2 }), A("pads", new long[] { 1, 1 })]);
    }

    [Fact]
    public void ResizeNearestMatchesCpu()
    {
        NodeAttribute[] nearest = [A("mode", "nearest"), A("coordinate_transformation_mode", "asymmetric"), A("nearest_mode", "floor")];
        One("Resize", [RandomFloats(Rng, 1, 2, 3, 4)], [1, 2, 6, 8], nearest, inputNames: ["x0", "", "scales"],
            constants: new() { ["scales"] = Tensor.Create(new[] { 1f, 1f, 2f, 2f }, 4) });
        One("Resize", [RandomFloats(Rng, 1, 2, 4, 4)], [1, 2, 6, 3], nearest, inputNames: ["x0", "", "", "sizes"],
            constants: new() { ["sizes"] = Tensor.Create(new long[] { 1, 2, 6, 3 }, 4) });
    }
}
