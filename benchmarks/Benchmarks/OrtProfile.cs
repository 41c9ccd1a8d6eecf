using System.Diagnostics;
using System.Text.Json;
using NetOnnx.Runtime;

namespace NetOnnx.Benchmarks;

/// <summary>
/// `ort-profile MODEL [--threads N] [--iterations N] [-o FILE]`: ONNX Runtime's own per-node profile of a zoo model,
/// summarised by op type (median per node, summed) so it lines up with `bench --profile` of ours. Tells which op
/// types ORT runs faster, node by node, instead of only the whole-model ratio.
/// </summary>
public static class OrtProfile
{
    private const string Usage = "usage: ort-profile MODEL [--threads N] [--iterations N] [-o FILE]";

    public static int Run(string[] args)
    {
        if (args.Length == 0) { Console.Error.WriteLine(Usage); return 2; }
        string model = args[0];
        int threads = 1, iterations = 60;
        string? output = null;
        for (int i = 1; i < args.Length; i++)
        {
            string option = args[i];
            string? value = i + 1 < args.Length ? args[++i] : null;
            if (value is null && option is "--threads" or "--iterations" or "-o") { Console.Error.WriteLine($"{option} needs a value; {Usage}"); return 2; }
            switch (option)
            {
                case "--threads" when int.TryParse(value, out threads) && threads > 0: break;
                case "--iterations" when int.TryParse(value, out iterations) && iterations > 0: break;
                case "-o": output = value; break;
                case "--threads" or "--iterations": Console.Error.WriteLine($"{option} takes a positive integer, not '{value}'"); return 2;
                default: Console.Error.WriteLine($"unknown option '{option}'; {Usage}"); return 2;
            }
        }
        try { return Profile(model, threads, iterations, output); }
        catch (Exception e) when (e is FileNotFoundException or OnnxException or IOException or Microsoft.ML.OnnxRuntime.OnnxRuntimeException)
        {
            Console.Error.WriteLine($"ort-profile: {e.Message}");
            return 1;
        }
    }

    private static int Profile(string model, int threads, int iterations, string? output)
    {
        string path = ZooModels.ModelPath(model);
        Dictionary<string, Tensor> inputs;
        using (var ours = new InferenceSession(path)) inputs = ZooModels.Inputs(path, ours.Model.Graph);
        string prefix = Path.Combine(Path.GetTempPath(), $"ort-profile-{Environment.ProcessId}");
        string file;
        using (var ort = new OrtRunner(path, inputs, threads, spinning: true, profilePrefix: prefix))
        {
            var warm = Stopwatch.StartNew();
            while (warm.ElapsedMilliseconds < 500) ort.Run();
            for (int i = 0; i < iterations; i++) ort.Run();
            file = ort.EndProfiling();
        }
        if (output is not null) { File.Copy(file, output, overwrite: true); Console.WriteLine($"wrote {output}"); }
        using var doc = JsonDocument.Parse(File.ReadAllText(file));
        var byNode = new Dictionary<string, (string Op, List<double> Durations)>();
        foreach (var e in doc.RootElement.EnumerateArray())
        {
            if (e.GetProperty("cat").GetString() != "Node") continue;
            string name = e.GetProperty("name").GetString()!;
            if (!name.EndsWith("_kernel_time", StringComparison.Ordinal)) continue;
            string op = e.TryGetProperty("args", out var a) && a.TryGetProperty("op_name", out var o) ? o.GetString()! : "?";
            if (!byNode.TryGetValue(name, out var entry)) byNode[name] = entry = (op, []);
            entry.Durations.Add(e.GetProperty("dur").GetDouble());
        }
        File.Delete(file);
        double Median(List<double> d) { d.Sort(); return d[d.Count / 2]; }
        var byOp = byNode.GroupBy(kv => kv.Value.Op)
            .Select(g => (Op: g.Key, Nodes: g.Count(), Us: g.Sum(kv => Median(kv.Value.Durations))))
            .OrderByDescending(r => r.Us).ToList();
        Console.WriteLine($"ONNX Runtime per-node profile of {Path.GetFileName(Path.GetDirectoryName(path))}, {threads} thread(s), {iterations} runs (median per node, µs)");
        Console.WriteLine($"{"op",-28} {"nodes",5} {"µs",9}");
        foreach (var r in byOp) Console.WriteLine($"{r.Op,-28} {r.Nodes,5} {r.Us,9:F1}");
        Console.WriteLine($"{"total",-28} {byNode.Count,5} {byOp.Sum(r => r.Us),9:F1}");
        Console.WriteLine();
        foreach (var (name, (op, d)) in byNode.OrderByDescending(kv => Median(kv.Value.Durations)).Take(40))
            Console.WriteLine($"{Median(d),8:F1}  {op,-20} {name[..^"_kernel_time".Length]}");
        return 0;
    }
}
