using System.Reflection;

namespace NetOnnx.Runtime;

/// <summary>One registered kernel: which op, domain and opset range it serves, for which element types.</summary>
public sealed record KernelRegistration(
    string Domain, string OpType, int SinceVersion, int UntilVersion,
    DataType[] Types, int TypeInput, Func<KernelInfo, OpKernel> Factory, string Source)
{
    public bool Covers(int opset) => opset >= SinceVersion && opset <= UntilVersion;
    public bool Accepts(DataType? t) => Types.Length == 0 || t is null || Array.IndexOf(Types, t.Value) >= 0;
}

/// <summary>
/// Maps (domain, op, opset, element type) to a kernel. Built-in kernels register themselves with
/// <see cref="OpKernelAttribute"/>; embedders add custom ops or override built-ins with <see cref="Register"/>.
/// A later registration wins over an earlier one that covers the same case.
/// </summary>
public sealed class KernelRegistry
{
    private readonly Dictionary<(string, string), List<KernelRegistration>> _byOp = [];
    private readonly object _lock = new();

    private static readonly Lazy<KernelRegistry> s_builtIn = new(() =>
    {
        var r = new KernelRegistry();
        r.RegisterAssembly(typeof(KernelRegistry).Assembly);
        return r;
    });

    /// <summary>The process-wide registry every session uses unless its options name another.</summary>
    public static KernelRegistry Default => s_builtIn.Value;

    /// <summary>A new registry holding the built-in kernels, for per-session customisation.</summary>
    public static KernelRegistry CreateWithBuiltIns()
    {
        var r = new KernelRegistry();
        lock (Default._lock)
            foreach (var (k, v) in Default._byOp) r._byOp[k] = [.. v];
        return r;
    }

    public void Register(string domain, string opType, int sinceVersion, int untilVersion, Func<KernelInfo, OpKernel> factory,
        DataType[]? types = null, int typeInput = 0)
    {
        var reg = new KernelRegistration(Node.NormalizeDomain(domain), opType, sinceVersion, untilVersion, types ?? [], typeInput, factory, "custom");
        Add(reg);
    }

    /// <summary>Registers a kernel for every opset version of a custom-domain op.</summary>
    public void Register(string domain, string opType, Func<KernelInfo, OpKernel> factory) =>
        Register(domain, opType, 1, int.MaxValue, factory);

    private void Add(KernelRegistration reg)
    {
        lock (_lock)
        {
            var key = (reg.Domain, reg.OpType);
            if (!_byOp.TryGetValue(key, out var list)) _byOp[key] = list = [];
            list.Add(reg);
        }
    }

    /// <summary>Registers every class of the assembly that carries <see cref="OpKernelAttribute"/>.</summary>
    public void RegisterAssembly(Assembly assembly)
    {
        foreach (var type in assembly.GetTypes())
        {
            var attrs = type.GetCustomAttributes<OpKernelAttribute>(false).ToArray();
            if (attrs.Length == 0) continue;
            if (!typeof(OpKernel).IsAssignableFrom(type))
                throw new InvalidOperationException($"{type.FullName} carries [OpKernel] but does not derive from OpKernel");
            var ctor = type.GetConstructor([typeof(KernelInfo)])
                ?? throw new InvalidOperationException($"{type.FullName} needs a constructor taking KernelInfo");
            Func<KernelInfo, OpKernel> factory = info =>
            {
                try { return (OpKernel)ctor.Invoke([info]); }
                catch (TargetInvocationException e) when (e.InnerException is not null)
                {
                    System.Runtime.ExceptionServices.ExceptionDispatchInfo.Capture(e.InnerException).Throw();
                    throw;
                }
            };
            foreach (var a in attrs)
                Add(new KernelRegistration(Node.NormalizeDomain(a.Domain), a.OpType, a.SinceVersion, a.UntilVersion, a.Types, a.TypeInput, factory, type.Name));
        }
    }

    public bool HasOp(string domain, string opType)
    {
        lock (_lock) return _byOp.ContainsKey((Node.NormalizeDomain(domain), opType));
    }

    public IReadOnlyList<KernelRegistration> All()
    {
        lock (_lock) return _byOp.Values.SelectMany(v => v).ToList();
    }

    /// <summary>Finds the kernel for an op at an opset and input element type; on failure explains why.</summary>
    public KernelRegistration? Find(string domain, string opType, int opset, DataType? inputType, out string whyNot)
    {
        List<KernelRegistration>? list;
        lock (_lock) _byOp.TryGetValue((Node.NormalizeDomain(domain), opType), out list);
        string d = domain.Length == 0 ? "ai.onnx" : domain;
        if (list is null) { whyNot = $"operator {opType} of domain '{d}' is not supported"; return null; }
        bool anyOpset = false;
        for (int i = list.Count - 1; i >= 0; i--)
        {
            var r = list[i];
            if (!r.Covers(opset)) continue;
            anyOpset = true;
            if (r.Accepts(inputType)) { whyNot = ""; return r; }
        }
        if (!anyOpset)
        {
            var ranges = string.Join(", ", list.Select(r => r.UntilVersion == int.MaxValue ? $"{r.SinceVersion}+" : $"{r.SinceVersion}-{r.UntilVersion}").Distinct());
            whyNot = $"operator {opType} is not supported at '{d}' opset {opset} (supported: {ranges})";
        }
        else
        {
            whyNot = $"operator {opType} (opset {opset}) has no kernel for element type {inputType?.OnnxName()}";
        }
        return null;
    }
}
