namespace NetOnnx.Runtime.Operators.Fused;

/// <summary>The internal operator domain of kernels the optimizer creates by fusing standard nodes.</summary>
public static class FusedDomain
{
    public const string Name = "com.netonnx";
}
