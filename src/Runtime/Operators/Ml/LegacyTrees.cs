namespace NetOnnx.Runtime.Operators.Ml;

/// <summary>
/// The node/leaf tables of TreeEnsembleRegressor and TreeEnsembleClassifier (ml opsets 1 and 3): nodes are
/// addressed by (tree id, node id), each tree's root is its first node, and leaves carry weighted votes.
/// </summary>
internal sealed class LegacyTrees
{
    private readonly int[] _feature, _true, _false;
    private readonly byte[] _mode; // 0 LEQ, 1 LT, 2 GTE, 3 GT, 4 EQ, 5 NEQ, 6 LEAF
    private readonly double[] _value;
    private readonly bool[] _missingTrue;
    private readonly (int Target, double Weight)[][] _votes;
    public int[] Roots { get; }
    public int MaxFeature { get; }

    public LegacyTrees(KernelInfo info, string votePrefix)
    {
        long[] Ints(string n) => info.GetInts(n) ?? [];
        var treeIds = Ints("nodes_treeids");
        var nodeIds = Ints("nodes_nodeids");
        var features = Ints("nodes_featureids");
        var trues = Ints("nodes_truenodeids");
        var falses = Ints("nodes_falsenodeids");
        var modes = info.GetStrings("nodes_modes") ?? [];
        var values = Doubles(info, "nodes_values");
        var missing = Ints("nodes_missing_value_tracks_true");
        int n = nodeIds.Length;
        if (treeIds.Length != n || modes.Length != n || features.Length != n && n > 0)
            throw info.Error("nodes_treeids, nodes_nodeids, nodes_modes and nodes_featureids must have the same length");
        var index = new Dictionary<(long, long), int>();
        var roots = new List<int>();
        var seenTrees = new HashSet<long>();
        for (int i = 0; i < n; i++)
        {
            if (!index.TryAdd((treeIds[i], nodeIds[i]), i)) throw info.Error($"node ({treeIds[i]}, {nodeIds[i]}) is defined twice");
            if (seenTrees.Add(treeIds[i])) roots.Add(i);
        }
        Roots = roots.ToArray();
        _feature = new int[n]; _true = new int[n]; _false = new int[n]; _mode = new byte[n]; _value = new double[n]; _missingTrue = new bool[n];
        for (int i = 0; i < n; i++)
        {
            _mode[i] = modes[i] switch
            {
                "BRANCH_LEQ" => 0, "BRANCH_LT" => 1, "BRANCH_GTE" => 2, "BRANCH_GT" => 3, "BRANCH_EQ" => 4, "BRANCH_NEQ" => 5, "LEAF" => 6,
                var m => throw info.Error($"node {i} has unknown mode '{m}'"),
            };
            _missingTrue[i] = i < missing.Length && missing[i] != 0;
            if (_mode[i] == 6) continue;
            _feature[i] = checked((int)features[i]);
            MaxFeature = Math.Max(MaxFeature, _feature[i]);
            _value[i] = i < values.Length ? values[i] : 0;
            _true[i] = index.TryGetValue((treeIds[i], trues.ElementAtOrDefault(i)), out int t) ? t : throw info.Error($"node {i} has a true branch to a missing node");
            _false[i] = index.TryGetValue((treeIds[i], falses.ElementAtOrDefault(i)), out int f) ? f : throw info.Error($"node {i} has a false branch to a missing node");
        }

        var vTrees = Ints(votePrefix + "_treeids");
        var vNodes = Ints(votePrefix + "_nodeids");
        var vIds = Ints(votePrefix + "_ids");
        var vWeights = Doubles(info, votePrefix + "_weights");
        if (vNodes.Length != vTrees.Length || vIds.Length != vTrees.Length || vWeights.Length != vTrees.Length)
            throw info.Error($"{votePrefix}_treeids, _nodeids, _ids and _weights must have the same length");
        var votes = new List<(int, double)>[n];
        for (int i = 0; i < vTrees.Length; i++)
        {
            if (!index.TryGetValue((vTrees[i], vNodes[i]), out int leaf)) throw info.Error($"{votePrefix} vote {i} names a missing node ({vTrees[i]}, {vNodes[i]})");
            (votes[leaf] ??= []).Add((checked((int)vIds[i]), vWeights[i]));
        }
        _votes = votes.Select(v => v?.ToArray() ?? []).ToArray();
    }

    public static double[] Doubles(KernelInfo info, string name) =>
        info.GetTensor(name + "_as_tensor") is { } t ? Enumerable.Range(0, t.Length).Select(t.GetDouble).ToArray()
        : info.GetFloats(name)?.Select(f => (double)f).ToArray() ?? [];

    /// <summary>The leaf a row reaches in the tree rooted at <paramref name="node"/>.</summary>
    public (int Target, double Weight)[] Leaf(ReadOnlySpan<double> row, int node)
    {
        for (int guard = 0; guard <= _mode.Length; guard++)
        {
            if (_mode[node] == 6) return _votes[node];
            double a = row[_feature[node]], v = _value[node];
            bool go = double.IsNaN(a) ? _missingTrue[node] : _mode[node] switch
            {
                0 => a <= v, 1 => a < v, 2 => a >= v, 3 => a > v, 4 => a == v, _ => a != v,
            };
            node = go ? _true[node] : _false[node];
        }
        throw new InvalidOperationException("the tree has a cycle");
    }
}

/// <summary>TreeEnsembleRegressor (ml 1, 3): per-target SUM/AVERAGE/MIN/MAX of leaf votes plus base_values, post-transformed; float output.</summary>
[OpKernel("TreeEnsembleRegressor", 1, Domain = MlCommon.Domain)]
public sealed class TreeEnsembleRegressor : OpKernel
{
    private readonly LegacyTrees _trees;
    private readonly int _targets;
    private readonly string _aggregate;
    private readonly double[] _base;
    private readonly MlCommon.PostTransform _post;

    public TreeEnsembleRegressor(KernelInfo info)
    {
        _trees = new LegacyTrees(info, "target");
        _targets = (int)info.GetInt("n_targets", 1);
        _aggregate = info.GetString("aggregate_function", "SUM");
        if (_aggregate is not ("SUM" or "AVERAGE" or "MIN" or "MAX")) throw info.Error($"aggregate_function must be SUM, AVERAGE, MIN or MAX, got '{_aggregate}'");
        _base = LegacyTrees.Doubles(info, "base_values");
        if (_base.Length != 0 && _base.Length != _targets) throw info.Error($"base_values has {_base.Length} entries for {_targets} targets");
        _post = MlCommon.ParseTransform(info, info.GetString("post_transform", "NONE"));
    }

    public override void Compute(KernelContext ctx)
    {
        var x = ctx.Input(0);
        var v = MlCommon.ToDoubles(ctx, x);
        int f = x.Rank == 0 ? 1 : x.Shape[^1], rows = f == 0 ? 0 : v.Length / f;
        if (_trees.Roots.Length > 0 && _trees.MaxFeature >= f) throw ctx.Error($"the trees test feature {_trees.MaxFeature} but the input has {f}");
        var scores = new double[rows * _targets];
        var hits = new bool[_targets];
        for (int r = 0; r < rows; r++)
        {
            var s = scores.AsSpan(r * _targets, _targets);
            Array.Clear(hits);
            foreach (int root in _trees.Roots)
                foreach (var (t, w) in _trees.Leaf(v.AsSpan(r * f, f), root))
                {
                    if (t < 0 || t >= _targets) throw ctx.Error($"a leaf votes for target {t} of {_targets}");
                    s[t] = !hits[t] ? w : _aggregate switch { "MIN" => Math.Min(s[t], w), "MAX" => Math.Max(s[t], w), _ => s[t] + w };
                    hits[t] = true;
                }
            for (int t = 0; t < _targets; t++)
            {
                if (_aggregate == "AVERAGE" && _trees.Roots.Length > 0) s[t] /= _trees.Roots.Length;
                if (_base.Length > 0) s[t] += _base[t];
            }
            MlCommon.Apply(_post, s);
        }
        MlCommon.Store(ctx.OutputUninitialized(0, DataType.Float, [rows, _targets]), scores);
    }
}

/// <summary>
/// TreeEnsembleClassifier (ml 1, 3): summed class votes plus base_values, the top class as label and the
/// post-transformed scores. With two labels and votes for one class only (binary boosting/forests) the single
/// score is expanded to two columns the way ONNX Runtime does, so exported scikit-learn models agree.
/// </summary>
[OpKernel("TreeEnsembleClassifier", 1, Domain = MlCommon.Domain)]
public sealed class TreeEnsembleClassifier : OpKernel
{
    private readonly LegacyTrees _trees;
    private readonly long[]? _intLabels;
    private readonly string[]? _stringLabels;
    private readonly int _classes;
    private readonly double[] _base;
    private readonly MlCommon.PostTransform _post;
    private readonly bool _binary, _positiveWeights;
    private readonly int _binaryClass;

    public TreeEnsembleClassifier(KernelInfo info)
    {
        _trees = new LegacyTrees(info, "class");
        _intLabels = info.GetInts("classlabels_int64s") is { Length: > 0 } il ? il : null;
        _stringLabels = _intLabels is null ? info.GetStrings("classlabels_strings") : null;
        _classes = _intLabels?.Length ?? _stringLabels?.Length ?? throw info.Error("needs classlabels_int64s or classlabels_strings");
        if (_classes == 0) throw info.Error("has no class labels");
        _base = LegacyTrees.Doubles(info, "base_values");
        _post = MlCommon.ParseTransform(info, info.GetString("post_transform", "NONE"));
        var ids = (info.GetInts("class_ids") ?? []).Distinct().ToArray();
        _binary = _classes == 2 && ids.Length == 1;
        _binaryClass = _binary ? (int)ids[0] : 0;
        _positiveWeights = LegacyTrees.Doubles(info, "class_weights").All(w => w >= 0);
    }

    public override void Compute(KernelContext ctx)
    {
        var x = ctx.Input(0);
        var v = MlCommon.ToDoubles(ctx, x);
        int f = x.Rank == 0 ? 1 : x.Shape[^1], rows = f == 0 ? 0 : v.Length / f;
        if (_trees.Roots.Length > 0 && _trees.MaxFeature >= f) throw ctx.Error($"the trees test feature {_trees.MaxFeature} but the input has {f}");
        var scores = new double[rows * _classes];
        var labels = new int[rows];
        for (int r = 0; r < rows; r++)
        {
            var s = scores.AsSpan(r * _classes, _classes);
            foreach (int root in _trees.Roots)
                foreach (var (c, w) in _trees.Leaf(v.AsSpan(r * f, f), root))
                {
                    if (c < 0 || c >= _classes) throw ctx.Error($"a leaf votes for class {c} of {_classes}");
                    s[c] += w;
                }
            for (int c = 0; c < _base.Length && c < _classes; c++) s[c] += _base[c];
            if (_binary)
            {
                // One score column: positive-class probability (all weights >= 0) or a margin around 0.
                double score = s[_binaryClass];
                bool positive = _positiveWeights ? score > 0.5 : score > 0;
                labels[r] = positive ? 1 : 0;
                if (_post == MlCommon.PostTransform.None)
                {
                    s[1] = score;
                    s[0] = _positiveWeights ? 1 - score : -score;
                }
                else
                {
                    Span<double> one = [score];
                    MlCommon.Apply(_post == MlCommon.PostTransform.Probit ? _post : MlCommon.PostTransform.Logistic, one);
                    s[1] = _post is MlCommon.PostTransform.Logistic or MlCommon.PostTransform.Probit ? one[0] : score;
                    s[0] = _post is MlCommon.PostTransform.Logistic or MlCommon.PostTransform.Probit ? 1 - one[0] : -score;
                    if (_post is MlCommon.PostTransform.Softmax or MlCommon.PostTransform.SoftmaxZero) MlCommon.Apply(_post, s);
                }
            }
            else
            {
                int best = 0;
                for (int c = 1; c < _classes; c++) if (s[c] > s[best]) best = c;
                labels[r] = best;
                MlCommon.Apply(_post, s);
            }
        }
        if (_intLabels is not null)
        {
            var y = ctx.OutputUninitialized(0, DataType.Int64, [rows]).Span<long>();
            for (int r = 0; r < rows; r++) y[r] = _intLabels[labels[r]];
        }
        else
        {
            var y = ctx.Output(0, DataType.String, [rows]).Span<string>();
            for (int r = 0; r < rows; r++) y[r] = _stringLabels![labels[r]];
        }
        if (ctx.IsOutputRequested(1)) MlCommon.Store(ctx.OutputUninitialized(1, DataType.Float, [rows, _classes]), scores);
    }
}
