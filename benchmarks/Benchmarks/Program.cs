using BenchmarkDotNet.Running;

namespace NetOnnx.Benchmarks;

/// <summary>
/// `compare [MODEL...] [--threads 1,2] [--rounds N] [--warmup N] [--warmup-ms MS] [--level none|basic|extended|all] [--format table|json]`: quick alternating side-by-side
/// against ONNX Runtime. `gemm [--sizes ..] [--threads N]`, `conv [--threads N]`, `peak`: kernel GFLOP/s loops. Anything else goes to BenchmarkDotNet (e.g. `--filter *SessionBenchmarks*`).
/// </summary>
public static class Program
{
    public static int Main(string[] args)
    {
        if (args.Length > 0 && args[0] == "compare") return Comparison.Run(args[1..]);
        if (args.Length > 0 && args[0] == "gemm") return KernelLoop.Gemm(args[1..]);
        if (args.Length > 0 && args[0] == "peak") return KernelLoop.Peak();
        if (args.Length > 0 && args[0] == "conv") return KernelLoop.Conv(args[1..]);
        BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
        return 0;
    }
}
