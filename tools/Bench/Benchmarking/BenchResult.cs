using System.Text.Json.Nodes;
using NetOnnx.Runtime;
using NetOnnx.Runtime.Diagnostics;

namespace NetOnnx.Tools;

/// <summary>Outcome of one model at one setting: "ok", "error" (load or run failed), "check_failed", or "skipped".</summary>
public static class BenchStatus
{
    public const string Ok = "ok", Error = "error", CheckFailed = "check_failed", Skipped = "skipped";
}

/// <summary>One row of a bench run: a model at one (threads, batch, level, concurrency) setting.</summary>
public sealed class BenchResult
{
    public required string Model { get; init; }
    public required int Threads { get; init; }
    /// <summary>Batch the inputs had (null when the model has no batched input).</summary>
    public int? Batch { get; set; }
    public required string Level { get; init; }
    public int Concurrent { get; init; } = 1;
    public string Status { get; set; } = BenchStatus.Ok;
    /// <summary>Why a row is not ok (error text, check mismatch, "static batch ..."), else empty.</summary>
    public string Message { get; set; } = "";
    public int Iterations { get; set; }
    public LoadTimings? Load { get; set; }
    public double LoadMs { get; set; }
    public double FirstMs { get; set; }
    public LatencyStats? Stats { get; set; }
    public double ThroughputPerSecond { get; set; }
    public long PlannedPeakBytes { get; set; }
    public long PeakBytes { get; set; }
    /// <summary>Managed bytes allocated per measured run on the calling thread (the whole process with --concurrent).</summary>
    public double AllocatedBytesPerRun { get; set; }
    /// <summary>Garbage collections of generations 0, 1 and 2 during the measured runs (whole process).</summary>
    public int[] Collections { get; set; } = [0, 0, 0];
    /// <summary>Where inputs came from: "random (seed 42)", a test_data_set folder, or .pb files.</summary>
    public string Inputs { get; set; } = "";
    /// <summary>"pass", "fail", or "" when no check was asked for or possible.</summary>
    public string Check { get; set; } = "";
    public IReadOnlyList<OpTime> TopOps { get; set; } = [];
    /// <summary>Profiled runs kept for --profile (trace and the full op table); not serialised.</summary>
    public IReadOnlyList<RunProfile> Profile { get; set; } = [];
    public double? BaselineP50Ms { get; set; }
    public double? BaselineRatio { get; set; }
    public bool Regression { get; set; }

    public bool Failed => Status is BenchStatus.Error or BenchStatus.CheckFailed;

    /// <summary>A short label for a setting: "t2 b8 all".</summary>
    public string Setting => $"t{Threads} b{(Batch?.ToString() ?? "-")} {Level}" + (Concurrent > 1 ? $" c{Concurrent}" : "");

    public JsonObject ToJson()
    {
        var o = new JsonObject
        {
            ["model"] = Model,
            ["threads"] = Threads,
            ["iterations"] = Iterations,
            ["load_ms"] = R(LoadMs),
            ["first_ms"] = R(FirstMs),
            ["mean_ms"] = Stats is null ? null : R(Stats.Mean),
            ["p50_ms"] = Stats is null ? null : R(Stats.P50),
            ["p90_ms"] = Stats is null ? null : R(Stats.P90),
            ["p95_ms"] = Stats is null ? null : R(Stats.P95),
            ["p99_ms"] = Stats is null ? null : R(Stats.P99),
            ["p999_ms"] = Stats is null ? null : R(Stats.P999),
            ["min_ms"] = Stats is null ? null : R(Stats.Min),
            ["max_ms"] = Stats is null ? null : R(Stats.Max),
            ["throughput_per_s"] = R(ThroughputPerSecond),
            ["batch"] = Batch,
            ["level"] = Level,
            ["concurrent"] = Concurrent,
            ["parse_ms"] = Load is null ? null : R(Load.ParseMs),
            ["optimize_ms"] = Load is null ? null : R(Load.OptimizeMs),
            ["plan_ms"] = Load is null ? null : R(Load.PlanMs),
            ["planned_peak_bytes"] = PlannedPeakBytes,
            ["peak_bytes"] = PeakBytes,
            ["allocated_bytes_per_run"] = Math.Round(AllocatedBytesPerRun),
            ["gc_gen0"] = Collections[0],
            ["gc_gen1"] = Collections[1],
            ["gc_gen2"] = Collections[2],
            ["inputs"] = Inputs,
            ["check"] = Check,
            ["status"] = Status,
            ["message"] = Message,
        };
        var ops = new JsonArray();
        foreach (var op in TopOps)
            ops.Add(new JsonObject { ["op"] = op.OpType, ["kernel"] = op.Kernel, ["nodes"] = op.Nodes, ["ms"] = R(op.MillisecondsPerRun), ["share"] = R(op.Share) });
        o["top_ops"] = ops;
        if (BaselineRatio is { } ratio)
        {
            o["baseline_p50_ms"] = R(BaselineP50Ms ?? 0);
            o["baseline_ratio"] = R(ratio);
            o["regression"] = Regression;
        }
        return o;
    }

    private static double R(double v) => Math.Round(v, 4);
}
