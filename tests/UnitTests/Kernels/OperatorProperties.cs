using FsCheck;
using FsCheck.Fluent;
using Google.Protobuf;
using NetOnnx.Kernels;
using NetOnnx.OnnxImport.Proto;
using NetOnnx.Runtime;
using static NetOnnx.Tests.TestModels;

namespace NetOnnx.Tests;

/// <summary>
/// Kernels against naive reference loops on random shapes (zero-sized dimensions included), run through a
/// one-node session so the whole path (attributes, registry, executor) is exercised.
/// </summary>
public class OperatorProperties
{
    private static Tensor RunOne(NodeProto node, Tensor x, long opset, params (string Name, Tensor Value)[] constants)
    {
        var g = new GraphProto { Name = "one" };
        g.Input.Add(Info("x", (int)x.ElementType, x.Shape.Select(d => (long)d).ToArray()));
        g.Output.Add(new ValueInfoProto { Name = "y" });
        foreach (var (name, value) in constants) g.Initializer.Add(OnnxImport.TensorCodec.ToProto(value, name));
        g.Node.Add(node);
        using var s = new InferenceSession(Model(g, opset).ToByteArray(), new Runtime.SessionOptions { OptimizationLevel = OptimizationLevel.None });
        return s.Run(new Dictionary<string, Tensor> { ["x"] = x })["y"];
    }

    private static (int[] Shape, float[] Data) RandomTensor(Random rng, int maxRank = 4)
    {
        int rank = rng.Next(1, maxRank + 1);
        var shape = Enumerable.Range(0, rank).Select(_ => rng.Next(10) == 0 ? 0 : rng.Next(1, 6)).ToArray();
        var data = Enumerable.Range(0, ShapeMath.Size(shape)).Select(_ => (float)rng.Next(-20, 21) / 4).ToArray();
        return (shape, data);
    }

    /// <summary>Reference reduction: walks every input index, folding into the output cell it maps to.</summary>
    private static float[] NaiveReduce(float[] x, int[] shape, HashSet<int> axes, Func<float, float, float> f, float init, out int[] outShape, bool keep)
    {
        var kept = shape.Select((d, i) => axes.Contains(i) ? 1 : d).ToArray();
        var acc = Enumerable.Repeat(init, ShapeMath.Size(kept)).ToArray();
        var idx = new int[shape.Length];
        for (int i = 0; i < x.Length; i++)
        {
            int rem = i;
            for (int d = shape.Length - 1; d >= 0; d--) { idx[d] = rem % shape[d]; rem /= shape[d]; }
            int o = 0;
            for (int d = 0; d < shape.Length; d++) o = o * kept[d] + (axes.Contains(d) ? 0 : idx[d]);
            acc[o] = f(acc[o], x[i]);
        }
        outShape = keep ? kept : shape.Where((_, i) => !axes.Contains(i)).ToArray();
        return acc;
    }

    [FsCheck.Xunit.Property(MaxTest = 60)]
    public Property ReduceSumAndMaxMatchNaiveLoopsOverRandomAxes(int seed)
    {
        var rng = new Random(seed);
        var (shape, data) = RandomTensor(rng);
        var axes = Enumerable.Range(0, shape.Length).Where(_ => rng.Next(2) == 0).ToArray();
        if (axes.Length == 0) axes = [rng.Next(shape.Length)];
        bool keep = rng.Next(2) == 0;
        // Negative axes are legal and must mean the same thing.
        var written = axes.Select(a => rng.Next(2) == 0 ? (long)a : a - shape.Length).ToArray();
        var axisSet = axes.ToHashSet();
        var x = Tensor.Create(data, shape);
        bool ok = true;
        string detail = "";
        foreach (var (op, f, init) in new (string, Func<float, float, float>, float)[]
                 { ("ReduceSum", (a, b) => a + b, 0f), ("ReduceMax", MathF.Max, float.NegativeInfinity) })
        {
            // An empty max has no defined value in older opsets; only compare it when every reduced slice is non-empty.
            if (op == "ReduceMax" && axes.Any(a => shape[a] == 0)) continue;
            var node = NodeOf(op, ["x", "axes"], ["y"]);
            node.Attribute.Add(new AttributeProto { Name = "keepdims", Type = AttributeProto.Types.AttributeType.Int, I = keep ? 1 : 0 });
            var y = RunOne(node, x, 18, ("axes", Tensor.Create(written, written.Length)));
            var expect = NaiveReduce(data, shape, axisSet, f, init, out var expectShape, keep);
            ok &= y.Shape.SequenceEqual(expectShape) && y.ToArray<float>().SequenceEqual(expect);
            detail += $"{op}: got {ShapeMath.Format(y.Shape)} want {ShapeMath.Format(expectShape)}; ";
        }
        return ok.Label($"{ShapeMath.Format(shape)} axes [{string.Join(",", written)}] keep={keep}: {detail}");
    }

    [FsCheck.Xunit.Property(MaxTest = 60)]
    public Property SoftmaxRowsSumToOneAndMatchTheDefinition(int seed)
    {
        var rng = new Random(seed);
        var (shape, data) = RandomTensor(rng);
        int axis = rng.Next(-shape.Length, shape.Length);
        var node = NodeOf("Softmax", ["x"], ["y"]);
        node.Attribute.Add(new AttributeProto { Name = "axis", Type = AttributeProto.Types.AttributeType.Int, I = axis });
        var y = RunOne(node, Tensor.Create(data, shape), 13).ToArray<float>();
        int a = axis < 0 ? axis + shape.Length : axis;
        int n = shape[a], inner = shape.Skip(a + 1).Aggregate(1, (p, d) => p * d), outer = shape.Take(a).Aggregate(1, (p, d) => p * d);
        bool ok = y.Length == data.Length;
        for (int o = 0; o < outer && ok; o++)
            for (int i = 0; i < inner; i++)
            {
                double max = double.NegativeInfinity, sum = 0;
                for (int k = 0; k < n; k++) max = Math.Max(max, data[(o * n + k) * inner + i]);
                for (int k = 0; k < n; k++) sum += Math.Exp(data[(o * n + k) * inner + i] - max);
                for (int k = 0; k < n; k++)
                {
                    int j = (o * n + k) * inner + i;
                    ok &= Math.Abs(y[j] - Math.Exp(data[j] - max) / sum) <= 1e-5;
                }
            }
        return ok.Label($"{ShapeMath.Format(shape)} axis {axis}");
    }

    [FsCheck.Xunit.Property(MaxTest = 60)]
    public Property TransposeMovesEveryElementToItsPermutedIndex(int seed)
    {
        var rng = new Random(seed);
        var (shape, data) = RandomTensor(rng, maxRank: 5);
        var perm = Enumerable.Range(0, shape.Length).OrderBy(_ => rng.Next()).ToArray();
        var node = NodeOf("Transpose", ["x"], ["y"]);
        var pa = new AttributeProto { Name = "perm", Type = AttributeProto.Types.AttributeType.Ints };
        pa.Ints.AddRange(perm.Select(p => (long)p));
        node.Attribute.Add(pa);
        var y = RunOne(node, Tensor.Create(data, shape), 13);
        var outShape = perm.Select(p => shape[p]).ToArray();
        var got = y.ToArray<float>();
        bool ok = y.Shape.SequenceEqual(outShape);
        var strides = ShapeMath.Strides(shape);
        var idx = new int[shape.Length];
        for (int o = 0; o < got.Length && ok; o++)
        {
            int rem = o, src = 0;
            for (int d = outShape.Length - 1; d >= 0; d--) { idx[d] = rem % outShape[d]; rem /= outShape[d]; }
            for (int d = 0; d < perm.Length; d++) src += idx[d] * strides[perm[d]];
            ok &= got[o] == data[src];
        }
        return ok.Label($"{ShapeMath.Format(shape)} perm [{string.Join(",", perm)}]");
    }
}
