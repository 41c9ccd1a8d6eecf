using NetOnnx.Kernels.Recurrent;
using NetOnnx.Kernels.Signal;
using Xunit;

namespace NetOnnx.Tests;

/// <summary>Recurrent, attention and FFT kernels against naive formulas and structural identities.</summary>
public class SeqModelKernelTests
{
    private static float[] Rand(Random r, int n, float scale = 1f) => Enumerable.Range(0, n).Select(_ => (float)(r.NextDouble() * 2 - 1) * scale).ToArray();

    [Theory]
    [InlineData(1)] [InlineData(2)] [InlineData(3)] [InlineData(8)] [InlineData(10)] [InlineData(31)]
    [InlineData(33)] [InlineData(64)] [InlineData(97)] [InlineData(100)]
    public void FftMatchesNaiveDft(int n)
    {
        var r = new Random(n);
        var re = Enumerable.Range(0, n).Select(_ => r.NextDouble() - 0.5).ToArray();
        var im = Enumerable.Range(0, n).Select(_ => r.NextDouble() - 0.5).ToArray();
        foreach (bool inverse in new[] { false, true })
        {
            var fr = (double[])re.Clone(); var fi = (double[])im.Clone();
            Fft.Transform(fr, fi, inverse);
            double sign = inverse ? 1 : -1;
            for (int k = 0; k < n; k++)
            {
                double sr = 0, si = 0;
                for (int t = 0; t < n; t++)
                {
                    double a = sign * 2 * Math.PI * k * t / n;
                    sr += re[t] * Math.Cos(a) - im[t] * Math.Sin(a);
                    si += re[t] * Math.Sin(a) + im[t] * Math.Cos(a);
                }
                Assert.Equal(sr, fr[k], 1e-9);
                Assert.Equal(si, fi[k], 1e-9);
            }
        }
    }

    [Theory]
    [InlineData(1, 1, 1)] [InlineData(3, 7, 9)] [InlineData(4, 8, 8)] [InlineData(5, 17, 20)]
    [InlineData(1, 512, 128)] [InlineData(2, 13, 33)] [InlineData(3, 258, 256)]
    public void MatMulTransBMatchesNaiveSums(int m, int n, int k)
    {
        var r = new Random(m * 1000 + n * 10 + k);
        int lda = k + 3, ldb = k + 5, ldc = n + 2; // padded strides: rows must not read their neighbours' padding
        var a = Rand(r, m * lda);
        var b = Rand(r, n * ldb);
        foreach (bool accumulate in new[] { false, true })
        {
            var c = Rand(r, m * ldc);
            var before = (float[])c.Clone();
            SeqMath.MatMulTransB<float>(a, lda, b, ldb, c, ldc, m, n, k, accumulate);
            for (int i = 0; i < m; i++)
                for (int j = 0; j < ldc; j++)
                {
                    if (j >= n) { Assert.Equal(before[i * ldc + j], c[i * ldc + j]); continue; }
                    double sum = accumulate ? before[i * ldc + j] : 0;
                    for (int p = 0; p < k; p++) sum += (double)a[i * lda + p] * b[j * ldb + p];
                    Assert.Equal(sum, c[i * ldc + j], 1e-4 * Math.Sqrt(k));
                }
        }
    }

    [Theory]
    [InlineData(1, 1)] [InlineData(3, 7)] [InlineData(258, 256)] [InlineData(5, 387)]
    public void MatVec2TransBMatchesNaiveSums(int n, int k)
    {
        var r = new Random(n + 7 * k);
        int ldb = k + 1;
        var a0 = Rand(r, k); var a1 = Rand(r, k); var b = Rand(r, n * ldb);
        var c0 = new float[n]; var c1 = new float[n];
        SeqMath.MatVec2TransB(a0, a1, b, ldb, c0, c1, n, k);
        for (int j = 0; j < n; j++)
        {
            double s0 = 0, s1 = 0;
            for (int p = 0; p < k; p++) { s0 += (double)a0[p] * b[j * ldb + p]; s1 += (double)a1[p] * b[j * ldb + p]; }
            Assert.Equal(s0, c0[j], 1e-4 * Math.Sqrt(k));
            Assert.Equal(s1, c1[j], 1e-4 * Math.Sqrt(k));
        }
    }

    [Fact]
    public void MatVecTransBRejectsShortSpans()
    {
        var ex = Assert.Throws<ArgumentException>(() => SeqMath.MatVecTransB<float>(new float[8], new float[8 * 3], 8, new float[4], 4, 8, false));
        Assert.Contains("too short", ex.Message);
    }

    private static RecurrentDirection<float> Direction(RecurrentCellKind kind, Random r, int seq, int batch, int inp, int hs, bool peep)
    {
        int g = RecurrentKernel.GateCount(kind);
        return new RecurrentDirection<float>
        {
            Kind = kind, SeqLength = seq, Batch = batch, InputSize = inp, Hidden = hs,
            W = Rand(r, g * hs * inp), R = Rand(r, g * hs * hs), B = Rand(r, 2 * g * hs),
            P = peep ? Rand(r, 3 * hs) : null,
            F = new RnnActivation(RnnActivationKind.Sigmoid, 1, 1),
            G = new RnnActivation(RnnActivationKind.Tanh, 1, 1),
            H = new RnnActivation(RnnActivationKind.Tanh, 1, 1),
        };
    }

    private static float Sig(float x) => 1f / (1f + MathF.Exp(-x));

    private static float Dot(float[] w, int row, int len, float[] x) { float s = 0; for (int i = 0; i < len; i++) s += w[row * len + i] * x[i]; return s; }

    [Fact]
    public void LstmStepMatchesFormulaWithPeepholes()
    {
        var r = new Random(1);
        int inp = 3, hs = 2;
        var d = Direction(RecurrentCellKind.Lstm, r, 1, 1, inp, hs, peep: true);
        d.H0 = Rand(r, hs); d.C0 = Rand(r, hs);
        var x = Rand(r, inp);
        var yh = new float[hs]; var yc = new float[hs];
        RecurrentKernel.Run(d, x, new RecurrentStrides(inp, inp, 0, hs, hs, 0, hs), [], yh, yc);
        for (int j = 0; j < hs; j++)
        {
            // Gate rows: i, o, f, c; peepholes: i, o, f.
            float Pre(int gate) => Dot(d.W, gate * hs + j, inp, x) + Dot(d.R, gate * hs + j, hs, d.H0) + d.B![gate * hs + j] + d.B[4 * hs + gate * hs + j];
            float i = Sig(Pre(0) + d.P![j] * d.C0[j]);
            float f = Sig(Pre(2) + d.P[2 * hs + j] * d.C0[j]);
            float c = MathF.Tanh(Pre(3));
            float cNew = f * d.C0[j] + i * c;
            float o = Sig(Pre(1) + d.P[hs + j] * cNew);
            Assert.Equal(cNew, yc[j], 1e-5f);
            Assert.Equal(o * MathF.Tanh(cNew), yh[j], 1e-5f);
        }
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void GruStepMatchesFormula(bool linearBeforeReset)
    {
        var r = new Random(2);
        int inp = 3, hs = 2;
        var d = Direction(RecurrentCellKind.Gru, r, 1, 1, inp, hs, peep: false);
        d.LinearBeforeReset = linearBeforeReset;
        d.H0 = Rand(r, hs);
        var x = Rand(r, inp);
        var yh = new float[hs];
        RecurrentKernel.Run(d, x, new RecurrentStrides(inp, inp, 0, hs, hs, 0, hs), [], yh, []);
        var b = d.B!;
        float[] z = new float[hs], rg = new float[hs];
        for (int j = 0; j < hs; j++)
        {
            z[j] = Sig(Dot(d.W, j, inp, x) + Dot(d.R, j, hs, d.H0) + b[j] + b[3 * hs + j]);
            rg[j] = Sig(Dot(d.W, hs + j, inp, x) + Dot(d.R, hs + j, hs, d.H0) + b[hs + j] + b[4 * hs + j]);
        }
        var rh = d.H0.Select((h, k) => rg[k] * h).ToArray();
        for (int j = 0; j < hs; j++)
        {
            float hPre = linearBeforeReset
                ? Dot(d.W, 2 * hs + j, inp, x) + b[2 * hs + j] + rg[j] * (Dot(d.R, 2 * hs + j, hs, d.H0) + b[5 * hs + j])
                : Dot(d.W, 2 * hs + j, inp, x) + b[2 * hs + j] + Dot(d.R, 2 * hs + j, hs, rh) + b[5 * hs + j];
            float h = MathF.Tanh(hPre);
            Assert.Equal((1 - z[j]) * h + z[j] * d.H0[j], yh[j], 1e-5f);
        }
    }

    /// <summary>A reverse pass with per-batch lengths equals a forward pass over each sequence's valid prefix reversed.</summary>
    [Theory]
    [InlineData(RecurrentCellKind.Rnn)]
    [InlineData(RecurrentCellKind.Gru)]
    [InlineData(RecurrentCellKind.Lstm)]
    public void ReverseWithLengthsEqualsForwardOnReversedPrefix(RecurrentCellKind kind)
    {
        var r = new Random(3);
        int seq = 5, batch = 3, inp = 4, hs = 3;
        var d = Direction(kind, r, seq, batch, inp, hs, peep: kind == RecurrentCellKind.Lstm);
        d.Reverse = true;
        d.SeqLens = [5, 2, 0];
        var x = Rand(r, seq * batch * inp);
        var y = new float[seq * batch * hs];
        var yh = new float[batch * hs]; var yc = new float[batch * hs];
        RecurrentKernel.Run(d, x, new RecurrentStrides(batch * inp, inp, 0, batch * hs, hs, 0, hs), y, yh, yc);
        for (int b = 0; b < batch; b++)
        {
            int len = d.SeqLens[b];
            var f = Direction(kind, new Random(0), len, 1, inp, hs, false);
            f.W = d.W; f.R = d.R; f.B = d.B; f.P = d.P;
            var xr = new float[len * inp];
            for (int t = 0; t < len; t++) Array.Copy(x, ((len - 1 - t) * batch + b) * inp, xr, t * inp, inp);
            var fy = new float[len * hs]; var fh = new float[hs]; var fc = new float[hs];
            RecurrentKernel.Run(f, xr, new RecurrentStrides(inp, inp, 0, hs, hs, 0, hs), fy, fh, fc);
            for (int j = 0; j < hs; j++) Assert.Equal(fh[j], yh[b * hs + j], 1e-5f);
            for (int t = 0; t < seq; t++)
                for (int j = 0; j < hs; j++)
                {
                    float expected = t < len ? fy[(len - 1 - t) * hs + j] : 0f;
                    Assert.Equal(expected, y[(t * batch + b) * hs + j], 1e-5f);
                }
        }
    }

    private static AttentionProblem<float> Problem(int qh, int kvh, float[] q, float[] k, float[] v, int b, int sq, int total, int d)
    {
        return new AttentionProblem<float>
        {
            Batch = b, QHeads = qh, KvHeads = kvh, QSeq = sq, TotalSeq = total, HeadDim = d, VHeadDim = d,
            Q = q, K = k, V = v, Scale = 1f / MathF.Sqrt(d),
            QBatchStride = qh * sq * d, QHeadStride = sq * d, QSeqStride = d,
            Y = new float[b * qh * sq * d], YBatchStride = qh * sq * d, YHeadStride = sq * d, YSeqStride = d,
            CausalOffset = new int[b],
        };
    }

    [Fact]
    public void GroupedHeadsEqualRepeatedKvHeads()
    {
        var r = new Random(4);
        int b = 2, qh = 4, kvh = 2, sq = 3, total = 5, d = 8;
        var q = Rand(r, b * qh * sq * d); var k = Rand(r, b * kvh * total * d); var v = Rand(r, b * kvh * total * d);
        var gqa = Problem(qh, kvh, q, k, v, b, sq, total, d);
        AttentionKernel.Run(gqa, 1);
        // Interleaved repeat: q head h reads kv head h / (qh / kvh).
        var k2 = new float[b * qh * total * d]; var v2 = new float[k2.Length];
        for (int bb = 0; bb < b; bb++)
            for (int h = 0; h < qh; h++)
            {
                Array.Copy(k, (bb * kvh + h / 2) * total * d, k2, (bb * qh + h) * total * d, total * d);
                Array.Copy(v, (bb * kvh + h / 2) * total * d, v2, (bb * qh + h) * total * d, total * d);
            }
        var mha = Problem(qh, qh, q, k2, v2, b, sq, total, d);
        AttentionKernel.Run(mha, 2);
        for (int i = 0; i < gqa.Y.Length; i++) Assert.Equal(mha.Y[i], gqa.Y[i], 1e-6f);
    }

    [Fact]
    public void CausalWithPastEqualsExplicitMask()
    {
        var r = new Random(5);
        int b = 1, h = 2, sq = 3, total = 6, d = 4, past = total - sq;
        var q = Rand(r, b * h * sq * d); var k = Rand(r, b * h * total * d); var v = Rand(r, b * h * total * d);
        var causal = Problem(h, h, q, k, v, b, sq, total, d);
        causal.Causal = true;
        causal.CausalOffset = [past];
        AttentionKernel.Run(causal, 1);
        var masked = Problem(h, h, q, k, v, b, sq, total, d);
        masked.MaskBool = new bool[sq * total];
        for (int i = 0; i < sq; i++) for (int j = 0; j < total; j++) masked.MaskBool[i * total + j] = j <= i + past;
        masked.MaskSeqStride = total; masked.MaskLength = total;
        AttentionKernel.Run(masked, 1);
        for (int i = 0; i < causal.Y.Length; i++) Assert.Equal(masked.Y[i], causal.Y[i], 1e-6f);
    }
}
