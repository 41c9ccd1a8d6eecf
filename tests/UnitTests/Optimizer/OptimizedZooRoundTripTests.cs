using NetOnnx.OnnxImport;
using NetOnnx.Optimizer;
using NetOnnx.Runtime;
using NetOnnx.Tools.Conformance;
using Xunit;

namespace NetOnnx.Tests;

/// <summary>
/// Each zoo model, optimised at level All and written back to ONNX, loads without further optimisation and
/// still matches ONNX Runtime's reference outputs: the writer keeps what the passes produced. Skips without the zoo.
/// </summary>
public class OptimizedZooRoundTripTests
{
    private static readonly string Root = Path.Combine(TestModels.SharedRoot, "zoo");

    public static TheoryData<string> Models()
    {
        var data = new TheoryData<string>();
        if (!Directory.Exists(Root)) { data.Add("(no zoo)"); return data; }
        foreach (var d in Directory.GetDirectories(Root).OrderBy(x => x, StringComparer.Ordinal))
            if (File.Exists(Path.Combine(d, "model.onnx"))) data.Add(Path.GetFileName(d));
        return data;
    }

    [Theory]
    [MemberData(nameof(Models))]
    public void WrittenOptimizedModelMatchesReference(string model)
    {
        var source = Path.Combine(Root, model);
        if (!Directory.Exists(source)) Assert.Skip($"zoo not found at {Root}");
        var dir = Directory.CreateTempSubdirectory("netonnx-zoo-opt-");
        try
        {
            var m = OnnxModelLoader.Load(Path.Combine(source, "model.onnx"));
            PassManager.CreateDefault().Run(m, OptimizationLevel.All);
            OnnxModelWriter.Save(m, Path.Combine(dir.FullName, "model.onnx"));
            foreach (var data in Directory.GetDirectories(source, "test_data_set_*"))
                Directory.CreateSymbolicLink(Path.Combine(dir.FullName, Path.GetFileName(data)), data);
            var options = new SessionOptions { IntraOpThreads = 2, OptimizationLevel = OptimizationLevel.None };
            var outcome = ConformanceRunner.RunTest("zoo", dir.FullName, options, rtol: 1e-3, atol: 1e-4);
            Assert.True(outcome.Passed, outcome.Detail);
        }
        finally
        {
            // Unlink the shared data first so the recursive delete can never reach it.
            foreach (var link in Directory.GetDirectories(dir.FullName, "test_data_set_*")) Directory.Delete(link);
            dir.Delete(recursive: true);
        }
    }
}
