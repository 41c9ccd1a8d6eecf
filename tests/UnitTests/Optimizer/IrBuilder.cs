using NetOnnx.Runtime;

namespace NetOnnx.Tests;

/// <summary>Small IR graphs built in code for optimizer tests, and a runner that compares optimisation levels.</summary>
internal static class IrBuilder
{
    public static ValueInfo F(string name, params int[] dims) =>
        new(name, OnnxType.Tensor(DataType.Float, dims.Select(d => Dim.Known(d)).ToArray()));

    public static Node N(string op, string[] inputs, string[] outputs, params NodeAttribute[] attributes) =>
        new(op, inputs, outputs, name: "n_" + outputs[0], attributes: attributes);

    public static Model Model(IEnumerable<ValueInfo> inputs, IEnumerable<ValueInfo> outputs, IEnumerable<Node> nodes,
        IDictionary<string, Tensor>? initializers = null, long opset = 17)
    {
        var m = new Model();
        m.Opsets[""] = opset;
        m.Graph.Name = "test";
        m.Graph.Inputs.AddRange(inputs);
        m.Graph.Outputs.AddRange(outputs);
        m.Graph.Nodes.AddRange(nodes);
        if (initializers is not null) foreach (var kv in initializers) m.Graph.Initializers[kv.Key] = kv.Value;
        return m;
    }

    public static Tensor RandomFloats(Random rng, params int[] shape)
    {
        int n = shape.Aggregate(1, (p, d) => p * d);
        return Tensor.Create(Enumerable.Range(0, n).Select(_ => (float)Math.Round(rng.NextDouble() * 4 - 2, 3)).ToArray(), shape);
    }

    /// <summary>Runs a freshly built model at one level; returns each graph output's shape and values.</summary>
    public static Dictionary<string, (int[] Shape, float[] Values)> RunAt(Func<Model> build, OptimizationLevel level,
        Dictionary<string, Tensor> feeds, out Model optimized)
    {
        var m = build();
        using var s = new InferenceSession(m, new SessionOptions { OptimizationLevel = level });
        optimized = s.Model;
        return s.Run(feeds).ToDictionary(kv => kv.Key, kv => (kv.Value.Shape, kv.Value.ToArray<float>()));
    }

    /// <summary>Asserts that level None and level All agree on every output; returns the optimised model.</summary>
    public static Model AssertSameOutputs(Func<Model> build, Dictionary<string, Tensor> feeds)
    {
        var none = RunAt(build, OptimizationLevel.None, feeds, out _);
        var all = RunAt(build, OptimizationLevel.All, feeds, out var optimized);
        Xunit.Assert.Equal(none.Keys.OrderBy(k => k), all.Keys.OrderBy(k => k));
        foreach (var (k, v) in none)
        {
            Xunit.Assert.Equal(v.Shape, all[k].Shape);
            // Tolerance, not equality: fusion passes may reassociate float arithmetic.
            for (int i = 0; i < v.Values.Length; i++)
                Xunit.Assert.True(Math.Abs(v.Values[i] - all[k].Values[i]) <= 1e-5f + 1e-5f * Math.Abs(v.Values[i]),
                    $"{k}[{i}]: {v.Values[i]} at level None, {all[k].Values[i]} at level All");
        }
        return optimized;
    }
}
