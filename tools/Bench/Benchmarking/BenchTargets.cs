namespace NetOnnx.Tools;

/// <summary>A model to benchmark: a file, the built-in model (Path null), or a listed model whose file is missing.</summary>
public sealed record BenchTarget(string Name, string? Path);

/// <summary>Turns the command line's MODEL arguments into models: a file, a folder of models, or a zoo folder.</summary>
public static class BenchTargets
{
    public const string Manifest = "MANIFEST.tsv";

    /// <summary>
    /// A .onnx file is one model (named as given). A folder with MANIFEST.tsv (the zoo layout) yields NAME/model.onnx
    /// for every name in its first column, present or not, so a missing model becomes an error row. A folder with
    /// model.onnx is one model; any other folder yields its *.onnx files and its subfolders holding model.onnx.
    /// </summary>
    public static List<BenchTarget> Resolve(IReadOnlyList<string> args)
    {
        if (args.Count == 0) return [new BenchTarget("builtin:" + DefaultModel.Name, null)];
        var list = new List<BenchTarget>();
        foreach (var a in args)
        {
            if (File.Exists(a)) { list.Add(new BenchTarget(a, a)); continue; }
            if (!Directory.Exists(a)) { list.Add(new BenchTarget(a, a)); continue; } // loading reports it missing, in its row
            var manifest = System.IO.Path.Combine(a, Manifest);
            if (File.Exists(manifest))
            {
                foreach (var name in ManifestNames(manifest))
                    list.Add(new BenchTarget(name, System.IO.Path.Combine(a, name, "model.onnx")));
                continue;
            }
            var single = System.IO.Path.Combine(a, "model.onnx");
            if (File.Exists(single)) { list.Add(new BenchTarget(System.IO.Path.GetFileName(System.IO.Path.TrimEndingDirectorySeparator(a)), single)); continue; }
            var found = Directory.GetFiles(a, "*.onnx").Select(f => new BenchTarget(System.IO.Path.GetFileNameWithoutExtension(f), f))
                .Concat(Directory.GetDirectories(a).Where(d => File.Exists(System.IO.Path.Combine(d, "model.onnx")))
                    .Select(d => new BenchTarget(System.IO.Path.GetFileName(d), System.IO.Path.Combine(d, "model.onnx"))))
                .OrderBy(t => t.Name, StringComparer.Ordinal).ToList();
            if (found.Count == 0) throw new CliUsageException($"folder '{a}' holds no .onnx models (nor a {Manifest})");
            list.AddRange(found);
        }
        return list;
    }

    /// <summary>Model names from a tab-separated manifest: first column, after a header line starting with "name".</summary>
    public static List<string> ManifestNames(string path)
    {
        var names = new List<string>();
        foreach (var line in File.ReadLines(path))
        {
            if (line.Length == 0 || line.StartsWith('#')) continue;
            var name = line.Split('\t')[0].Trim();
            if (name.Length == 0 || name == "name") continue;
            names.Add(name);
        }
        return names;
    }
}
