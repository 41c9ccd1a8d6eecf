using NetOnnx.OnnxImport;
using NetOnnx.Runtime;
using NetOnnx.Tools.Conformance;

namespace NetOnnx.Tools;

/// <summary>
/// run: feeds a model from .pb files (a test_data_set folder or --input name=file.pb) and writes
/// output_K.pb in graph-output order with the tensor names set, like ONNX test data.
/// </summary>
public static class RunCommand
{
    public static int Run(string[] args, TextWriter o)
    {
        var a = new CliArgs(args);
        a.RejectUnknown("input", "input-dir", "output-dir", "threads", "level", "device");
        if (a.Positional.Count != 1) throw new CliUsageException("run needs exactly one MODEL");
        var options = new SessionOptions { IntraOpThreads = a.GetInt("threads", 0), OptimizationLevel = CliArgs.ParseLevel(a.Get("level")), Device = a.Get("device") ?? "cpu" };
        using var session = new InferenceSession(a.Positional[0], options);
        var graph = session.Model.Graph;

        var inputs = new Dictionary<string, object>(StringComparer.Ordinal);
        if (a.Get("input-dir") is { } dir)
        {
            if (!Directory.Exists(dir)) throw new OnnxException($"input folder '{dir}' does not exist");
            foreach (var kv in ConformanceRunner.ReadInputs(dir, graph)) inputs[kv.Key] = kv.Value;
        }
        foreach (var spec in a.GetAll("input"))
        {
            int eq = spec.IndexOf('=');
            if (eq <= 0) throw new CliUsageException($"--input expects name=file.pb, got '{spec}'");
            string name = spec[..eq], file = spec[(eq + 1)..];
            var info = graph.Inputs.FirstOrDefault(i => i.Name == name)
                ?? throw new OnnxException($"'{name}' is not an input of the model; inputs are: {string.Join(", ", session.Inputs.Select(i => i.Name))}");
            inputs[name] = ValueCodec.Read(file, info.Type).Value;
        }

        var sw = System.Diagnostics.Stopwatch.StartNew();
        var outputs = session.Run(inputs);
        double ms = sw.Elapsed.TotalMilliseconds;

        string? outDir = a.Get("output-dir");
        if (outDir is not null) Directory.CreateDirectory(outDir);
        for (int k = 0; k < graph.Outputs.Count; k++)
        {
            var name = graph.Outputs[k].Name;
            var value = outputs[name];
            o.WriteLine($"{name}: {value}");
            if (outDir is not null) File.WriteAllBytes(Path.Combine(outDir, $"output_{k}.pb"), ValueCodec.Write(value, name));
        }
        o.WriteLine($"ran in {ms:F3} ms");
        return 0;
    }
}
