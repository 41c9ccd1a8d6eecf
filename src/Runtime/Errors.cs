namespace NetOnnx.Runtime;

/// <summary>Base of every error this runtime reports on purpose.</summary>
public class OnnxException : Exception
{
    public OnnxException(string message, Exception? inner = null) : base(message, inner) { }
}

/// <summary>
/// The model cannot be loaded or planned: malformed or truncated file, missing initializer, a node input
/// that nothing produces, an operator unknown at the model's opset, unsafe external data. The message names
/// the node, the op and the problem.
/// </summary>
public sealed class ModelLoadException : OnnxException
{
    public string? NodeName { get; }
    public string? OpType { get; }
    public ModelLoadException(string message, string? nodeName = null, string? opType = null, Exception? inner = null)
        : base(message, inner) { NodeName = nodeName; OpType = opType; }

    public static ModelLoadException ForNode(Node n, string problem, Exception? inner = null) =>
        new($"{n.Describe()} (domain '{(n.Domain.Length == 0 ? "ai.onnx" : n.Domain)}'): {problem}", n.Name, n.OpType, inner);
}

/// <summary>
/// A run failed: a wrong input name, element type or shape, or a kernel that rejected its inputs.
/// The message names the input or node.
/// </summary>
public sealed class InferenceException : OnnxException
{
    public string? NodeName { get; }
    public InferenceException(string message, string? nodeName = null, Exception? inner = null) : base(message, inner) { NodeName = nodeName; }
}
