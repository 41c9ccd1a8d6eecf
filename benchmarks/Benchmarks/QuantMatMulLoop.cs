using NetOnnx.Kernels.Quantization;
using NetOnnx.Runtime;

namespace NetOnnx.Benchmarks;

/// <summary>
/// `qmatmul [--threads N] [--seconds S]`: MatMulInteger and QLinearMatMul (uint8 A, int8 constant B, per-tensor
/// zero points) on transformer-sized shapes: our session (Int8Gemm path) and ONNX Runtime on the same model file,
/// alternating, and the previous path (operands widened to int32 each run, then the int32 IntegerGemm) rebuilt
/// from its kernel for the old-vs-new ratio. Best-of times in ms.
/// </summary>
public static class QuantMatMulLoop
{
    public static int Run(string[] args)
    {
        if (LoopArgs.Parse(args, 0.5) is not { } o) return 1;
        int threads = o.Threads;
        double seconds = o.Seconds;
        Console.WriteLine($"threads {threads}");
        Console.WriteLine("| op | M x K x N | old int32 path ms | ours ms | ORT ms | old / ours | ORT / ours |");
        Console.WriteLine("|---|---|---:|---:|---:|---:|---:|");
        (int M, int K, int N)[] shapes = [(1, 768, 768), (16, 768, 768), (128, 256, 1024), (384, 768, 768), (64, 1024, 4096)];
        foreach (var op in new[] { "MatMulInteger", "QLinearMatMul" })
            foreach (var (m, k, n) in shapes)
            {
                var rng = new Random(m + k + n);
                var a = new byte[m * k]; rng.NextBytes(a);
                var b = new sbyte[k * n];
                for (int i = 0; i < b.Length; i++) b[i] = (sbyte)rng.Next(-128, 128);
                var model = BuildModel(op, m, k, n, b);
                string path = Path.Combine(Path.GetTempPath(), $"netonnx-{op}-{m}x{k}x{n}-{Environment.ProcessId}.onnx");
                NetOnnx.OnnxImport.OnnxModelWriter.Save(model, path);
                try
                {
                    var feeds = new Dictionary<string, Tensor> { ["a"] = Tensor.Create(a, m, k) };
                    using var ours = new NetOnnx.InferenceSession(path, new SessionOptions { IntraOpThreads = threads });
                    using var ort = new OrtRunner(path, feeds, threads);
                    var c = new int[m * n];
                    Action old = () =>
                    {
                        // What the previous operator did per run: widen and shift both operands, then the int32 GEMM.
                        var aw = new int[m * k]; var bw = new int[k * n];
                        for (int i = 0; i < aw.Length; i++) aw[i] = a[i] - 3;
                        for (int i = 0; i < bw.Length; i++) bw[i] = b[i] - 1;
                        IntegerGemm.Multiply(aw, 0, bw, 0, c, 0, m, k, n, threads);
                    };
                    Action our = () => ours.Run(feeds);
                    double to = double.MaxValue, tn = double.MaxValue, tr = double.MaxValue;
                    for (int r = 0; r < 3; r++)
                    {
                        to = Math.Min(to, KernelLoop.Best(old, seconds / 3));
                        tn = Math.Min(tn, KernelLoop.Best(our, seconds / 3));
                        tr = Math.Min(tr, KernelLoop.Best(ort.Run, seconds / 3));
                    }
                    Console.WriteLine($"| {op} | {m} x {k} x {n} | {to * 1e3:F3} | {tn * 1e3:F3} | {tr * 1e3:F3} | {to / tn:F2} | {tr / tn:F2} |");
                }
                finally { File.Delete(path); }
            }
        return 0;
    }

    private static Model BuildModel(string op, int m, int k, int n, sbyte[] b)
    {
        var model = new Model();
        model.Opsets[""] = 13;
        var g = model.Graph;
        g.Name = "qmatmul";
        g.Inputs.Add(new ValueInfo("a", OnnxType.Tensor(DataType.UInt8, [Dim.Known(m), Dim.Known(k)])));
        g.Initializers["b"] = Tensor.Create(b, k, n);
        g.Initializers["za"] = Tensor.Create(new byte[] { 3 });
        g.Initializers["zb"] = Tensor.Create(new sbyte[] { 1 });
        if (op == "MatMulInteger")
        {
            g.Outputs.Add(new ValueInfo("y", OnnxType.Tensor(DataType.Int32, [Dim.Known(m), Dim.Known(n)])));
            g.Nodes.Add(new Node("MatMulInteger", ["a", "b", "za", "zb"], ["y"], "mmi"));
        }
        else
        {
            g.Initializers["sa"] = Tensor.Create(new[] { 0.02f });
            g.Initializers["sb"] = Tensor.Create(new[] { 0.01f });
            g.Initializers["sy"] = Tensor.Create(new[] { 0.5f });
            g.Initializers["zy"] = Tensor.Create(new byte[] { 128 });
            g.Outputs.Add(new ValueInfo("y", OnnxType.Tensor(DataType.UInt8, [Dim.Known(m), Dim.Known(n)])));
            g.Nodes.Add(new Node("QLinearMatMul", ["a", "sa", "za", "b", "sb", "zb", "sy", "zy"], ["y"], "qmm"));
        }
        return model;
    }
}
