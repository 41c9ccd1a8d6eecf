namespace NetOnnx.Runtime.Operators.Text;

/// <summary>
/// TfIdfVectorizer (opset 9): counts the pool's n-grams in each row of int32/int64/string tokens, with n-grams
/// of length >= 2 also matched across up to max_skip_count skipped tokens, then scales by mode (TF counts, IDF
/// weight-if-present, TFIDF count x weight). The pool is turned into a trie of n-grams once at creation.
/// </summary>
[OpKernel("TfIdfVectorizer", 9)]
public sealed class TfIdfVectorizer : OpKernel
{
    private sealed class TrieNode
    {
        public Dictionary<object, TrieNode> Next { get; } = [];
        /// <summary>Output coordinate of the n-gram ending here, or -1.</summary>
        public int OutputIndex { get; set; } = -1;
    }

    private readonly TrieNode _root = new();
    private readonly int _minN, _maxN, _maxSkip, _outputSize;
    private readonly string _mode;
    private readonly float[]? _weights;
    private readonly bool _stringPool;

    public TfIdfVectorizer(KernelInfo info)
    {
        _minN = (int)info.GetInt("min_gram_length", 1);
        _maxN = (int)info.GetInt("max_gram_length", 1);
        _maxSkip = (int)info.GetInt("max_skip_count", 0);
        _mode = info.GetString("mode", "TF");
        if (_mode is not ("TF" or "IDF" or "TFIDF")) throw info.Error($"mode must be TF, IDF or TFIDF, got '{_mode}'");
        if (_minN < 1 || _maxN < _minN) throw info.Error($"gram lengths must satisfy 1 <= min ({_minN}) <= max ({_maxN})");
        if (_maxSkip < 0) throw info.Error("max_skip_count must be >= 0");
        var counts = info.GetInts("ngram_counts") ?? throw info.Error("attribute ngram_counts is required");
        var indexes = info.GetInts("ngram_indexes") ?? throw info.Error("attribute ngram_indexes is required");
        _weights = info.GetFloats("weights");
        var ints = info.GetInts("pool_int64s");
        var strings = info.GetStrings("pool_strings");
        if ((ints is null) == (strings is null)) throw info.Error("exactly one of pool_int64s and pool_strings must be given");
        _stringPool = strings is not null;
        object[] pool = strings is not null ? strings : ints!.Select(v => (object)v).ToArray();
        if (_weights is not null && _weights.Length != indexes.Length) throw info.Error($"weights has {_weights.Length} entries, ngram_indexes {indexes.Length}");

        // ngram_counts[k] is where the (k+1)-grams start in the pool, counted in tokens.
        int gram = 0;
        for (int k = 0; k < counts.Length; k++)
        {
            int n = k + 1;
            long start = counts[k], end = k + 1 < counts.Length ? counts[k + 1] : pool.Length;
            if (start < 0 || end > pool.Length || start > end || (end - start) % n != 0)
                throw info.Error($"ngram_counts[{k}] = {start} does not split the pool into {n}-grams");
            for (long p = start; p < end; p += n, gram++)
            {
                if (gram >= indexes.Length) throw info.Error("ngram_indexes has fewer entries than the pool has n-grams");
                var node = _root;
                for (int t = 0; t < n; t++)
                {
                    var key = pool[p + t];
                    if (!node.Next.TryGetValue(key, out var child)) node.Next[key] = child = new TrieNode();
                    node = child;
                }
                node.OutputIndex = gram;
            }
        }
        _outputSize = indexes.Length == 0 ? 0 : (int)indexes.Max() + 1;
        _gramToOutput = indexes.Select(i => (int)i).ToArray();
    }

    private readonly int[] _gramToOutput;

    public override void Compute(KernelContext ctx)
    {
        var x = ctx.Input(0);
        if (x.Rank is not (1 or 2)) throw ctx.Error($"input must be 1-D or 2-D, got shape {Kernels.ShapeMath.Format(x.Shape)}");
        bool isString = x.ElementType == DataType.String;
        if (isString != _stringPool) throw ctx.Error($"input of type {x.ElementType.OnnxName()} does not match a {(_stringPool ? "string" : "integer")} pool");
        int rows = x.Rank == 1 ? 1 : x.Shape[0];
        int cols = x.Rank == 1 ? x.Shape[0] : x.Shape[1];
        var y = ctx.Output(0, DataType.Float, x.Rank == 1 ? [_outputSize] : [rows, _outputSize]);
        var ys = y.Span<float>();
        var tokens = new object[cols];
        var counts = new int[_gramToOutput.Length];
        for (int r = 0; r < rows; r++)
        {
            for (int c = 0; c < cols; c++)
                tokens[c] = x.ElementType switch
                {
                    DataType.String => x.ReadOnlySpan<string>()[r * cols + c],
                    DataType.Int64 => x.ReadOnlySpan<long>()[r * cols + c],
                    DataType.Int32 => (object)(long)x.ReadOnlySpan<int>()[r * cols + c],
                    _ => throw ctx.Error($"input type {x.ElementType.OnnxName()} is not supported (int32, int64, string)"),
                };
            Array.Clear(counts);
            for (int start = 0; start < cols; start++)
            {
                // Unigrams have no gaps to skip, so they are counted once per position.
                int skips = _maxN >= 2 ? _maxSkip : 0;
                for (int skip = 0; skip <= skips; skip++)
                {
                    var node = _root;
                    for (int n = 1, pos = start; n <= _maxN && pos < cols; n++, pos += skip + 1)
                    {
                        if (!node.Next.TryGetValue(tokens[pos], out node!)) break;
                        if (n >= _minN && node.OutputIndex >= 0 && (n >= 2 || skip == 0)) counts[node.OutputIndex]++;
                    }
                }
            }
            var row = ys.Slice(r * _outputSize, _outputSize);
            for (int g = 0; g < counts.Length; g++)
            {
                if (counts[g] == 0) continue;
                float w = _weights?[g] ?? 1f;
                row[_gramToOutput[g]] = _mode switch { "TF" => counts[g], "IDF" => w, _ => counts[g] * w };
            }
        }
    }
}
