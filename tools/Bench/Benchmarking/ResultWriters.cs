using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace NetOnnx.Tools;

/// <summary>Bench results as a console table, JSON, CSV or Markdown.</summary>
public static class ResultWriters
{
    private static readonly CultureInfo C = CultureInfo.InvariantCulture;

    public static readonly string[] CsvColumns =
    [
        "model", "threads", "batch", "level", "concurrent", "iterations", "parse_ms", "optimize_ms", "plan_ms", "load_ms",
        "first_ms", "mean_ms", "min_ms", "p50_ms", "p90_ms", "p95_ms", "p99_ms", "p999_ms", "max_ms", "throughput_per_s",
        "planned_peak_bytes", "peak_bytes", "allocated_bytes_per_run", "gc_gen0", "gc_gen1", "gc_gen2", "inputs", "check", "status", "message",
    ];

    /// <summary>One object for a single result, else an array (one object per model and setting).</summary>
    public static string Json(IReadOnlyList<BenchResult> results, bool forceArray)
    {
        var opts = new JsonSerializerOptions { WriteIndented = true };
        if (results.Count == 1 && !forceArray) return results[0].ToJson().ToJsonString(opts);
        var a = new JsonArray();
        foreach (var r in results) a.Add(r.ToJson());
        return a.ToJsonString(opts);
    }

    public static string Csv(IReadOnlyList<BenchResult> results)
    {
        var sb = new StringBuilder();
        sb.AppendLine(string.Join(',', CsvColumns));
        foreach (var r in results)
        {
            var j = r.ToJson();
            sb.AppendLine(string.Join(',', CsvColumns.Select(c => CsvField(j[c]))));
        }
        return sb.ToString();
    }

    private static string CsvField(JsonNode? n)
    {
        if (n is null) return "";
        var s = n is JsonValue v && v.TryGetValue<string>(out var str) ? str : n.ToJsonString();
        return s.IndexOfAny([',', '"', '\n', '\r']) >= 0 ? "\"" + s.Replace("\"", "\"\"") + "\"" : s;
    }

    private static readonly string[] TableHeader =
        ["model", "threads", "batch", "level", "load ms", "first ms", "mean", "p50", "p90", "p99", "max", "runs/s", "peak KiB", "status"];

    private static string[] TableRow(BenchResult r)
    {
        string F(double? v) => v is { } x ? x.ToString(x >= 100 ? "F1" : x >= 1 ? "F2" : "F3", C) : "-";
        var s = r.Stats;
        string status = r.Status == BenchStatus.Ok ? (r.Check == "pass" ? "ok, check pass" : "ok") : $"{r.Status}: {r.Message}";
        if (r.BaselineRatio is { } ratio) status += string.Format(C, " ({0:F2}x baseline{1})", ratio, r.Regression ? ", SLOWER" : "");
        bool ran = s is not null;
        return
        [
            r.Model, r.Threads.ToString(C) + (r.Concurrent > 1 ? $" x{r.Concurrent}" : ""), r.Batch?.ToString(C) ?? "-", r.Level,
            ran ? F(r.LoadMs) : "-", ran ? F(r.FirstMs) : "-", F(s?.Mean), F(s?.P50), F(s?.P90), F(s?.P99), F(s?.Max),
            ran ? r.ThroughputPerSecond.ToString("F1", C) : "-", ran ? (r.PeakBytes / 1024.0).ToString("F0", C) : "-", status,
        ];
    }

    public static string Markdown(IReadOnlyList<BenchResult> results)
    {
        var sb = new StringBuilder();
        sb.AppendLine("| " + string.Join(" | ", TableHeader) + " |");
        sb.AppendLine("|" + string.Concat(TableHeader.Select((h, i) => i is 0 or 3 or 13 ? "---|" : "---:|")));
        foreach (var r in results)
            sb.AppendLine("| " + string.Join(" | ", TableRow(r).Select(c => c.Replace("|", "\\|"))) + " |");
        return sb.ToString();
    }

    /// <summary>An aligned plain-text table (latencies in ms).</summary>
    public static string Table(IReadOnlyList<BenchResult> results)
    {
        var rows = results.Select(TableRow).ToList();
        var widths = TableHeader.Select((h, i) => Math.Max(h.Length, rows.Select(r => r[i].Length).DefaultIfEmpty(0).Max())).ToArray();
        var sb = new StringBuilder();
        void Line(string[] cells)
        {
            for (int i = 0; i < cells.Length; i++)
            {
                bool left = i is 0 or 3 or 13;
                string cell = left ? cells[i].PadRight(widths[i]) : cells[i].PadLeft(widths[i]);
                sb.Append(i == cells.Length - 1 ? cells[i] : cell + "  ");
            }
            sb.AppendLine();
        }
        Line(TableHeader);
        sb.AppendLine(new string('-', widths.Sum() + 2 * (widths.Length - 1)));
        foreach (var r in rows) Line(r);
        return sb.ToString();
    }

    /// <summary>The one-model summary, a label per line (what `bench` with no sweep prints).</summary>
    public static string Summary(BenchResult r)
    {
        var sb = new StringBuilder();
        void L(string label, string value) => sb.AppendLine($"{label,-12}{value}");
        string Ms(double v) => string.Format(C, "{0,10:F3} ms", v);
        L("model", r.Model);
        L("threads", r.Threads.ToString(C) + (r.Concurrent > 1 ? $" ({r.Concurrent} concurrent requests)" : ""));
        L("batch", r.Batch?.ToString(C) ?? "-");
        L("level", r.Level);
        if (r.Inputs.Length > 0) L("inputs", r.Inputs);
        L("status", r.Status + (r.Message.Length > 0 ? ": " + r.Message : ""));
        if (r.Stats is not { } s) return sb.ToString();
        L("iterations", r.Iterations.ToString(C));
        if (r.Load is { } lt)
            L("load", Ms(r.LoadMs) + string.Format(C, " (parse {0:F1}, optimize {1:F1}, plan {2:F1})", lt.ParseMs, lt.OptimizeMs, lt.PlanMs));
        L("first run", Ms(r.FirstMs));
        L("mean", Ms(s.Mean));
        L("min", Ms(s.Min));
        L("p50", Ms(s.P50));
        L("p90", Ms(s.P90));
        L("p95", Ms(s.P95));
        L("p99", Ms(s.P99));
        L("p99.9", Ms(s.P999));
        L("max", Ms(s.Max));
        L("throughput", string.Format(C, "{0,10:F1} runs/s", r.ThroughputPerSecond));
        L("planned", string.Format(C, "{0,10:F1} KiB of intermediate buffers", r.PlannedPeakBytes / 1024.0));
        L("peak", string.Format(C, "{0,10:F1} KiB of intermediate buffers live at once", r.PeakBytes / 1024.0));
        L("allocated", string.Format(C, "{0,10:F0} managed bytes per run ({1})", r.AllocatedBytesPerRun, r.Concurrent > 1 ? "whole process" : "calling thread"));
        L("gc", string.Format(C, "{0,10} gen0, {1} gen1, {2} gen2 collections during the measured runs", r.Collections[0], r.Collections[1], r.Collections[2]));
        if (r.Check.Length > 0) L("check", r.Check);
        if (r.BaselineRatio is { } ratio)
            L("baseline", string.Format(C, "{0,10:F3} ms p50, now {1:F2}x{2}", r.BaselineP50Ms, ratio, r.Regression ? "  SLOWER" : ""));
        return sb.ToString();
    }

    /// <summary>Rows whose top ops are shown: per model, its first row that ran (a sweep repeats the model per setting).</summary>
    public static IEnumerable<BenchResult> TopOpsRows(IReadOnlyList<BenchResult> results) =>
        results.Where(r => r.TopOps.Count > 0).GroupBy(r => r.Model).Select(g => g.First());

    /// <summary>Top ops of each model that ran, heaviest first.</summary>
    public static string TopOps(IReadOnlyList<BenchResult> results)
    {
        var sb = new StringBuilder();
        foreach (var r in TopOpsRows(results))
        {
            sb.AppendLine();
            sb.AppendLine($"top ops: {r.Model} ({r.Setting})");
            sb.AppendLine($"  {"op",-26} {"kernel",-26} {"nodes",5} {"ms/run",9} {"share",6}");
            foreach (var op in r.TopOps)
                sb.AppendLine(string.Format(C, "  {0,-26} {1,-26} {2,5} {3,9:F3} {4,5:F1}%", op.OpType, op.Kernel, op.Nodes, op.MillisecondsPerRun, 100 * op.Share));
        }
        return sb.ToString();
    }
}
