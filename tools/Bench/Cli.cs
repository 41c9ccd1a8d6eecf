using System.Globalization;
using NetOnnx.Runtime;

namespace NetOnnx.Tools;

public sealed class CliUsageException(string message) : Exception(message);

/// <summary>Dispatches verbs; kept apart from Program so tests can call it.</summary>
public static class Cli
{
    public const string Usage = """
        usage: bench <verb> [options]
          bench [MODEL|DIR ...] [--threads 1,2] [--batch 1,8] [--level none,all] [--concurrent N] [--iterations K | --duration S]
                [--warmup W] [--warmup-ms MS] [--input-dir DIR | --input name=file.pb ... | --random] [--seed S] [--check] [--rtol R] [--atol A]
                [--format table|json|csv|markdown] [--out FILE] [--top N] [--profile [trace.json]] [--report DIR] [--baseline old.json] [--threshold 1.2]
              latency per model and setting; DIR: a folder of models or a zoo with MANIFEST.tsv; no MODEL: a small built-in model
          run MODEL [--input name=file.pb ...] [--input-dir DIR] [--output-dir DIR] [--threads N]
              run a model on test_data_set-style inputs, write output_K.pb
          inspect MODEL
              inputs, outputs, opsets, op histogram, parameters
          optimize MODEL -o OUT.onnx [--level none|basic|extended|all] [--disable NAME,...] [--print-ir-after NAME|all] [--portable]
              run the optimisation passes, write the result as ONNX, print per-pass statistics
          quantize MODEL -o OUT.onnx [--mode dynamic|static] [--calib DIR] [--method minmax|percentile|entropy] [--per-channel] [--exclude NAME|OP,...] [--max-error X] [--no-sensitivity] [--eval DIR | --eval-random N [--seed S]]
              INT8 model as standard ONNX; prints per-output error vs float and per-layer sensitivity (and on an evaluation set)
          prune MODEL -o OUT.onnx --sparsity S [--global | --structured] [--dense-storage] [--calib DIR] [--exclude NAME|OP,...] [--no-sensitivity] [--eval DIR | --eval-random N [--seed S]]
              magnitude pruning of Conv/MatMul/Gemm weights; prints per-output error vs float and per-layer sensitivity (and on an evaluation set)
          conformance DIR [--filter a,b] [--threads N] [--failures] [--verbose] [--results FILE] [--rtol R] [--atol A] [--level L]
              run ONNX backend test folders, print a per-op table and '<suite>: N/M passed'
        bench, run and conformance also take --device cpu|cuda|cuda-cublas|opencl|ilgpu-cpu|auto (the GPU provider; default cpu)
        """;

    /// <summary>Runs a command line; every failure becomes a one-line message on <paramref name="error"/> and a non-zero exit code.</summary>
    public static int Run(string[] args, TextWriter output, TextWriter error)
    {
        try
        {
            return Execute(args, output);
        }
        catch (OnnxException e)
        {
            error.WriteLine($"error: {OneLine(e.Message)}");
            return 1;
        }
        catch (CliUsageException e)
        {
            error.WriteLine($"error: {OneLine(e.Message)} (run 'bench help' for usage)");
            return 2;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            error.WriteLine($"error: {OneLine(e.Message)}");
            return 1;
        }
    }

    private static string OneLine(string s) => s.Replace('\n', ' ').Replace('\r', ' ');

    public static int Execute(string[] args, TextWriter output)
    {
        if (args.Length == 0) return BenchCommand.Run([], output);
        string verb = args[0];
        var rest = args[1..];
        return verb switch
        {
            "bench" => BenchCommand.Run(rest, output),
            "run" => RunCommand.Run(rest, output),
            "inspect" => InspectCommand.Run(rest, output),
            "conformance" => ConformanceCommand.Run(rest, output),
            "optimize" => OptimizeCommand.Run(rest, output),
            "quantize" => QuantizeCommand.Run(rest, output),
            "prune" => PruneCommand.Run(rest, output),
            "help" or "--help" or "-h" => Help(output),
            _ when verb.StartsWith('-') || File.Exists(verb) || Directory.Exists(verb) => BenchCommand.Run(args, output),
            _ => throw new CliUsageException($"unknown verb '{verb}'"),
        };
    }

    private static int Help(TextWriter o) { o.WriteLine(Usage); return 0; }
}

/// <summary>A small option parser: positional arguments and --name value pairs (repeatable).</summary>
public sealed class CliArgs
{
    public List<string> Positional { get; } = [];
    private readonly Dictionary<string, List<string>> _options = new(StringComparer.Ordinal);

    public CliArgs(string[] args, params string[] flags)
    {
        for (int i = 0; i < args.Length; i++)
        {
            var a = args[i];
            if (!a.StartsWith("--")) { Positional.Add(a); continue; }
            string key = a[2..], value;
            int eq = key.IndexOf('=');
            if (eq >= 0 && !key.StartsWith("input")) { value = key[(eq + 1)..]; key = key[..eq]; }
            else if (flags.Contains(key)) value = "true";
            else
            {
                if (i + 1 >= args.Length) throw new CliUsageException($"option --{key} needs a value");
                value = args[++i];
            }
            if (!_options.TryGetValue(key, out var list)) _options[key] = list = [];
            list.Add(value);
        }
    }

    public string? Get(string key) => _options.TryGetValue(key, out var l) ? l[^1] : null;
    public IReadOnlyList<string> GetAll(string key) => _options.TryGetValue(key, out var l) ? l : [];
    public bool Has(string key) => _options.ContainsKey(key);

    public int GetInt(string key, int def)
    {
        var v = Get(key);
        if (v is null) return def;
        return int.TryParse(v, NumberStyles.Integer, CultureInfo.InvariantCulture, out int r) && r >= 0
            ? r : throw new CliUsageException($"--{key} expects a non-negative integer, got '{v}'");
    }

    public double GetDouble(string key, double def)
    {
        var v = Get(key);
        if (v is null) return def;
        return double.TryParse(v, NumberStyles.Float, CultureInfo.InvariantCulture, out double r) && r >= 0
            ? r : throw new CliUsageException($"--{key} expects a non-negative number, got '{v}'");
    }

    /// <summary>
    /// The one MODEL positional and the output file of a verb that writes a model: "-o OUT" (single dash, so two
    /// positionals here), "--o OUT" or "--output OUT".
    /// </summary>
    public (string Model, string Output) ModelAndOutput(string verb)
    {
        string? output = Get("output") ?? Get("o");
        var positional = Positional.ToList();
        int dash = positional.IndexOf("-o");
        if (dash >= 0)
        {
            if (dash + 1 >= positional.Count) throw new CliUsageException("-o needs a file");
            output = positional[dash + 1];
            positional.RemoveRange(dash, 2);
        }
        if (positional.Count != 1) throw new CliUsageException($"{verb} needs exactly one MODEL");
        if (output is null) throw new CliUsageException($"{verb} needs -o OUT.onnx");
        return (positional[0], output);
    }

    public void RejectUnknown(params string[] known)
    {
        foreach (var k in _options.Keys)
            if (!known.Contains(k)) throw new CliUsageException($"unknown option --{k}");
    }

    public static OptimizationLevel ParseLevel(string? s) => s?.ToLowerInvariant() switch
    {
        null or "all" => OptimizationLevel.All,
        "none" => OptimizationLevel.None,
        "basic" => OptimizationLevel.Basic,
        "extended" => OptimizationLevel.Extended,
        _ => throw new CliUsageException($"unknown optimisation level '{s}' (none, basic, extended, all)"),
    };
}
