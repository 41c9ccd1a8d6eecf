using Microsoft.ML.OnnxRuntime;
using TensorElementType = Microsoft.ML.OnnxRuntime.Tensors.TensorElementType;
using NetOnnx.Runtime;

namespace NetOnnx.Benchmarks;

/// <summary>ONNX Runtime over the same model and inputs: the reference every speed claim is a ratio against.</summary>
public sealed class OrtRunner : IDisposable
{
    private readonly Microsoft.ML.OnnxRuntime.InferenceSession _session;
    private readonly RunOptions _runOptions = new();
    private readonly string[] _inputNames;
    private readonly OrtValue[] _inputs;
    private readonly string[] _outputNames;

    /// <param name="spinning">
    /// ORT's intra-op workers spin after each parallel section (its default, kept here). When runs of the two
    /// engines alternate one by one, that spin holds the core our next run wants; `compare` avoids it with
    /// blocks of runs rather than by turning spinning off, which would slow ORT's own runs
    /// ("session.intra_op.allow_spinning" = "0" when false).
    /// </param>
    public OrtRunner(string modelPath, IReadOnlyDictionary<string, Tensor> inputs, int threads, bool spinning = true,
        string? profilePrefix = null)
    {
        var so = new Microsoft.ML.OnnxRuntime.SessionOptions
        {
            IntraOpNumThreads = threads,
            InterOpNumThreads = 1,
            ExecutionMode = ExecutionMode.ORT_SEQUENTIAL,
            GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_ALL,
        };
        so.AddSessionConfigEntry("session.intra_op.allow_spinning", spinning ? "1" : "0");
        if (profilePrefix is not null) { so.EnableProfiling = true; so.ProfileOutputPathPrefix = profilePrefix; }
        _session = new Microsoft.ML.OnnxRuntime.InferenceSession(modelPath, so);
        _inputNames = inputs.Keys.ToArray();
        _inputs = _inputNames.Select(n => ToOrt(inputs[n])).ToArray();
        _outputNames = _session.OutputNames.ToArray();
    }

    public void Run()
    {
        using var results = _session.Run(_runOptions, _inputNames, _inputs, _outputNames);
    }

    /// <summary>Stops ORT's profiler (enabled by a profile prefix) and returns the JSON file it wrote.</summary>
    public string EndProfiling() => _session.EndProfiling();

    /// <summary>One run's float outputs by name (other element types are left out), for checking ours against them.</summary>
    public Dictionary<string, float[]> RunOutputs()
    {
        using var results = _session.Run(_runOptions, _inputNames, _inputs, _outputNames);
        var d = new Dictionary<string, float[]>(StringComparer.Ordinal);
        for (int i = 0; i < _outputNames.Length; i++)
            if (results[i].GetTensorTypeAndShape().ElementDataType == TensorElementType.Float)
                d[_outputNames[i]] = results[i].GetTensorDataAsSpan<float>().ToArray();
        return d;
    }

    /// <summary>Loads the native library (and its environment) so a memory baseline taken after this excludes it.</summary>
    public static void LoadNativeLibrary() => _ = OrtEnv.Instance();

    private static OrtValue ToOrt(Tensor t)
    {
        long[] shape = t.Shape.Select(d => (long)d).ToArray();
        return t.ElementType switch
        {
            DataType.Float => OrtValue.CreateTensorValueFromMemory(t.ToArray<float>(), shape),
            DataType.Double => OrtValue.CreateTensorValueFromMemory(t.ToArray<double>(), shape),
            DataType.Int64 => OrtValue.CreateTensorValueFromMemory(t.ToArray<long>(), shape),
            DataType.Int32 => OrtValue.CreateTensorValueFromMemory(t.ToArray<int>(), shape),
            DataType.UInt8 => OrtValue.CreateTensorValueFromMemory(t.ToArray<byte>(), shape),
            DataType.Int8 => OrtValue.CreateTensorValueFromMemory(t.ToArray<sbyte>(), shape),
            DataType.Bool => OrtValue.CreateTensorValueFromMemory(t.ToArray<bool>(), shape),
            _ => throw new NotSupportedException($"comparison inputs of type {t.ElementType.OnnxName()} are not supported"),
        };
    }

    public void Dispose()
    {
        foreach (var v in _inputs) v.Dispose();
        _runOptions.Dispose();
        _session.Dispose();
    }
}
