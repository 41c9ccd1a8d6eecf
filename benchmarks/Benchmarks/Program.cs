using BenchmarkDotNet.Running;

namespace NetOnnx.Benchmarks;

/// <summary>
/// `compare [MODEL...] [--threads 1,2] [--rounds N] [--warmup N] [--warmup-ms MS] [--level none|basic|extended|all] [--format table|json]
/// [--markdown FILE] [--no-memory] [--ort-spinning on|off] [--block N] [--settle-ms MS]`: quick alternating side-by-side against ONNX Runtime, with peak memory
/// measured per engine in child processes (`memory-probe`). `levels [MODEL...] [--threads N] [--rounds N]`: the optimizer's table
/// (nodes, fusions, latency at level none vs all). `gpu gemm|zoo ...`: GPU provider timings (see GpuBench).
/// `compare-pair FLOAT OTHER`: two files of one model (e.g. FP32 and INT8) timed in both engines.
/// `gemm [--sizes ..] [--threads N]`, `conv [--threads N]`, `sparse-conv [--threads N]`, `qmatmul [--threads N]`, `peak`: kernel GFLOP/s loops; `ort-profile MODEL [--threads N]`: ORT's per-node profile by op type; `winograd`: models with Winograd off vs on. Anything else goes to BenchmarkDotNet (e.g. `--filter *SessionBenchmarks*`).
/// </summary>
public static class Program
{
    public static int Main(string[] args)
    {
        if (args.Length > 0 && args[0] == "compare") return Comparison.Run(args[1..]);
        if (args.Length > 0 && args[0] == "levels") return LevelComparison.Run(args[1..]);
        if (args.Length > 0 && args[0] == "memory-probe") return MemoryProbe.RunChild(args[1..]);
        if (args.Length > 0 && args[0] == "gpu") return GpuBench.Run(args[1..]);
        if (args.Length > 0 && args[0] == "compare-pair") return QuantizedComparison.Run(args[1..]);
        if (args.Length > 0 && args[0] == "gemm") return KernelLoop.Gemm(args[1..]);
        if (args.Length > 0 && args[0] == "peak") return KernelLoop.Peak();
        if (args.Length > 0 && args[0] == "conv") return KernelLoop.Conv(args[1..]);
        if (args.Length > 0 && args[0] == "winograd") return WinogradComparison.Run(args[1..]);
        if (args.Length > 0 && args[0] == "winograd-split") return WinogradSplitLoop.Run(args[1..]);
        if (args.Length > 0 && args[0] == "sparse-conv") return SparseConvLoop.Run(args[1..]);
        if (args.Length > 0 && args[0] == "ort-profile") return OrtProfile.Run(args[1..]);
        if (args.Length > 0 && args[0] == "qmatmul") return QuantMatMulLoop.Run(args[1..]);
        BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
        return 0;
    }
}
