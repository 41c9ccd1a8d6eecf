using System.Numerics;
using System.Runtime.InteropServices;
using NetOnnx.Kernels.Elementwise;

namespace NetOnnx.Kernels.Recurrent;

public enum RnnActivationKind { Relu, Tanh, Sigmoid, Affine, LeakyRelu, ThresholdedRelu, ScaledTanh, HardSigmoid, Elu, Softsign, Softplus }

/// <summary>One of the activation functions RNN/GRU/LSTM accept in their activations attribute, with its alpha/beta.</summary>
public readonly record struct RnnActivation(RnnActivationKind Kind, float Alpha, float Beta)
{
    /// <summary>Parses an ONNX activation name (case-insensitive); null when unknown.</summary>
    public static RnnActivationKind? Parse(string name) => name.ToLowerInvariant() switch
    {
        "relu" => RnnActivationKind.Relu,
        "tanh" => RnnActivationKind.Tanh,
        "sigmoid" => RnnActivationKind.Sigmoid,
        "affine" => RnnActivationKind.Affine,
        "leakyrelu" => RnnActivationKind.LeakyRelu,
        "thresholdedrelu" => RnnActivationKind.ThresholdedRelu,
        "scaledtanh" => RnnActivationKind.ScaledTanh,
        "hardsigmoid" => RnnActivationKind.HardSigmoid,
        "elu" => RnnActivationKind.Elu,
        "softsign" => RnnActivationKind.Softsign,
        "softplus" => RnnActivationKind.Softplus,
        _ => null,
    };

    public static bool UsesAlpha(RnnActivationKind k) => k is RnnActivationKind.Affine or RnnActivationKind.LeakyRelu
        or RnnActivationKind.ThresholdedRelu or RnnActivationKind.ScaledTanh or RnnActivationKind.HardSigmoid or RnnActivationKind.Elu;

    public static bool UsesBeta(RnnActivationKind k) => k is RnnActivationKind.Affine or RnnActivationKind.ScaledTanh or RnnActivationKind.HardSigmoid;

    public static float DefaultAlpha(RnnActivationKind k) => k switch
    {
        RnnActivationKind.LeakyRelu => 0.01f,
        RnnActivationKind.HardSigmoid => 0.2f,
        _ => 1f,
    };

    public static float DefaultBeta(RnnActivationKind k) => k switch
    {
        RnnActivationKind.HardSigmoid => 0.5f,
        RnnActivationKind.Affine => 0f,
        _ => 1f,
    };

    /// <summary>Applies the function in place.</summary>
    public void Apply<T>(Span<T> x) where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (typeof(T) == typeof(float) && Kind is RnnActivationKind.Tanh or RnnActivationKind.Sigmoid)
        {
            // The gates of a float LSTM/GRU: the vectorised functions the Tanh/Sigmoid operators use.
            var f = MemoryMarshal.Cast<T, float>(x);
            if (Kind == RnnActivationKind.Tanh) FloatLoops.ApplyVector<TanhFn>(f, f);
            else FloatLoops.ApplyVector<SigmoidFn>(f, f);
            return;
        }
        T a = T.CreateTruncating(Alpha), b = T.CreateTruncating(Beta);
        switch (Kind)
        {
            case RnnActivationKind.Tanh:
                for (int i = 0; i < x.Length; i++) x[i] = T.Tanh(x[i]);
                break;
            case RnnActivationKind.Sigmoid:
                for (int i = 0; i < x.Length; i++) x[i] = Sigmoid(x[i]);
                break;
            case RnnActivationKind.Relu:
                for (int i = 0; i < x.Length; i++) x[i] = T.Max(x[i], T.Zero);
                break;
            case RnnActivationKind.Affine:
                for (int i = 0; i < x.Length; i++) x[i] = a * x[i] + b;
                break;
            case RnnActivationKind.LeakyRelu:
                for (int i = 0; i < x.Length; i++) x[i] = x[i] >= T.Zero ? x[i] : a * x[i];
                break;
            case RnnActivationKind.ThresholdedRelu:
                for (int i = 0; i < x.Length; i++) x[i] = x[i] > a ? x[i] : T.Zero;
                break;
            case RnnActivationKind.ScaledTanh:
                for (int i = 0; i < x.Length; i++) x[i] = a * T.Tanh(b * x[i]);
                break;
            case RnnActivationKind.HardSigmoid:
                for (int i = 0; i < x.Length; i++) x[i] = T.Clamp(a * x[i] + b, T.Zero, T.One);
                break;
            case RnnActivationKind.Elu:
                for (int i = 0; i < x.Length; i++) x[i] = x[i] >= T.Zero ? x[i] : a * (T.Exp(x[i]) - T.One);
                break;
            case RnnActivationKind.Softsign:
                for (int i = 0; i < x.Length; i++) x[i] = x[i] / (T.One + T.Abs(x[i]));
                break;
            case RnnActivationKind.Softplus:
                for (int i = 0; i < x.Length; i++) x[i] = x[i] > T.CreateTruncating(20) ? x[i] : T.Log(T.One + T.Exp(x[i]));
                break;
        }
    }

    private static T Sigmoid<T>(T v) where T : IFloatingPointIeee754<T>
    {
        // Split by sign so exp never overflows.
        if (v >= T.Zero) return T.One / (T.One + T.Exp(-v));
        T e = T.Exp(v);
        return e / (T.One + e);
    }
}
