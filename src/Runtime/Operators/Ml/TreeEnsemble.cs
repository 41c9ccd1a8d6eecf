using NetOnnx.Kernels;

namespace NetOnnx.Runtime.Operators.Ml;

/// <summary>
/// TreeEnsemble (ml opset 5): interior nodes in nodes_*, leaves in leaf_*; each row walks every tree from its
/// root and the reached leaves' weights are aggregated per target (SUM, AVERAGE, MIN, MAX), then post-transformed.
/// </summary>
[OpKernel("TreeEnsemble", 5, Domain = MlCommon.Domain)]
public sealed class TreeEnsemble : OpKernel
{
    private readonly int[] _roots, _features, _trueIds, _falseIds, _leafTargets;
    private readonly bool[] _trueLeaf, _falseLeaf, _missingTrue;
    private readonly byte[] _modes;
    private readonly double[] _splits, _leafWeights;
    private readonly HashSet<double>?[] _sets;
    private readonly int _targets, _aggregate;
    private readonly MlCommon.PostTransform _post;

    public TreeEnsemble(KernelInfo info)
    {
        int[] Ints(string n, bool required = true) =>
            info.GetInts(n)?.Select(v => checked((int)v)).ToArray() ?? (required ? throw info.Error($"requires attribute {n}") : []);
        _roots = Ints("tree_roots");
        _features = Ints("nodes_featureids");
        _trueIds = Ints("nodes_truenodeids");
        _falseIds = Ints("nodes_falsenodeids");
        _trueLeaf = Ints("nodes_trueleafs").Select(v => v != 0).ToArray();
        _falseLeaf = Ints("nodes_falseleafs").Select(v => v != 0).ToArray();
        _leafTargets = Ints("leaf_targetids");
        var modes = info.GetTensor("nodes_modes") ?? throw info.Error("requires attribute nodes_modes");
        _modes = Enumerable.Range(0, modes.Length).Select(i => (byte)modes.GetDouble(i)).ToArray();
        var splits = info.GetTensor("nodes_splits") ?? throw info.Error("requires attribute nodes_splits");
        _splits = Enumerable.Range(0, splits.Length).Select(splits.GetDouble).ToArray();
        var weights = info.GetTensor("leaf_weights") ?? throw info.Error("requires attribute leaf_weights");
        _leafWeights = Enumerable.Range(0, weights.Length).Select(weights.GetDouble).ToArray();
        int n = _features.Length;
        var missing = Ints("nodes_missing_value_tracks_true", required: false);
        _missingTrue = missing.Length == 0 ? new bool[n] : missing.Select(v => v != 0).ToArray();
        if (new[] { _trueIds.Length, _falseIds.Length, _trueLeaf.Length, _falseLeaf.Length, _modes.Length, _splits.Length, _missingTrue.Length }.Any(l => l != n))
            throw info.Error("all nodes_* attributes must have the same length");
        if (_leafWeights.Length != _leafTargets.Length) throw info.Error("leaf_targetids and leaf_weights must have the same length");
        _targets = (int)info.GetInt("n_targets", _leafTargets.Length == 0 ? 1 : _leafTargets.Max() + 1);
        foreach (var t in _leafTargets) if (t < 0 || t >= _targets) throw info.Error($"leaf target {t} is outside [0, {_targets})");
        for (int i = 0; i < n; i++)
        {
            if (_modes[i] > 6) throw info.Error($"node {i} has unknown mode {_modes[i]}");
            if (_trueIds[i] < 0 || _trueIds[i] >= (_trueLeaf[i] ? _leafTargets.Length : n) || _falseIds[i] < 0 || _falseIds[i] >= (_falseLeaf[i] ? _leafTargets.Length : n))
                throw info.Error($"node {i} points at a node or leaf that does not exist");
        }
        foreach (var r in _roots) if (r < 0 || r >= n) throw info.Error($"tree root {r} is not a node");

        // Membership sets, in the order the BRANCH_MEMBER nodes appear, separated by NaN.
        _sets = new HashSet<double>?[n];
        var members = info.GetTensor("membership_values");
        int at = 0;
        for (int i = 0; i < n; i++)
        {
            if (_modes[i] != 6) continue;
            if (members is null) throw info.Error("has BRANCH_MEMBER nodes but no membership_values");
            var set = new HashSet<double>();
            for (; at < members.Length && !double.IsNaN(members.GetDouble(at)); at++) set.Add(members.GetDouble(at));
            at++;
            _sets[i] = set;
        }
        _aggregate = (int)info.GetInt("aggregate_function", 1);
        if (_aggregate is < 0 or > 3) throw info.Error($"aggregate_function {_aggregate} is not one of 0 (AVERAGE), 1 (SUM), 2 (MIN), 3 (MAX)");
        int post = (int)info.GetInt("post_transform", 0);
        if (post is < 0 or > 4) throw info.Error($"post_transform {post} is not in 0..4");
        _post = (MlCommon.PostTransform)post;
    }

    public override void Compute(KernelContext ctx)
    {
        var x = ctx.Input(0);
        if (x.ElementType is not (DataType.Float or DataType.Double or DataType.Float16))
            throw ctx.Error($"input must be float, double or float16, got {x.ElementType.OnnxName()}");
        int rows = x.Rank == 1 ? 1 : x.Shape[0];
        int features = x.Rank == 0 ? 1 : x.Shape[^1];
        if (x.Rank > 2) throw ctx.Error($"input must be [N, F], got {ShapeMath.Format(x.Shape)}");
        foreach (var f in _features) if (f >= features) throw ctx.Error($"a node tests feature {f} but the input has {features}");
        var v = MlCommon.ToDoubles(ctx, x);
        var scores = new double[rows * _targets];
        var hits = new int[_targets];
        for (int r = 0; r < rows; r++)
        {
            var row = v.AsSpan(r * features, features);
            var s = scores.AsSpan(r * _targets, _targets);
            Array.Clear(hits);
            foreach (int root in _roots)
            {
                int leaf = Walk(row, root);
                int t = _leafTargets[leaf];
                double w = _leafWeights[leaf];
                s[t] = hits[t] == 0 ? w : _aggregate switch { 2 => Math.Min(s[t], w), 3 => Math.Max(s[t], w), _ => s[t] + w };
                hits[t]++;
            }
            if (_aggregate == 0) for (int t = 0; t < _targets; t++) s[t] /= _roots.Length;
            MlCommon.Apply(_post, s);
        }
        MlCommon.Store(ctx.OutputUninitialized(0, x.ElementType, [rows, _targets]), scores);
    }

    private int Walk(ReadOnlySpan<double> row, int node)
    {
        for (int guard = 0; guard <= _features.Length; guard++)
        {
            double a = row[_features[node]];
            bool go;
            if (double.IsNaN(a) && _modes[node] != 6) go = _missingTrue[node];
            else go = _modes[node] switch
            {
                0 => a <= _splits[node],
                1 => a < _splits[node],
                2 => a >= _splits[node],
                3 => a > _splits[node],
                4 => a == _splits[node],
                5 => a != _splits[node],
                _ => _sets[node]!.Contains(a) || double.IsNaN(a) && _missingTrue[node],
            };
            if (go ? _trueLeaf[node] : _falseLeaf[node]) return go ? _trueIds[node] : _falseIds[node];
            node = go ? _trueIds[node] : _falseIds[node];
        }
        throw new InvalidOperationException("the tree has a cycle");
    }
}
