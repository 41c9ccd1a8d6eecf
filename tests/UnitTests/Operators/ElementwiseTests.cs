using NetOnnx.Kernels.Elementwise;
using NetOnnx.Runtime;
using Xunit;

namespace NetOnnx.Tests;

/// <summary>Element-wise operator semantics the backend tests do not pin down (legacy broadcast, edge values, errors).</summary>
public class ElementwiseTests
{
    private static Tensor RunOp(string op, int opset, Tensor[] inputs, params NodeAttribute[] attrs)
    {
        var m = new Model();
        m.Opsets[""] = opset;
        var g = m.Graph;
        var names = new List<string>();
        var feeds = new Dictionary<string, Tensor>();
        for (int i = 0; i < inputs.Length; i++)
        {
            string n = $"in{i}";
            names.Add(n);
            g.Inputs.Add(new ValueInfo(n, OnnxType.Tensor(inputs[i].ElementType, inputs[i].Shape.Select(d => Dim.Known(d)).ToArray())));
            feeds[n] = inputs[i];
        }
        var node = new Node(op, names, ["y"], "n0");
        foreach (var a in attrs) node.Attributes[a.Name] = a;
        g.Nodes.Add(node);
        g.Outputs.Add(new ValueInfo("y", null));
        return new Session(m).Run(feeds)["y"];
    }

    [Fact]
    public void LegacyBroadcastAlignsBAtAxis()
    {
        var a = Tensor.Create(new float[24], 2, 3, 4);
        var b = Tensor.Create(new float[] { 1, 2, 3 }, 3);
        var y = RunOp("Add", 6, [a, b], NodeAttribute.Of("broadcast", 1L), NodeAttribute.Of("axis", 1L));
        Assert.Equal([2, 3, 4], y.Shape);
        var v = y.ToArray<float>();
        Assert.Equal(1f, v[0]);
        Assert.Equal(2f, v[4]);
        Assert.Equal(3f, v[23]);
    }

    [Fact]
    public void IntegerModTakesTheDivisorsSign()
    {
        var y = RunOp("Mod", 13, [Tensor.Create(new[] { -7, 7, -7, 7 }, 4), Tensor.Create(new[] { 3, -3, -3, 3 }, 4)]);
        Assert.Equal([2, -2, -1, 1], y.ToArray<int>());
        var f = RunOp("Mod", 13, [Tensor.Create(new[] { -7, 7 }, 2), Tensor.Create(new[] { 3, -3 }, 2)], NodeAttribute.Of("fmod", 1L));
        Assert.Equal([-1, 1], f.ToArray<int>());
    }

    [Fact]
    public void IntegerDivisionByZeroIsAClearError()
    {
        var e = Assert.ThrowsAny<OnnxException>(() => RunOp("Div", 13, [Tensor.Create(new[] { 1, 2 }, 2), Tensor.Create(new[] { 1, 0 }, 2)]));
        Assert.Contains("division by zero", e.Message);
        Assert.Contains("n0", e.Message);
    }

    [Fact]
    public void PowKeepsTheBaseType()
    {
        var y = RunOp("Pow", 15, [Tensor.Create(new[] { 2, 3 }, 2), Tensor.Create(new[] { 3f, 0.5f }, 2)]);
        Assert.Equal(DataType.Int32, y.ElementType);
        Assert.Equal([8, 1], y.ToArray<int>());
    }

    [Fact]
    public void WhereBroadcastsAllThreeInputs()
    {
        var c = Tensor.Create(new[] { true, false }, 2, 1);
        var x = Tensor.Create(new long[] { 1, 2, 3 }, 3);
        var y = Tensor.Scalar(-1L);
        var r = RunOp("Where", 16, [c, x, y]);
        Assert.Equal([2, 3], r.Shape);
        Assert.Equal([1L, 2, 3, -1, -1, -1], r.ToArray<long>());
    }

    [Fact]
    public void ClipMinAboveMaxGivesMax()
    {
        var r = RunOp("Clip", 13, [Tensor.Create(new sbyte[] { -5, 0, 5 }, 3), Tensor.Scalar((sbyte)2), Tensor.Scalar((sbyte)1)]);
        Assert.Equal([(sbyte)1, 1, 1], r.ToArray<sbyte>());
    }

    [Fact]
    public void ShiftByTheBitWidthGivesZero()
    {
        var r = RunOp("BitShift", 11, [Tensor.Create(new uint[] { 1, 1 }, 2), Tensor.Create(new uint[] { 31, 32 }, 2)],
            NodeAttribute.Of("direction", "LEFT"));
        Assert.Equal([0x80000000u, 0u], r.ToArray<uint>());
    }

    [Fact]
    public void VariadicMaxBroadcastsAcrossThreeInputs()
    {
        var r = RunOp("Max", 13, [Tensor.Create(new[] { 1f, 5f }, 2, 1), Tensor.Create(new[] { 2f, 3f, 4f }, 1, 3), Tensor.Scalar(4.5f)]);
        Assert.Equal([4.5f, 4.5f, 4.5f, 5f, 5f, 5f], r.ToArray<float>());
    }

    [Fact]
    public void RoundIsHalfToEven()
    {
        var r = RunOp("Round", 11, [Tensor.Create(new[] { 0.5f, 1.5f, 2.5f, -0.5f, -1.5f }, 5)]);
        Assert.Equal([0f, 2f, 2f, -0f, -2f], r.ToArray<float>());
    }

    [Theory]
    [InlineData(0.0, 0.0)]
    [InlineData(1e-5, 1.1283791670579e-5)]
    [InlineData(0.5, 0.5204998778130465)]
    [InlineData(1.0, 0.8427007929497149)]
    [InlineData(2.0, 0.9953222650189527)]
    [InlineData(3.0, 0.9999779095030014)]
    [InlineData(-1.5, -0.9661051464753108)]
    public void ErfMatchesReferenceValues(double x, double expected) =>
        Assert.Equal(expected, ScalarMath.Erf(x), 1e-13);

    [Fact]
    public void SigmoidIsStableForLargeInputs()
    {
        var xs = new float[] { -100f, -20f, 0f, 20f, 100f, -1f, 1f, 3f, -3f, 0.1f, -0.1f, 50f, -50f, 7f, -7f, 2f, -2f };
        var r = RunOp("Sigmoid", 13, [Tensor.Create(xs, xs.Length)]).ToArray<float>();
        for (int i = 0; i < xs.Length; i++) Assert.Equal(1.0 / (1.0 + Math.Exp(-xs[i])), r[i], 1e-6);
    }

    [Fact]
    public void LargeTensorsSplitAcrossThreadsGiveTheSerialResult()
    {
        int n = 200_003;
        var a = new float[n];
        var b = new float[n];
        for (int i = 0; i < n; i++) { a[i] = i * 0.001f; b[i] = (i % 7) - 3; }
        var sum = RunOp("Add", 14, [Tensor.Create(a, n), Tensor.Create(b, n)]).ToArray<float>();
        var scaled = RunOp("Mul", 14, [Tensor.Scalar(2f), Tensor.Create(a, n)]).ToArray<float>();
        var sig = RunOp("Sigmoid", 13, [Tensor.Create(b, n)]).ToArray<float>();
        // A bias repeating along the leading dimension, on either side.
        var bias = new float[] { 1, 2, 3, 4, 5, 6, 7 };
        var x = a.AsSpan(0, 7 * 20000).ToArray();
        var biased = RunOp("Add", 14, [Tensor.Create(x, 20000, 7), Tensor.Create(bias, 1, 7)]).ToArray<float>();
        var under = RunOp("Sub", 14, [Tensor.Create(bias, 7), Tensor.Create(x, 20000, 7)]).ToArray<float>();
        for (int i = 0; i < x.Length; i++)
        {
            Assert.Equal(x[i] + bias[i % 7], biased[i]);
            Assert.Equal(bias[i % 7] - x[i], under[i]);
        }
        for (int i = 0; i < n; i++)
        {
            Assert.Equal(a[i] + b[i], sum[i]);
            Assert.Equal(2f * a[i], scaled[i]);
            Assert.Equal(1.0 / (1.0 + Math.Exp(-b[i])), sig[i], 1e-6);
        }
    }

    [Fact]
    public void MaxMinAndClipPropagateNaN()
    {
        var a = Enumerable.Range(0, 40).Select(i => i == 3 || i == 33 ? float.NaN : (float)i).ToArray();
        var b = Enumerable.Repeat(10f, 40).ToArray();
        var max = RunOp("Max", 13, [Tensor.Create(a, 40), Tensor.Create(b, 40)]).ToArray<float>();
        var min = RunOp("Min", 13, [Tensor.Create(a, 40), Tensor.Create(b, 40)]).ToArray<float>();
        var clip = RunOp("Clip", 13, [Tensor.Create(a, 40), Tensor.Scalar(5f), Tensor.Scalar(20f)]).ToArray<float>();
        foreach (int i in new[] { 3, 33 }) { Assert.True(float.IsNaN(max[i])); Assert.True(float.IsNaN(min[i])); Assert.True(float.IsNaN(clip[i])); }
        Assert.Equal(30f, max[30]);
        Assert.Equal(10f, min[30]);
        Assert.Equal(20f, clip[30]);
        Assert.Equal(5f, clip[0]);
    }

    [Fact]
    public void ShrinkAcceptsIntegers()
    {
        var r = RunOp("Shrink", 9, [Tensor.Create(new[] { -3, -1, 0, 1, 3 }, 5)], NodeAttribute.Of("lambd", 1.5f), NodeAttribute.Of("bias", 1f));
        Assert.Equal([-2, 0, 0, 0, 2], r.ToArray<int>());
    }

    [Fact]
    public void Float16ComputesThroughFloat()
    {
        var r = RunOp("Exp", 13, [Tensor.Create(new[] { (Half)0, (Half)1 }, 2)]);
        Assert.Equal(DataType.Float16, r.ElementType);
        Assert.Equal((Half)MathF.E, r.ToArray<Half>()[1]);
    }
}

public class VectorMathTests
{
    [Fact]
    public void VectorTanhAndErfAreFloatAccurate()
    {
        var xs = new float[4001];
        for (int i = 0; i < xs.Length; i++) xs[i] = (i - 2000) / 200f;
        var t = new float[xs.Length];
        var e = new float[xs.Length];
        FloatLoops.ApplyVector<TanhFn>(xs, t);
        FloatLoops.ApplyVector<ErfFn>(xs, e);
        for (int i = 0; i < xs.Length; i++)
        {
            Assert.True(Math.Abs(t[i] - Math.Tanh(xs[i])) <= 1e-6 + 1e-5 * Math.Abs(Math.Tanh(xs[i])), $"tanh({xs[i]}) = {t[i]}");
            Assert.True(Math.Abs(e[i] - ScalarMath.Erf((double)xs[i])) <= 1e-6, $"erf({xs[i]}) = {e[i]}");
        }
    }
}
