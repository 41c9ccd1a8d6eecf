using System.Text.Json;
using System.Xml.Linq;
using Google.Protobuf;
using NetOnnx.OnnxImport;
using NetOnnx.OnnxImport.Proto;
using NetOnnx.Runtime;
using NetOnnx.Tools;
using Xunit;

namespace NetOnnx.Tests;

public sealed class BenchTests : IDisposable
{
    private readonly DirectoryInfo _dir = Directory.CreateTempSubdirectory("netonnx-bench");

    public void Dispose() => _dir.Delete(true);

    private string P(string name) => Path.Combine(_dir.FullName, name);

    private static (int Code, string Out, string Err) Run(params string[] args)
    {
        var o = new StringWriter();
        var e = new StringWriter();
        int code = Cli.Run(args, o, e);
        return (code, o.ToString(), e.ToString());
    }

    // Quick settings for every run here: few iterations, no warm-up time floor.
    private static string[] Quick(params string[] args) => [.. args, "--iterations", "5", "--warmup", "1", "--warmup-ms", "0"];

    /// <summary>y = Relu(x) with x float [N, 4], N symbolic.</summary>
    private static byte[] SymbolicBatchModel()
    {
        ValueInfoProto Info(string name)
        {
            var shape = new TensorShapeProto();
            shape.Dim.Add(new TensorShapeProto.Types.Dimension { DimParam = "N" });
            shape.Dim.Add(new TensorShapeProto.Types.Dimension { DimValue = 4 });
            return new ValueInfoProto { Name = name, Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = 1, Shape = shape } } };
        }
        var g = new GraphProto { Name = "relu" };
        g.Input.Add(Info("x"));
        g.Output.Add(Info("y"));
        g.Node.Add(TestModels.NodeOf("Relu", ["x"], ["y"], "relu"));
        return TestModels.Model(g).ToByteArray();
    }

    private static void WriteTensor(string path, Tensor t, string name) => File.WriteAllBytes(path, TensorCodec.ToProto(t, name).ToByteArray());

    /// <summary>A zoo-layout model folder: NAME/model.onnx (Identity over [2,3]) and test_data_set_0 whose expected output is x + offset.</summary>
    private void IdentityWithTestData(string name, float offset)
    {
        var d = Directory.CreateDirectory(P(name));
        File.WriteAllBytes(Path.Combine(d.FullName, "model.onnx"), TestModels.IdentityModel());
        var set = Directory.CreateDirectory(Path.Combine(d.FullName, "test_data_set_0"));
        var x = new[] { 1f, -2, 3, -4, 5, -6 };
        WriteTensor(Path.Combine(set.FullName, "input_0.pb"), Tensor.Create(x, 2, 3), "x");
        WriteTensor(Path.Combine(set.FullName, "output_0.pb"), Tensor.Create(x.Select(v => v + offset).ToArray(), 2, 3), "y");
    }

    [Fact]
    public void PercentilesInterpolateLinearlyBetweenClosestRanks()
    {
        // Hand-computed with rank = p/100 * (n-1) over 15 20 35 40 50:
        // p50 rank 2 -> 35; p90 rank 3.6 -> 40 + 0.6*10 = 46; p95 rank 3.8 -> 48; p99 rank 3.96 -> 49.6; p99.9 rank 3.996 -> 49.96.
        var s = LatencyStats.From([40, 15, 50, 35, 20]);
        Assert.Equal(35, s.P50, 12);
        Assert.Equal(46, s.P90, 12);
        Assert.Equal(48, s.P95, 12);
        Assert.Equal(49.6, s.P99, 12);
        Assert.Equal(49.96, s.P999, 12);
        Assert.Equal(32, s.Mean, 12);
        Assert.Equal(15, s.Min);
        Assert.Equal(50, s.Max);
        // Even count: the median is the mean of the middle two.
        Assert.Equal(2.5, LatencyStats.Percentile([1, 2, 3, 4], 50), 12);
        Assert.Equal(7, LatencyStats.From([7]).P999);
        Assert.Throws<ArgumentException>(() => LatencyStats.From([]));
        Assert.Throws<ArgumentOutOfRangeException>(() => LatencyStats.Percentile([1, 2], 101));
    }

    [Fact]
    public void JsonKeepsTheFoundationFieldsAndAddsTheNewOnes()
    {
        var (code, stdout, err) = Run(Quick("bench", "--format", "json"));
        Assert.True(code == 0, err);
        using var doc = JsonDocument.Parse(stdout);
        var r = doc.RootElement;
        Assert.Equal(JsonValueKind.Object, r.ValueKind);
        foreach (var f in new[] { "model", "threads", "iterations", "load_ms", "first_ms", "mean_ms", "p50_ms", "p90_ms", "p99_ms", "min_ms", "max_ms",
                     "p95_ms", "p999_ms", "throughput_per_s", "batch", "level", "peak_bytes", "status", "parse_ms", "optimize_ms", "plan_ms" })
            Assert.True(r.TryGetProperty(f, out _), $"missing field {f}");
        Assert.Equal("ok", r.GetProperty("status").GetString());
        Assert.Equal(5, r.GetProperty("iterations").GetInt32());
        double min = r.GetProperty("min_ms").GetDouble(), p50 = r.GetProperty("p50_ms").GetDouble(), p99 = r.GetProperty("p99_ms").GetDouble(), max = r.GetProperty("max_ms").GetDouble();
        Assert.True(min <= p50 && p50 <= p99 && p99 <= max);
        Assert.True(r.GetProperty("peak_bytes").GetInt64() > 0);
        Assert.True(r.GetProperty("top_ops").GetArrayLength() > 0);
    }

    [Fact]
    public void ASweepWritesAJsonArrayWithOneObjectPerSetting()
    {
        var (code, stdout, err) = Run(Quick("bench", "--format", "json", "--threads", "1,2", "--level", "none,all"));
        Assert.True(code == 0, err);
        using var doc = JsonDocument.Parse(stdout);
        var rows = doc.RootElement.EnumerateArray().Select(e => (e.GetProperty("threads").GetInt32(), e.GetProperty("level").GetString()!)).ToList();
        Assert.Equal(4, rows.Count);
        Assert.Equal(new[] { (1, "none"), (2, "none"), (1, "all"), (2, "all") }, rows);
    }

    [Fact]
    public void CsvHasTheHeaderAndOneParsableRowPerSetting()
    {
        var (code, stdout, err) = Run(Quick("bench", "--format", "csv", "--threads", "1,2"));
        Assert.True(code == 0, err);
        var lines = stdout.TrimEnd().Split('\n').Select(l => l.TrimEnd('\r')).ToList();
        Assert.Equal(string.Join(',', ResultWriters.CsvColumns), lines[0]);
        Assert.Equal(3, lines.Count);
        foreach (var line in lines.Skip(1))
        {
            var cells = SplitCsv(line);
            Assert.Equal(ResultWriters.CsvColumns.Length, cells.Count);
            var row = ResultWriters.CsvColumns.Zip(cells).ToDictionary(p => p.First, p => p.Second);
            Assert.Equal("ok", row["status"]);
            Assert.True(double.Parse(row["p50_ms"], System.Globalization.CultureInfo.InvariantCulture) > 0);
            Assert.Equal("random (seed 42)", row["inputs"]);
        }
    }

    // RFC 4180 fields: quoted fields may hold commas and doubled quotes.
    private static List<string> SplitCsv(string line)
    {
        var cells = new List<string>();
        var cur = new System.Text.StringBuilder();
        bool quoted = false;
        for (int i = 0; i < line.Length; i++)
        {
            char c = line[i];
            if (quoted)
            {
                if (c == '"' && i + 1 < line.Length && line[i + 1] == '"') { cur.Append('"'); i++; }
                else if (c == '"') quoted = false;
                else cur.Append(c);
            }
            else if (c == '"') quoted = true;
            else if (c == ',') { cells.Add(cur.ToString()); cur.Clear(); }
            else cur.Append(c);
        }
        cells.Add(cur.ToString());
        return cells;
    }

    [Fact]
    public void MarkdownIsATableWithOneRowPerSetting()
    {
        var (code, stdout, err) = Run(Quick("bench", "--format", "markdown", "--level", "none,all"));
        Assert.True(code == 0, err);
        var lines = stdout.TrimEnd().Split('\n').Select(l => l.TrimEnd('\r')).ToList();
        Assert.Equal(4, lines.Count); // header, separator, two rows
        int cells = lines[0].Count(c => c == '|');
        Assert.All(lines, l => { Assert.StartsWith("|", l); Assert.EndsWith("|", l); Assert.Equal(cells, l.Count(c => c == '|')); });
        Assert.Matches(@"^\|(-+:?\|)+$", lines[1].Replace("---:", "---"));
        Assert.Contains("| none |", lines[2]);
        Assert.Contains("| all |", lines[3]);
    }

    [Fact]
    public void AFolderRunGivesErrorRowsForMissingAndCorruptModelsAndStillRunsTheRest()
    {
        IdentityWithTestData("good", 0);
        Directory.CreateDirectory(P("corrupt"));
        File.WriteAllBytes(P("corrupt/model.onnx"), TestModels.IdentityModel()[..20]);
        File.WriteAllText(P(BenchTargets.Manifest), "name\tsource\ngood\tx\nmissing\tx\ncorrupt\tx\n");
        var (code, stdout, err) = Run(Quick("bench", _dir.FullName, "--format", "json"));
        Assert.Equal(1, code);
        Assert.Equal("", err);
        using var doc = JsonDocument.Parse(stdout);
        var rows = doc.RootElement.EnumerateArray().ToDictionary(e => e.GetProperty("model").GetString()!);
        Assert.Equal(["corrupt", "good", "missing"], rows.Keys.Order());
        Assert.Equal("ok", rows["good"].GetProperty("status").GetString());
        Assert.Equal("test_data_set_0", rows["good"].GetProperty("inputs").GetString());
        Assert.Equal("error", rows["missing"].GetProperty("status").GetString());
        Assert.Contains("does not exist", rows["missing"].GetProperty("message").GetString());
        Assert.Equal("error", rows["corrupt"].GetProperty("status").GetString());
        Assert.Contains("not a valid ONNX model", rows["corrupt"].GetProperty("message").GetString());

        // The table names each failure in its row.
        var (code2, table, _) = Run(Quick("bench", _dir.FullName));
        Assert.Equal(1, code2);
        Assert.Contains(table.Split('\n'), l => l.StartsWith("missing ") && l.Contains("error: load:"));
        Assert.Contains("3 rows, 1 ok, 2 failed", table);
    }

    [Fact]
    public void AFolderWithoutManifestRunsEachModelFile()
    {
        File.WriteAllBytes(P("a.onnx"), TestModels.IdentityModel());
        File.WriteAllText(P("b.onnx"), "garbage");
        var (code, stdout, _) = Run(Quick("bench", _dir.FullName, "--format", "json"));
        Assert.Equal(1, code);
        using var doc = JsonDocument.Parse(stdout);
        Assert.Equal(["ok", "error"], doc.RootElement.EnumerateArray().Select(e => e.GetProperty("status").GetString()));
    }

    [Fact]
    public void CheckPassesOnMatchingOutputsAndFailsOnWrongOnes()
    {
        IdentityWithTestData("right", 0);
        IdentityWithTestData("wrong", 0.5f);
        var (code, stdout, _) = Run(Quick("bench", P("right"), P("wrong"), "--check", "--format", "json"));
        Assert.Equal(1, code);
        using var doc = JsonDocument.Parse(stdout);
        var rows = doc.RootElement.EnumerateArray().ToList();
        Assert.Equal("pass", rows[0].GetProperty("check").GetString());
        Assert.Equal("ok", rows[0].GetProperty("status").GetString());
        Assert.Equal("fail", rows[1].GetProperty("check").GetString());
        Assert.Equal("check_failed", rows[1].GetProperty("status").GetString());
        Assert.Contains("'y'", rows[1].GetProperty("message").GetString());
    }

    [Fact]
    public void BatchSweepUsesASymbolicBatchAndSaysStaticBatchOtherwise()
    {
        File.WriteAllBytes(P("dyn.onnx"), SymbolicBatchModel());
        File.WriteAllBytes(P("fixed.onnx"), TestModels.IdentityModel());
        var (code, stdout, err) = Run(Quick("bench", P("dyn.onnx"), P("fixed.onnx"), "--batch", "1,8", "--format", "json"));
        Assert.True(code == 0, err);
        using var doc = JsonDocument.Parse(stdout);
        var rows = doc.RootElement.EnumerateArray().Select(e => (Batch: e.GetProperty("batch").ValueKind == JsonValueKind.Number ? e.GetProperty("batch").GetInt32() : -1,
            Status: e.GetProperty("status").GetString(), Message: e.GetProperty("message").GetString())).ToList();
        Assert.Equal(4, rows.Count);
        Assert.Equal((1, "ok"), (rows[0].Batch, rows[0].Status));
        Assert.Equal((8, "ok"), (rows[1].Batch, rows[1].Status));
        // IdentityModel's input is [2,3]: batch 2 is static, so neither 1 nor 8 is faked.
        Assert.Equal(("skipped", "static batch 2"), (rows[2].Status, rows[2].Message));
        Assert.Equal(("skipped", "static batch 2"), (rows[3].Status, rows[3].Message));
    }

    [Fact]
    public void PbInputFilesAndConcurrentRequestsAreUsed()
    {
        File.WriteAllBytes(P("dyn.onnx"), SymbolicBatchModel());
        WriteTensor(P("x.pb"), Tensor.Zeros(DataType.Float, 3, 4), "x");
        var (code, stdout, err) = Run(Quick("bench", P("dyn.onnx"), "--input", $"x={P("x.pb")}", "--concurrent", "2", "--format", "json"));
        Assert.True(code == 0, err);
        using var doc = JsonDocument.Parse(stdout);
        var r = doc.RootElement;
        Assert.Equal(3, r.GetProperty("batch").GetInt32());
        Assert.Equal("files", r.GetProperty("inputs").GetString());
        Assert.Equal(2, r.GetProperty("concurrent").GetInt32());
        Assert.Equal(10, r.GetProperty("iterations").GetInt32()); // 5 per worker
    }

    [Fact]
    public void ProfileTraceHasOneEventPerNodePerMeasuredRun()
    {
        string trace = P("trace.json");
        var (code, stdout, err) = Run(Quick("bench", "--profile", trace, "--level", "none"));
        Assert.True(code == 0, err);
        Assert.Contains("ms/run", stdout);
        // The node names the plan runs, counted independently of the profiler.
        using var session = new InferenceSession(DefaultModel.Build(), new SessionOptions { OptimizationLevel = OptimizationLevel.None });
        var planned = session.Core.Plan.Steps.Select(s => s.Node.Name).ToList();
        using var doc = JsonDocument.Parse(File.ReadAllText(trace));
        var events = doc.RootElement.GetProperty("traceEvents").EnumerateArray().ToList();
        var nodes = events.Where(e => e.TryGetProperty("cat", out var c) && c.GetString() == "node").ToList();
        Assert.Equal(5 * planned.Count, nodes.Count);
        foreach (var name in planned) Assert.Equal(5, nodes.Count(n => n.GetProperty("name").GetString() == name));
        Assert.All(nodes, n => Assert.True(n.GetProperty("dur").GetDouble() >= 0 && n.GetProperty("ts").GetDouble() >= 0));
        Assert.All(nodes, n => Assert.False(string.IsNullOrEmpty(n.GetProperty("args").GetProperty("inputs").GetString())));
        Assert.Equal(5, events.Count(e => e.TryGetProperty("cat", out var c) && c.GetString() == "run"));
    }

    [Fact]
    public void ReportWritesAnSvgChartAndAMarkdownSummary()
    {
        string dir = P("report");
        var (code, _, err) = Run(Quick("bench", "--threads", "1,2", "--report", dir));
        Assert.True(code == 0, err);
        var svg = XDocument.Load(Path.Combine(dir, "latency.svg"));
        XNamespace ns = "http://www.w3.org/2000/svg";
        Assert.Equal(ns + "svg", svg.Root!.Name);
        // One bar per row (the background and legend swatches are the other rects).
        Assert.Equal(2, svg.Descendants(ns + "rect").Count(r => r.Element(ns + "title") is not null));
        var md = File.ReadAllText(Path.Combine(dir, "summary.md"));
        Assert.Contains("![latency per model and setting](latency.svg)", md);
        Assert.Equal(2, md.Split('\n').Count(l => l.StartsWith("| builtin:")));
        using var json = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir, "results.json")));
        Assert.Equal(2, json.RootElement.GetArrayLength());
    }

    private static BenchResult Timed(string model, double ms) =>
        new() { Model = model, Threads = 1, Batch = 1, Level = "all", Stats = new LatencyStats(ms, ms, ms, ms, ms, ms, ms, ms) };

    private static List<double> BarWidths(string svg)
    {
        XNamespace ns = "http://www.w3.org/2000/svg";
        return XDocument.Parse(svg).Descendants(ns + "rect").Where(r => r.Element(ns + "title") is not null)
            .Select(r => double.Parse(r.Attribute("width")!.Value, System.Globalization.CultureInfo.InvariantCulture)).ToList();
    }

    [Fact]
    public void ChartBarsAreLinearInP50AndGoLogPastTwoDecades()
    {
        // Linear: p50 10 and 20 ms, axis 0-20 ms over the 520 px plot -> 260 and 520 px.
        var linear = Report.Svg([Timed("a", 10), Timed("b", 20)]);
        Assert.DoesNotContain("log scale", linear);
        Assert.Equal([260.0, 520.0], BarWidths(linear));
        // 0.1 and 100 ms span three decades: log axis 0.1-100 ms, so 0.1 ms sits at the origin (drawn 0.5 px) and 100 ms at the end.
        var log = Report.Svg([Timed("a", 0.1), Timed("b", 100), Timed("c", 10)]);
        Assert.Contains("log scale", log);
        var w = BarWidths(log);
        Assert.Equal(0.5, w[0], 6);
        Assert.Equal(520, w[1], 6);
        Assert.Equal(520 * 2 / 3.0, w[2], 1); // log10(10/0.1) / log10(100/0.1) = 2/3
    }

    [Fact]
    public void BaselineFlagsADeliberate2xSlowdownButNotARerun()
    {
        string baseline = P("base.json");
        var common = new[] { "bench", "--iterations", "100", "--warmup", "5", "--warmup-ms", "200", "--top", "0" };
        var (code0, _, err0) = Run([.. common, "--format", "json", "--out", baseline]);
        Assert.True(code0 == 0, err0);

        // Every measured run made 2x longer: flagged at the default 1.2 threshold, exit code 3.
        var (code, stdout, err) = Run([.. common, "--baseline", baseline, "--test-slowdown", "2", "--format", "json"]);
        Assert.True(code == BenchCommand.ExitSlower, $"exit {code}: {err}\n{stdout}");
        using (var doc = JsonDocument.Parse(stdout))
        {
            Assert.True(doc.RootElement.GetProperty("regression").GetBoolean());
            Assert.True(doc.RootElement.GetProperty("baseline_ratio").GetDouble() > 1.2);
        }

        // The same run again is within noise. Shared CI hosts jitter, so the rerun gets a wider band than 1.2.
        var (codeSame, same, errSame) = Run([.. common, "--baseline", baseline, "--threshold", "1.5"]);
        Assert.True(codeSame == 0, $"exit {codeSame}: {errSame}\n{same}");
        Assert.DoesNotContain("SLOWER", same);
        Assert.Contains(same.Split('\n'), l => l.StartsWith("  builtin:") && (l.TrimEnd().EndsWith("same") || l.TrimEnd().EndsWith("faster")));
    }

    [Fact]
    public void BaselineCompareUsesTheThresholdOnTheMedian()
    {
        BenchResult Row(double p50) => new() { Model = "m", Threads = 1, Batch = 1, Level = "all", Stats = new LatencyStats(p50, p50, p50, p50, p50, p50, p50, p50) };
        var old = new List<BaselineEntry> { new("m", 1, null, null, null, 10) };
        var rows = new[] { Row(10), Row(11.9), Row(12.1), Row(20) };
        int slower = 0;
        foreach (var r in rows) slower += Baseline.Compare([r], old, 1.2);
        Assert.Equal(2, slower);
        Assert.Equal([false, false, true, true], rows.Select(r => r.Regression));
        Assert.Equal(2.0, rows[3].BaselineRatio!.Value, 12);
        // Another thread count is not the same setting.
        var other = new BenchResult { Model = "m", Threads = 2, Level = "all", Stats = rows[3].Stats };
        Assert.Equal(0, Baseline.Compare([other], old, 1.2));
        Assert.Null(other.BaselineRatio);
    }

    [Fact]
    public void TheZooRunsEveryManifestModelAndChecksItsOutputs()
    {
        string zoo = Path.Combine(TestModels.SharedRoot, "zoo");
        if (!File.Exists(Path.Combine(zoo, BenchTargets.Manifest))) Assert.Skip($"zoo not found at {zoo}");
        var names = File.ReadLines(Path.Combine(zoo, BenchTargets.Manifest)).Skip(1).Where(l => l.Length > 0).Select(l => l.Split('\t')[0]).ToList();
        var (code, stdout, err) = Run("bench", zoo, "--iterations", "1", "--warmup", "0", "--warmup-ms", "0", "--top", "0", "--check");
        Assert.True(code == 0, err + stdout);
        foreach (var name in names)
            Assert.Contains(stdout.Split('\n'), l => l.StartsWith(name + " ", StringComparison.Ordinal) && l.Contains("ok, check pass"));
        Assert.Contains($"{names.Count} rows, {names.Count} ok, 0 failed", stdout);
    }

    [Fact]
    public void TheProgressBarGoesToTheTerminalWithModelAndEta()
    {
        var o = new StringWriter();
        var terminal = new StringWriter();
        int code = BenchCommand.Run(Quick("--threads", "1,2"), o, terminal);
        Assert.Equal(0, code);
        string bar = terminal.ToString();
        Assert.Contains("ETA", bar);
        Assert.Contains(DefaultModel.Name, bar);
        Assert.Contains("2/2", bar);
        Assert.DoesNotContain("\r", o.ToString());
    }

    [Theory]
    [InlineData("--format", "xml")]
    [InlineData("--threshold", "0.5")]
    [InlineData("--threads", "1,x")]
    [InlineData("--input", "novalue")]
    public void BadOptionsAreUsageErrors(string option, string value)
    {
        var (code, _, err) = Run("bench", option, value);
        Assert.Equal(2, code);
        Assert.Contains(option, err);
    }

    [Fact]
    public void AMissingBaselineFileIsNamed()
    {
        var (code, _, err) = Run(Quick("bench", "--baseline", P("nope.json")));
        Assert.Equal(2, code);
        Assert.Contains("nope.json", err);
    }
}
