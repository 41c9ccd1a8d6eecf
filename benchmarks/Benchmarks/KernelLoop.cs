using System.Diagnostics;
using System.Runtime.InteropServices;
using NetOnnx.Kernels.Gemm;

namespace NetOnnx.Benchmarks;

/// <summary>
/// `gemm [--sizes 256,512,...] [--shapes MxKxN,...] [--threads N] [--seconds S]`: a tight Stopwatch loop over SGEMM that reports the
/// best of many runs in GFLOP/s (best-of tolerates other processes stealing the core better than a mean does),
/// and the share of the measured single-core peak (170 GFLOP/s, 512-bit FMA, see issue 4).
/// </summary>
public static class KernelLoop
{
    private const double PeakGflops = 170;

    public static int Gemm(string[] args)
    {
        int[] sizes = [256, 512, 1024, 2048];
        (int M, int K, int N)[]? shapes = null;
        var o = LoopArgs.Parse(args, 2, (name, value) =>
        {
            if (name == "--sizes") sizes = value.Split(',').Select(int.Parse).ToArray();
            else if (name == "--shapes") shapes = ParseShapes(value);
            else return false;
            return true;
        });
        if (o is null) return 1;
        int threads = o.Threads;
        double seconds = o.Seconds;
        Console.WriteLine($"isa {Sgemm.IsaName}, tile {Sgemm.MR}x{Sgemm.NR}, threads {threads}");
        // The host's FMA peak now (other jobs and clocks move it), so % of peak compares like with like.
        double peakNow = System.Runtime.Intrinsics.X86.Avx512F.IsSupported ? MeasuredPeak() : double.NaN;
        Console.WriteLine($"512-bit FMA loop now: {peakNow:F1} GFLOP/s per thread (idle-host figure in issue 4: {PeakGflops})");
        if (shapes is not null) return PackedBShapes(shapes, threads, seconds, peakNow);
        Console.WriteLine("| size | packed A GFLOP/s | % of 170 | % of loop now | by CPU time | unpacked GFLOP/s | % of 170 | by CPU time |");
        Console.WriteLine("|---|---|---|---|---|---|---|---|");
        foreach (int n in sizes)
        {
            var rng = new Random(1);
            var a = new float[n * n]; var b = new float[n * n]; var c = new float[n * n];
            for (int i = 0; i < a.Length; i++) { a[i] = (float)rng.NextDouble() - 0.5f; b[i] = (float)rng.NextDouble() - 0.5f; }
            var packed = Sgemm.Pack(false, n, n, a, n);
            double flops = 2.0 * n * n * n;
            var p = BestOf(() => Sgemm.Multiply(packed, false, n, 1f, b, n, 0f, c, n, threads), seconds);
            var u = BestOf(() => Sgemm.Multiply(false, false, n, n, n, 1f, a, n, b, n, 0f, c, n, threads), seconds);
            double gp = flops / p.Wall / 1e9, gu = flops / u.Wall / 1e9, cp = flops / p.Cpu / 1e9, cu = flops / u.Cpu / 1e9;
            Console.WriteLine($"| {n} | {gp:F1} | {100 * gp / PeakGflops:F0}% | {100 * gp / threads / peakNow:F0}% | {cp:F1} | {gu:F1} | {100 * gu / PeakGflops:F0}% | {cu:F1} |");
        }
        return 0;
    }

    /// <summary>"MxKxN,..." (e.g. 128x256x1024) into shapes.</summary>
    private static (int M, int K, int N)[] ParseShapes(string s) =>
        s.Split(',').Select(t => t.Split('x').Select(int.Parse).ToArray()).Select(d => d.Length == 3 ? (d[0], d[1], d[2])
            : throw new ArgumentException($"shape '{string.Join('x', d)}' is not MxKxN")).ToArray();

    /// <summary>
    /// A [M,K] x [K,N] product against B packed once with a column bias, as MatMul/MatMulBias run it for constant
    /// weights (transformer projections), and the same product with B unpacked for comparison.
    /// </summary>
    private static int PackedBShapes((int M, int K, int N)[] shapes, int threads, double seconds, double peakNow)
    {
        Console.WriteLine("| M x K x N | packed B + bias GFLOP/s | % of loop now | by CPU time | B from L3 (rotating copies) GFLOP/s | unpacked GFLOP/s |");
        Console.WriteLine("|---|---|---|---|---|---|");
        foreach (var (m, k, n) in shapes)
        {
            var rng = new Random(1);
            var a = new float[m * k]; var b = new float[k * n]; var bias = new float[n]; var c = new float[m * n];
            for (int i = 0; i < a.Length; i++) a[i] = (float)rng.NextDouble() - 0.5f;
            for (int i = 0; i < b.Length; i++) b[i] = (float)rng.NextDouble() - 0.5f;
            for (int i = 0; i < n; i++) bias[i] = (float)rng.NextDouble() - 0.5f;
            var packed = Sgemm.PackB(false, k, n, b, n);
            double flops = 2.0 * m * n * k;
            var p = BestOf(() => Sgemm.Multiply(m, a, k, packed, c, n, bias, default, threads), seconds);
            // In a model each weight is read once per run, after ~20 MB of other weights: rotate through copies
            // that overflow L2, so B comes from L3 as it does there.
            var copies = new PackedB[Math.Max(2, (24 << 20) / (4 * k * n))];
            for (int i = 0; i < copies.Length; i++) copies[i] = Sgemm.PackB(false, k, n, b, n);
            int next = 0;
            var r = BestOf(() => Sgemm.Multiply(m, a, k, copies[next++ % copies.Length], c, n, bias, default, threads), seconds);
            var u = BestOf(() => Sgemm.Multiply(false, false, m, n, k, 1f, a, k, b, n, 0f, c, n, threads), seconds);
            double gp = flops / p.Wall / 1e9, cp = flops / p.Cpu / 1e9, gr = flops / r.Wall / 1e9, gu = flops / u.Wall / 1e9;
            Console.WriteLine($"| {m}x{k}x{n} | {gp:F1} | {100 * gp / threads / peakNow:F0}% | {cp:F1} | {gr:F1} | {gu:F1} |");
        }
        return 0;
    }

    /// <summary>A convolution layer of a zoo CNN: input channels, size, output channels, kernel, stride, pad, group.</summary>
    internal sealed record ConvLayer(string Name, int C, int H, int M, int K, int S, int P, int Group = 1);

    internal static readonly ConvLayer[] Layers =
    [
        new("resnet18 conv1 7x7/2", 3, 224, 64, 7, 2, 3),
        new("resnet18 layer1 3x3", 64, 56, 64, 3, 1, 1),
        new("resnet18 layer2 3x3", 128, 28, 128, 3, 1, 1),
        new("resnet18 layer3 3x3", 256, 14, 256, 3, 1, 1),
        new("resnet18 layer4 3x3", 512, 7, 512, 3, 1, 1),
        new("resnet18 down 1x1/2", 128, 56, 256, 1, 2, 0),
        new("mbv2 expand 1x1", 16, 112, 96, 1, 1, 0),
        new("mbv2 dw 3x3/2", 96, 112, 96, 3, 2, 1, 96),
        new("mbv2 dw 3x3", 144, 56, 144, 3, 1, 1, 144),
        new("mbv2 dw 3x3 32x112", 32, 112, 32, 3, 1, 1, 32),
        new("mbv2 dw 3x3/2 144x56", 144, 56, 144, 3, 2, 1, 144),
        new("mbv2 dw 3x3 192x28", 192, 28, 192, 3, 1, 1, 192),
        new("mbv2 dw 3x3 576x14", 576, 14, 576, 3, 1, 1, 576),
        new("mbv2 dw 3x3 960x7", 960, 7, 960, 3, 1, 1, 960),
        new("mbv3 dw 5x5 576x7", 576, 7, 576, 5, 1, 2, 576),
        new("mbv3 dw 5x5/2 288x14", 288, 14, 288, 5, 2, 2, 288),
        new("mbv3 dw 3x3/2 16x112", 16, 112, 16, 3, 2, 1, 16),
        new("mbv2 expand 1x1 160->960 7x7", 160, 7, 960, 1, 1, 0),
        new("mbv2 project 1x1 960->320 7x7", 960, 7, 320, 1, 1, 0),
        new("mbv2 head 1x1 320->1280 7x7", 320, 7, 1280, 1, 1, 0),
        new("mbv2 expand 1x1 96->576 14x14", 96, 14, 576, 1, 1, 0),
        new("mbv2 expand 1x1 24->144 56x56", 24, 56, 144, 1, 1, 0),
        new("mbv2 expand 1x1 32->192 28x28", 32, 28, 192, 1, 1, 0),
        new("mbv3 expand 1x1 16->72 56x56", 16, 56, 72, 1, 1, 0),
        new("mbv3 expand 1x1 24->88 28x28", 24, 28, 88, 1, 1, 0),
        new("mbv3 expand 1x1 40->240 14x14", 40, 14, 240, 1, 1, 0),
        new("mbv3 expand 1x1 48->288 14x14", 48, 14, 288, 1, 1, 0),
        new("mbv3 expand 1x1 96->576 7x7", 96, 7, 576, 1, 1, 0),
        new("mbv3 project 1x1 16->16 56x56", 16, 56, 16, 1, 1, 0),
        new("squeezenet expand 1x1 16->64 55x55", 16, 55, 64, 1, 1, 0),
        new("squeezenet expand 1x1 32->128 27x27", 32, 27, 128, 1, 1, 0),
        new("squeezenet expand 1x1 64->256 13x13", 64, 13, 256, 1, 1, 0),
        new("mbv3 stem 3x3/2", 3, 224, 16, 3, 2, 1),
        new("squeezenet classifier 1x1", 512, 13, 1000, 1, 1, 0),
        new("ppocr neck 3x3 96->24", 96, 77, 24, 3, 1, 1),
        new("squeezenet fire2 3x3 16->64", 16, 55, 64, 3, 1, 1),
        new("squeezenet fire4 3x3 32->128", 32, 27, 128, 3, 1, 1),
        new("squeezenet fire6 3x3 48->192", 48, 13, 192, 3, 1, 1),
        new("squeezenet fire8 3x3 64->256", 64, 13, 256, 3, 1, 1),
    ];

    /// <summary>
    /// `conv [--threads N] [--seconds S]`: zoo CNN conv layers through the Conv operator's kernels (implicit GEMM,
    /// 1x1 direct GEMM, depthwise), with ReLU fused, best of many runs, GFLOP/s by wall and by thread CPU time.
    /// </summary>
    public static int Conv(string[] args)
    {
        string? only = null;
        if (LoopArgs.Parse(args, 1, (name, value) => name == "--only" && (only = value) is not null) is not { } o) return 1;
        int threads = o.Threads;
        double seconds = o.Seconds;
        Console.WriteLine($"threads {threads}");
        Console.WriteLine("| layer | ms | GFLOP/s | by CPU time |");
        Console.WriteLine("|---|---|---|---|");
        foreach (var l in Layers)
        {
            if (only is not null && !l.Name.Contains(only, StringComparison.OrdinalIgnoreCase)) continue;
            var (body, flops) = BuildConv(l, threads);
            var r = BestOf(body, seconds);
            Console.WriteLine($"| {l.Name} | {r.Wall * 1e3:F3} | {flops / r.Wall / 1e9:F1} | {flops / r.Cpu / 1e9:F1} |");
            // Depthwise layers through the sixteen-channel blocked kernel as well.
            if (l.Group == l.C && l.M == l.C && BuildBlockedDepthwise(l) is { } blocked)
            {
                var rb = BestOf(blocked, seconds);
                string chosen = NetOnnx.Kernels.ConvPool.DepthwiseBlocked.Preferred(Geometry(l), 1) ? " (chosen)" : "";
                Console.WriteLine($"| {l.Name} blocked{chosen} | {rb.Wall * 1e3:F3} | {flops / rb.Wall / 1e9:F1} | {flops / rb.Cpu / 1e9:F1} |");
            }
            // Dense layers the Conv operator sends to the direct (phased) kernel instead of a GEMM: that path too.
            if (l.Group == 1 && BuildPhased(l) is { } phased)
            {
                var rp = BestOf(phased, seconds);
                Console.WriteLine($"| {l.Name} direct (chosen) | {rp.Wall * 1e3:F3} | {flops / rp.Wall / 1e9:F1} | {flops / rp.Cpu / 1e9:F1} |");
            }
            // 3x3 stride-1 layers again through Winograd F(4x4,3x3), in direct-convolution GFLOP/s equivalents.
            foreach (var layout in new[] { NetOnnx.Kernels.ConvPool.WinogradLayout.TilesAsColumns, NetOnnx.Kernels.ConvPool.WinogradLayout.TilesAsRows, NetOnnx.Kernels.ConvPool.WinogradLayout.SmallTilesAsRows })
                if (BuildWinograd(l, threads, layout) is { } wino)
                {
                    var rw = BestOf(wino, seconds);
                    string chosen = NetOnnx.Kernels.ConvPool.Winograd.Choose(l.C, l.M, Geometry(l)) == layout ? " (chosen)" : "";
                    Console.WriteLine($"| {l.Name} winograd {layout}{chosen} | {rw.Wall * 1e3:F3} | {flops / rw.Wall / 1e9:F1} | {flops / rw.Cpu / 1e9:F1} |");
                }
        }
        return 0;
    }

    private static NetOnnx.Kernels.ConvPool.ConvGeometry Geometry(ConvLayer l) =>
        NetOnnx.Kernels.ConvPool.ConvGeometry.Create([l.H, l.H], [l.K, l.K], [l.S, l.S], null, [l.P, l.P, l.P, l.P], "NOTSET", false);

    /// <summary>A depthwise layer through the blocked kernel (1 thread), or null where it does not apply.</summary>
    internal static Action? BuildBlockedDepthwise(ConvLayer l)
    {
        var g = Geometry(l);
        if (!NetOnnx.Kernels.ConvPool.DepthwiseBlocked.Supports(g, 1)) return null;
        var relu = new NetOnnx.Kernels.Elementwise.FusedActivation(NetOnnx.Kernels.Elementwise.ActivationKind.Relu);
        var rng = new Random(3);
        var x = new float[l.C * g.InSize]; var w = new float[l.C * g.KernelSize]; var bias = new float[l.C]; var y = new float[l.C * g.OutSize];
        for (int i = 0; i < x.Length; i++) x[i] = (float)rng.NextDouble() - 0.5f;
        for (int i = 0; i < w.Length; i++) w[i] = (float)rng.NextDouble() - 0.5f;
        return () => NetOnnx.Kernels.ConvPool.DepthwiseBlocked.Run(x, w, bias, g, y, 0, l.C, default, relu);
    }

    /// <summary>The layer through the phased direct kernel (1 thread), where the Conv operator prefers it over a GEMM; else null.</summary>
    internal static Action? BuildPhased(ConvLayer l)
    {
        var g = Geometry(l);
        if (!NetOnnx.Kernels.ConvPool.PhasedConv.PreferredOverGemm(g, l.C, l.M)) return null;
        var relu = new NetOnnx.Kernels.Elementwise.FusedActivation(NetOnnx.Kernels.Elementwise.ActivationKind.Relu);
        var rng = new Random(3);
        var x = new float[l.C * g.InSize]; var w = new float[l.M * l.C * g.KernelSize]; var bias = new float[l.M]; var y = new float[l.M * g.OutSize];
        for (int i = 0; i < x.Length; i++) x[i] = (float)rng.NextDouble() - 0.5f;
        for (int i = 0; i < w.Length; i++) w[i] = (float)rng.NextDouble() - 0.5f;
        return () => NetOnnx.Kernels.ConvPool.PhasedConv.Run(x, w, bias, l.C, l.M, g, y, 0, l.M, default, relu);
    }

    /// <summary>The layer as Winograd F(4x4,3x3) with ReLU fused, or null where it does not apply.</summary>
    internal static Action? BuildWinograd(ConvLayer l, int threads, NetOnnx.Kernels.ConvPool.WinogradLayout layout)
    {
        var g = Geometry(l);
        if (l.Group != 1 || !NetOnnx.Kernels.ConvPool.Winograd.Fits(g)) return null;
        var relu = new NetOnnx.Kernels.Elementwise.FusedActivation(NetOnnx.Kernels.Elementwise.ActivationKind.Relu);
        var rng = new Random(3);
        var x = new float[l.C * g.InSize]; var w = new float[l.M * l.C * 9]; var bias = new float[l.M]; var y = new float[l.M * g.OutSize];
        for (int i = 0; i < x.Length; i++) x[i] = (float)rng.NextDouble() - 0.5f;
        for (int i = 0; i < w.Length; i++) w[i] = (float)rng.NextDouble() - 0.5f;
        var f = NetOnnx.Kernels.ConvPool.Winograd.TransformFilter(w, l.M, l.C, layout);
        return () => NetOnnx.Kernels.ConvPool.Winograd.Run(x, f, bias, y, 1, g, null, relu, threads);
    }

    /// <summary>The layer's kernel call as the Conv operator makes it (ReLU fused), and its flop count.</summary>
    internal static (Action Body, double Flops) BuildConv(ConvLayer l, int threads)
    {
        var relu = new NetOnnx.Kernels.Elementwise.FusedActivation(NetOnnx.Kernels.Elementwise.ActivationKind.Relu);
        var g = NetOnnx.Kernels.ConvPool.ConvGeometry.Create([l.H, l.H], [l.K, l.K], [l.S, l.S], null, [l.P, l.P, l.P, l.P], "NOTSET", false);
        int cg = l.C / l.Group, mg = l.M / l.Group, kg = cg * g.KernelSize, outSize = g.OutSize;
        var rng = new Random(3);
        var x = new float[l.C * g.InSize]; var w = new float[l.M * kg]; var bias = new float[l.M]; var y = new float[l.M * outSize];
        for (int i = 0; i < x.Length; i++) x[i] = (float)rng.NextDouble() - 0.5f;
        for (int i = 0; i < w.Length; i++) w[i] = (float)rng.NextDouble() - 0.5f;
        double flops = 2.0 * l.M * kg * outSize;
        if (l.Group > 1 && cg == 1)
            return (() => NetOnnx.Kernels.ConvPool.Depthwise.Run(x, w, bias, mg, g, y, 0, l.M, default, relu), flops);
        var packed = Sgemm.Pack(false, mg, kg, w, kg);
        if (l.K == 1 && l.S == 1 && l.P == 0)
            return (() => Sgemm.Multiply(packed, false, outSize, 1f, x, outSize, 0f, y, outSize, bias, default, 0, relu, threads), flops);
        var src = new NetOnnx.Kernels.ConvPool.PatchSource(x, 0, g);
        return (() => Sgemm.Multiply(packed, src, outSize, y, outSize, bias, default, 0, relu, threads), flops);
    }

    /// <summary>`peak`: register-only 512-bit FMA loop (no memory traffic), the ceiling a GEMM kernel can reach.</summary>
    public static int Peak()
    {
        if (!System.Runtime.Intrinsics.X86.Avx512F.IsSupported) { Console.WriteLine("no AVX-512"); return 1; }
        const int iters = 1 << 20;
        var r = BestOf(() => FmaLoop(iters), 2);
        double flops = 2.0 * 16 * 16 * iters;
        Console.WriteLine($"512-bit FMA peak: {flops / r.Wall / 1e9:F1} GFLOP/s wall, {flops / r.Cpu / 1e9:F1} by CPU time");
        return 0;
    }

    private static double MeasuredPeak()
    {
        const int iters = 1 << 18;
        return 2.0 * 16 * 16 * iters / Best(() => FmaLoop(iters), 1) / 1e9;
    }

    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.NoInlining)]
    private static float FmaLoop(int iters)
    {
        var m = System.Runtime.Intrinsics.Vector512.Create(0.999f);
        var a0 = m; var a1 = m; var a2 = m; var a3 = m; var a4 = m; var a5 = m; var a6 = m; var a7 = m;
        var a8 = m; var a9 = m; var a10 = m; var a11 = m; var a12 = m; var a13 = m; var a14 = m; var a15 = m;
        var add = System.Runtime.Intrinsics.Vector512.Create(1e-7f);
        for (int i = 0; i < iters; i++)
        {
            a0 = System.Runtime.Intrinsics.X86.Avx512F.FusedMultiplyAdd(a0, m, add); a1 = System.Runtime.Intrinsics.X86.Avx512F.FusedMultiplyAdd(a1, m, add);
            a2 = System.Runtime.Intrinsics.X86.Avx512F.FusedMultiplyAdd(a2, m, add); a3 = System.Runtime.Intrinsics.X86.Avx512F.FusedMultiplyAdd(a3, m, add);
            a4 = System.Runtime.Intrinsics.X86.Avx512F.FusedMultiplyAdd(a4, m, add); a5 = System.Runtime.Intrinsics.X86.Avx512F.FusedMultiplyAdd(a5, m, add);
            a6 = System.Runtime.Intrinsics.X86.Avx512F.FusedMultiplyAdd(a6, m, add); a7 = System.Runtime.Intrinsics.X86.Avx512F.FusedMultiplyAdd(a7, m, add);
            a8 = System.Runtime.Intrinsics.X86.Avx512F.FusedMultiplyAdd(a8, m, add); a9 = System.Runtime.Intrinsics.X86.Avx512F.FusedMultiplyAdd(a9, m, add);
            a10 = System.Runtime.Intrinsics.X86.Avx512F.FusedMultiplyAdd(a10, m, add); a11 = System.Runtime.Intrinsics.X86.Avx512F.FusedMultiplyAdd(a11, m, add);
            a12 = System.Runtime.Intrinsics.X86.Avx512F.FusedMultiplyAdd(a12, m, add); a13 = System.Runtime.Intrinsics.X86.Avx512F.FusedMultiplyAdd(a13, m, add);
            a14 = System.Runtime.Intrinsics.X86.Avx512F.FusedMultiplyAdd(a14, m, add); a15 = System.Runtime.Intrinsics.X86.Avx512F.FusedMultiplyAdd(a15, m, add);
        }
        var s = a0 + a1 + a2 + a3 + a4 + a5 + a6 + a7 + a8 + a9 + a10 + a11 + a12 + a13 + a14 + a15;
        return System.Runtime.Intrinsics.Vector512.Sum(s);
    }

    [StructLayout(LayoutKind.Sequential)]
    private struct TimeSpec { public long Sec; public long Nsec; }

    [DllImport("libc", EntryPoint = "clock_gettime")]
    private static extern int ClockGetTime(int clock, out TimeSpec t);

    /// <summary>CPU time of the calling thread in seconds (Linux CLOCK_THREAD_CPUTIME_ID), or NaN elsewhere.</summary>
    private static double ThreadCpu()
    {
        if (!OperatingSystem.IsLinux()) return double.NaN;
        return ClockGetTime(3, out var t) == 0 ? t.Sec + t.Nsec * 1e-9 : double.NaN;
    }

    /// <summary>Best wall time in seconds over repeated calls for about the given budget (after a JIT warm-up).</summary>
    internal static double Best(Action body, double seconds) => BestOf(body, seconds).Wall;

    /// <summary>
    /// Best wall time and best calling-thread CPU time in seconds. On a host shared with other jobs the CPU time
    /// leaves out time the thread was preempted; it means the kernel's own speed only for one-thread runs.
    /// </summary>
    internal static (double Wall, double Cpu) BestOf(Action body, double seconds)
    {
        var warm = Stopwatch.StartNew();
        while (warm.Elapsed.TotalSeconds < 0.5) body();
        double best = double.MaxValue, bestCpu = double.MaxValue;
        var total = Stopwatch.StartNew();
        int runs = 0;
        while (total.Elapsed.TotalSeconds < seconds || runs < 3)
        {
            double c0 = ThreadCpu();
            long t0 = Stopwatch.GetTimestamp();
            body();
            best = Math.Min(best, Stopwatch.GetElapsedTime(t0).TotalSeconds);
            bestCpu = Math.Min(bestCpu, ThreadCpu() - c0);
            runs++;
        }
        return (best, bestCpu);
    }
}
