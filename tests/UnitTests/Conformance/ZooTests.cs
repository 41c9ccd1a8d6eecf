using NetOnnx.Runtime;
using NetOnnx.Tools.Conformance;
using Xunit;

namespace NetOnnx.Tests;

/// <summary>
/// Every model of ../shared/zoo must match ONNX Runtime's reference outputs within rtol 1e-3, atol 1e-4,
/// at optimisation level none and all. Skips when the zoo is absent.
/// </summary>
public class ZooTests
{
    private static readonly string Root = Path.Combine(TestModels.SharedRoot, "zoo");

    public static TheoryData<string, string> Models()
    {
        var data = new TheoryData<string, string>();
        if (!Directory.Exists(Root)) { data.Add("(no zoo)", "all"); return data; }
        foreach (var d in Directory.GetDirectories(Root).OrderBy(x => x, StringComparer.Ordinal))
            if (File.Exists(Path.Combine(d, "model.onnx")))
                foreach (var level in new[] { "none", "all" }) data.Add(Path.GetFileName(d), level);
        return data;
    }

    [Theory]
    [MemberData(nameof(Models))]
    public void MatchesOnnxRuntimeReference(string model, string level)
    {
        var dir = Path.Combine(Root, model);
        if (!Directory.Exists(dir)) Assert.Skip($"zoo not found at {Root}");
        var options = new SessionOptions
        {
            IntraOpThreads = 2,
            OptimizationLevel = level == "none" ? OptimizationLevel.None : OptimizationLevel.All,
        };
        var outcome = ConformanceRunner.RunTest("zoo", dir, options, rtol: 1e-3, atol: 1e-4);
        Assert.True(outcome.Passed, outcome.Detail);
    }
}
