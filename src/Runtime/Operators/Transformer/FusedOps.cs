namespace NetOnnx.Runtime;

/// <summary>
/// The runtime's own operator domain, for nodes the optimizer makes by fusing standard ones (e.g. Gelu and
/// LayerNormalization in models whose ai.onnx opset predates those operators).
/// </summary>
public static class FusedOps
{
    public const string Domain = "com.netonnx";
    public const long Version = 1;
}
