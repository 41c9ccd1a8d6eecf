using System.Globalization;
using NetOnnx.Runtime;

namespace NetOnnx.Tools;

/// <summary>
/// The evaluation inputs `quantize` and `prune` score the compressed model on, apart from the calibration inputs:
/// `--eval DIR` (input_*.pb files, or sub-folders of them) or `--eval-random N [--seed S]`, N inputs drawn around
/// the calibration inputs. Float tensors with a channel axis (rank >= 3: [N, C, ...]) cycle through five kinds:
/// a Gaussian draw with each channel's mean and standard deviation fitted over the calibration inputs, a
/// flip of the last axis plus light noise, a random crop (80-100% of the trailing axes) resized back by
/// nearest neighbour, additive noise of 0.1 std per channel, and a per-channel contrast/brightness change; other
/// float tensors get the same with one mean/std for the whole tensor. Integer inputs (token ids) have 15% of their
/// positions redrawn from the values they already hold; 0/1 masks, scalars and one-element tensors stay as they are.
/// </summary>
public static class EvalSet
{
    public static readonly string[] Options = ["eval", "eval-random", "seed"];

    public static readonly string[] Kinds = ["gaussian", "flip+noise", "crop+resize", "noise", "contrast"];

    /// <summary>The evaluation sets the options ask for, or null when there are none.</summary>
    public static List<Dictionary<string, object>>? Load(CliArgs a, string modelPath, Graph graph, IReadOnlyList<Dictionary<string, object>> calibration)
    {
        if (a.Has("eval") && a.Has("eval-random")) throw new CliUsageException("give --eval DIR or --eval-random N, not both");
        if (a.Has("seed") && !a.Has("eval-random")) throw new CliUsageException("--seed applies to --eval-random");
        if (a.Get("eval") is { } dir)
        {
            if (!Directory.Exists(dir)) throw new CliUsageException($"--eval folder '{dir}' does not exist");
            return AccuracyReport.LoadInputs(dir, modelPath, graph);
        }
        if (!a.Has("eval-random")) return null;
        int n = a.GetInt("eval-random", 0);
        if (n < 1) throw new CliUsageException($"--eval-random {n} must be at least 1");
        return Random(calibration, n, a.GetInt("seed", 1));
    }

    /// <summary>N input sets around the given ones (see the class summary); the same seed gives the same sets.</summary>
    public static List<Dictionary<string, object>> Random(IReadOnlyList<Dictionary<string, object>> bases, int count, int seed)
    {
        if (bases.Count == 0) throw new OnnxException("no calibration inputs to fit the evaluation distribution to");
        var rng = new Random(seed);
        var stats = bases[0].Keys.ToDictionary(k => k, k => ChannelStats(bases.Select(b => b[k]).OfType<Tensor>().ToList()), StringComparer.Ordinal);
        var sets = new List<Dictionary<string, object>>();
        for (int i = 0; i < count; i++)
        {
            var baseSet = bases[rng.Next(bases.Count)];
            string kind = Kinds[i % Kinds.Length];
            var set = new Dictionary<string, object>(StringComparer.Ordinal);
            foreach (var (name, value) in baseSet)
                set[name] = value is Tensor t ? Draw(t, stats[name], kind, rng) : value;
            sets.Add(set);
        }
        return sets;
    }

    /// <summary>Mean and std per channel (axis 1 of rank >= 3 float tensors; else one for the whole tensor), over all sets.</summary>
    private static (double[] Mean, double[] Std)? ChannelStats(List<Tensor> ts)
    {
        if (ts.Count == 0 || ts[0].ElementType != DataType.Float) return null;
        var t0 = ts[0];
        int channels = t0.Rank >= 3 ? t0.Shape[1] : 1;
        var sum = new double[channels]; var sq = new double[channels]; var cnt = new long[channels];
        foreach (var t in ts)
        {
            if (!t.Shape.SequenceEqual(t0.Shape)) continue;
            var v = t.ReadOnlySpan<float>();
            int inner = channels == 1 ? v.Length : v.Length / (t.Shape[0] * channels);
            for (int i = 0; i < v.Length; i++)
            {
                int c = channels == 1 ? 0 : i / inner % channels;
                sum[c] += v[i]; sq[c] += (double)v[i] * v[i]; cnt[c]++;
            }
        }
        var mean = new double[channels]; var std = new double[channels];
        for (int c = 0; c < channels; c++)
        {
            mean[c] = cnt[c] == 0 ? 0 : sum[c] / cnt[c];
            std[c] = cnt[c] == 0 ? 0 : Math.Sqrt(Math.Max(0, sq[c] / cnt[c] - mean[c] * mean[c]));
        }
        return (mean, std);
    }

    private static double Gauss(Random rng) => Math.Sqrt(-2 * Math.Log(1 - rng.NextDouble())) * Math.Cos(2 * Math.PI * rng.NextDouble());

    private static Tensor Draw(Tensor t, (double[] Mean, double[] Std)? stats, string kind, Random rng)
    {
        if (t.ElementType == DataType.Float && stats is { } s && t.Length > 1) return Augment(t, s.Mean, s.Std, kind, rng);
        if (t.ElementType is DataType.Int64 or DataType.Int32 && t.Length > 1) return Resample(t, rng);
        return t;
    }

    private static Tensor Augment(Tensor t, double[] mean, double[] std, string kind, Random rng)
    {
        var src = t.ReadOnlySpan<float>();
        var y = new float[src.Length];
        int channels = mean.Length, inner = channels == 1 ? src.Length : src.Length / (t.Shape[0] * channels);
        int Ch(int i) => channels == 1 ? 0 : i / inner % channels;
        switch (kind)
        {
            case "gaussian":
                for (int i = 0; i < y.Length; i++) y[i] = (float)(mean[Ch(i)] + std[Ch(i)] * Gauss(rng));
                break;
            case "flip+noise":
            {
                int w = t.Shape[^1];
                for (int i = 0; i < y.Length; i++)
                {
                    int row = i / w * w, col = i - row;
                    y[i] = (float)(src[row + w - 1 - col] + 0.02 * std[Ch(i)] * Gauss(rng));
                }
                break;
            }
            case "crop+resize":
                Crop(t, src, y, rng);
                break;
            case "noise":
                for (int i = 0; i < y.Length; i++) y[i] = (float)(src[i] + 0.1 * std[Ch(i)] * Gauss(rng));
                break;
            default: // contrast
            {
                var gain = Enumerable.Range(0, channels).Select(_ => 0.8 + 0.4 * rng.NextDouble()).ToArray();
                var shift = Enumerable.Range(0, channels).Select(c => 0.1 * std[c] * (2 * rng.NextDouble() - 1)).ToArray();
                for (int i = 0; i < y.Length; i++) { int c = Ch(i); y[i] = (float)(mean[c] + gain[c] * (src[i] - mean[c]) + shift[c]); }
                break;
            }
        }
        return Tensor.Create(y, t.Shape.ToArray());
    }

    /// <summary>A window of 80-100% of the last one or two axes (two for rank >= 4), scaled back to full size by nearest neighbour.</summary>
    private static void Crop(Tensor t, ReadOnlySpan<float> src, float[] y, Random rng)
    {
        int w = t.Shape[^1], h = t.Rank >= 4 ? t.Shape[^2] : 1, plane = w * h;
        int cw = Math.Max(1, (int)Math.Round(w * (0.8 + 0.2 * rng.NextDouble()))), ch = Math.Max(1, (int)Math.Round(h * (0.8 + 0.2 * rng.NextDouble())));
        int x0 = rng.Next(w - cw + 1), y0 = rng.Next(h - ch + 1);
        for (int p = 0; p < src.Length / plane; p++)
            for (int r = 0; r < h; r++)
            {
                int sr = y0 + r * ch / h;
                for (int c = 0; c < w; c++) y[p * plane + r * w + c] = src[p * plane + sr * w + x0 + c * cw / w];
            }
    }

    private static Tensor Resample(Tensor t, Random rng)
    {
        var v = t.ElementType == DataType.Int64 ? t.ReadOnlySpan<long>().ToArray() : t.ReadOnlySpan<int>().ToArray().Select(x => (long)x).ToArray();
        if (v.All(x => x is 0 or 1)) return t; // a mask
        var r = (long[])v.Clone();
        for (int i = 0; i < r.Length; i++) if (rng.NextDouble() < 0.15) r[i] = v[rng.Next(v.Length)];
        return t.ElementType == DataType.Int64 ? Tensor.Create(r, t.Shape.ToArray()) : Tensor.Create(r.Select(x => (int)x).ToArray(), t.Shape.ToArray());
    }

    /// <summary>Scores the compressed model on the evaluation sets and writes the table, with mean cosine and a note on small N.</summary>
    public static void Report(TextWriter o, byte[] floatModel, byte[] compressed, List<Dictionary<string, object>> sets, string source)
    {
        var reference = AccuracyReport.RunAll(floatModel, sets);
        var candidate = AccuracyReport.RunAll(compressed, sets);
        var errors = AccuracyReport.Compare(reference, candidate);
        o.WriteLine($"evaluation set: {sets.Count} input(s) ({source})");
        AccuracyReport.Write(o, errors);
        foreach (var name in reference[0].Keys)
        {
            var cos = new List<double>();
            for (int s = 0; s < sets.Count; s++)
                if (reference[s][name] is { ElementType: DataType.Float } r && candidate[s][name] is { ElementType: DataType.Float } c)
                    cos.Add(Cosine(r.ReadOnlySpan<float>(), c.ReadOnlySpan<float>()));
            if (cos.Count > 0)
                o.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  {name}: mean cosine {cos.Average():F6}, worst {cos.Min():F6} over {cos.Count} inputs"));
        }
        if (sets.Count < 50 && errors.Any(e => e.Top1Agreement is not null))
            o.WriteLine("  note: top-1 agreement over fewer than 50 inputs says little");
    }

    private static double Cosine(ReadOnlySpan<float> a, ReadOnlySpan<float> b)
    {
        double dot = 0, na = 0, nb = 0;
        for (int i = 0; i < a.Length; i++) { dot += (double)a[i] * b[i]; na += (double)a[i] * a[i]; nb += (double)b[i] * b[i]; }
        return na == 0 && nb == 0 ? 1 : na == 0 || nb == 0 ? 0 : dot / Math.Sqrt(na * nb);
    }
}
