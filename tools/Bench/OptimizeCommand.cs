using System.Globalization;
using NetOnnx.OnnxImport;
using NetOnnx.Optimizer;
using NetOnnx.Runtime;

namespace NetOnnx.Tools;

/// <summary>optimize: runs the pass pipeline on a model, writes the result as ONNX and prints what each pass did.</summary>
public static class OptimizeCommand
{
    public static int Run(string[] args, TextWriter o)
    {
        var a = new CliArgs(args, "portable");
        a.RejectUnknown("o", "output", "level", "disable", "print-ir-after", "portable");
        var (modelPath, output) = a.ModelAndOutput("optimize");
        var level = CliArgs.ParseLevel(a.Get("level"));
        var disabled = (a.Get("disable") ?? "").Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .ToHashSet(StringComparer.Ordinal);
        var printAfter = a.Get("print-ir-after");

        var model = OnnxModelLoader.Load(modelPath);
        var pm = PassManager.CreateDefault();
        var known = pm.Passes.Select(p => p.Name).ToHashSet(StringComparer.Ordinal);
        foreach (var d in disabled)
            if (!known.Contains(d)) throw new CliUsageException($"unknown pass '{d}' (passes: {string.Join(", ", known)})");
        // Portable output: only standard-domain rewrites, so ONNX Runtime and other runtimes load the result.
        if (a.Has("portable"))
            foreach (var p in pm.Passes) if (p.EmitsInternalOps) disabled.Add(p.Name);
        if (printAfter is not null && printAfter != "all" && !known.Contains(printAfter))
            throw new CliUsageException($"unknown pass '{printAfter}' for --print-ir-after (passes: {string.Join(", ", known)}, all)");
        if (printAfter is not null)
            pm.AfterPass = (pass, m, r) =>
            {
                if (printAfter != "all" && printAfter != pass.Name) return;
                o.WriteLine($"--- IR after {pass.Name} ({(r.Changed ? "changed" : "unchanged")}) ---");
                o.Write(IrPrinter.Print(m));
            };

        int before = model.Graph.Nodes.Count, initBefore = model.Graph.Initializers.Count, allBefore = CountAll(model.Graph);
        var reports = pm.Run(model, level, disabled);
        // Fused com.netonnx nodes get standard-op function bodies, so other runtimes load the file too.
        int functions = InternalOpFunctions.Attach(model);
        OnnxModelWriter.Save(model, output);

        o.WriteLine($"{"pass",-32} {"runs",5} {"removed",8} {"added",6} {"inits-",7} {"ms",9}");
        foreach (var grp in reports.GroupBy(r => r.Pass))
            o.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"{grp.Key,-32} {grp.Count(),5} {grp.Sum(r => r.Result.NodesRemoved),8} {grp.Sum(r => r.Result.NodesAdded),6} {grp.Sum(r => r.Result.InitializersRemoved),7} {grp.Sum(r => r.Milliseconds),9:F2}"));
        int allAfter = CountAll(model.Graph);
        string nested = allBefore != before || allAfter != model.Graph.Nodes.Count ? $" (with subgraphs {allBefore} -> {allAfter})" : "";
        o.WriteLine($"nodes {before} -> {model.Graph.Nodes.Count}{nested}, initializers {initBefore} -> {model.Graph.Initializers.Count}, level {level.ToString().ToLowerInvariant()}");
        if (functions > 0) o.WriteLine($"{functions} model-local functions give the {FusedOps.Domain} nodes standard-op bodies");
        o.WriteLine($"wrote {output}");
        return 0;
    }

    /// <summary>Nodes of a graph and of every If/Loop/Scan body in it.</summary>
    private static int CountAll(Graph g) => g.Nodes.Sum(n => 1 + g.Subgraphs(n).Sum(CountAll));
}
