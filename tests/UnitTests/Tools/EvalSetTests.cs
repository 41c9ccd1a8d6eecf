using Google.Protobuf;
using NetOnnx.OnnxImport;
using NetOnnx.Runtime;
using NetOnnx.Tools;
using Xunit;
using static NetOnnx.Tests.IrBuilder;

namespace NetOnnx.Tests;

/// <summary>
/// Evaluation sets for quantize/prune: the drawn inputs follow the calibration input's per-channel statistics
/// and its flips/crops, integer inputs keep their vocabulary and masks, seeds repeat, and the commands report
/// the set with top-1 agreement.
/// </summary>
public class EvalSetTests
{
    private static readonly double[] Mu = [-1.5, 0.2, 3.0], Sd = [0.5, 2.0, 1.0];

    /// <summary>An image [1, 3, 16, 20] whose channel c is N(Mu[c], Sd[c]).</summary>
    private static Tensor Image(int seed)
    {
        var rng = new Random(seed);
        var v = new float[3 * 16 * 20];
        for (int i = 0; i < v.Length; i++)
        {
            int c = i / 320;
            double g = Math.Sqrt(-2 * Math.Log(1 - rng.NextDouble())) * Math.Cos(2 * Math.PI * rng.NextDouble());
            v[i] = (float)(Mu[c] + Sd[c] * g);
        }
        return Tensor.Create(v, 1, 3, 16, 20);
    }

    private static Dictionary<string, object> Set(Tensor x) => new() { ["x"] = x };

    [Fact]
    public void GaussianDrawsFollowEachChannelsMeanAndStd()
    {
        var bases = new[] { Set(Image(1)), Set(Image(2)) };
        // The statistics the draws must match, computed here from the calibration inputs.
        var sets = EvalSet.Random(bases, 50, seed: 7);
        Assert.Equal(50, sets.Count);
        var gaussian = sets.Where((_, i) => EvalSet.Kinds[i % EvalSet.Kinds.Length] == "gaussian").Select(s => ((Tensor)s["x"]).ReadOnlySpan<float>().ToArray()).ToList();
        Assert.Equal(10, gaussian.Count);
        for (int c = 0; c < 3; c++)
        {
            var baseVals = bases.SelectMany(b => ((Tensor)b["x"]).ReadOnlySpan<float>().ToArray().Skip(c * 320).Take(320)).ToArray();
            double bm = baseVals.Average(), bs = Math.Sqrt(baseVals.Select(v => (v - bm) * (v - bm)).Average());
            var drawn = gaussian.SelectMany(g => g.Skip(c * 320).Take(320)).ToArray();
            double dm = drawn.Average(), ds = Math.Sqrt(drawn.Select(v => (v - dm) * (v - dm)).Average());
            Assert.True(Math.Abs(dm - bm) < 0.05 * bs + 0.01, $"channel {c}: mean {dm} vs {bm}");
            Assert.True(Math.Abs(ds - bs) < 0.05 * bs, $"channel {c}: std {ds} vs {bs}");
        }
    }

    [Fact]
    public void FlipsAndCropsRearrangeTheCalibrationInput()
    {
        var x = Image(3);
        var src = x.ReadOnlySpan<float>().ToArray();
        var sets = EvalSet.Random([Set(x)], 5, seed: 2);
        var flip = ((Tensor)sets[Array.IndexOf(EvalSet.Kinds, "flip+noise")]["x"]).ReadOnlySpan<float>().ToArray();
        for (int i = 0; i < flip.Length; i++)
        {
            int row = i / 20 * 20, col = i % 20;
            // Light noise only: 0.02 std of the channel (at most 2.0), so well under 0.3 here.
            Assert.True(Math.Abs(flip[i] - src[row + 19 - col]) < 0.3, $"[{i}] {flip[i]} vs mirrored {src[row + 19 - col]}");
        }
        var crop = ((Tensor)sets[Array.IndexOf(EvalSet.Kinds, "crop+resize")]["x"]).ReadOnlySpan<float>().ToArray();
        Assert.Equal(src.Length, crop.Length);
        for (int p = 0; p < 3; p++)
        {
            // Nearest-neighbour resampling: every value comes from the same channel plane of the input.
            var plane = src.Skip(p * 320).Take(320).ToHashSet();
            for (int i = p * 320; i < (p + 1) * 320; i++) Assert.Contains(crop[i], plane);
        }
        Assert.False(crop.SequenceEqual(src) && flip.SequenceEqual(src));
    }

    [Fact]
    public void IntegerInputsKeepTheirValuesAndMasksAndTheSeedRepeats()
    {
        var rng = new Random(5);
        var ids = Enumerable.Range(0, 1000).Select(_ => (long)rng.Next(1000, 8192)).ToArray();
        var mask = Enumerable.Range(0, 1000).Select(i => i < 700 ? 1L : 0L).ToArray();
        var b = new Dictionary<string, object>
        {
            ["ids"] = Tensor.Create(ids, 1, 1000), ["mask"] = Tensor.Create(mask, 1, 1000), ["sr"] = Tensor.Create(new[] { 16000L }),
        };
        var sets = EvalSet.Random([b], 4, seed: 9);
        var known = ids.ToHashSet();
        foreach (var s in sets)
        {
            var got = ((Tensor)s["ids"]).ReadOnlySpan<long>().ToArray();
            Assert.All(got, v => Assert.Contains(v, known));
            int changed = got.Where((v, i) => v != ids[i]).Count();
            Assert.InRange(changed, 80, 220); // about 15% redrawn
            Assert.Equal(mask, ((Tensor)s["mask"]).ReadOnlySpan<long>().ToArray());
            Assert.Equal(16000L, ((Tensor)s["sr"]).ReadOnlySpan<long>()[0]);
        }
        var again = EvalSet.Random([b], 4, seed: 9);
        var other = EvalSet.Random([b], 4, seed: 10);
        Assert.Equal(((Tensor)sets[3]["ids"]).ReadOnlySpan<long>().ToArray(), ((Tensor)again[3]["ids"]).ReadOnlySpan<long>().ToArray());
        Assert.NotEqual(((Tensor)sets[3]["ids"]).ReadOnlySpan<long>().ToArray(), ((Tensor)other[3]["ids"]).ReadOnlySpan<long>().ToArray());
    }

    private static (int Code, string Out, string Err) Run(params string[] args)
    {
        var o = new StringWriter();
        var e = new StringWriter();
        int code = Cli.Run(args, o, e);
        return (code, o.ToString(), e.ToString());
    }

    /// <summary>x [1, 3, 16, 20] -> Flatten -> MatMul -> y [1, 10] with a test_data_set_0, a tiny classifier.</summary>
    private static string WriteModel()
    {
        var rng = new Random(4);
        var m = Model([F("x", 1, 3, 16, 20)], [F("y", 1, 10)],
            [N("Flatten", ["x"], ["f"]), N("MatMul", ["f", "w"], ["y"])],
            new Dictionary<string, Tensor> { ["w"] = RandomFloats(rng, 960, 10) }, opset: 13);
        var dir = Directory.CreateTempSubdirectory("netonnx-eval-");
        var path = Path.Combine(dir.FullName, "model.onnx");
        OnnxModelWriter.Save(m, path);
        var set = Directory.CreateDirectory(Path.Combine(dir.FullName, "test_data_set_0"));
        File.WriteAllBytes(Path.Combine(set.FullName, "input_0.pb"), TensorCodec.ToProto(Image(1), "x").ToByteArray());
        return path;
    }

    [Fact]
    public void PruneAndQuantizeReportTheEvaluationSet()
    {
        var path = WriteModel();
        var dir = Path.GetDirectoryName(path)!;
        var (code, output, err) = Run("prune", path, "-o", Path.Combine(dir, "p.onnx"), "--sparsity", "0.5", "--no-sensitivity", "--eval-random", "50", "--seed", "3");
        Assert.True(code == 0, err);
        Assert.Contains("evaluation set: 50 input(s)", output);
        Assert.Contains("mean cosine", output);
        Assert.DoesNotContain("fewer than 50", output);
        (code, output, err) = Run("quantize", path, "-o", Path.Combine(dir, "q.onnx"), "--no-sensitivity", "--eval", Path.Combine(dir, "test_data_set_0"));
        Assert.True(code == 0, err);
        Assert.Contains("evaluation set: 1 input(s)", output);
        Assert.Contains("fewer than 50", output);
    }

    [Theory]
    [InlineData("--eval-random", "0")]
    [InlineData("--seed", "4")]
    [InlineData("--eval", "/nonexistent/eval-dir")]
    public void BadEvaluationOptionsAreRejected(string option, string value)
    {
        var path = WriteModel();
        var (code, _, err) = Run("prune", path, "-o", Path.Combine(Path.GetDirectoryName(path)!, "p.onnx"), "--sparsity", "0.5", "--no-sensitivity", option, value);
        Assert.NotEqual(0, code);
        Assert.Contains(option.TrimStart('-'), err);
    }
}
