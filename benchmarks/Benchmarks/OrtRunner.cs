using Microsoft.ML.OnnxRuntime;
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

    public OrtRunner(string modelPath, IReadOnlyDictionary<string, Tensor> inputs, int threads)
    {
        var so = new Microsoft.ML.OnnxRuntime.SessionOptions
        {
            IntraOpNumThreads = threads,
            InterOpNumThreads = 1,
            ExecutionMode = ExecutionMode.ORT_SEQUENTIAL,
            GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_ALL,
        };
        _session = new Microsoft.ML.OnnxRuntime.InferenceSession(modelPath, so);
        _inputNames = inputs.Keys.ToArray();
        _inputs = _inputNames.Select(n => ToOrt(inputs[n])).ToArray();
        _outputNames = _session.OutputNames.ToArray();
    }

    public void Run()
    {
        using var results = _session.Run(_runOptions, _inputNames, _inputs, _outputNames);
    }

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
