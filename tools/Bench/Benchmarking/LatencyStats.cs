namespace NetOnnx.Tools;

/// <summary>
/// Latency statistics over samples in milliseconds. Percentiles use linear interpolation between closest ranks
/// (numpy's default, "type 7"): rank = p/100 * (n-1) on the sorted samples.
/// </summary>
public sealed record LatencyStats(double Mean, double Min, double Max, double P50, double P90, double P95, double P99, double P999)
{
    public static LatencyStats From(IReadOnlyList<double> samples)
    {
        if (samples.Count == 0) throw new ArgumentException("no samples");
        var s = samples.OrderBy(x => x).ToArray();
        return new LatencyStats(s.Average(), s[0], s[^1], Percentile(s, 50), Percentile(s, 90), Percentile(s, 95), Percentile(s, 99), Percentile(s, 99.9));
    }

    /// <summary>Percentile p (0-100) of sorted samples, interpolating between closest ranks.</summary>
    public static double Percentile(double[] sorted, double p)
    {
        if (sorted.Length == 0) throw new ArgumentException("no samples");
        if (p is < 0 or > 100) throw new ArgumentOutOfRangeException(nameof(p), "percentile must be in [0, 100]");
        if (sorted.Length == 1) return sorted[0];
        double rank = p / 100.0 * (sorted.Length - 1);
        int lo = (int)Math.Floor(rank), hi = (int)Math.Ceiling(rank);
        return sorted[lo] + (sorted[hi] - sorted[lo]) * (rank - lo);
    }
}
