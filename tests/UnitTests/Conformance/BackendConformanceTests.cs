using NetOnnx.Runtime;
using NetOnnx.Tools;
using NetOnnx.Tools.Conformance;
using Xunit;

namespace NetOnnx.Tests;

/// <summary>
/// Runs every ONNX backend test folder in ../shared/onnx-backend-tests with the ONNX rule. Tests listed in
/// tests/Conformance/expected-pass.txt must pass (a regression fails CI); others that pass are reported as
/// newly passing, and others that fail are skipped with their reason. Skips everything when the data is absent.
/// </summary>
public class BackendConformanceTests
{
    private static readonly string Root = Path.Combine(TestModels.SharedRoot, "onnx-backend-tests");

    public static HashSet<string> ExpectedPass { get; } = LoadExpected();

    /// <summary>Newly passing tests are also collected here, because test output of passing tests is not shown.</summary>
    public static readonly string NewlyPassingFile = Path.Combine(AppContext.BaseDirectory, "newly-passing.txt");
    private static readonly object s_fileLock = new();

    static BackendConformanceTests()
    {
        try { File.Delete(NewlyPassingFile); } catch (IOException) { }
    }

    private static HashSet<string> LoadExpected()
    {
        var file = Path.Combine(AppContext.BaseDirectory, "Conformance", "expected-pass.txt");
        if (!File.Exists(file)) return [];
        return File.ReadAllLines(file).Select(l => l.Trim()).Where(l => l.Length > 0 && !l.StartsWith('#')).ToHashSet(StringComparer.Ordinal);
    }

    public static TheoryData<string> Cases()
    {
        var names = new SortedSet<string>(ExpectedPass, StringComparer.Ordinal);
        if (Directory.Exists(Root))
            foreach (var (suite, dir) in ConformanceRunner.Discover(Root)) names.Add($"{suite}/{Path.GetFileName(dir)}");
        if (names.Count == 0) names.Add("(no backend test data)");
        var data = new TheoryData<string>();
        foreach (var n in names) data.Add(n);
        return data;
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void Backend(string test)
    {
        var dir = Path.Combine(Root, test);
        if (!Directory.Exists(dir))
            Assert.Skip($"ONNX backend test data not found at {Root} (clone without ../shared): {test} not run");
        var slash = test.IndexOf('/');
        var outcome = ConformanceCommand.RunIsolated(test[..slash], dir, new SessionOptions { IntraOpThreads = 1 });
        bool expected = ExpectedPass.Contains(test);
        if (expected)
        {
            Assert.True(outcome.Passed, $"{test} is in expected-pass.txt but failed: {outcome.Detail}");
            return;
        }
        if (outcome.Passed)
        {
            TestContext.Current.TestOutputHelper?.WriteLine($"NEWLY PASSING: {test} (add it to tests/Conformance/expected-pass.txt)");
            lock (s_fileLock) File.AppendAllText(NewlyPassingFile, test + "\n");
            return;
        }
        Assert.Skip($"known failure: {outcome.Detail}");
    }
}
