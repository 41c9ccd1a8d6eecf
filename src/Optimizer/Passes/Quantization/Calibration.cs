namespace NetOnnx.Optimizer.Passes.Quantization;

/// <summary>How an activation's range is chosen from the calibration data.</summary>
public enum CalibrationMethod { MinMax, Percentile, Entropy }

/// <summary>
/// Range of one activation tensor over the calibration runs. Values arrive in two passes: the first finds
/// min and max, the second fills a histogram over that fixed range (Percentile and Entropy need it; MinMax
/// ignores it), so histograms from different runs add up.
/// </summary>
public sealed class ActivationRange
{
    public const int Bins = 2048;
    public float Min { get; private set; } = float.PositiveInfinity;
    public float Max { get; private set; } = float.NegativeInfinity;
    private long[]? _hist;

    public void Observe(ReadOnlySpan<float> x)
    {
        float mn = Min, mx = Max;
        foreach (var v in x)
        {
            if (!float.IsFinite(v)) continue;
            if (v < mn) mn = v;
            if (v > mx) mx = v;
        }
        Min = mn; Max = mx;
    }

    /// <summary>Second pass: a histogram of |x| over [0, max(|Min|, |Max|)].</summary>
    public void Histogram(ReadOnlySpan<float> x)
    {
        _hist ??= new long[Bins];
        float top = Math.Max(Math.Abs(Min), Math.Abs(Max));
        if (!(top > 0)) return;
        float perBin = Bins / top;
        foreach (var v in x)
        {
            if (!float.IsFinite(v)) continue;
            int b = (int)(MathF.Abs(v) * perBin);
            _hist[Math.Min(b, Bins - 1)]++;
        }
    }

    /// <summary>The range to quantize over, always containing 0 (so zero is exact).</summary>
    public (float Lo, float Hi) Range(CalibrationMethod method, double percentile = 99.99)
    {
        if (float.IsInfinity(Min)) return (0, 0);
        float lo = Math.Min(Min, 0), hi = Math.Max(Max, 0);
        if (method == CalibrationMethod.MinMax || _hist is null) return (lo, hi);
        float top = Math.Max(Math.Abs(Min), Math.Abs(Max));
        float t = method == CalibrationMethod.Percentile ? PercentileThreshold(_hist, percentile) : EntropyThreshold(_hist);
        float clip = t * top;
        return (Math.Max(lo, -clip), Math.Min(hi, clip));
    }

    /// <summary>The fraction of the |x| range below which <paramref name="percentile"/>% of values lie.</summary>
    private static float PercentileThreshold(long[] hist, double percentile)
    {
        long total = hist.Sum();
        if (total == 0) return 1;
        long need = (long)Math.Ceiling(total * percentile / 100.0), acc = 0;
        for (int i = 0; i < hist.Length; i++)
        {
            acc += hist[i];
            if (acc >= need) return (i + 1) / (float)hist.Length;
        }
        return 1;
    }

    /// <summary>
    /// KL-divergence calibration (as TensorRT and ONNX Runtime describe it): the clipping threshold whose
    /// 128-level quantized distribution Q of the kept bins loses the least information about the reference P
    /// (the kept bins with the clipped outliers folded into the last one). Empty Q bins under P mass are
    /// smoothed with a small epsilon rather than skipped.
    /// </summary>
    private static float EntropyThreshold(long[] hist)
    {
        const int levels = 128;
        const double eps = 1e-4;
        if (hist.Sum() == 0) return 1;
        double best = double.PositiveInfinity;
        int bestI = hist.Length;
        var p = new double[hist.Length];
        var q = new double[hist.Length];
        long total = hist.Sum();
        for (int i = levels; i <= hist.Length; i++)
        {
            long outliers = 0;
            for (int j = i; j < hist.Length; j++) outliers += hist[j];
            for (int j = 0; j < i; j++) p[j] = hist[j];
            p[i - 1] += outliers;
            // Q: the kept bins (without outliers) merged into `levels` groups, each spread over the bins P has mass in.
            for (int g = 0; g < levels; g++)
            {
                int start = g * i / levels, end = (g + 1) * i / levels;
                double mass = 0;
                int nonEmpty = 0;
                for (int j = start; j < end; j++) { mass += hist[j]; if (p[j] != 0) nonEmpty++; }
                for (int j = start; j < end; j++) q[j] = p[j] != 0 && nonEmpty > 0 ? mass / nonEmpty : 0;
            }
            double sq = 0;
            for (int j = 0; j < i; j++) sq += q[j];
            double kl = 0;
            for (int j = 0; j < i; j++)
            {
                if (p[j] == 0) continue;
                double pj = p[j] / total, qj = sq > 0 ? q[j] / sq : 0;
                kl += pj * Math.Log(pj / Math.Max(qj, eps));
            }
            if (kl < best) { best = kl; bestI = i; }
        }
        return bestI / (float)hist.Length;
    }
}
