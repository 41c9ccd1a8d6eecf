using System.Diagnostics;
using NetOnnx.OnnxImport;
using NetOnnx.Runtime;

namespace NetOnnx.Tools.Conformance;

/// <summary>The outcome of one backend test folder.</summary>
public sealed record TestOutcome(string Suite, string Name, bool Passed, string Detail, IReadOnlyList<string> Ops, double Milliseconds);

/// <summary>
/// Runs ONNX backend test folders (model.onnx + test_data_set_N/input_K.pb, output_K.pb) with the ONNX rule
/// (rtol 1e-3, atol 1e-7 for floating types; exact otherwise).
/// </summary>
public static class ConformanceRunner
{
    public const double Rtol = 1e-3, Atol = 1e-7;

    /// <summary>Every test folder below <paramref name="root"/> (a suite folder or a folder of suites).</summary>
    public static IEnumerable<(string Suite, string Dir)> Discover(string root)
    {
        if (File.Exists(Path.Combine(root, "model.onnx"))) { yield return (Path.GetFileName(Path.GetDirectoryName(root)!)!, root); yield break; }
        var suites = Directory.GetDirectories(root).OrderBy(d => d, StringComparer.Ordinal).ToList();
        bool isSuite = suites.Any(d => File.Exists(Path.Combine(d, "model.onnx")));
        if (isSuite)
        {
            foreach (var d in suites) if (File.Exists(Path.Combine(d, "model.onnx"))) yield return (Path.GetFileName(root), d);
            yield break;
        }
        foreach (var s in suites)
            foreach (var d in Directory.GetDirectories(s).OrderBy(d => d, StringComparer.Ordinal))
                if (File.Exists(Path.Combine(d, "model.onnx"))) yield return (Path.GetFileName(s), d);
    }

    public static TestOutcome RunTest(string suite, string dir, SessionOptions? options = null, double rtol = Rtol, double atol = Atol)
    {
        var name = Path.GetFileName(dir);
        var sw = Stopwatch.StartNew();
        var ops = new List<string>();
        try
        {
            var model = OnnxModelLoader.Load(Path.Combine(dir, "model.onnx"));
            ops.AddRange(model.Graph.Nodes.Select(n => n.Domain.Length == 0 ? n.OpType : $"{n.Domain}.{n.OpType}").Distinct());
            var random = RandomOutputs(model.Graph, out bool seeded);
            var session = new InferenceSession(model, options ?? new SessionOptions { IntraOpThreads = 1 });
            var sets = Directory.GetDirectories(dir, "test_data_set_*").OrderBy(d => d, StringComparer.Ordinal).ToList();
            if (sets.Count == 0) return new TestOutcome(suite, name, false, "no test_data_set folders", ops, sw.Elapsed.TotalMilliseconds);
            foreach (var set in sets)
            {
                var inputs = ReadInputs(set, session.Model.Graph);
                var expected = ReadOutputs(set, session.Model.Graph);
                var actual = session.Run(inputs);
                // A second run reuses the first run's buffers: it must not see their stale contents.
                var again = session.Run(inputs);
                foreach (var (outName, value) in expected)
                {
                    if (!actual.TryGetValue(outName, out var got)) return new TestOutcome(suite, name, false, $"output '{outName}' missing", ops, sw.Elapsed.TotalMilliseconds);
                    if (random.Contains(outName))
                    {
                        // Random values cannot match another runtime's generator: check shape, type and, with a
                        // seed, that a second run reproduces the first.
                        string? why2 = TensorComparer.CompareShapeAndType(value, got);
                        if (why2 is null && seeded && TensorComparer.Compare(got, session.Run(inputs)[outName], 0, 0) is { } rerun)
                            why2 = $"a second run with the same seed differs: {rerun}";
                        if (why2 is not null)
                            return new TestOutcome(suite, name, false, $"{Path.GetFileName(set)} random output '{outName}': {why2}", ops, sw.Elapsed.TotalMilliseconds);
                        continue;
                    }
                    if (TensorComparer.Compare(value, got, rtol, atol) is { } why)
                        return new TestOutcome(suite, name, false, $"{Path.GetFileName(set)} output '{outName}': {why}", ops, sw.Elapsed.TotalMilliseconds);
                    if (TensorComparer.Compare(value, again[outName], rtol, atol) is { } why2nd)
                        return new TestOutcome(suite, name, false, $"{Path.GetFileName(set)} output '{outName}' on a second run: {why2nd}", ops, sw.Elapsed.TotalMilliseconds);
                }
            }
            return new TestOutcome(suite, name, true, "", ops, sw.Elapsed.TotalMilliseconds);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            string kind = e is ModelLoadException ? "load" : e is OnnxException ? "run" : "crash";
            var msg = e.Message.Replace('\n', ' ').Replace('\r', ' ');
            if (kind == "crash") msg = $"{e.GetType().Name}: {msg}";
            return new TestOutcome(suite, name, false, $"{kind}: {msg}", ops, sw.Elapsed.TotalMilliseconds);
        }
    }

    private static readonly HashSet<string> s_randomOps = new(StringComparer.Ordinal)
    {
        "RandomUniform", "RandomNormal", "RandomUniformLike", "RandomNormalLike", "Multinomial", "Bernoulli",
    };

    /// <summary>Graph outputs whose values depend on a random op; <paramref name="seeded"/> when every such op has a seed.</summary>
    public static HashSet<string> RandomOutputs(Graph graph, out bool seeded)
    {
        var tainted = new HashSet<string>(StringComparer.Ordinal);
        seeded = true;
        foreach (var n in graph.Nodes)
        {
            bool isRandom = n.Domain.Length == 0 && s_randomOps.Contains(n.OpType);
            if (isRandom && !n.HasAttr("seed")) seeded = false;
            if (isRandom || n.Inputs.Any(tainted.Contains))
                foreach (var o in n.Outputs) if (o.Length > 0) tainted.Add(o);
        }
        return graph.Outputs.Select(o => o.Name).Where(tainted.Contains).ToHashSet(StringComparer.Ordinal);
    }

    /// <summary>Reads input_K.pb files; matched to graph inputs by tensor name, else by position.</summary>
    public static Dictionary<string, object> ReadInputs(string setDir, Graph graph)
    {
        var required = graph.Inputs.Where(i => !graph.Initializers.ContainsKey(i.Name)).ToList();
        var files = Directory.GetFiles(setDir, "input_*.pb").OrderBy(f => IndexOf(f)).ToList();
        var result = new Dictionary<string, object>(StringComparer.Ordinal);
        for (int k = 0; k < files.Count; k++)
        {
            var positional = k < required.Count ? required[k] : null;
            var (pbName, value) = ValueCodec.Read(files[k], positional?.Type);
            var target = graph.Inputs.FirstOrDefault(i => i.Name == pbName) ?? positional
                ?? throw new OnnxException($"'{files[k]}' (tensor '{pbName}') matches no graph input");
            if (target != positional && target.Type is not TensorType)
                (_, value) = ValueCodec.Read(files[k], target.Type);
            result[target.Name] = value;
        }
        return result;
    }

    public static List<(string Name, object Value)> ReadOutputs(string setDir, Graph graph)
    {
        var files = Directory.GetFiles(setDir, "output_*.pb").OrderBy(f => IndexOf(f)).ToList();
        var list = new List<(string, object)>();
        for (int k = 0; k < files.Count; k++)
        {
            var info = k < graph.Outputs.Count ? graph.Outputs[k] : null;
            var (pbName, value) = ValueCodec.Read(files[k], info?.Type);
            var byName = graph.Outputs.FirstOrDefault(o => o.Name == pbName);
            list.Add(((byName ?? info)?.Name ?? pbName, value));
        }
        return list;
    }

    private static int IndexOf(string file)
    {
        var stem = Path.GetFileNameWithoutExtension(file);
        return int.TryParse(stem[(stem.IndexOf('_') + 1)..], out int k) ? k : int.MaxValue;
    }
}
