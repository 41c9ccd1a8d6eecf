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
    public static int Run(string[] args)
    {
        if (args.Length == 0) { Console.Error.WriteLine("usage: ort-profile MODEL [--threads N] [--iterations N] [-o FILE]"); return 2; }
        string model = args[0];
        int threads = 1, iterations = 60;
        string? output = null;
        for (int i = 1; i < args.Length; i++)
        {
            switch (args[i])
            {
                case "--threads": threads = int.Parse(args[++i]); break;
                case "--iterations": iterations = int.Parse(args[++i]); break;
                case "-o": output = args[++i]; break;
                default: Console.Error.WriteLine($"unknown option '{args[i]}'"); return 2;
            }
        }
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
