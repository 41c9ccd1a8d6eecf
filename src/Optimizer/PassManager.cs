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

    /// <summary>The built-in pipeline.</summary>
    public static PassManager CreateDefault() => new PassManager()
        .Add(new Passes.ConstantFolding())
        .Add(new Passes.DeadCodeElimination())
        .Add(new Passes.ConvBatchNormFolding())
        .Add(new Passes.ConvMulFolding())
        .Add(new Passes.ConvAddFolding())
        .Add(new Passes.MatMulAddToGemm())
        .Add(new Passes.HardSwishFusion())
        .Add(new Passes.ConvActivationFusion())
        .Add(new Passes.GemmActivationFusion());

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
            }
            if (!changed) break;
        }
        return reports;
    }
}
