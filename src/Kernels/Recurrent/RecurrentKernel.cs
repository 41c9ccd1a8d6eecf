using System.Buffers;
using System.Numerics;
using NetOnnx.Kernels.Threading;

namespace NetOnnx.Kernels.Recurrent;

public enum RecurrentCellKind { Rnn, Gru, Lstm }

/// <summary>Where one direction reads X and writes Y / Y_h / Y_c: element offsets per time step and per batch row.</summary>
public readonly record struct RecurrentStrides(int XTime, int XBatch, int YBase, int YTime, int YBatch, int StateBase, int StateBatch);

/// <summary>Everything that configures one direction of an RNN/GRU/LSTM layer.</summary>
public sealed class RecurrentDirection<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    public RecurrentCellKind Kind;
    public int SeqLength, Batch, InputSize, Hidden;
    public bool Reverse;
    /// <summary>W for this direction: [gates*hidden, input]; R: [gates*hidden, hidden].</summary>
    public T[] W = [], R = [];
    public int WOffset, ROffset;
    /// <summary>B for this direction ([2*gates*hidden]: Wb then Rb) or null.</summary>
    public T[]? B;
    public int BOffset;
    /// <summary>LSTM peepholes [3*hidden] (i, o, f) or null.</summary>
    public T[]? P;
    public int POffset;
    /// <summary>Per-batch sequence lengths, or null for all SeqLength.</summary>
    public int[]? SeqLens;
    /// <summary>Initial hidden / cell states laid out like Y_h / Y_c (strides StateBase/StateBatch), or null for zeros.</summary>
    public T[]? H0, C0;
    public RnnActivation F, G, H;
    public float Clip; // <= 0: no clipping
    public bool InputForget, LinearBeforeReset;
}

/// <summary>Runs one direction of a recurrent layer over the whole sequence.</summary>
public static class RecurrentKernel
{
    public static int GateCount(RecurrentCellKind k) => k switch { RecurrentCellKind.Lstm => 4, RecurrentCellKind.Gru => 3, _ => 1 };

    /// <param name="x">The whole X tensor's data.</param>
    /// <param name="y">Y data (pre-zeroed, may be null), written at YBase + t*YTime + b*YBatch.</param>
    /// <param name="yh">Y_h data written at StateBase + b*StateBatch (never null; pass scratch if unused).</param>
    /// <param name="yc">Y_c data, LSTM only.</param>
    /// <param name="threads">Batch rows are independent recurrences, so they may run in parallel.</param>
    public static void Run<T>(RecurrentDirection<T> d, T[] x, RecurrentStrides s, T[] y, T[] yh, T[] yc, int threads = 1)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int gates = GateCount(d.Kind), hs = d.Hidden, gh = gates * hs, seq = d.SeqLength, batch = d.Batch, inp = d.InputSize;

        // Input projection for every (t, b) at once, plus the biases that simply add.
        // Scratch comes from the shared array pool, so a warm run allocates nothing.
        var xw = ArrayPool<T>.Shared.Rent(seq * batch * gh);
        var wArr = d.W;
        int wOff = d.WOffset;
        void Project(int t)
        {
            var wl = wArr.AsSpan(wOff, gh * inp);
            for (int b = 0; b < batch; b++)
            {
                var row = xw.AsSpan((t * batch + b) * gh, gh);
                SeqMath.MatMulTransB<T>(x.AsSpan(t * s.XTime + b * s.XBatch), inp, wl, inp, row, gh, 1, gh, inp, false);
                if (d.B is { } bias)
                {
                    var wb = bias.AsSpan(d.BOffset, gh);
                    var rb = bias.AsSpan(d.BOffset + gh, gh);
                    // GRU's hidden-gate recurrence bias sits inside the reset product, so it is added later.
                    int rbCount = d.Kind == RecurrentCellKind.Gru ? 2 * hs : gh;
                    for (int j = 0; j < gh; j++) row[j] += wb[j];
                    for (int j = 0; j < rbCount; j++) row[j] += rb[j];
                }
            }
        }
        bool parallel = threads > 1 && (long)seq * batch * gh * inp >= 1 << 15;
        if (parallel) IntraOpPool.For(seq, threads, Project);
        else for (int t = 0; t < seq; t++) Project(t);

        T clip = T.CreateTruncating(d.Clip);
        var rArr = d.R;
        int rOff = d.ROffset;
        void Recur(int b)
        {
            var r = rArr.AsSpan(rOff, gh * hs);
            var scratch = ArrayPool<T>.Shared.Rent(3 * hs + gh);
            var hPrev = scratch.AsSpan(0, hs);
            var cPrev = scratch.AsSpan(hs, hs);
            var tmp = scratch.AsSpan(2 * hs, hs);
            var g = scratch.AsSpan(3 * hs, gh);
            int len = d.SeqLens is null ? seq : Math.Clamp(d.SeqLens[b], 0, seq);
            int stateOff = s.StateBase + b * s.StateBatch;
            if (d.H0 is { } h0) h0.AsSpan(stateOff, hs).CopyTo(hPrev); else hPrev.Clear();
            if (d.Kind == RecurrentCellKind.Lstm)
            {
                if (d.C0 is { } c0) c0.AsSpan(stateOff, hs).CopyTo(cPrev); else cPrev.Clear();
            }
            for (int step = 0; step < len; step++)
            {
                int t = d.Reverse ? len - 1 - step : step;
                xw.AsSpan((t * batch + b) * gh, gh).CopyTo(g);
                switch (d.Kind)
                {
                    case RecurrentCellKind.Rnn:
                        SeqMath.MatMulTransB<T>(hPrev, hs, r, hs, g, gh, 1, gh, hs, true);
                        ClipSpan<T>(g, clip);
                        d.F.Apply<T>(g);
                        g.Slice(0, hs).CopyTo(hPrev);
                        break;
                    case RecurrentCellKind.Gru:
                        GruStep(d, r, g, hPrev, tmp, clip);
                        break;
                    case RecurrentCellKind.Lstm:
                        LstmStep(d, r, g, hPrev, cPrev, clip);
                        break;
                }
                if (y.Length > 0) hPrev.CopyTo(y.AsSpan(s.YBase + t * s.YTime + b * s.YBatch, hs));
            }
            hPrev.CopyTo(yh.AsSpan(stateOff, hs));
            if (d.Kind == RecurrentCellKind.Lstm && yc.Length > 0) cPrev.CopyTo(yc.AsSpan(stateOff, hs));
            ArrayPool<T>.Shared.Return(scratch);
        }
        if (parallel && batch > 1) IntraOpPool.For(batch, threads, Recur);
        else for (int b = 0; b < batch; b++) Recur(b);
        ArrayPool<T>.Shared.Return(xw);
    }

    private static void ClipSpan<T>(Span<T> v, T clip) where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (clip <= T.Zero) return;
        for (int i = 0; i < v.Length; i++) v[i] = T.Clamp(v[i], -clip, clip);
    }

    private static void GruStep<T>(RecurrentDirection<T> d, ReadOnlySpan<T> r, Span<T> g, Span<T> hPrev, Span<T> tmp, T clip)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int hs = d.Hidden;
        // z and r gates (rows 0..2H of R).
        SeqMath.MatMulTransB<T>(hPrev, hs, r, hs, g, 3 * hs, 1, 2 * hs, hs, true);
        var z = g.Slice(0, hs);
        var rg = g.Slice(hs, hs);
        var hg = g.Slice(2 * hs, hs);
        ClipSpan(g.Slice(0, 2 * hs), clip);
        d.F.Apply(z);
        d.F.Apply(rg);
        var rh = r.Slice(2 * hs * hs, hs * hs);
        ReadOnlySpan<T> rbh = d.B is { } bias ? bias.AsSpan(d.BOffset + 3 * hs + 2 * hs, hs) : default;
        if (d.LinearBeforeReset)
        {
            SeqMath.MatMulTransB<T>(hPrev, hs, rh, hs, tmp, hs, 1, hs, hs, false);
            for (int j = 0; j < hs; j++) hg[j] += rg[j] * (tmp[j] + (rbh.IsEmpty ? T.Zero : rbh[j]));
        }
        else
        {
            for (int j = 0; j < hs; j++) tmp[j] = rg[j] * hPrev[j];
            SeqMath.MatMulTransB<T>(tmp, hs, rh, hs, hg, hs, 1, hs, hs, true);
            if (!rbh.IsEmpty) for (int j = 0; j < hs; j++) hg[j] += rbh[j];
        }
        ClipSpan(hg, clip);
        d.G.Apply(hg);
        for (int j = 0; j < hs; j++) hPrev[j] = (T.One - z[j]) * hg[j] + z[j] * hPrev[j];
    }

    private static void LstmStep<T>(RecurrentDirection<T> d, ReadOnlySpan<T> r, Span<T> g, Span<T> hPrev, Span<T> cPrev, T clip)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int hs = d.Hidden;
        SeqMath.MatMulTransB<T>(hPrev, hs, r, hs, g, 4 * hs, 1, 4 * hs, hs, true);
        // ONNX gate order: input, output, forget, cell.
        var ig = g.Slice(0, hs);
        var og = g.Slice(hs, hs);
        var fg = g.Slice(2 * hs, hs);
        var cg = g.Slice(3 * hs, hs);
        ReadOnlySpan<T> pi = default, po = default, pf = default;
        if (d.P is { } p)
        {
            pi = p.AsSpan(d.POffset, hs);
            po = p.AsSpan(d.POffset + hs, hs);
            pf = p.AsSpan(d.POffset + 2 * hs, hs);
            for (int j = 0; j < hs; j++) { ig[j] += pi[j] * cPrev[j]; fg[j] += pf[j] * cPrev[j]; }
        }
        ClipSpan(ig, clip);
        ClipSpan(fg, clip);
        ClipSpan(cg, clip);
        d.F.Apply(ig);
        if (d.InputForget) for (int j = 0; j < hs; j++) fg[j] = T.One - ig[j];
        else d.F.Apply(fg);
        d.G.Apply(cg);
        for (int j = 0; j < hs; j++) cPrev[j] = fg[j] * cPrev[j] + ig[j] * cg[j];
        if (!po.IsEmpty) for (int j = 0; j < hs; j++) og[j] += po[j] * cPrev[j];
        ClipSpan(og, clip);
        d.F.Apply(og);
        // Reuse the cell-gate slot for h(C).
        cPrev.CopyTo(cg);
        d.H.Apply(cg);
        for (int j = 0; j < hs; j++) hPrev[j] = og[j] * cg[j];
    }
}
