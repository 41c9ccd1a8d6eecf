using NetOnnx.Runtime;
using Xunit;

namespace NetOnnx.Tests;

/// <summary>Recurrent and attention operators through a session: layouts, directions, error messages.</summary>
public class SeqModelOpTests
{
    private static Tensor RandT(Random r, params int[] shape)
    {
        int n = shape.Aggregate(1, (a, b) => a * b);
        return Tensor.Create(Enumerable.Range(0, n).Select(_ => (float)(r.NextDouble() - 0.5)).ToArray(), shape);
    }

    private static Dim[] Dims(int[] s) => s.Select(d => Dim.Known(d)).ToArray();

    private static Session Single(Node node, Dictionary<string, Tensor> inputs, int opset = 14)
    {
        var m = new Model();
        m.Opsets[""] = opset;
        foreach (var (name, t) in inputs) m.Graph.Inputs.Add(new ValueInfo(name, OnnxType.Tensor(t.ElementType, Dims(t.Shape))));
        foreach (var o in node.Outputs) m.Graph.Outputs.Add(new ValueInfo(o, null));
        m.Graph.Nodes.Add(node);
        return new Session(m, new SessionOptions { IntraOpThreads = 2 });
    }

    /// <summary>Swaps the first two axes of a rank-3 or rank-4 float tensor.</summary>
    private static Tensor Swap01(Tensor t)
    {
        int a = t.Shape[0], b = t.Shape[1], inner = t.Length / (a * b);
        var src = t.ReadOnlySpan<float>();
        var dst = new float[t.Length];
        for (int i = 0; i < a; i++) for (int j = 0; j < b; j++) src.Slice((i * b + j) * inner, inner).CopyTo(dst.AsSpan((j * a + i) * inner));
        var shape = (int[])t.Shape.Clone();
        (shape[0], shape[1]) = (shape[1], shape[0]);
        return Tensor.Create(dst, shape);
    }

    [Fact]
    public void BidirectionalLstmLayoutsAgree()
    {
        var r = new Random(7);
        int seq = 4, batch = 3, inp = 5, hs = 2;
        var x = RandT(r, seq, batch, inp);
        var w = RandT(r, 2, 4 * hs, inp);
        var rr = RandT(r, 2, 4 * hs, hs);
        var b = RandT(r, 2, 8 * hs);
        var lens = Tensor.Create(new[] { 4, 1, 3 }, batch);
        var h0 = RandT(r, 2, batch, hs);
        var c0 = RandT(r, 2, batch, hs);
        var p = RandT(r, 2, 3 * hs);
        NodeAttribute[] Attrs(long layout) => [NodeAttribute.Of("direction", "bidirectional"), NodeAttribute.Of("hidden_size", (long)hs), NodeAttribute.Of("layout", layout)];
        string[] ins = ["X", "W", "R", "B", "L", "H0", "C0", "P"];
        string[] outs = ["Y", "Yh", "Yc"];
        var feeds0 = new Dictionary<string, Tensor> { ["X"] = x, ["W"] = w, ["R"] = rr, ["B"] = b, ["L"] = lens, ["H0"] = h0, ["C0"] = c0, ["P"] = p };
        var r0 = Single(new Node("LSTM", ins, outs, "lstm0", attributes: Attrs(0)), feeds0).Run(feeds0);
        var feeds1 = new Dictionary<string, Tensor>(feeds0) { ["X"] = Swap01(x), ["H0"] = Swap01(h0), ["C0"] = Swap01(c0) };
        var r1 = Single(new Node("LSTM", ins, outs, "lstm1", attributes: Attrs(1)), feeds1).Run(feeds1);

        // Layout 1: Y is [batch, seq, dirs, hidden], states [batch, dirs, hidden].
        Assert.Equal(new[] { batch, seq, 2, hs }, r1["Y"].Shape);
        var y0 = r0["Y"].ToArray<float>();
        var y1 = r1["Y"].ToArray<float>();
        for (int t = 0; t < seq; t++) for (int d = 0; d < 2; d++) for (int bb = 0; bb < batch; bb++) for (int j = 0; j < hs; j++)
            Assert.Equal(y0[((t * 2 + d) * batch + bb) * hs + j], y1[((bb * seq + t) * 2 + d) * hs + j]);
        Assert.Equal(r0["Yh"].ToArray<float>(), Swap01(r1["Yh"]).ToArray<float>());
        Assert.Equal(r0["Yc"].ToArray<float>(), Swap01(r1["Yc"]).ToArray<float>());
        // Padded steps of the short sequence are zero in both directions.
        var y = r0["Y"].ToArray<float>();
        for (int t = 1; t < seq; t++) for (int d = 0; d < 2; d++) for (int j = 0; j < hs; j++) Assert.Equal(0f, y[((t * 2 + d) * batch + 1) * hs + j]);
    }

    [Fact]
    public void BadWeightShapeNamesTheNode()
    {
        var r = new Random(8);
        var feeds = new Dictionary<string, Tensor> { ["X"] = RandT(r, 2, 1, 3), ["W"] = RandT(r, 1, 5, 3), ["R"] = RandT(r, 1, 6, 2) };
        var s = Single(new Node("GRU", ["X", "W", "R"], ["Y"], "badgru", attributes: [NodeAttribute.Of("hidden_size", 2L)]), feeds);
        var e = Assert.Throws<InferenceException>(() => s.Run(feeds));
        Assert.Contains("badgru", e.Message);
        Assert.Contains("W has shape", e.Message);
    }

    [Fact]
    public void AttentionRejectsNonBroadcastableMask()
    {
        var r = new Random(9);
        var feeds = new Dictionary<string, Tensor>
        {
            ["Q"] = RandT(r, 1, 2, 3, 4), ["K"] = RandT(r, 1, 2, 5, 4), ["V"] = RandT(r, 1, 2, 5, 4), ["M"] = RandT(r, 4, 5),
        };
        var s = Single(new Node("Attention", ["Q", "K", "V", "M"], ["Y"], "att"), feeds, 23);
        var e = Assert.Throws<InferenceException>(() => s.Run(feeds));
        Assert.Contains("attn_mask", e.Message);
    }
}
