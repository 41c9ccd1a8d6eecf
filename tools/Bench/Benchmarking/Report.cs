using System.Globalization;
using System.Security;
using System.Text;

namespace NetOnnx.Tools;

/// <summary>
/// `--report DIR`: latency.svg (hand-written SVG, no native drawing library: one bar per model and setting, p50
/// with a min-p99 whisker, coloured by thread count), summary.md (the table, top ops, errors) and results.json.
/// </summary>
public static class Report
{
    private static readonly CultureInfo C = CultureInfo.InvariantCulture;
    private static readonly string[] Palette = ["#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2", "#edc948", "#b07aa1", "#9c755f"];

    public static void Write(string dir, IReadOnlyList<BenchResult> results, string commandLine)
    {
        Directory.CreateDirectory(dir);
        File.WriteAllText(Path.Combine(dir, "latency.svg"), Svg(results));
        File.WriteAllText(Path.Combine(dir, "results.json"), ResultWriters.Json(results, forceArray: true));
        File.WriteAllText(Path.Combine(dir, "summary.md"), Markdown(results, commandLine));
    }

    public static string Markdown(IReadOnlyList<BenchResult> results, string commandLine)
    {
        var sb = new StringBuilder();
        sb.AppendLine("# Benchmark summary");
        sb.AppendLine();
        sb.AppendLine($"`{commandLine}` on {Environment.ProcessorCount} cores, {DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC. Latencies in ms.");
        sb.AppendLine();
        sb.AppendLine("![latency per model and setting](latency.svg)");
        sb.AppendLine();
        sb.Append(ResultWriters.Markdown(results));
        var failed = results.Where(r => r.Failed).ToList();
        sb.AppendLine();
        sb.AppendLine(failed.Count == 0 ? "All models ran." : $"{failed.Count} of {results.Count} rows failed.");
        foreach (var r in ResultWriters.TopOpsRows(results))
        {
            sb.AppendLine();
            sb.AppendLine($"## Top ops: {r.Model} ({r.Setting})");
            sb.AppendLine();
            sb.AppendLine("| op | kernel | nodes | ms/run | share |");
            sb.AppendLine("|---|---|---:|---:|---:|");
            foreach (var op in r.TopOps)
                sb.AppendLine(string.Format(C, "| {0} | {1} | {2} | {3:F3} | {4:F1}% |", op.OpType, op.Kernel, op.Nodes, op.MillisecondsPerRun, 100 * op.Share));
        }
        return sb.ToString();
    }

    /// <summary>Horizontal bars on a linear ms axis; rows without timings are listed with their status instead.</summary>
    public static string Svg(IReadOnlyList<BenchResult> results)
    {
        const int left = 300, barH = 18, gap = 6, top = 50, plotW = 520, right = 40;
        int n = Math.Max(results.Count, 1);
        int height = top + n * (barH + gap) + 50;
        int width = left + plotW + right;
        var ran = results.Where(r => r.Stats is not null).Select(r => r.Stats!).ToList();
        double max = ran.Select(st => st.P99).DefaultIfEmpty(1).Max();
        double min = ran.Select(st => st.Min).Where(v => v > 0).DefaultIfEmpty(max).Min();
        // A zoo spans 0.05 ms to 100+ ms: past two decades a linear axis would hide the small models, so go log.
        bool log = max / min > 100;
        double step = NiceStep(max / 5);
        double axisMax = log ? Math.Pow(10, Math.Ceiling(Math.Log10(max))) : Math.Max(step, Math.Ceiling(max / step) * step);
        double axisMin = log ? Math.Pow(10, Math.Floor(Math.Log10(min))) : 0;
        double X(double ms) => log
            ? left + (Math.Log10(Math.Max(ms, axisMin)) - Math.Log10(axisMin)) / (Math.Log10(axisMax) - Math.Log10(axisMin)) * plotW
            : left + ms / axisMax * plotW;
        var ticks = new List<double>();
        if (log) for (double t = axisMin; t <= axisMax * 1.0001; t *= 10) ticks.Add(t);
        else for (double t = 0; t <= axisMax + 1e-9; t += step) ticks.Add(t);
        var threadColours = results.Select(r => r.Threads).Distinct().Order().Select((t, i) => (t, Palette[i % Palette.Length])).ToDictionary();

        var sb = new StringBuilder();
        sb.AppendLine(string.Format(C, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{0}\" height=\"{1}\" viewBox=\"0 0 {0} {1}\" font-family=\"sans-serif\" font-size=\"12\">", width, height));
        sb.AppendLine(string.Format(C, "<rect width=\"{0}\" height=\"{1}\" fill=\"white\"/>", width, height));
        sb.AppendLine(string.Format(C, "<text x=\"{0}\" y=\"22\" font-size=\"15\" font-weight=\"bold\">Latency per model and setting (bar: p50, whisker: min to p99, ms{1})</text>", 10, log ? ", log scale" : ""));
        foreach (double t in ticks)
        {
            double x = X(t);
            sb.AppendLine(string.Format(C, "<line x1=\"{0:F1}\" y1=\"{1}\" x2=\"{0:F1}\" y2=\"{2}\" stroke=\"#ddd\"/>", x, top - 5, top + n * (barH + gap)));
            sb.AppendLine(string.Format(C, "<text x=\"{0:F1}\" y=\"{1}\" text-anchor=\"middle\" fill=\"#555\">{2}</text>", x, top + n * (barH + gap) + 15, t.ToString("G4", C)));
        }
        for (int i = 0; i < results.Count; i++)
        {
            var r = results[i];
            int y = top + i * (barH + gap);
            string label = SecurityElement.Escape($"{r.Model} {r.Setting}");
            sb.AppendLine(string.Format(C, "<text x=\"{0}\" y=\"{1}\" text-anchor=\"end\">{2}</text>", left - 8, y + barH - 4, label));
            if (r.Stats is not { } s)
            {
                sb.AppendLine(string.Format(C, "<text x=\"{0}\" y=\"{1}\" fill=\"#c00\">{2}</text>", left + 4, y + barH - 4,
                    SecurityElement.Escape(r.Status + (r.Message.Length > 0 ? ": " + Truncate(r.Message, 80) : ""))));
                continue;
            }
            string colour = threadColours[r.Threads];
            sb.AppendLine(string.Format(C, "<rect x=\"{0}\" y=\"{1}\" width=\"{2:F1}\" height=\"{3}\" fill=\"{4}\"><title>{5}: p50 {6:F3} ms</title></rect>",
                left, y, Math.Max(X(s.P50) - left, 0.5), barH, colour, label, s.P50));
            double cy = y + barH / 2.0;
            sb.AppendLine(string.Format(C, "<line x1=\"{0:F1}\" y1=\"{2:F1}\" x2=\"{1:F1}\" y2=\"{2:F1}\" stroke=\"#222\"/>", X(s.Min), X(s.P99), cy));
            sb.AppendLine(string.Format(C, "<text x=\"{0:F1}\" y=\"{1}\" fill=\"#222\">{2}</text>", X(s.P99) + 4, y + barH - 4, s.P50.ToString(s.P50 >= 10 ? "F1" : "F3", C)));
        }
        int ly = height - 18, lx = left;
        foreach (var (t, colour) in threadColours)
        {
            sb.AppendLine(string.Format(C, "<rect x=\"{0}\" y=\"{1}\" width=\"12\" height=\"12\" fill=\"{2}\"/><text x=\"{3}\" y=\"{4}\">{5} thread{6}</text>",
                lx, ly - 10, colour, lx + 16, ly, t, t == 1 ? "" : "s"));
            lx += 90;
        }
        sb.AppendLine("</svg>");
        return sb.ToString();
    }

    private static string Truncate(string s, int n) => s.Length <= n ? s : s[..n] + "...";

    /// <summary>1, 2 or 5 times a power of ten, at least <paramref name="raw"/>.</summary>
    private static double NiceStep(double raw)
    {
        if (raw <= 0) return 1;
        double p = Math.Pow(10, Math.Floor(Math.Log10(raw)));
        foreach (double m in new[] { 1.0, 2, 5, 10 }) if (m * p >= raw) return m * p;
        return 10 * p;
    }
}
