using NetOnnx.Kernels.ConvPool;
using NetOnnx.Kernels.Elementwise;
using NetOnnx.Kernels.Gemm;
using NetOnnx.Kernels.Sparse;

namespace NetOnnx.Benchmarks;

/// <summary>
/// `sparse-conv [--threads N] [--seconds S] [--act relu|clip|NAME] [--only NAME-PART]`: the zoo CNN conv layers (group 1) with weights pruned at random to
/// several densities, dense implicit GEMM vs the sparse kernel (ReLU or the given activation fused), best of many runs alternating, and
/// what SparseConv.Pays picks. The measured crossover is what Pays encodes.
/// </summary>
public static class SparseConvLoop
{
    private static readonly KernelLoop.ConvLayer[] Extra =
    [
        new("resnet18 layer2 3x3", 128, 28, 128, 3, 1, 1),
        new("resnet18 layer2 3x3/2", 64, 56, 128, 3, 2, 1),
        new("mbv2 project 1x1 144->24", 144, 56, 24, 1, 1, 0),
        new("mbv2 expand 1x1 64->384", 64, 14, 384, 1, 1, 0),
        new("mbv2 last 1x1 320->1280", 320, 7, 1280, 1, 1, 0),
    ];

    public static int Run(string[] args)
    {
        var act = new FusedActivation(ActivationKind.Relu);
        string only = "";
        var o = LoopArgs.Parse(args, 0.3, (name, value) =>
        {
            if (name == "--act") act = value == "clip" ? new FusedActivation(ActivationKind.Clip, 0f, 6f) : FusedActivation.Parse(value, null);
            else if (name == "--only") only = value;
            else return false;
            return true;
        });
        if (o is null) return 1;
        int threads = o.Threads;
        double seconds = o.Seconds;
        Console.WriteLine($"threads {threads}; ratio = dense ms / sparse ms (above 1: sparse is faster)");
        Console.WriteLine("| layer | density | dense ms | sparse ms | ratio | Pays |");
        Console.WriteLine("|---|---:|---:|---:|---:|---|");
        var relu = act;
        foreach (var l in KernelLoop.Layers.Concat(Extra).Where(l => l.Group == 1 && l.Name.Contains(only, StringComparison.Ordinal)))
        {
            var g = ConvGeometry.Create([l.H, l.H], [l.K, l.K], [l.S, l.S], null, [l.P, l.P, l.P, l.P], "NOTSET", false);
            int kg = l.C * g.KernelSize, outSize = g.OutSize;
            var rng = new Random(5);
            var x = new float[l.C * g.InSize]; var bias = new float[l.M]; var y = new float[l.M * outSize];
            for (int i = 0; i < x.Length; i++) x[i] = (float)rng.NextDouble() - 0.5f;
            foreach (double density in new[] { 0.05, 0.1, 0.2, 0.3, 0.4 })
            {
                var w = new float[l.M * kg];
                for (int i = 0; i < w.Length; i++) w[i] = rng.NextDouble() < density ? (float)rng.NextDouble() - 0.5f : 0f;
                var packed = Sgemm.Pack(false, l.M, kg, w, kg);
                var sparse = SparseConvWeights.FromDense(w, l.M, kg);
                var src = new PatchSource(x, 0, g);
                Action dense = SparseConv.IsDirect(g)
                    ? () => Sgemm.Multiply(packed, false, outSize, 1f, x, outSize, 0f, y, outSize, bias, default, 0, relu, threads)
                    : () => Sgemm.Multiply(packed, src, outSize, y, outSize, bias, default, 0, relu, threads);
                Action sp = () => SparseConv.Run(x, 0, g, sparse, bias, null, y, 0, relu, threads);
                double td = double.MaxValue, ts = double.MaxValue;
                for (int r = 0; r < 3; r++)
                {
                    td = Math.Min(td, KernelLoop.Best(dense, seconds / 3));
                    ts = Math.Min(ts, KernelLoop.Best(sp, seconds / 3));
                }
                Console.WriteLine($"| {l.Name} | {density:F2} | {td * 1e3:F3} | {ts * 1e3:F3} | {td / ts:F2} | {(SparseConv.Pays(sparse, g) ? "sparse" : "dense")} |");
            }
        }
        return 0;
    }
}
