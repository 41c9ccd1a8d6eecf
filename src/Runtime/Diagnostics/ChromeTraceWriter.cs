using System.Diagnostics;
using System.Text.Json;

namespace NetOnnx.Runtime.Diagnostics;

/// <summary>Profiled runs of one session, shown as one process in the trace viewer.</summary>
public sealed record TraceSection(string Name, IReadOnlyList<RunProfile> Runs);

/// <summary>
/// Writes profiled runs as Chrome trace event JSON (chrome://tracing, ui.perfetto.dev, speedscope): one complete
/// ("X") event per node per run with category "node" and the op, kernel and shapes in its args, one "run" event
/// spanning each run, and process-name metadata naming each section.
/// </summary>
public static class ChromeTraceWriter
{
    public static void Write(string path, IEnumerable<TraceSection> sections)
    {
        using var f = File.Create(path);
        Write(f, sections);
    }

    public static void Write(Stream stream, IEnumerable<TraceSection> sections)
    {
        using var w = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = false });
        w.WriteStartObject();
        w.WriteString("displayTimeUnit", "ms");
        w.WriteStartArray("traceEvents");
        var list = sections.ToList();
        // Times are microseconds from the earliest run of any section, so sections line up as they happened.
        long origin = list.SelectMany(s => s.Runs).Select(r => r.StartTimestamp).DefaultIfEmpty(0).Min();
        double Us(long ts) => Stopwatch.GetElapsedTime(origin, ts).TotalMicroseconds;
        for (int pid = 0; pid < list.Count; pid++)
        {
            var section = list[pid];
            w.WriteStartObject();
            w.WriteString("name", "process_name");
            w.WriteString("ph", "M");
            w.WriteNumber("pid", pid);
            w.WriteStartObject("args");
            w.WriteString("name", section.Name);
            w.WriteEndObject();
            w.WriteEndObject();
            for (int r = 0; r < section.Runs.Count; r++)
            {
                var run = section.Runs[r];
                Event(w, $"run {r}", "run", Us(run.StartTimestamp), run.TotalMilliseconds * 1000, pid, run.ThreadId);
                w.WriteStartObject("args");
                w.WriteNumber("run", r);
                w.WriteNumber("peak_bytes", run.PeakBytes);
                w.WriteNumber("managed_allocated_bytes", run.ManagedAllocatedBytes);
                w.WriteEndObject();
                w.WriteEndObject();
                foreach (var n in run.Nodes)
                {
                    Event(w, n.NodeName.Length > 0 ? n.NodeName : n.OpType, "node", Us(n.StartTimestamp), n.Milliseconds * 1000, pid, run.ThreadId);
                    w.WriteStartObject("args");
                    w.WriteString("op", n.OpType);
                    w.WriteString("kernel", n.Kernel);
                    w.WriteString("inputs", n.InputShapes);
                    w.WriteString("output", n.OutputShape);
                    w.WriteNumber("run", r);
                    w.WriteEndObject();
                    w.WriteEndObject();
                }
            }
        }
        w.WriteEndArray();
        w.WriteEndObject();
    }

    // Opens an event object; the caller writes its args and closes it.
    private static void Event(Utf8JsonWriter w, string name, string cat, double tsUs, double durUs, int pid, int tid)
    {
        w.WriteStartObject();
        w.WriteString("name", name);
        w.WriteString("cat", cat);
        w.WriteString("ph", "X");
        w.WriteNumber("ts", Math.Round(tsUs, 3));
        w.WriteNumber("dur", Math.Round(durUs, 3));
        w.WriteNumber("pid", pid);
        w.WriteNumber("tid", tid);
    }
}
