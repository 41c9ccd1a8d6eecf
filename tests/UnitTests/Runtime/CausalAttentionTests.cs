using NetOnnx.Runtime;
using NetOnnx.Runtime.Operators.Transformer;
using Xunit;

namespace NetOnnx.Tests;

/// <summary>
/// The fused attention op with a constant causal mask (computed in row chunks up to each chunk's longest
/// attended prefix) against attention written from its definition, and against the same op with the mask
/// given at run time (the general path).
/// </summary>
public class CausalAttentionTests
{
    private const int Heads = 2, D = 8, Dv = 5;

    private static float[] Rand(Random r, int n) => Enumerable.Range(0, n).Select(_ => (float)(r.NextDouble() * 2 - 1)).ToArray();

    private static Model Attention(int s, bool[]? constantMask)
    {
        var m = new Model();
        m.Opsets[""] = 17;
        m.Opsets[FusedOps.Domain] = 1;
        var g = m.Graph;
        g.Inputs.Add(new ValueInfo("q", OnnxType.Tensor(DataType.Float, [Dim.Known(1), Dim.Known(Heads), Dim.Known(s), Dim.Known(D)])));
        g.Inputs.Add(new ValueInfo("kt", OnnxType.Tensor(DataType.Float, [Dim.Known(1), Dim.Known(Heads), Dim.Known(D), Dim.Known(s)])));
        g.Inputs.Add(new ValueInfo("v", OnnxType.Tensor(DataType.Float, [Dim.Known(1), Dim.Known(Heads), Dim.Known(s), Dim.Known(Dv)])));
        if (constantMask is null)
            g.Inputs.Add(new ValueInfo("keep", OnnxType.Tensor(DataType.Bool, [Dim.Known(1), Dim.Known(1), Dim.Known(s), Dim.Known(s)])));
        else g.Initializers["keep"] = Tensor.Create(constantMask, 1, 1, s, s);
        g.Nodes.Add(new Node("ScaledDotProductAttention", ["q", "kt", "v", "", "keep"], ["y"], "attn", FusedOps.Domain,
            [new NodeAttribute("scale", AttributeKind.Float) { Float = 0.35f }]));
        g.Outputs.Add(new ValueInfo("y", null));
        return m;
    }

    /// <summary>y[h,i] = sum_j softmax_j(0.35 * q[h,i]·k[h,j], j unmasked) v[h,j]; mask true = not attended.</summary>
    private static float[] Naive(float[] q, float[] kt, float[] v, bool[] masked, int s)
    {
        var y = new float[Heads * s * Dv];
        for (int h = 0; h < Heads; h++)
            for (int i = 0; i < s; i++)
            {
                var w = new double[s];
                double max = double.NegativeInfinity;
                for (int j = 0; j < s; j++)
                {
                    if (masked[i * s + j]) { w[j] = double.NegativeInfinity; continue; }
                    double dot = 0;
                    for (int c = 0; c < D; c++) dot += (double)q[(h * s + i) * D + c] * kt[(h * D + c) * s + j];
                    w[j] = 0.35 * dot;
                    max = Math.Max(max, w[j]);
                }
                double sum = 0;
                for (int j = 0; j < s; j++) { w[j] = masked[i * s + j] ? 0 : Math.Exp(w[j] - max); sum += w[j]; }
                for (int c = 0; c < Dv; c++)
                {
                    double acc = 0;
                    for (int j = 0; j < s; j++) acc += w[j] / sum * v[(h * s + j) * Dv + c];
                    y[(h * s + i) * Dv + c] = (float)acc;
                }
            }
        return y;
    }

    [Theory]
    [InlineData(70, 0)]   // causal: chunks of 32, 32 and 6 rows
    [InlineData(32, 0)]   // one chunk
    [InlineData(40, 3)]   // each row also sees 3 keys ahead (still a prefix)
    [InlineData(40, -1)]  // not a prefix (a hole in every row): the general path
    public void ConstantMaskMatchesDefinitionAndRunTimeMask(int s, int ahead)
    {
        var masked = new bool[s * s];
        for (int i = 0; i < s; i++)
            for (int j = 0; j < s; j++)
                masked[i * s + j] = ahead >= 0 ? j > i + ahead : j == (i + 1) % s;
        var r = new Random(s + ahead);
        var q = Rand(r, Heads * s * D); var kt = Rand(r, Heads * D * s); var v = Rand(r, Heads * s * Dv);
        var expected = Naive(q, kt, v, masked, s);
        var inputs = new Dictionary<string, Tensor>
        {
            ["q"] = Tensor.Create(q, 1, Heads, s, D), ["kt"] = Tensor.Create(kt, 1, Heads, D, s), ["v"] = Tensor.Create(v, 1, Heads, s, Dv),
        };
        var constant = new Session(Attention(s, masked), new SessionOptions { IntraOpThreads = 2 });
        var runtime = new Session(Attention(s, null), new SessionOptions { IntraOpThreads = 1 });
        for (int run = 0; run < 2; run++)
        {
            var a = constant.Run(inputs)["y"].ToArray<float>();
            var b = runtime.Run(new Dictionary<string, Tensor>(inputs) { ["keep"] = Tensor.Create(masked, 1, 1, s, s) })["y"].ToArray<float>();
            for (int i = 0; i < expected.Length; i++)
            {
                Assert.Equal(expected[i], a[i], 1e-5f);
                Assert.Equal(expected[i], b[i], 1e-5f);
            }
        }
    }
}
