using System.Diagnostics;
using NetOnnx.Runtime;

namespace NetOnnx.Optimizer;

/// <summary>
/// Runs the passes of the chosen level in order, repeating the whole list until nothing changes (bounded),
/// skipping passes disabled by name.
/// </summary>
public sealed class PassManager
{
    private readonly List<IGraphPass> _passes = [];

    public IReadOnlyList<IGraphPass> Passes => _passes;

    public PassManager Add(IGraphPass pass) { _passes.Add(pass); return this; }

    /// <summary>Called after each pass that ran (e.g. to print the IR); null for none.</summary>
    public Action<IGraphPass, Model, PassResult>? AfterPass { get; set; }

    /// <summary>
    /// The built-in pipeline. Shape folding first so constant folding can collapse shape arithmetic; the
    /// clean-up passes then expose duplicates for CSE, and dead-code elimination sweeps what they orphaned.
    /// </summary>
    public static PassManager CreateDefault() => new PassManager()
        // Before constant folding, which would dequantize the island's weights back to float.
        .Add(new Passes.Quantization.QdqConvFusion())
        .Add(new Passes.Quantization.QdqIntegerFusion())
        .Add(new Passes.ShapeFolding())
        .Add(new Passes.ConstantFolding())
        .Add(new Passes.IdentityElimination())
        .Add(new Passes.TransposeCancellation())
        .Add(new Passes.CommonSubexpressionElimination())
        .Add(new Passes.DeadCodeElimination())
        .Add(new Passes.ConvBatchNormFolding())
        .Add(new Passes.ConvMulFolding())
        .Add(new Passes.ConvAddFolding())
        // Before MatMulAddToGemm, so pruned 2-D MatMul+bias pairs still find the sparse kernel.
        .Add(new Passes.Pruning.SparseMatMulSelection())
        .Add(new Passes.MatMulAddToGemm())
        .Add(new Passes.HardSwishFusion())
        .Add(new Passes.ConvActivationFusion())
        .Add(new Passes.GemmActivationFusion())
        .Add(new Passes.Quantization.DynamicQuantizeMatMulFusion())
        // Transformer fusions (internal-domain ops); LayerNorm before SkipLayerNorm, which extends it.
        .Add(new Passes.GeluFusion())
        .Add(new Passes.LayerNormFusion())
        .Add(new Passes.RmsNormFusion())
        .Add(new Passes.SkipLayerNormFusion())
        .Add(new Passes.AttentionFusion())
        // After attention fusion, so its patterns see the projections' MatMul and Add as written.
        .Add(new Passes.MatMulBiasFusion())
        // After attention fusion, which reads the graph's MatMul(Q, K^T) as written.
        .Add(new Passes.TransposeMatMulFolding());

    public List<PassReport> Run(Model model, OptimizationLevel level, ISet<string>? disabled = null, int maxRounds = 4)
    {
        var reports = new List<PassReport>();
        if (level == OptimizationLevel.None) return reports;
        for (int round = 0; round < maxRounds; round++)
        {
            bool changed = false;
            foreach (var p in _passes)
            {
                if (p.Level > level || (disabled?.Contains(p.Name) ?? false)) continue;
                var sw = Stopwatch.StartNew();
                var r = RunEverywhere(p, model);
                reports.Add(new PassReport(p.Name, r, sw.Elapsed.TotalMilliseconds));
                changed |= r.Changed;
                AfterPass?.Invoke(p, model, r);
            }
            if (!changed) break;
        }
        return reports;
    }

    /// <summary>
    /// Runs a pass on the main graph, then on every If/Loop/Scan body (outer before inner), each seen as a model
    /// of its own that shares the opset imports. A body's reads of outer values have no producer or constant
    /// there, so passes treat them as opaque inputs; their types are lent to the body while the pass runs, so
    /// type-checking fusions can fire. Results add up.
    /// </summary>
    private static PassResult RunEverywhere(IGraphPass pass, Model model)
    {
        var total = pass.Run(model);
        RunInBodies(pass, model, model.Graph, _ => null, ref total);
        return total;
    }

    private static void RunInBodies(IGraphPass pass, Model model, Graph g, Func<string, OnnxType?> outer, ref PassResult total)
    {
        OnnxType? Scope(string name) => g.TypeOf(name) ?? outer(name);
        foreach (var n in g.Nodes.ToList())
            foreach (var body in g.Subgraphs(n).ToList())
            {
                var lent = new List<string>();
                foreach (var r in body.OuterScopeReads())
                    if (body.TypeOf(r) is null && Scope(r) is { } t) { body.ValueTypes[r] = t; lent.Add(r); }
                var view = new Model { Graph = body, IrVersion = model.IrVersion, BaseDirectory = model.BaseDirectory };
                foreach (var kv in model.Opsets) view.Opsets[kv.Key] = kv.Value;
                PassResult r2;
                try { r2 = pass.Run(view); }
                finally { foreach (var name in lent) body.ValueTypes.Remove(name); }
                foreach (var kv in view.Opsets) model.Opsets.TryAdd(kv.Key, kv.Value); // e.g. a fusion importing com.netonnx
                if (r2.Changed)
                    total = new PassResult(total.NodesRemoved + r2.NodesRemoved, total.NodesAdded + r2.NodesAdded,
                        total.InitializersRemoved + r2.InitializersRemoved, Join(total.Detail, r2.Detail is null ? null : "in a subgraph: " + r2.Detail));
                RunInBodies(pass, model, body, Scope, ref total);
            }
    }

    private static string? Join(string? a, string? b) => a is null ? b : b is null ? a : a + "; " + b;
}
