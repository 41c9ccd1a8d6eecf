namespace NetOnnx.Runtime;

/// <summary>
/// A compiled operator instance. One is created per node at session creation (so it can read attributes
/// and prepare constants once) and then called from any number of concurrent runs: Compute must not
/// mutate fields.
/// </summary>
public abstract class OpKernel
{
    public abstract void Compute(KernelContext ctx);
}

/// <summary>
/// Registers the class it decorates as the kernel for an operator over an opset range. The class needs a
/// constructor taking <see cref="KernelInfo"/>. Repeat the attribute for more ranges or domains.
/// </summary>
[AttributeUsage(AttributeTargets.Class, AllowMultiple = true)]
public sealed class OpKernelAttribute : System.Attribute
{
    public string OpType { get; }
    public int SinceVersion { get; }
    public int UntilVersion { get; }
    public string Domain { get; set; } = "";
    /// <summary>Element types accepted for the input named by <see cref="TypeInput"/>; empty means any.</summary>
    public DataType[] Types { get; set; } = [];
    /// <summary>Index of the input whose element type <see cref="Types"/> constrains.</summary>
    public int TypeInput { get; set; }

    public OpKernelAttribute(string opType, int sinceVersion = 1, int untilVersion = int.MaxValue)
    {
        OpType = opType;
        SinceVersion = sinceVersion;
        UntilVersion = untilVersion;
    }
}
