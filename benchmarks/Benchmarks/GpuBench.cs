using System.Diagnostics;
using System.Globalization;
using NetOnnx.Gpu;
using NetOnnx.Runtime;

namespace NetOnnx.Benchmarks;

/// <summary>
/// GPU provider benchmarks, for a machine with a GPU (on the ILGPU CPU simulator they only show that the code
/// runs; its timings say nothing about a GPU):
///   gpu gemm [--device cuda|cuda-cublas|opencl|ilgpu-cpu] [--sizes 256,512,...] [--rounds N] [--format table|json]
///   gpu zoo  [--device D] [--rounds N] [--warmup N] [MODEL...] [--format table|json]
/// gemm times square row-major SGEMMs on device buffers (no host copies) and prints GFLOP/s; zoo times whole
/// sessions (host inputs in, host outputs out) on the device and on the CPU kernels, alternating.
/// </summary>
public static class GpuBench
{
    public static int Run(string[] args)
    {
        if (args.Length == 0) { Console.Error.WriteLine("usage: gpu gemm|zoo [options]"); return 2; }
        var opts = new Dictionary<string, string>(StringComparer.Ordinal);
        var positional = new List<string>();
        for (int i = 1; i < args.Length; i++)
        {
            if (args[i].StartsWith("--", StringComparison.Ordinal) && i + 1 < args.Length) opts[args[i][2..]] = args[++i];
            else positional.Add(args[i]);
        }
        string device = opts.GetValueOrDefault("device", "auto");
        int rounds = int.Parse(opts.GetValueOrDefault("rounds", "20"), CultureInfo.InvariantCulture);
        bool json = opts.GetValueOrDefault("format", "table") == "json";
        try
        {
            return args[0] switch
            {
                "gemm" => Gemm(device, opts.GetValueOrDefault("sizes", "256,512,1024,2048,4096"), rounds, json),
                "zoo" => Zoo(device, positional, rounds, int.Parse(opts.GetValueOrDefault("warmup", "3"), CultureInfo.InvariantCulture), json),
                _ => throw new ArgumentException($"unknown gpu benchmark '{args[0]}' (gemm, zoo)"),
            };
        }
        catch (OnnxException e)
        {
            Console.Error.WriteLine($"error: {e.Message}");
            return 1;
        }
    }

    private static GpuDevice Open(string device)
    {
        var dev = GpuDevices.Open(device) ?? throw new DeviceException($"device '{device}': no GPU found (auto falls back to the CPU, which this benchmark does not time)");
        if (dev.Backend == GpuBackend.CpuSimulator)
            Console.Error.WriteLine("note: ILGPU's CPU simulator, not a GPU: these timings only show that the code runs");
        return dev;
    }

    private static int Gemm(string device, string sizes, int rounds, bool json)
    {
        var dev = Open(device);
        var rows = new List<Dictionary<string, object>>();
        if (!json) Console.WriteLine($"device: {dev.Name}\n{"size",8} {"ms",10} {"GFLOP/s",10} {"max err",10}");
        foreach (var s in sizes.Split(',', StringSplitOptions.RemoveEmptyEntries))
        {
            int n = int.Parse(s, CultureInfo.InvariantCulture);
            var (ms, err) = GpuMicrobenchmarks.Sgemm(dev, n, n, n, rounds, repeat: n <= 512 ? 20 : 3);
            double gflops = 2.0 * n * n * n / (ms * 1e6);
            rows.Add(new() { ["device"] = dev.Name, ["m"] = n, ["n"] = n, ["k"] = n, ["ms"] = ms, ["gflops"] = gflops, ["max_abs_err_row"] = err });
            if (!json) Console.WriteLine($"{n,8} {ms,10:F3} {gflops,10:F1} {err,10:E1}");
        }
        if (json) Console.WriteLine(System.Text.Json.JsonSerializer.Serialize(rows));
        return 0;
    }

    private static int Zoo(string device, List<string> models, int rounds, int warmup, bool json)
    {
        var dev = Open(device);
        var names = models.Count > 0 ? models : ZooModels.Names().ToList();
        var rows = new List<Dictionary<string, object>>();
        if (!json) Console.WriteLine($"device: {dev.Name}\n{"model",-22} {"device p50 ms",14} {"cpu p50 ms",12} {"device nodes",13} {"cpu steps",10}");
        foreach (var name in names)
        {
            var path = ZooModels.ModelPath(name);
            using var gpu = new InferenceSession(path, new SessionOptions { ExecutionProvider = new GpuExecutionProvider(dev), IntraOpThreads = 1 });
            using var cpu = new InferenceSession(path, new SessionOptions { IntraOpThreads = 1 });
            var inputs = ZooModels.Inputs(path, gpu.Model.Graph);
            for (int i = 0; i < warmup; i++) { gpu.Run(inputs); cpu.Run(inputs); }
            var tg = new double[rounds];
            var tc = new double[rounds];
            for (int r = 0; r < rounds; r++)
            {
                tg[r] = Time(() => gpu.Run(inputs));
                tc[r] = Time(() => cpu.Run(inputs));
            }
            Array.Sort(tg);
            Array.Sort(tc);
            var steps = gpu.Core.Plan.Steps;
            int onDevice = steps.Where(s => s.Kernel is not null && s.KernelName == dev.Name)
                .Sum(s => int.Parse(s.Node.Name.Split('(')[1].Split(' ')[0], CultureInfo.InvariantCulture));
            int cpuSteps = steps.Count(s => s.KernelName != dev.Name);
            rows.Add(new() { ["device"] = dev.Name, ["model"] = Path.GetFileName(Path.GetDirectoryName(path)!), ["device_p50_ms"] = tg[rounds / 2],
                ["cpu_1thread_p50_ms"] = tc[rounds / 2], ["device_nodes"] = onDevice, ["cpu_steps"] = cpuSteps });
            if (!json) Console.WriteLine($"{rows[^1]["model"],-22} {tg[rounds / 2],14:F2} {tc[rounds / 2],12:F2} {onDevice,13} {cpuSteps,10}");
        }
        if (json) Console.WriteLine(System.Text.Json.JsonSerializer.Serialize(rows));
        return 0;
    }

    private static double Time(Action f)
    {
        var sw = Stopwatch.StartNew();
        f();
        return sw.Elapsed.TotalMilliseconds;
    }
}
