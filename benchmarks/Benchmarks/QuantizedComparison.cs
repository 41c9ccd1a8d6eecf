using System.Diagnostics;
using System.Globalization;
using NetOnnx.Runtime;

namespace NetOnnx.Benchmarks;

/// <summary>
/// `compare-pair FLOAT_MODEL OTHER_MODEL [--threads N] [--rounds N] [--warmup-ms MS] [--no-ort]`: a float model and
/// its quantized (or pruned) version, ours and ONNX Runtime's, run alternately in one process on the float
/// model's inputs (its test_data_set_0, else zeros), so the ratio survives a noisy host.
/// </summary>
public static class QuantizedComparison
{
    public static int Run(string[] args)
    {
        var models = new List<string>();
        int threads = 1, rounds = 30, warmupMs = 2000;
        bool ort = true;
        for (int i = 0; i < args.Length; i++)
        {
            string Next() => i + 1 < args.Length ? args[++i] : throw new ArgumentException($"{args[i]} needs a value");
            switch (args[i])
            {
                case "--threads": threads = int.Parse(Next(), CultureInfo.InvariantCulture); break;
                case "--rounds": rounds = int.Parse(Next(), CultureInfo.InvariantCulture); break;
                case "--warmup-ms": warmupMs = int.Parse(Next(), CultureInfo.InvariantCulture); break;
                case "--no-ort": ort = false; break;
                default: models.Add(args[i]); break;
            }
        }
        if (models.Count != 2) { Console.Error.WriteLine("compare-pair needs FLOAT_MODEL and OTHER_MODEL"); return 2; }
        string fp = ZooModels.ModelPath(models[0]), q = ZooModels.ModelPath(models[1]);
        var so = new Runtime.SessionOptions { IntraOpThreads = threads };
        using var oursF = new InferenceSession(fp, so);
        using var oursQ = new InferenceSession(q, new Runtime.SessionOptions { IntraOpThreads = threads });
        var inputs = ZooModels.Inputs(fp, oursF.Model.Graph);
        using var ortF = ort ? new OrtRunner(fp, inputs, threads) : null;
        using var ortQ = ort ? new OrtRunner(q, inputs, threads) : null;
        var runs = new List<(string Name, Action Run)>
        {
            ("ours float", () => oursF.Run(inputs)),
            ("ours other", () => oursQ.Run(inputs)),
        };
        if (ortF is not null) runs.Add(("ORT float", ortF.Run));
        if (ortQ is not null) runs.Add(("ORT other", ortQ.Run));
        var warm = Stopwatch.StartNew();
        while (warm.ElapsedMilliseconds < warmupMs) foreach (var r in runs) r.Run();
        var times = runs.Select(_ => new double[rounds]).ToArray();
        for (int i = 0; i < rounds; i++)
            for (int j = 0; j < runs.Count; j++)
            {
                // Rotate the order each round so no engine always follows the same one.
                int k = (i + j) % runs.Count;
                long t0 = Stopwatch.GetTimestamp();
                runs[k].Run();
                times[k][i] = Stopwatch.GetElapsedTime(t0).TotalMilliseconds;
            }
        Console.WriteLine($"{"engine",-12} {"median ms",10} {"min ms",9}   ({Path.GetFileName(fp)} vs {q}, {threads} thread(s), {rounds} rounds)");
        for (int j = 0; j < runs.Count; j++)
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{runs[j].Name,-12} {Median(times[j]),10:F3} {times[j].Min(),9:F3}"));
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"ours float / ours other: {Median(times[0]) / Median(times[1]):F2}x by median, {times[0].Min() / times[1].Min():F2}x by min"));
        return 0;
    }

    private static double Median(double[] v)
    {
        var s = v.Order().ToArray();
        return s.Length % 2 == 1 ? s[s.Length / 2] : (s[s.Length / 2 - 1] + s[s.Length / 2]) / 2;
    }
}
