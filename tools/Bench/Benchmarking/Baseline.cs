using System.Globalization;
using System.Text;
using System.Text.Json;

namespace NetOnnx.Tools;

/// <summary>A row of an earlier run's JSON (the fields matched on, and its median).</summary>
public sealed record BaselineEntry(string Model, int Threads, int? Batch, string? Level, int? Concurrent, double P50Ms);

/// <summary>
/// Regression mode: compares each ok row's p50 with the same model and setting in an earlier `--format json` run.
/// ratio = new p50 / old p50; above the threshold the row is flagged as a slowdown. Older files without batch,
/// level or concurrent fields match any value of them.
/// </summary>
public static class Baseline
{
    public static List<BaselineEntry> Load(string path)
    {
        if (!File.Exists(path)) throw new CliUsageException($"baseline file '{path}' does not exist");
        JsonDocument doc;
        try { doc = JsonDocument.Parse(File.ReadAllText(path)); }
        catch (JsonException e) { throw new CliUsageException($"baseline file '{path}' is not valid JSON: {e.Message}"); }
        using (doc)
        {
            var items = doc.RootElement.ValueKind == JsonValueKind.Array ? doc.RootElement.EnumerateArray().ToList() : [doc.RootElement];
            var list = new List<BaselineEntry>();
            foreach (var e in items)
            {
                if (e.ValueKind != JsonValueKind.Object || !e.TryGetProperty("model", out var m) || !e.TryGetProperty("p50_ms", out var p50)) continue;
                if (p50.ValueKind != JsonValueKind.Number) continue; // an error row has no latency
                list.Add(new BaselineEntry(m.GetString() ?? "", Int(e, "threads") ?? 1, Int(e, "batch"),
                    e.TryGetProperty("level", out var l) && l.ValueKind == JsonValueKind.String ? l.GetString() : null,
                    Int(e, "concurrent"), p50.GetDouble()));
            }
            if (list.Count == 0) throw new CliUsageException($"baseline file '{path}' holds no results with model and p50_ms");
            return list;
        }
    }

    private static int? Int(JsonElement e, string name) =>
        e.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.Number ? v.GetInt32() : null;

    /// <summary>Fills each result's baseline fields; returns how many rows are slower than <paramref name="threshold"/>.</summary>
    public static int Compare(IReadOnlyList<BenchResult> results, IReadOnlyList<BaselineEntry> baseline, double threshold)
    {
        int slower = 0;
        foreach (var r in results)
        {
            if (r.Stats is null) continue;
            var old = baseline.FirstOrDefault(b => b.Model == r.Model && b.Threads == r.Threads
                && (b.Batch is null || b.Batch == r.Batch) && (b.Level is null || b.Level == r.Level)
                && (b.Concurrent is null || b.Concurrent == r.Concurrent));
            if (old is null || old.P50Ms <= 0) continue;
            r.BaselineP50Ms = old.P50Ms;
            r.BaselineRatio = r.Stats.P50 / old.P50Ms;
            r.Regression = r.BaselineRatio > threshold;
            if (r.Regression) slower++;
        }
        return slower;
    }

    public static string Table(IReadOnlyList<BenchResult> results, string path, double threshold)
    {
        var c = CultureInfo.InvariantCulture;
        var sb = new StringBuilder();
        sb.AppendLine();
        sb.AppendLine(string.Format(c, "baseline {0} (p50 ratio new/old; slower than {1:F2}x is flagged)", path, threshold));
        int w = Math.Max(5, results.Select(r => r.Model.Length).DefaultIfEmpty(5).Max());
        sb.AppendLine($"  {"model".PadRight(w)} {"setting",-16} {"old p50",10} {"new p50",10} {"ratio",7}");
        foreach (var r in results)
        {
            if (r.BaselineRatio is not { } ratio)
            {
                sb.AppendLine($"  {r.Model.PadRight(w)} {r.Setting,-16} {"-",10} {"-",10} {"-",7}  not in baseline");
                continue;
            }
            string verdict = r.Regression ? "SLOWER" : ratio < 1 / threshold ? "faster" : "same";
            sb.AppendLine(string.Format(c, "  {0} {1,-16} {2,10:F3} {3,10:F3} {4,6:F2}x  {5}", r.Model.PadRight(w), r.Setting, r.BaselineP50Ms, r.Stats!.P50, ratio, verdict));
        }
        return sb.ToString();
    }
}
