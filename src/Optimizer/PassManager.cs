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
        .Add(new Passes.SkipLayerNormFusion())
        .Add(new Passes.AttentionFusion());

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
                var r = p.Run(model);
                reports.Add(new PassReport(p.Name, r, sw.Elapsed.TotalMilliseconds));
                changed |= r.Changed;
                AfterPass?.Invoke(p, model, r);
            }
            if (!changed) break;
        }
        return reports;
    }
}
