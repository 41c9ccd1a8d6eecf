using System.Diagnostics;
using NetOnnx.OnnxImport;
using NetOnnx.Optimizer;
using NetOnnx.Runtime;

namespace NetOnnx;

/// <summary>
/// The entry point most users want: load an ONNX model from a file, bytes or a stream, optimise it at the
/// level the options ask for, plan it, and run it with named inputs.
/// </summary>
/// <example>
/// <code>
/// using var session = new InferenceSession("model.onnx");
/// var outputs = session.Run(new Dictionary&lt;string, Tensor&gt; { ["input"] = Tensor.Create(data, 1, 3, 224, 224) });
/// </code>
/// </example>
public sealed class InferenceSession : IDisposable
{
    /// <summary>The file a weight-releasing session re-reads its model from (null for bytes, streams and IR models).</summary>
    private readonly string? _modelPath;

    public Session Core { get; }

    /// <summary>
    /// The optimised model. When the session released packed weights from it (<see cref="SessionOptions.ReleaseModelWeights"/>,
    /// on by default for a file path), each access re-reads the file and optimises it again (a new Model every time);
    /// a session from bytes or a stream that released weights throws, naming the option.
    /// </summary>
    public Model Model => Core.ModelWeightsReleased && _modelPath is not null ? Reload(_modelPath, Options) : Core.Model;
    public IReadOnlyList<ValueInfo> Inputs => Core.Inputs;
    public IReadOnlyList<ValueInfo> Outputs => Core.Outputs;
    public SessionOptions Options => Core.Options;
    /// <summary>Milliseconds spent parsing, optimising and planning.</summary>
    public LoadTimings LoadTimings { get; }
    /// <summary>What each optimisation pass did.</summary>
    public IReadOnlyList<PassReport> OptimizationReport { get; }

    /// <summary>Loads a file. Packed weights leave the model unless <see cref="SessionOptions.ReleaseModelWeights"/> is false: the file can give them back.</summary>
    public InferenceSession(string modelPath, SessionOptions? options = null)
        : this(Timed(() => OnnxModelLoader.Load(modelPath)), options, options?.ReleaseModelWeights ?? true)
    {
        _modelPath = Path.GetFullPath(modelPath);
    }

    public InferenceSession(byte[] model, SessionOptions? options = null)
        : this(Timed(() => OnnxModelLoader.Load(model)), options, options?.ReleaseModelWeights ?? false) { }

    public InferenceSession(Stream model, SessionOptions? options = null)
        : this(Timed(() => OnnxModelLoader.Load(model)), options, options?.ReleaseModelWeights ?? false) { }

    /// <summary>Builds a session over an IR model made in code (it is optimised in place).</summary>
    public InferenceSession(Model model, SessionOptions? options = null) : this((model, 0.0), options, options?.ReleaseModelWeights ?? false) { }

    private InferenceSession((Model Model, double ParseMs) loaded, SessionOptions? options, bool releaseModelWeights)
    {
        options ??= new SessionOptions();
        var sw = Stopwatch.StartNew();
        bool large = HasLargeWeights(loaded.Model);
        var passes = PassManager.CreateDefault();
        if (!large)
        {
            var garbage = new LoadGarbageLimit();
            passes.AfterPass = (_, _, _) => garbage.Check();
        }
        OptimizationReport = passes.Run(loaded.Model, options.OptimizationLevel, options.DisabledPasses);
        double optimizeMs = sw.Elapsed.TotalMilliseconds;
        sw.Restart();
        // Parsing leaves the protobuf copy of every weight as garbage and the optimizer leaves replaced tensors;
        // kernels then allocate packed copies on top. Collecting first lets those reuse the freed memory
        // (gpt_tiny_decoder: 63 to 50 MiB). Small models skip it: the collection's own bookkeeping costs more.
        if (large) GC.Collect();
        Core = new Session(loaded.Model, options, releaseModelWeights);
        LoadTimings = new LoadTimings(loaded.ParseMs, optimizeMs, sw.Elapsed.TotalMilliseconds);
    }

    /// <summary>Whether the model holds 8 MiB of weights or more: such loads collect garbage in full as they go.</summary>
    private static bool HasLargeWeights(Model model)
    {
        const long Threshold = 8L << 20;
        long bytes = 0;
        foreach (var t in model.Graph.Initializers.Values)
            if (t.ElementType != DataType.String && (bytes += (long)t.Length * t.ElementType.SizeOf()) >= Threshold) return true;
        return false;
    }

    /// <summary>
    /// Loading a small model allocates mostly short-lived objects (silero_vad_v5: ~40 MiB for a 2.3 MiB file, most in
    /// the optimizer's passes), and the GC lets gen0 grow to its budget (tens of MiB on a host with a large cache)
    /// before it first collects, all of it resident afterwards. A young-generation collection after every few MiB
    /// keeps the growth near what stays alive (silero peak 28.7 to 20.5 MiB). Models with large weights collect in
    /// full while importing and planning instead; there this limit measured worse (bert 33 to 37 MiB).
    /// </summary>
    private sealed class LoadGarbageLimit
    {
        private const long Every = 4L << 20;
        private long _mark = GC.GetAllocatedBytesForCurrentThread();

        public void Check()
        {
            long now = GC.GetAllocatedBytesForCurrentThread();
            if (now - _mark < Every) return;
            GC.Collect(1, GCCollectionMode.Forced, blocking: true);
            _mark = now;
        }
    }

    private static Model Reload(string path, SessionOptions options)
    {
        var m = OnnxModelLoader.Load(path);
        PassManager.CreateDefault().Run(m, options.OptimizationLevel, options.DisabledPasses);
        ShapeInference.InferGraph(m.Graph, m);
        return m;
    }

    private static (Model, double) Timed(Func<Model> load)
    {
        var sw = Stopwatch.StartNew();
        var m = load();
        return (m, sw.Elapsed.TotalMilliseconds);
    }

    public Dictionary<string, object> Run(IReadOnlyDictionary<string, object> inputs, IReadOnlyCollection<string>? outputNames = null) =>
        Core.Run(inputs, outputNames);

    public Dictionary<string, Tensor> Run(IReadOnlyDictionary<string, Tensor> inputs) => Core.Run(inputs);

    /// <inheritdoc cref="Session.Run(IReadOnlyDictionary{string, Tensor}, IReadOnlyDictionary{string, Tensor})"/>
    public void Run(IReadOnlyDictionary<string, Tensor> inputs, IReadOnlyDictionary<string, Tensor> outputs) => Core.Run(inputs, outputs);

    /// <inheritdoc cref="Session.Run(IReadOnlyDictionary{string, object}, IReadOnlyDictionary{string, Tensor})"/>
    public void Run(IReadOnlyDictionary<string, object> inputs, IReadOnlyDictionary<string, Tensor> outputs) => Core.Run(inputs, outputs);

    public void Dispose() => Core.Dispose();
}

public sealed record LoadTimings(double ParseMs, double OptimizeMs, double PlanMs)
{
    public double TotalMs => ParseMs + OptimizeMs + PlanMs;
}
