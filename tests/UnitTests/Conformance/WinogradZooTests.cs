using NetOnnx.Runtime;
using NetOnnx.Tools.Conformance;
using Xunit;

namespace NetOnnx.Tests;

/// <summary>
/// The CNNs whose 3x3 layers run as Winograd F(4x4,3x3) by default, against ONNX Runtime's reference outputs
/// (zoo rule: |ours - ref| &lt;= 1e-4 + 1e-3 |ref|) with Winograd on and off, and the largest error of each;
/// the two runs must differ (Winograd really ran) and both stay inside the rule. Skips without the zoo.
/// </summary>
public class WinogradZooTests(ITestOutputHelper output)
{
    private static readonly string Root = Path.Combine(TestModels.SharedRoot, "zoo");

    [Theory]
    [InlineData("resnet18")]
    [InlineData("squeezenet1_1")]
    [InlineData("ppocr_v4_det")]
    public void StaysWithinTheZooToleranceOfTheReference(string model)
    {
        var dir = Path.Combine(Root, model);
        if (!File.Exists(Path.Combine(dir, "model.onnx"))) Assert.Skip($"zoo model not found at {dir}");
        var set = Directory.GetDirectories(dir, "test_data_set_*").OrderBy(d => d, StringComparer.Ordinal).First();
        double[] worst = new double[2];
        float[]?[] first = new float[2][];
        foreach (bool winograd in new[] { false, true })
        {
            using var session = new InferenceSession(Path.Combine(dir, "model.onnx"),
                new SessionOptions { IntraOpThreads = 2, UseWinogradConvolution = winograd });
            var inputs = ConformanceRunner.ReadInputs(set, session.Model.Graph);
            var expected = ConformanceRunner.ReadOutputs(set, session.Model.Graph);
            var actual = session.Run(inputs.ToDictionary(kv => kv.Key, kv => (Tensor)kv.Value));
            double maxErr = 0, maxRatio = 0;
            foreach (var (name, value) in expected)
            {
                var want = ((Tensor)value).ToArray<float>();
                var got = actual[name].ToArray<float>();
                Assert.Equal(want.Length, got.Length);
                first[winograd ? 1 : 0] ??= got;
                for (int i = 0; i < want.Length; i++)
                {
                    double err = Math.Abs(got[i] - want[i]);
                    maxErr = Math.Max(maxErr, err);
                    maxRatio = Math.Max(maxRatio, err / (1e-4 + 1e-3 * Math.Abs(want[i])));
                }
            }
            worst[winograd ? 1 : 0] = maxErr;
            output.WriteLine($"{model} winograd={winograd}: max |ours - ref| {maxErr:E2}, {maxRatio:P1} of the tolerance");
            Assert.True(maxRatio <= 1, $"{model} winograd={winograd}: error {maxRatio:P1} of the zoo tolerance");
        }
        Assert.NotEqual(first[0], first[1]);
    }
}
