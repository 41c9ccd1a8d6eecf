using NetOnnx.Kernels;

namespace NetOnnx.Runtime.Operators.Linalg;

/// <summary>A parsed einsum equation: label ids per operand axis and for the output.</summary>
internal sealed class EinsumEquation
{
    /// <summary>Per operand, the label id of each axis (ellipsis axes get their own ids).</summary>
    public int[][] OperandLabels = [];
    public int[] OutputLabels = [];
    public int LabelCount;

    public static EinsumEquation Parse(string equation, int[][] shapes)
    {
        string eq = equation.Replace(" ", "");
        int arrow = eq.IndexOf("->", StringComparison.Ordinal);
        string lhs = arrow >= 0 ? eq[..arrow] : eq;
        string? rhs = arrow >= 0 ? eq[(arrow + 2)..] : null;
        var terms = lhs.Split(',');
        if (terms.Length != shapes.Length)
            throw new ArgumentException($"equation '{equation}' has {terms.Length} operand terms but the node has {shapes.Length} inputs");

        var parsed = new List<char>[terms.Length];
        var hasEllipsis = new bool[terms.Length];
        int ellRank = 0;
        for (int i = 0; i < terms.Length; i++)
        {
            parsed[i] = Tokens(terms[i], out hasEllipsis[i], equation);
            int e = shapes[i].Length - Letters(parsed[i]);
            if (!hasEllipsis[i] && e != 0 || e < 0)
                throw new ArgumentException($"term '{terms[i]}' does not match operand {i} of rank {shapes[i].Length}");
            if (hasEllipsis[i]) ellRank = Math.Max(ellRank, e);
        }
        // Ids 0..ellRank-1 are the ellipsis axes (right-aligned across operands); letters follow.
        var letterIds = new Dictionary<char, int>();
        int Id(char ch)
        {
            if (!letterIds.TryGetValue(ch, out int id)) { id = ellRank + letterIds.Count; letterIds[ch] = id; }
            return id;
        }
        var result = new EinsumEquation { OperandLabels = new int[terms.Length][] };
        var counts = new Dictionary<char, int>();
        for (int i = 0; i < terms.Length; i++)
        {
            var labels = new List<int>();
            int e = shapes[i].Length - Letters(parsed[i]);
            foreach (char ch in parsed[i])
            {
                if (ch == '.') { for (int q = 0; q < e; q++) labels.Add(ellRank - e + q); }
                else { labels.Add(Id(ch)); counts[ch] = counts.GetValueOrDefault(ch) + 1; }
            }
            result.OperandLabels[i] = labels.ToArray();
        }
        var outLabels = new List<int>();
        if (rhs is not null)
        {
            foreach (char ch in Tokens(rhs, out _, equation))
            {
                if (ch == '.') { for (int q = 0; q < ellRank; q++) outLabels.Add(q); continue; }
                if (!letterIds.ContainsKey(ch)) throw new ArgumentException($"output label '{ch}' does not appear in any input of '{equation}'");
                if (outLabels.Contains(letterIds[ch])) throw new ArgumentException($"output label '{ch}' repeats in '{equation}'");
                outLabels.Add(letterIds[ch]);
            }
        }
        else
        {
            for (int q = 0; q < ellRank; q++) outLabels.Add(q);
            foreach (var ch in counts.Where(kv => kv.Value == 1).Select(kv => kv.Key).OrderBy(c => c, Comparer<char>.Create((x, y) => x.CompareTo(y))))
                outLabels.Add(letterIds[ch]);
        }
        result.OutputLabels = outLabels.ToArray();
        result.LabelCount = ellRank + letterIds.Count;
        return result;
    }

    private static int Letters(List<char> tokens) => tokens.Count(ch => ch != '.');

    /// <summary>Letters of a term, with '.' standing for one ellipsis.</summary>
    private static List<char> Tokens(string term, out bool ellipsis, string equation)
    {
        var r = new List<char>();
        ellipsis = false;
        for (int i = 0; i < term.Length; i++)
        {
            char ch = term[i];
            if (ch == '.')
            {
                if (ellipsis || i + 2 >= term.Length || term[i + 1] != '.' || term[i + 2] != '.')
                    throw new ArgumentException($"bad ellipsis in '{equation}'");
                ellipsis = true; r.Add('.'); i += 2;
            }
            else if (char.IsAsciiLetter(ch)) r.Add(ch);
            else throw new ArgumentException($"unexpected character '{ch}' in einsum equation '{equation}'");
        }
        return r;
    }
}

/// <summary>
/// Einsum: any equation, evaluated by walking every combination of output and summed labels. Repeated
/// labels in one operand (diagonals) fold into a single stride; size-1 axes broadcast.
/// </summary>
[OpKernel("Einsum", 12)]
public sealed class Einsum : OpKernel
{
    private readonly string _equation;

    public Einsum(KernelInfo info)
    {
        _equation = info.GetString("equation", "");
        if (_equation.Length == 0) throw info.Error("attribute 'equation' is required");
    }

    public override void Compute(KernelContext ctx)
    {
        int n = ctx.InputCount;
        var inputs = new Tensor[n];
        for (int i = 0; i < n; i++) inputs[i] = ctx.Input(i);
        var type = inputs[0].ElementType;
        foreach (var t in inputs)
            if (t.ElementType != type) throw ctx.Error("all inputs must have the same element type");
        EinsumEquation eq;
        try { eq = EinsumEquation.Parse(_equation, inputs.Select(t => t.Shape).ToArray()); }
        catch (ArgumentException e) { throw ctx.Error(e.Message); }

        // Label sizes, with size-1 axes broadcasting against larger ones.
        var sizes = new int[eq.LabelCount];
        Array.Fill(sizes, 1);
        var seen = new bool[eq.LabelCount];
        for (int i = 0; i < n; i++)
            for (int ax = 0; ax < eq.OperandLabels[i].Length; ax++)
            {
                int l = eq.OperandLabels[i][ax], d = inputs[i].Shape[ax];
                if (!seen[l] || sizes[l] == 1) { sizes[l] = d; seen[l] = true; }
                else if (d != sizes[l] && d != 1)
                    throw ctx.Error($"dimension {ax} of input {i} is {d} but the same label elsewhere has size {sizes[l]}");
            }
        var outShape = eq.OutputLabels.Select(l => sizes[l]).ToArray();
        // Walk order: output labels first, then the summed ones.
        var order = eq.OutputLabels.ToList();
        for (int l = 0; l < eq.LabelCount; l++) if (!order.Contains(l)) order.Add(l);
        var walkSizes = order.Select(l => sizes[l]).ToArray();
        var strides = new int[n][];
        for (int i = 0; i < n; i++)
        {
            strides[i] = new int[order.Count];
            var st = ShapeMath.Strides(inputs[i].Shape);
            for (int ax = 0; ax < eq.OperandLabels[i].Length; ax++)
            {
                if (inputs[i].Shape[ax] == 1) continue;
                int pos = order.IndexOf(eq.OperandLabels[i][ax]);
                strides[i][pos] += st[ax];
            }
        }
        var y = ctx.OutputUninitialized(0, type, outShape);
        if (n == 2 && type == DataType.Float && TryContract(inputs[0], inputs[1], eq, sizes, y, ctx.Threads)) return;
        int outCount = y.Length, sumCount = 1;
        for (int q = eq.OutputLabels.Length; q < order.Count; q++) sumCount *= walkSizes[q];

        if (type.IsFloat() && !type.IsEncoded())
        {
            var data = inputs.Select(ToDouble).ToArray();
            var r = new double[outCount];
            Walk(data, strides, walkSizes, eq.OutputLabels.Length, outCount, sumCount, r);
            for (int i = 0; i < outCount; i++)
                switch (type)
                {
                    case DataType.Float: y.Span<float>()[i] = (float)r[i]; break;
                    case DataType.Double: y.Span<double>()[i] = r[i]; break;
                    case DataType.Float16: y.Span<Half>()[i] = (Half)r[i]; break;
                    case DataType.BFloat16: y.Span<BFloat16>()[i] = (BFloat16)(float)r[i]; break;
                }
        }
        else if (type.IsInteger() && !type.IsEncoded())
        {
            var data = inputs.Select(t => t.ToInt64Array()).ToArray();
            var r = new long[outCount];
            Walk(data, strides, walkSizes, eq.OutputLabels.Length, outCount, sumCount, r);
            for (int i = 0; i < outCount; i++) WriteInteger(y, i, r[i]);
        }
        else throw ctx.Error($"element type {type.OnnxName()} is not supported");
    }

    /// <summary>
    /// Two-operand float contractions as a batched SGEMM: permute A to [batch, M, K] and B to [batch, K, N]
    /// (labels in both inputs and the output are batch, in one input and the output M or N, in both inputs
    /// only K), multiply, and permute the result to the output order. Diagonals, broadcasting and labels
    /// summed within one operand return false and take the general walk.
    /// </summary>
    private static bool TryContract(Tensor a, Tensor b, EinsumEquation eq, int[] sizes, Tensor y, int threads)
    {
        int[] la = eq.OperandLabels[0], lb = eq.OperandLabels[1], lo = eq.OutputLabels;
        if (la.Distinct().Count() != la.Length || lb.Distinct().Count() != lb.Length) return false;
        for (int i = 0; i < la.Length; i++) if (a.Shape[i] != sizes[la[i]]) return false;
        for (int i = 0; i < lb.Length; i++) if (b.Shape[i] != sizes[lb[i]]) return false;
        var batch = lo.Where(l => la.Contains(l) && lb.Contains(l)).ToList();
        var mLabels = lo.Where(l => la.Contains(l) && !lb.Contains(l)).ToList();
        var nLabels = lo.Where(l => lb.Contains(l) && !la.Contains(l)).ToList();
        var kLabels = la.Where(l => lb.Contains(l) && !lo.Contains(l)).ToList();
        if (la.Any(l => !lb.Contains(l) && !lo.Contains(l)) || lb.Any(l => !la.Contains(l) && !lo.Contains(l))) return false;
        int Prod(List<int> ls) => ls.Aggregate(1, (acc, l) => acc * sizes[l]);
        int bt = Prod(batch), mt = Prod(mLabels), nt = Prod(nLabels), kt = Prod(kLabels);
        var ap = Permute((float[])a.Buffer, a.Shape, [.. batch.Concat(mLabels).Concat(kLabels).Select(l => Array.IndexOf(la, l))]);
        var bp = Permute((float[])b.Buffer, b.Shape, [.. batch.Concat(kLabels).Concat(nLabels).Select(l => Array.IndexOf(lb, l))]);
        var rLabels = batch.Concat(mLabels).Concat(nLabels).ToArray();
        var r = new float[Math.Max(1, bt * mt * nt)];
        for (int i = 0; i < bt; i++)
            NetOnnx.Kernels.Gemm.Sgemm.Multiply(false, false, mt, nt, kt, 1f, ap.AsSpan(i * mt * kt), kt, bp.AsSpan(i * kt * nt), nt,
                0f, r.AsSpan(i * mt * nt, mt * nt), nt, threads);
        var res = Permute(r, rLabels.Select(l => sizes[l]).ToArray(), [.. lo.Select(l => Array.IndexOf(rLabels, l))]);
        res.AsSpan(0, y.Length).CopyTo(y.Span<float>());
        return true;
    }

    /// <summary>out = src transposed so that output axis i is input axis perm[i].</summary>
    private static float[] Permute(float[] src, int[] shape, int[] perm)
    {
        bool identity = true;
        for (int i = 0; i < perm.Length; i++) identity &= perm[i] == i;
        int total = ShapeMath.Size(shape);
        if (identity) return src;
        var st = ShapeMath.Strides(shape);
        int r = perm.Length;
        var oshape = perm.Select(p => shape[p]).ToArray();
        var ost = perm.Select(p => st[p]).ToArray();
        var dst = new float[total];
        var idx = new int[r];
        int off = 0;
        for (int o = 0; o < total; o++)
        {
            dst[o] = src[off];
            for (int d = r - 1; d >= 0; d--)
            {
                off += ost[d];
                if (++idx[d] < oshape[d]) break;
                off -= ost[d] * oshape[d];
                idx[d] = 0;
            }
        }
        return dst;
    }

    private static double[] ToDouble(Tensor t)
    {
        var r = new double[t.Length];
        if (t.ElementType == DataType.Float) { var s = t.ReadOnlySpan<float>(); for (int i = 0; i < r.Length; i++) r[i] = s[i]; }
        else for (int i = 0; i < r.Length; i++) r[i] = t.GetDouble(i);
        return r;
    }

    private static void WriteInteger(Tensor y, int i, long v)
    {
        switch (y.ElementType)
        {
            case DataType.Int8: y.Span<sbyte>()[i] = (sbyte)v; break;
            case DataType.Int16: y.Span<short>()[i] = (short)v; break;
            case DataType.Int32: y.Span<int>()[i] = (int)v; break;
            case DataType.Int64: y.Span<long>()[i] = v; break;
            case DataType.UInt8: y.Span<byte>()[i] = (byte)v; break;
            case DataType.UInt16: y.Span<ushort>()[i] = (ushort)v; break;
            case DataType.UInt32: y.Span<uint>()[i] = (uint)v; break;
            case DataType.UInt64: y.Span<ulong>()[i] = (ulong)v; break;
        }
    }

    private static void Walk<T>(T[][] data, int[][] strides, int[] walkSizes, int outRank, int outCount, int sumCount, T[] result)
        where T : System.Numerics.INumber<T>
    {
        int n = data.Length, rank = walkSizes.Length;
        var idx = new int[rank];
        var offs = new int[n];
        for (int o = 0; o < outCount; o++)
        {
            T acc = T.Zero;
            for (int s = 0; s < sumCount; s++)
            {
                T prod = data[0][offs[0]];
                for (int i = 1; i < n; i++) prod *= data[i][offs[i]];
                acc += prod;
                // Advance the summed labels (innermost), carrying into the output labels at the end.
                for (int d = rank - 1; d >= outRank; d--)
                {
                    for (int i = 0; i < n; i++) offs[i] += strides[i][d];
                    if (++idx[d] < walkSizes[d]) goto nextSum;
                    for (int i = 0; i < n; i++) offs[i] -= strides[i][d] * walkSizes[d];
                    idx[d] = 0;
                }
            nextSum:;
            }
            result[o] = acc;
            for (int d = outRank - 1; d >= 0; d--)
            {
                for (int i = 0; i < n; i++) offs[i] += strides[i][d];
                if (++idx[d] < walkSizes[d]) break;
                for (int i = 0; i < n; i++) offs[i] -= strides[i][d] * walkSizes[d];
                idx[d] = 0;
            }
        }
    }
}
