using System.Diagnostics;
using ILGPU;
using ILGPU.Runtime;
using NetOnnx.Gpu.Kernels;
using NetOnnx.Gpu.Operators;

namespace NetOnnx.Gpu;

/// <summary>Device-side timings for benchmarks: kernels on device buffers, no host copies in the timed loop.</summary>
public static class GpuMicrobenchmarks
{
    /// <summary>
    /// Milliseconds per row-major [m,k]·[k,n] SGEMM on the device (the median of <paramref name="rounds"/> timed
    /// batches of <paramref name="repeat"/> launches each, after a warm-up), and the max abs error of one sample
    /// row against a double-precision host product.
    /// </summary>
    public static (double Ms, double MaxError) Sgemm(GpuDevice device, int m, int n, int k, int rounds = 10, int repeat = 5)
    {
        var rng = new Random(7);
        var a = new float[m * k];
        var b = new float[k * n];
        for (int i = 0; i < a.Length; i++) a[i] = (float)(rng.NextDouble() - 0.5);
        for (int i = 0; i < b.Length; i++) b[i] = (float)(rng.NextDouble() - 0.5);
        var acc = device.Accelerator;
        acc.Bind();
        using var pool = new DevicePool(acc);
        var da = new DeviceTensor(DataType.Float, [m, k], pool.Rent(a.Length));
        var db = new DeviceTensor(DataType.Float, [k, n], pool.Rent(b.Length));
        var dc = new DeviceTensor(DataType.Float, [m, n], pool.Rent(m * n));
        Transfers.Upload(pool.Stream, Tensor.Create(a, m, k), da.Buffer);
        Transfers.Upload(pool.Stream, Tensor.Create(b, k, n), db.Buffer);
        var ctx = new GpuOpContext(device, pool, [], [], [], new Node("MatMul", [], [], "bench"));
        var p = new GemmArgs { M = m, N = n, K = k, Am = k, Ak = 1, Bk = n, Bn = 1, BatchC = m * n, Alpha = 1f, Beta = 1f };
        void Once() => GemmLauncher.Launch(ctx, da.Floats, db.Floats, null, null, dc.Floats, p, 1);
        Once();
        pool.Stream.Synchronize();
        var times = new List<double>();
        for (int r = 0; r < rounds; r++)
        {
            var sw = Stopwatch.StartNew();
            for (int i = 0; i < repeat; i++) Once();
            pool.Stream.Synchronize();
            times.Add(sw.Elapsed.TotalMilliseconds / repeat);
        }
        var c = new float[m * n];
        dc.Floats.SubView(0, c.Length).CopyToCPU(pool.Stream, c);
        pool.Stream.Synchronize();
        double err = 0;
        int row = m / 2;
        for (int j = 0; j < n; j++)
        {
            double s = 0;
            for (int q = 0; q < k; q++) s += (double)a[row * k + q] * b[q * n + j];
            err = Math.Max(err, Math.Abs(s - c[row * n + j]));
        }
        times.Sort();
        return (times[times.Count / 2], err);
    }
}
