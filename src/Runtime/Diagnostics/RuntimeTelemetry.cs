using System.Diagnostics;
using System.Diagnostics.Metrics;

namespace NetOnnx.Runtime.Diagnostics;

/// <summary>
/// The runtime's standard .NET instruments, so dotnet-counters, dotnet-trace and OpenTelemetry read them with no
/// extra code: a Meter "NetOnnx" (run latency histogram, runs, errors) and an ActivitySource "NetOnnx" (a span per
/// <see cref="Session.Run(IReadOnlyDictionary{string, object}, IReadOnlyCollection{string}?)"/>, with a child span
/// per node when the session profiles). With no listener attached each costs a flag check per run.
/// </summary>
/// <example><c>dotnet-counters monitor -n myapp --counters NetOnnx</c></example>
public static class RuntimeTelemetry
{
    public const string Name = "NetOnnx";
    public const string RunActivityName = "NetOnnx.Run";

    public static readonly Meter Meter = new(Name);
    public static readonly ActivitySource ActivitySource = new(Name);

    /// <summary>Wall time of each run in milliseconds, tagged with the model (graph) name.</summary>
    public static readonly Histogram<double> RunDuration =
        Meter.CreateHistogram<double>("netonnx.run.duration", "ms", "Latency of one Session.Run");
    public static readonly Counter<long> Runs = Meter.CreateCounter<long>("netonnx.runs", "{run}", "Runs completed");
    public static readonly Counter<long> Errors = Meter.CreateCounter<long>("netonnx.run.errors", "{run}", "Runs that threw");

    internal static Activity? StartRun(Session session)
    {
        var a = ActivitySource.StartActivity(RunActivityName, ActivityKind.Internal);
        if (a is not null)
        {
            a.SetTag("netonnx.model", session.GraphName);
            a.SetTag("netonnx.threads", session.Options.EffectiveThreads);
        }
        return a;
    }

    /// <summary>Records a finished run; returns its latency in milliseconds.</summary>
    internal static double RunEnded(Session session, long startTimestamp)
    {
        double ms = Stopwatch.GetElapsedTime(startTimestamp).TotalMilliseconds;
        if (RunDuration.Enabled) RunDuration.Record(ms, new KeyValuePair<string, object?>("model", session.GraphName));
        if (Runs.Enabled) Runs.Add(1, new KeyValuePair<string, object?>("model", session.GraphName));
        return ms;
    }

    internal static void RunFailed(Session session, Activity? activity, Exception e)
    {
        if (Errors.Enabled)
            Errors.Add(1, new KeyValuePair<string, object?>("model", session.GraphName),
                new KeyValuePair<string, object?>("error", e.GetType().Name));
        activity?.SetStatus(ActivityStatusCode.Error, e.Message);
    }

    /// <summary>Adds one child span per timed node under the run's span, placed at the node's measured start and end.</summary>
    internal static void AddNodeSpans(Activity? run, RunProfile profile)
    {
        if (run is null || !run.IsAllDataRequested) return;
        var origin = run.StartTimeUtc;
        foreach (var n in profile.Nodes)
        {
            var start = origin + Stopwatch.GetElapsedTime(profile.StartTimestamp, n.StartTimestamp);
            using var child = ActivitySource.StartActivity(n.OpType, ActivityKind.Internal, run.Context, startTime: start);
            if (child is null) continue;
            child.SetTag("netonnx.node", n.NodeName);
            child.SetTag("netonnx.kernel", n.Kernel);
            child.SetTag("netonnx.inputs", n.InputShapes);
            child.SetTag("netonnx.output", n.OutputShape);
            child.SetEndTime(start + TimeSpan.FromMilliseconds(n.Milliseconds));
        }
    }
}
