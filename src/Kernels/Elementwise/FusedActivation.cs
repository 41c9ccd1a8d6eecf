using System.Runtime.Intrinsics;

namespace NetOnnx.Kernels.Elementwise;

/// <summary>The activations a fused Conv/Gemm can apply to its output in the same pass that writes it.</summary>
/// <remarks>The GPU provider's unary op codes mirror these values (src/Gpu/Kernels/KernelArgs.cs); append, never reorder.</remarks>
public enum ActivationKind { None, Relu, Clip, Sigmoid, HardSigmoid, HardSwish, LeakyRelu, Silu, Tanh, Gelu, GeluTanh }

/// <summary>
/// One activation with its parameters (Clip: min, max; HardSigmoid: alpha, beta; LeakyRelu: alpha), applied
/// in place on a span. The formulas match the standalone ONNX operators so a fused node equals the pair it replaces;
/// Gelu is the erf form and GeluTanh the tanh approximation (ONNX Gelu approximate="none" / "tanh").
/// </summary>
public readonly record struct FusedActivation(ActivationKind Kind, float A = 0f, float B = 0f)
{
    public static readonly FusedActivation None = new(ActivationKind.None);

    public bool IsNone => Kind == ActivationKind.None;

    /// <summary>Parses an ONNX activation name (as ORT's FusedConv spells it) and its parameter list.</summary>
    public static FusedActivation Parse(string name, IReadOnlyList<float>? p)
    {
        float P(int i, float dflt) => p is not null && p.Count > i ? p[i] : dflt;
        return name switch
        {
            "" or "None" or "Identity" => None,
            "Relu" => new(ActivationKind.Relu),
            "Clip" => new(ActivationKind.Clip, P(0, float.MinValue), P(1, float.MaxValue)),
            "Sigmoid" => new(ActivationKind.Sigmoid),
            "HardSigmoid" => new(ActivationKind.HardSigmoid, P(0, 0.2f), P(1, 0.5f)),
            "HardSwish" => new(ActivationKind.HardSwish),
            "LeakyRelu" => new(ActivationKind.LeakyRelu, P(0, 0.01f)),
            "Silu" or "Swish" => new(ActivationKind.Silu),
            "Tanh" => new(ActivationKind.Tanh),
            "Gelu" => new(ActivationKind.Gelu),
            "GeluTanh" => new(ActivationKind.GeluTanh),
            _ => throw new ArgumentException($"activation '{name}' is not supported by fused kernels"),
        };
    }

    public float Scalar(float x) => Kind switch
    {
        ActivationKind.Relu => Math.Max(x, 0f),
        ActivationKind.Clip => Math.Min(Math.Max(x, A), B),
        ActivationKind.Sigmoid => 1f / (1f + MathF.Exp(-x)),
        ActivationKind.HardSigmoid => Math.Max(0f, Math.Min(1f, A * x + B)),
        ActivationKind.HardSwish => x * Math.Max(0f, Math.Min(1f, x / 6f + 0.5f)),
        ActivationKind.LeakyRelu => x >= 0 ? x : A * x,
        ActivationKind.Silu => x / (1f + MathF.Exp(-x)),
        ActivationKind.Tanh => MathF.Tanh(x),
        ActivationKind.Gelu => GeluFn.F(x),
        ActivationKind.GeluTanh => GeluTanhFn.F(x),
        _ => x,
    };

    /// <summary>y = act(y), in place.</summary>
    public unsafe void Apply(float* y, int n)
    {
        // One loop per function with its vector form inlined: a per-vector switch (V below) is too large to inline
        // once Sigmoid/Tanh are in it, and the call per vector cost ~1 ns per float (as much as a small depthwise conv).
        switch (Kind)
        {
            case ActivationKind.None: return;
            case ActivationKind.Relu: Loop(new ClampOp(0f, float.PositiveInfinity, relu: true), y, n); return;
            case ActivationKind.Clip: Loop(new ClampOp(A, B, relu: false), y, n); return;
            case ActivationKind.HardSwish: Loop(new HardSwishOp(), y, n); return;
            case ActivationKind.HardSigmoid: Loop(new HardSigmoidOp(A, B), y, n); return;
            case ActivationKind.LeakyRelu: Loop(new LeakyReluOp(A), y, n); return;
            case ActivationKind.Gelu: ApplySpecialised<GeluFn>(y, n); return;
            case ActivationKind.GeluTanh: ApplySpecialised<GeluTanhFn>(y, n); return;
        }
        int i = 0;
        if (Vector512.IsHardwareAccelerated)
            for (; i + 16 <= n; i += 16) Vector512.Store(V(Vector512.Load(y + i)), y + i);
        if (Vector256.IsHardwareAccelerated)
            for (; i + 8 <= n; i += 8) Vector256.Store(V(Vector256.Load(y + i)), y + i);
        for (; i < n; i++) y[i] = Scalar(y[i]);
    }

    private interface IActivationOp
    {
        Vector512<float> V(Vector512<float> x);
        Vector256<float> V(Vector256<float> x);
        float S(float x);
    }

    private static unsafe void Loop<TOp>(TOp op, float* y, int n) where TOp : struct, IActivationOp
    {
        int i = 0;
        if (Vector512.IsHardwareAccelerated)
        {
            for (; i + 64 <= n; i += 64)
            {
                Vector512.Store(op.V(Vector512.Load(y + i)), y + i);
                Vector512.Store(op.V(Vector512.Load(y + i + 16)), y + i + 16);
                Vector512.Store(op.V(Vector512.Load(y + i + 32)), y + i + 32);
                Vector512.Store(op.V(Vector512.Load(y + i + 48)), y + i + 48);
            }
            for (; i + 16 <= n; i += 16) Vector512.Store(op.V(Vector512.Load(y + i)), y + i);
        }
        if (Vector256.IsHardwareAccelerated)
            for (; i + 8 <= n; i += 8) Vector256.Store(op.V(Vector256.Load(y + i)), y + i);
        for (; i < n; i++) y[i] = op.S(y[i]);
    }

    // The scalar forms are Scalar's formulas, so the vector body and the tail agree with the unfused operators.
    private readonly struct ClampOp(float lo, float hi, bool relu) : IActivationOp
    {
        private readonly float _lo = lo, _hi = hi;
        private readonly bool _relu = relu;
        public Vector512<float> V(Vector512<float> x) => _relu ? Vector512.Max(x, Vector512<float>.Zero) : Vector512.Min(Vector512.Max(x, Vector512.Create(_lo)), Vector512.Create(_hi));
        public Vector256<float> V(Vector256<float> x) => _relu ? Vector256.Max(x, Vector256<float>.Zero) : Vector256.Min(Vector256.Max(x, Vector256.Create(_lo)), Vector256.Create(_hi));
        public float S(float x) => _relu ? Math.Max(x, 0f) : Math.Min(Math.Max(x, _lo), _hi);
    }

    private readonly struct HardSwishOp : IActivationOp
    {
        public Vector512<float> V(Vector512<float> x) =>
            x * Vector512.Max(Vector512<float>.Zero, Vector512.Min(Vector512<float>.One, x / Vector512.Create(6f) + Vector512.Create(0.5f)));
        public Vector256<float> V(Vector256<float> x) =>
            x * Vector256.Max(Vector256<float>.Zero, Vector256.Min(Vector256<float>.One, x / Vector256.Create(6f) + Vector256.Create(0.5f)));
        public float S(float x) => x * Math.Max(0f, Math.Min(1f, x / 6f + 0.5f));
    }

    private readonly struct HardSigmoidOp(float a, float b) : IActivationOp
    {
        private readonly float _a = a, _b = b;
        public Vector512<float> V(Vector512<float> x) =>
            Vector512.Max(Vector512<float>.Zero, Vector512.Min(Vector512<float>.One, x * Vector512.Create(_a) + Vector512.Create(_b)));
        public Vector256<float> V(Vector256<float> x) =>
            Vector256.Max(Vector256<float>.Zero, Vector256.Min(Vector256<float>.One, x * Vector256.Create(_a) + Vector256.Create(_b)));
        public float S(float x) => Math.Max(0f, Math.Min(1f, _a * x + _b));
    }

    private readonly struct LeakyReluOp(float a) : IActivationOp
    {
        private readonly float _a = a;
        public Vector512<float> V(Vector512<float> x) =>
            Vector512.ConditionalSelect(Vector512.GreaterThanOrEqual(x, Vector512<float>.Zero), x, x * Vector512.Create(_a));
        public Vector256<float> V(Vector256<float> x) =>
            Vector256.ConditionalSelect(Vector256.GreaterThanOrEqual(x, Vector256<float>.Zero), x, x * Vector256.Create(_a));
        public float S(float x) => x >= 0 ? x : _a * x;
    }

    private static unsafe void ApplySpecialised<TFn>(float* y, int n) where TFn : IVectorFloatFunction
    {
        int i = 0;
        if (Vector512.IsHardwareAccelerated)
            for (; i + 16 <= n; i += 16) Vector512.Store(TFn.V(Vector512.Load(y + i)), y + i);
        if (Vector256.IsHardwareAccelerated)
            for (; i + 8 <= n; i += 8) Vector256.Store(TFn.V(Vector256.Load(y + i)), y + i);
        for (; i < n; i++) y[i] = TFn.F(y[i]);
    }

    public unsafe void Apply(Span<float> y)
    {
        fixed (float* p = y) Apply(p, y.Length);
    }

    /// <summary>act(x) on one register, for kernels that apply the activation before their single store.</summary>
    public Vector512<float> Apply(Vector512<float> x) => Kind switch
    {
        ActivationKind.Gelu => GeluFn.V(x),
        ActivationKind.GeluTanh => GeluTanhFn.V(x),
        _ => V(x),
    };

    // Gelu never reaches V (see Apply): more cases here would grow V past what the JIT inlines into Apply's loop.
    private Vector512<float> V(Vector512<float> x)
    {
        switch (Kind)
        {
            case ActivationKind.Relu: return Vector512.Max(x, Vector512<float>.Zero);
            case ActivationKind.Clip: return Vector512.Min(Vector512.Max(x, Vector512.Create(A)), Vector512.Create(B));
            case ActivationKind.Sigmoid: return VectorMath.Sigmoid(x);
            case ActivationKind.HardSigmoid:
                return Vector512.Max(Vector512<float>.Zero, Vector512.Min(Vector512<float>.One, x * Vector512.Create(A) + Vector512.Create(B)));
            case ActivationKind.HardSwish:
                return x * Vector512.Max(Vector512<float>.Zero, Vector512.Min(Vector512<float>.One, x / Vector512.Create(6f) + Vector512.Create(0.5f)));
            case ActivationKind.LeakyRelu:
                return Vector512.ConditionalSelect(Vector512.GreaterThanOrEqual(x, Vector512<float>.Zero), x, x * Vector512.Create(A));
            case ActivationKind.Silu: return x * VectorMath.Sigmoid(x);
            case ActivationKind.Tanh: return VectorMath.Tanh(x);
            default: return x;
        }
    }

    private Vector256<float> V(Vector256<float> x)
    {
        switch (Kind)
        {
            case ActivationKind.Relu: return Vector256.Max(x, Vector256<float>.Zero);
            case ActivationKind.Clip: return Vector256.Min(Vector256.Max(x, Vector256.Create(A)), Vector256.Create(B));
            case ActivationKind.Sigmoid: return VectorMath.Sigmoid(x);
            case ActivationKind.HardSigmoid:
                return Vector256.Max(Vector256<float>.Zero, Vector256.Min(Vector256<float>.One, x * Vector256.Create(A) + Vector256.Create(B)));
            case ActivationKind.HardSwish:
                return x * Vector256.Max(Vector256<float>.Zero, Vector256.Min(Vector256<float>.One, x / Vector256.Create(6f) + Vector256.Create(0.5f)));
            case ActivationKind.LeakyRelu:
                return Vector256.ConditionalSelect(Vector256.GreaterThanOrEqual(x, Vector256<float>.Zero), x, x * Vector256.Create(A));
            case ActivationKind.Silu: return x * VectorMath.Sigmoid(x);
            case ActivationKind.Tanh: return VectorMath.Tanh(x);
            default: return x;
        }
    }
}
