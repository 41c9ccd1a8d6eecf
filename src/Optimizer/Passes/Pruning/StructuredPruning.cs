using NetOnnx.Optimizer.Patterns;
using NetOnnx.Runtime;

namespace NetOnnx.Optimizer.Passes.Pruning;

/// <summary>Options of <see cref="StructuredPruning"/>.</summary>
public sealed record StructuredPruningOptions
{
    /// <summary>Fraction of each prunable layer's output channels removed, in [0, 1).</summary>
    public double Ratio { get; init; }
    /// <summary>Rank channels by the L1 norm of their weights instead of L2.</summary>
    public bool L1 { get; init; }
    /// <summary>Node names or op types left alone.</summary>
    public IReadOnlySet<string> Exclude { get; init; } = new HashSet<string>(StringComparer.Ordinal);
}

/// <summary>A layer whose output channels were cut: channels before and after, and the nodes that read them.</summary>
public sealed record PrunedChannels(string Id, string OpType, int Channels, int Kept, long WeightsBefore, long WeightsAfter);

/// <summary>A candidate layer left whole, and why.</summary>
public sealed record SkippedLayer(string Id, string OpType, string Reason);

/// <summary>
/// Structured pruning: removes whole output channels (smallest L2 or L1 norm) of Conv (group 1), Gemm and MatMul
/// with constant weights, and the matching input channels of the layers that read them, so the file and the work
/// really shrink. The channels may pass through per-channel Add/Mul/Sub/Div constants, BatchNormalization, pooling,
/// element-wise activations and depthwise Convs (their weights and group count are cut too) before reaching
/// the Conv/Gemm/MatMul readers. A layer is left whole when any of its channels reaches something else (a
/// residual Add with another layer, Concat, Reshape, a graph output): cutting there would change shapes.
/// </summary>
public static class StructuredPruning
{
    private static readonly HashSet<string> Unary = new(StringComparer.Ordinal)
    {
        "Relu", "LeakyRelu", "Sigmoid", "Tanh", "Elu", "Selu", "Celu", "HardSigmoid", "HardSwish", "Softplus", "Softsign",
        "Erf", "Gelu", "Neg", "Abs", "Exp", "Identity", "Sqrt", "Reciprocal", "PRelu", "Clip", "Mish", "Cast",
    };
    // Pooling works channel by channel, so conv channels pass through it unchanged.
    private static readonly HashSet<string> Pooling = new(StringComparer.Ordinal) { "MaxPool", "AveragePool", "GlobalAveragePool", "GlobalMaxPool", "LpPool", "GlobalLpPool" };
    private static readonly HashSet<string> Binary = new(StringComparer.Ordinal) { "Add", "Sub", "Mul", "Div", "Pow" };

    public static (List<PrunedChannels> Pruned, List<SkippedLayer> Skipped) Apply(Model model, StructuredPruningOptions options)
    {
        if (!(options.Ratio >= 0 && options.Ratio < 1)) throw new OnnxException($"structured pruning ratio {options.Ratio} must be in [0, 1)");
        var g = model.Graph;
        var ix = new GraphEditor(g);
        var pruned = new List<PrunedChannels>();
        var skipped = new List<SkippedLayer>();
        // Topological order: a reader cut earlier has its (already narrowed) weights read again here.
        foreach (var n in g.Nodes.ToList())
        {
            if (!IsProducer(ix, n, out int channels)) continue;
            string id = n.Name.Length > 0 ? n.Name : n.Outputs[0];
            if (options.Exclude.Contains(id) || options.Exclude.Contains(n.OpType)) continue;
            int keep = Math.Max(1, (int)Math.Ceiling((1 - options.Ratio) * channels - 1e-9));
            if (keep >= channels) continue;
            var edits = new List<Action<int[]>>();
            string? why = Plan(ix, n, channels, edits);
            if (why is not null) { skipped.Add(new SkippedLayer(id, n.OpType, why)); continue; }
            long before = WeightCount(g, n);
            var norms = ChannelNorms(ix, n, channels, options.L1);
            int[] kept = Enumerable.Range(0, channels).OrderByDescending(c => norms[c]).ThenBy(c => c).Take(keep).Order().ToArray();
            foreach (var e in edits) e(kept);
            pruned.Add(new PrunedChannels(id, n.OpType, channels, keep, before, WeightCount(g, n)));
        }
        RemoveUnread(g);
        return (pruned, skipped);
    }

    /// <summary>Conv (group 1), Gemm or MatMul with constant float weights: how many output channels it has.</summary>
    private static bool IsProducer(GraphEditor ix, Node n, out int channels)
    {
        channels = 0;
        if (n.Domain.Length != 0 || n.Inputs.Count < 2 || n.Outputs.Count != 1) return false;
        if (Const(ix, n.Inputs[1]) is not { ElementType: DataType.Float } w) return false;
        switch (n.OpType)
        {
            case "Conv" when (n.Attr("group")?.Int ?? 1) == 1 && w.Rank >= 3: channels = w.Shape[0]; break;
            case "Gemm" when w.Rank == 2: channels = (n.Attr("transB")?.Int ?? 0) != 0 ? w.Shape[0] : w.Shape[1]; break;
            case "MatMul" when w.Rank == 2: channels = w.Shape[1]; break;
            default: return false;
        }
        return channels > 1;
    }

    /// <summary>
    /// Follows the producer's output to every reader and queues the cuts (each given the kept channel indices);
    /// returns why the channels cannot be cut, or null.
    /// </summary>
    private static string? Plan(GraphEditor ix, Node producer, int channels, List<Action<int[]>> edits)
    {
        var g = ix.Graph;
        var w = Const(ix, producer.Inputs[1])!;
        bool conv = producer.OpType == "Conv";
        int rank = conv ? w.Rank : 0; // conv activations are N x C x spatial; matmul channels are the last axis
        // The producer's own weights and bias.
        switch (producer.OpType)
        {
            case "Conv":
                edits.Add(k => SetInput(ix, producer, 1, Slice(Const(ix, producer.Inputs[1])!, 0, k)));
                if (producer.Inputs.Count > 2 && producer.Inputs[2].Length > 0)
                {
                    if (Const(ix, producer.Inputs[2]) is not { Length: var bl } || bl != channels) return "bias is not a constant per channel";
                    edits.Add(k => SetInput(ix, producer, 2, Slice(Const(ix, producer.Inputs[2])!, 0, k)));
                }
                break;
            case "Gemm":
            {
                int axis = (producer.Attr("transB")?.Int ?? 0) != 0 ? 0 : 1;
                edits.Add(k => SetInput(ix, producer, 1, Slice(Const(ix, producer.Inputs[1])!, axis, k)));
                if (producer.Inputs.Count > 2 && producer.Inputs[2].Length > 0)
                {
                    var c = Const(ix, producer.Inputs[2]);
                    if (c is null) return "bias C is not constant";
                    if (c.Length != 1)
                    {
                        if (ChannelAxisOf(c, channels, 2) is not { } ca) return "bias C is not per output column";
                        edits.Add(k => SetInput(ix, producer, 2, Slice(Const(ix, producer.Inputs[2])!, ca, k)));
                    }
                }
                break;
            }
            default:
                edits.Add(k => SetInput(ix, producer, 1, Slice(Const(ix, producer.Inputs[1])!, 1, k)));
                break;
        }

        var region = new HashSet<string>(StringComparer.Ordinal) { producer.Outputs[0] };
        var queue = new Queue<string>(region);
        var seen = new HashSet<Node>(ReferenceEqualityComparer.Instance);
        bool reachesReader = false;
        // Element-wise nodes with a second input not yet known to carry the channels wait until the queue is
        // empty (Mul(h, erf(h)) meets h before erf(h)); those still waiting then combine them with another value.
        var waiting = new List<Node>();
        while (true)
        {
            while (queue.Count > 0)
            {
                string v = queue.Dequeue();
                if (ix.IsGraphOutput(v)) return $"'{v}' is a graph output";
                foreach (var c in ix.Consumers(v))
                {
                    if (!seen.Add(c)) continue;
                    string? why = Visit(c);
                    if (why is not null) return why;
                }
            }
            var retry = waiting.ToList();
            waiting.Clear();
            foreach (var c in retry) { string? why = Visit(c); if (why is not null) return why; }
            if (queue.Count > 0) continue;
            if (waiting.Count > 0)
            {
                var c = waiting[0];
                string other = c.Inputs.First(i => i.Length > 0 && !region.Contains(i) && Const(ix, i) is null);
                return $"{c.OpType} '{(c.Name.Length > 0 ? c.Name : c.Outputs[0])}' combines them with '{other}' (residual or other non-constant input)";
            }
            break;
        }

        string? Visit(Node c)
        {
            string? why = Consume(ix, c, region, channels, conv, rank, edits, out bool passes, out bool reader, out bool wait);
            if (why is not null) return why;
            if (wait) { waiting.Add(c); return null; }
            reachesReader |= reader;
            if (passes)
                foreach (var o in c.Outputs)
                    if (o.Length > 0 && region.Add(o)) { queue.Enqueue(o); edits.Add(_ => g.ValueTypes.Remove(o)); }
            return null;
        }
        if (!reachesReader) return "its channels reach no Conv/Gemm/MatMul that could drop them";
        edits.Add(_ => g.ValueTypes.Remove(producer.Outputs[0]));
        return null;
    }

    /// <summary>Queues the cuts for one reader of the channels; says whether its outputs carry them on.</summary>
    private static string? Consume(GraphEditor ix, Node c, HashSet<string> region, int channels, bool conv, int rank,
        List<Action<int[]>> edits, out bool passes, out bool reader, out bool wait)
    {
        passes = false;
        reader = false;
        wait = false;
        string op = c.Domain.Length == 0 ? c.OpType : c.Domain + "." + c.OpType;
        string name = c.Name.Length > 0 ? c.Name : c.Outputs.FirstOrDefault() ?? op;
        bool FirstOnly() => region.Contains(c.Inputs[0]) && c.Inputs.Skip(1).All(i => !region.Contains(i));
        switch (op)
        {
            case "Conv" when FirstOnly() && Const(ix, c.Inputs[1]) is { ElementType: DataType.Float } w && w.Rank >= 3:
            {
                long group = c.Attr("group")?.Int ?? 1;
                if (group == 1 && w.Shape[1] == channels)
                {
                    edits.Add(k => SetInput(ix, c, 1, Slice(Const(ix, c.Inputs[1])!, 1, k)));
                    reader = true;
                    return null;
                }
                if (group == channels && w.Shape[0] == channels && w.Shape[1] == 1)
                {
                    // Depthwise: one filter per channel, so the channels pass through; cut filters, bias and group.
                    edits.Add(k => SetInput(ix, c, 1, Slice(Const(ix, c.Inputs[1])!, 0, k)));
                    if (c.Inputs.Count > 2 && c.Inputs[2].Length > 0)
                    {
                        if (Const(ix, c.Inputs[2]) is not { Length: var bl } || bl != channels) return $"depthwise '{name}' bias is not constant";
                        edits.Add(k => SetInput(ix, c, 2, Slice(Const(ix, c.Inputs[2])!, 0, k)));
                    }
                    edits.Add(k => c.Attributes["group"] = NodeAttribute.Of("group", (long)k.Length));
                    passes = true;
                    return null;
                }
                return $"read by grouped Conv '{name}'";
            }
            case "Gemm" when FirstOnly() && (c.Attr("transA")?.Int ?? 0) == 0 && Const(ix, c.Inputs[1]) is { ElementType: DataType.Float, Rank: 2 }:
            {
                int axis = (c.Attr("transB")?.Int ?? 0) != 0 ? 1 : 0;
                if (Const(ix, c.Inputs[1])!.Shape[axis] != channels) return $"Gemm '{name}' weights do not match the {channels} channels";
                edits.Add(k => SetInput(ix, c, 1, Slice(Const(ix, c.Inputs[1])!, axis, k)));
                reader = true;
                return conv ? $"Gemm '{name}' reads conv channels" : null;
            }
            case "MatMul" when FirstOnly() && Const(ix, c.Inputs[1]) is { ElementType: DataType.Float, Rank: 2 } mw:
                if (mw.Shape[0] != channels) return $"MatMul '{name}' weights do not match the {channels} channels";
                edits.Add(k => SetInput(ix, c, 1, Slice(Const(ix, c.Inputs[1])!, 0, k)));
                reader = true;
                return conv ? $"MatMul '{name}' reads conv channels" : null;
            case var _ when conv && c.Domain.Length == 0 && Pooling.Contains(c.OpType) && c.Inputs.Count == 1 && c.Outputs.Count(o => o.Length > 0) == 1:
                passes = true;
                return null;
            case "BatchNormalization" when conv && FirstOnly() && c.Outputs.Count(o => o.Length > 0) == 1:
                for (int i = 1; i < c.Inputs.Count && i < 5; i++)
                {
                    int slot = i;
                    if (Const(ix, c.Inputs[i]) is not { Length: var l } || l != channels) return $"BatchNormalization '{name}' has non-constant parameters";
                    edits.Add(k => SetInput(ix, c, slot, Slice(Const(ix, c.Inputs[slot])!, 0, k)));
                }
                passes = true;
                return null;
        }
        if (c.Domain.Length == 0 && (Unary.Contains(c.OpType) || Binary.Contains(c.OpType)) && c.Outputs.Count == 1)
        {
            if (!region.Contains(c.Inputs[0]) && !Binary.Contains(c.OpType)) return $"read by {c.OpType} '{name}' as a parameter";
            if (c.Inputs.Any(i => i.Length > 0 && !region.Contains(i) && Const(ix, i) is null)) { wait = true; return null; }
            for (int i = 0; i < c.Inputs.Count; i++)
            {
                string input = c.Inputs[i];
                if (input.Length == 0 || region.Contains(input)) continue;
                var t = Const(ix, input);
                if (t!.Length == 1) continue;
                // A per-channel constant, broadcast from the right against N x C x ... or ... x C.
                int? axis = conv ? (t.Rank >= rank - 1 ? t.Rank - (rank - 1) : null) : t.Rank - 1;
                if (axis is not { } a || a < 0 || t.Shape[a] != channels || t.Shape.Where((d, j) => j != a).Any(d => d != 1))
                    return $"{c.OpType} '{name}' has a constant that is not per channel";
                int slot = i;
                edits.Add(k => SetInput(ix, c, slot, Slice(Const(ix, c.Inputs[slot])!, a, k)));
            }
            passes = true;
            return null;
        }
        return $"read by {c.OpType} '{name}'";
    }

    /// <summary>
    /// A constant's value: an initializer the caller cannot override, a Constant node's tensor, or either through
    /// Identity nodes (exporters route shared weights that way). Cuts always write a new initializer.
    /// </summary>
    private static Tensor? Const(GraphEditor ix, string name)
    {
        for (int hops = 0; hops < 16 && name.Length > 0; hops++)
        {
            if (ix.ConstantValue(name) is { } t) return t;
            var p = ix.Producer(name);
            if (p is null || p.Domain.Length != 0) return null;
            if (p.OpType == "Constant") return p.Attr("value")?.Tensor;
            if (p.OpType != "Identity") return null;
            name = p.Inputs[0];
        }
        return null;
    }

    /// <summary>The axis of a constant that holds one value per channel (all others 1), for a rank-2 Gemm bias.</summary>
    private static int? ChannelAxisOf(Tensor t, int channels, int maxRank)
    {
        if (t.Rank > maxRank || t.Rank == 0 || t.Shape[^1] != channels) return null;
        return t.Shape.Take(t.Rank - 1).All(d => d == 1) ? t.Rank - 1 : null;
    }

    private static double[] ChannelNorms(GraphEditor ix, Node n, int channels, bool l1)
    {
        var w = Const(ix, n.Inputs[1])!;
        var v = w.ToArray<float>();
        var norms = new double[channels];
        // Output channel of each weight: leading axis for Conv and Gemm transB, trailing axis otherwise.
        bool leading = n.OpType == "Conv" || (n.OpType == "Gemm" && (n.Attr("transB")?.Int ?? 0) != 0);
        int inner = v.Length / channels;
        for (int i = 0; i < v.Length; i++)
        {
            int c = leading ? i / inner : i % channels;
            norms[c] += l1 ? Math.Abs(v[i]) : (double)v[i] * v[i];
        }
        return norms;
    }

    /// <summary>The entries of <paramref name="t"/> at indices <paramref name="keep"/> along <paramref name="axis"/>.</summary>
    public static Tensor Slice(Tensor t, int axis, int[] keep)
    {
        var shape = (int[])t.Shape.Clone();
        int outer = 1, inner = 1;
        for (int i = 0; i < axis; i++) outer *= shape[i];
        for (int i = axis + 1; i < shape.Length; i++) inner *= shape[i];
        int dim = shape[axis];
        var src = t.ToArray<float>();
        var dst = new float[outer * keep.Length * inner];
        for (int o = 0; o < outer; o++)
            for (int j = 0; j < keep.Length; j++)
                Array.Copy(src, ((long)o * dim + keep[j]) * inner, dst, ((long)o * keep.Length + j) * inner, inner);
        shape[axis] = keep.Length;
        return Tensor.Create(dst, shape);
    }

    /// <summary>Gives a node a new constant input; the old initializer may be shared, so it is never edited.</summary>
    private static void SetInput(GraphEditor ix, Node n, int slot, Tensor value) =>
        n.Inputs[slot] = ix.AddInitializer(n.Inputs[slot] + "_cut", value);

    private static long WeightCount(Graph g, Node n) =>
        n.Inputs.Skip(1).Where(i => i.Length > 0 && g.Initializers.ContainsKey(i)).Sum(i => (long)g.Initializers[i].Length);

    private static void RemoveUnread(Graph g)
    {
        // Constant and Identity nodes that fed only the cut inputs are dead now; drop them so their tensors go too.
        var outputs = g.Outputs.Select(o => o.Name).ToHashSet(StringComparer.Ordinal);
        for (bool changed = true; changed;)
        {
            var reads = g.Nodes.SelectMany(x => x.Inputs).ToHashSet(StringComparer.Ordinal);
            foreach (var sub in g.Nodes.SelectMany(g.Subgraphs)) reads.UnionWith(sub.OuterScopeReads());
            changed = g.Nodes.RemoveAll(n => n.Domain.Length == 0 && n.OpType is "Constant" or "Identity"
                && n.Outputs.All(o => !reads.Contains(o) && !outputs.Contains(o))) > 0;
        }
        var read = g.Nodes.SelectMany(x => x.Inputs).Concat(g.Outputs.Select(o => o.Name)).ToHashSet(StringComparer.Ordinal);
        foreach (var sub in g.Nodes.SelectMany(g.Subgraphs)) read.UnionWith(sub.OuterScopeReads());
        var inputNames = g.Inputs.Select(i => i.Name).ToHashSet(StringComparer.Ordinal);
        foreach (var name in g.Initializers.Keys.ToList())
            if (!read.Contains(name) && !inputNames.Contains(name)) g.Initializers.Remove(name);
    }
}
