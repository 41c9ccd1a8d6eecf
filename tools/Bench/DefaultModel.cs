using NetOnnx.Runtime;

namespace NetOnnx.Tools;

/// <summary>
/// The model `bench` runs when given none: a small CNN classifier (conv, relu, pool, gemm, softmax) with
/// seeded random weights, built in memory so the command works on a fresh clone with no files.
/// </summary>
public static class DefaultModel
{
    public const string Name = "small-cnn-1x3x32x32";

    public static Model Build()
    {
        var rng = new Random(1234);
        Tensor W(params int[] shape)
        {
            var t = Tensor.Zeros(DataType.Float, shape);
            var s = t.Span<float>();
            float scale = 1f / MathF.Sqrt(t.Length / shape[0]);
            for (int i = 0; i < s.Length; i++) s[i] = (float)(rng.NextDouble() * 2 - 1) * scale;
            return t;
        }
        var m = new Model();
        m.Opsets[""] = 17;
        m.ProducerName = "bench";
        var g = m.Graph;
        g.Name = Name;
        g.Inputs.Add(new ValueInfo("input", OnnxType.Tensor(DataType.Float, Dim.Known(1), Dim.Known(3), Dim.Known(32), Dim.Known(32))));
        g.Outputs.Add(new ValueInfo("probabilities", OnnxType.Tensor(DataType.Float, Dim.Known(1), Dim.Known(10))));
        g.Initializers["w1"] = W(16, 3, 3, 3);
        g.Initializers["b1"] = W(16);
        g.Initializers["w2"] = W(32, 16, 3, 3);
        g.Initializers["b2"] = W(32);
        g.Initializers["wf"] = W(10, 32 * 8 * 8);
        g.Initializers["bf"] = W(10);
        NodeAttribute Ints(string n, params long[] v) => NodeAttribute.Of(n, v);
        g.Nodes.Add(new Node("Conv", ["input", "w1", "b1"], ["c1"], "conv1", attributes: [Ints("pads", 1, 1, 1, 1), Ints("kernel_shape", 3, 3)]));
        g.Nodes.Add(new Node("Relu", ["c1"], ["r1"], "relu1"));
        g.Nodes.Add(new Node("MaxPool", ["r1"], ["p1"], "pool1", attributes: [Ints("kernel_shape", 2, 2), Ints("strides", 2, 2)]));
        g.Nodes.Add(new Node("Conv", ["p1", "w2", "b2"], ["c2"], "conv2", attributes: [Ints("pads", 1, 1, 1, 1), Ints("kernel_shape", 3, 3)]));
        g.Nodes.Add(new Node("Relu", ["c2"], ["r2"], "relu2"));
        g.Nodes.Add(new Node("MaxPool", ["r2"], ["p2"], "pool2", attributes: [Ints("kernel_shape", 2, 2), Ints("strides", 2, 2)]));
        g.Nodes.Add(new Node("Flatten", ["p2"], ["f"], "flatten"));
        g.Nodes.Add(new Node("Gemm", ["f", "wf", "bf"], ["logits"], "fc", attributes: [NodeAttribute.Of("transB", 1L)]));
        g.Nodes.Add(new Node("Softmax", ["logits"], ["probabilities"], "softmax"));
        return m;
    }
}
