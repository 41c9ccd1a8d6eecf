using NetOnnx.Kernels;
using NetOnnx.Kernels.DataMovement;
using NetOnnx.Runtime;
using Xunit;

namespace NetOnnx.Tests;

public class DataMovementTests
{
    /// <summary>The strided copy agrees with a naive index walk for random permutations, reversals and broadcasts.</summary>
    [Fact]
    public void StridedCopyMatchesNaiveWalk()
    {
        var rng = new Random(7);
        for (int trial = 0; trial < 300; trial++)
        {
            int rank = rng.Next(0, 5);
            var inShape = Enumerable.Range(0, rank).Select(_ => rng.Next(1, 7)).ToArray();
            if (trial % 10 == 0 && rank > 0) inShape[0] = rng.Next(17, 40); // exercise the tiled path
            var src = Enumerable.Range(0, ShapeMath.Size(inShape)).Select(i => (float)i).ToArray();
            var inStrides = ShapeMath.Strides(inShape);
            var perm = Enumerable.Range(0, rank).OrderBy(_ => rng.Next()).ToArray();
            var shape = perm.Select(p => inShape[p]).ToArray();
            var strides = perm.Select(p => inStrides[p]).ToArray();
            int offset = 0;
            for (int d = 0; d < rank; d++)
            {
                int kind = rng.Next(4);
                if (kind == 0) { offset += (shape[d] - 1) * strides[d]; strides[d] = -strides[d]; } // reversed
                else if (kind == 1) strides[d] = 0; // broadcast the first element
            }
            var dst = new float[ShapeMath.Size(shape)];
            StridedCopy.Gather<float>(src, offset, strides, dst, shape);
            var idx = new int[rank];
            for (int i = 0; i < dst.Length; i++)
            {
                int s = offset;
                for (int d = 0; d < rank; d++) s += idx[d] * strides[d];
                Assert.Equal(src[s], dst[i]);
                for (int d = rank - 1; d >= 0; d--) { if (++idx[d] < shape[d]) break; idx[d] = 0; }
            }
        }
    }

    [Fact]
    public void StridedCopyRejectsAFootprintOutsideTheBuffer()
    {
        var src = new int[6];
        var dst = new int[4];
        Assert.Throws<ArgumentOutOfRangeException>(() => StridedCopy.Gather<int>(src, 0, [3, 3], dst, [2, 2]));
    }

    private static Dictionary<string, Tensor> RunOp(string op, int opset, Tensor[] inputs, int outputs = 1,
        Dictionary<string, NodeAttribute>? attrs = null, Dictionary<int, Tensor>? constants = null)
    {
        var m = new Model();
        m.Opsets[""] = opset;
        var g = m.Graph;
        var ins = new List<string>();
        var feed = new Dictionary<string, Tensor>();
        for (int i = 0; i < inputs.Length; i++)
        {
            string name = $"x{i}";
            ins.Add(name);
            if (constants?.ContainsKey(i) == true) { g.Initializers[name] = inputs[i]; continue; }
            g.Inputs.Add(new ValueInfo(name, OnnxType.Tensor(inputs[i].ElementType, inputs[i].Shape.Select(d => Dim.Known(d)).ToArray())));
            feed[name] = inputs[i];
        }
        var outs = Enumerable.Range(0, outputs).Select(i => $"y{i}").ToArray();
        var node = new Node(op, ins, outs, "n");
        if (attrs is not null) foreach (var (k, v) in attrs) node.Attributes[k] = v;
        g.Nodes.Add(node);
        foreach (var o in outs) g.Outputs.Add(new ValueInfo(o, OnnxType.Tensor(DataType.Undefined, null)));
        return new Session(m).Run(feed);
    }

    [Fact]
    public void TransposeAndGatherMoveStrings()
    {
        var x = Tensor.Create(new[] { "a", "b", "c", "d", "e", "f" }, 2, 3);
        var t = RunOp("Transpose", 13, [x])["y0"];
        Assert.Equal([3, 2], t.Shape);
        Assert.Equal(["a", "d", "b", "e", "c", "f"], t.ToArray<string>());
        var g = RunOp("Gather", 13, [x, Tensor.Create(new long[] { 2, -3 }, 2)], attrs: new() { ["axis"] = NodeAttribute.Of("axis", 1L) })["y0"];
        Assert.Equal(["c", "a", "f", "d"], g.ToArray<string>());
    }

    [Fact]
    public void SliceWithNegativeStepsReversesFloat16()
    {
        var x = Tensor.Create(Enumerable.Range(0, 10).Select(i => (Half)i).ToArray(), 10);
        var y = RunOp("Slice", 13, [x, Tensor.Create(new long[] { -1 }, 1), Tensor.Create(new long[] { long.MinValue }, 1),
            Tensor.Create(new long[] { 0 }, 1), Tensor.Create(new long[] { -3 }, 1)])["y0"];
        Assert.Equal(new[] { (Half)9, (Half)6, (Half)3, (Half)0 }, y.ToArray<Half>());
    }

    [Fact]
    public void ReflectPadWiderThanTheInputRepeatsTheReflection()
    {
        var x = Tensor.Create(new[] { 1, 2, 3 }, 3);
        var y = RunOp("Pad", 18, [x, Tensor.Create(new long[] { 5, 4 }, 2)], attrs: new() { ["mode"] = NodeAttribute.Of("mode", "reflect") })["y0"];
        // numpy.pad([1,2,3], (5,4), 'reflect')
        Assert.Equal([2, 1, 2, 3, 2, 1, 2, 3, 2, 1, 2, 3], y.ToArray<int>());
    }

    [Fact]
    public void UniqueOfStringsKeepsFirstOccurrenceOrderWhenUnsorted()
    {
        var x = Tensor.Create(new[] { "b", "a", "b", "c", "a" }, 5);
        var r = RunOp("Unique", 11, [x], 4, new() { ["sorted"] = NodeAttribute.Of("sorted", 0L) });
        Assert.Equal(["b", "a", "c"], r["y0"].ToArray<string>());
        Assert.Equal([0L, 1, 3], r["y1"].ToArray<long>());
        Assert.Equal([0L, 1, 0, 2, 1], r["y2"].ToArray<long>());
        Assert.Equal([2L, 2, 1], r["y3"].ToArray<long>());
    }

    [Fact]
    public void GatherOutOfRangeIndexNamesTheNode()
    {
        var x = Tensor.Create(new[] { 1f, 2f }, 2);
        var e = Assert.Throws<InferenceException>(() => RunOp("Gather", 13, [x, Tensor.Create(new long[] { 2 }, 1)]));
        Assert.Contains("Gather node 'n'", e.Message);
        Assert.Contains("out of range", e.Message);
    }

    [Fact]
    public void ReshapeIsAViewAndRejectsABadShape()
    {
        var x = Tensor.Create(Enumerable.Range(0, 12).Select(i => (float)i).ToArray(), 3, 4);
        var y = RunOp("Reshape", 14, [x, Tensor.Create(new long[] { 0, -1, 2 }, 3)])["y0"];
        Assert.Equal([3, 2, 2], y.Shape);
        var e = Assert.Throws<InferenceException>(() => RunOp("Reshape", 14, [x, Tensor.Create(new long[] { 5, -1 }, 2)]));
        Assert.Contains("cannot reshape", e.Message);
    }

    [Fact]
    public void TransposeOfALargeMatrixMatchesTheDefinition()
    {
        int rows = 67, cols = 45;
        var y = RunOp("Transpose", 13, [Tensor.Create(Enumerable.Range(0, 2 * rows * cols).Select(i => (double)i).ToArray(), 2, rows, cols)],
            attrs: new() { ["perm"] = NodeAttribute.Of("perm", new long[] { 0, 2, 1 }) })["y0"];
        Assert.Equal([2, cols, rows], y.Shape);
        var v = y.ToArray<double>();
        // The float path goes through the 8x8 register transpose.
        var yf = RunOp("Transpose", 13, [Tensor.Create(Enumerable.Range(0, 2 * rows * cols).Select(i => (float)i).ToArray(), 2, rows, cols)],
            attrs: new() { ["perm"] = NodeAttribute.Of("perm", new long[] { 0, 2, 1 }) })["y0"];
        var vf = yf.ToArray<float>();
        for (int b = 0; b < 2; b++)
            for (int i = 0; i < cols; i++)
                for (int j = 0; j < rows; j++)
                {
                    Assert.Equal((double)(b * rows * cols + j * cols + i), v[(b * cols + i) * rows + j]);
                    Assert.Equal((float)(b * rows * cols + j * cols + i), vf[(b * cols + i) * rows + j]);
                }
    }

    [Theory]
    [InlineData(1L)]
    [InlineData(0L)]
    public void TopKOnLongLinesMatchesAStableSort(long largest)
    {
        var rng = new Random(3);
        int rows = 3, n = 200, k = 7;
        var data = Enumerable.Range(0, rows * n).Select(_ => (float)rng.Next(0, 20)).ToArray();
        var r = RunOp("TopK", 11, [Tensor.Create(data, rows, n), Tensor.Create(new long[] { k }, 1)], 2,
            new() { ["largest"] = NodeAttribute.Of("largest", largest) });
        var vals = r["y0"].ToArray<float>();
        var idx = r["y1"].ToArray<long>();
        for (int row = 0; row < rows; row++)
        {
            var line = data.Skip(row * n).Take(n).Select((v, i) => (v, i));
            var expected = (largest != 0 ? line.OrderByDescending(p => p.v) : line.OrderBy(p => p.v)).ThenBy(p => p.i).Take(k).ToArray();
            for (int j = 0; j < k; j++)
            {
                Assert.Equal(expected[j].v, vals[row * k + j]);
                Assert.Equal(expected[j].i, idx[row * k + j]);
            }
        }
    }

    [Fact]
    public void CumSumWidensBFloat16()
    {
        var x = Tensor.Create(new[] { (BFloat16)1f, (BFloat16)2f, (BFloat16)3f }, 3);
        var y = RunOp("CumSum", 14, [x, Tensor.Scalar(0L)], attrs: new() { ["reverse"] = NodeAttribute.Of("reverse", 1L) })["y0"];
        Assert.Equal(new[] { 6f, 5f, 3f }, y.ToArray<BFloat16>().Select(v => (float)v).ToArray());
    }
}
