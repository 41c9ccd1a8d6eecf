using NetOnnx.Kernels.Signal;
using NetOnnx.Runtime.Operators.Recurrent;

namespace NetOnnx.Runtime.Operators.Signal;

internal static class SignalData
{
    /// <summary>Writes doubles into a tensor of any plain numeric element type (window and mel outputs).</summary>
    public static void WriteNumeric(Tensor dst, ReadOnlySpan<double> src)
    {
        int n = dst.Length;
        switch (dst.ElementType)
        {
            case DataType.Float: { var d = dst.Span<float>(); for (int i = 0; i < n; i++) d[i] = (float)src[i]; break; }
            case DataType.Double: src.Slice(0, n).CopyTo(dst.Span<double>()); break;
            case DataType.Float16: { var d = dst.Span<Half>(); for (int i = 0; i < n; i++) d[i] = (Half)src[i]; break; }
            case DataType.BFloat16: { var d = dst.Span<BFloat16>(); for (int i = 0; i < n; i++) d[i] = (BFloat16)(float)src[i]; break; }
            case DataType.Int8: { var d = dst.Span<sbyte>(); for (int i = 0; i < n; i++) d[i] = (sbyte)src[i]; break; }
            case DataType.Int16: { var d = dst.Span<short>(); for (int i = 0; i < n; i++) d[i] = (short)src[i]; break; }
            case DataType.Int32: { var d = dst.Span<int>(); for (int i = 0; i < n; i++) d[i] = (int)src[i]; break; }
            case DataType.Int64: { var d = dst.Span<long>(); for (int i = 0; i < n; i++) d[i] = (long)src[i]; break; }
            case DataType.UInt8: { var d = dst.Span<byte>(); for (int i = 0; i < n; i++) d[i] = (byte)src[i]; break; }
            case DataType.UInt16: { var d = dst.Span<ushort>(); for (int i = 0; i < n; i++) d[i] = (ushort)src[i]; break; }
            case DataType.UInt32: { var d = dst.Span<uint>(); for (int i = 0; i < n; i++) d[i] = (uint)src[i]; break; }
            case DataType.UInt64: { var d = dst.Span<ulong>(); for (int i = 0; i < n; i++) d[i] = (ulong)src[i]; break; }
            default: throw new NotSupportedException($"output type {dst.ElementType.OnnxName()} is not supported");
        }
    }

    public static DataType OutputType(KernelInfo info, long def = 1)
    {
        long code = info.GetInt("output_datatype", def);
        if (!Enum.IsDefined(typeof(DataType), (int)code)) throw info.Error($"output_datatype {code} is not a tensor element type");
        var t = (DataType)(int)code;
        if (!(t.IsFloat() || t.IsInteger()) || t is DataType.Int4 or DataType.UInt4 or DataType.Int2 or DataType.UInt2)
            throw info.Error($"output_datatype {t.OnnxName()} is not supported");
        return t;
    }

    public static long Scalar(KernelContext ctx, int i, string name)
    {
        var t = ctx.Input(i);
        if (t.Length != 1) throw ctx.Error($"{name} must be a scalar, got shape {Kernels.ShapeMath.Format(t.Shape)}");
        return t.ElementType.IsFloat() ? (long)t.GetDouble(0) : t.ToInt64Array()[0];
    }
}

/// <summary>HannWindow / HammingWindow / BlackmanWindow (opset 17).</summary>
public abstract class WindowBase : OpKernel
{
    private readonly WindowKind _kind;
    private readonly bool _periodic;
    private readonly DataType _type;

    protected WindowBase(KernelInfo info, WindowKind kind)
    {
        _kind = kind;
        _periodic = info.GetInt("periodic", 1) != 0;
        _type = SignalData.OutputType(info);
    }

    public override void Compute(KernelContext ctx)
    {
        long size = SignalData.Scalar(ctx, 0, "size");
        if (size < 0 || size > int.MaxValue / 2) throw ctx.Error($"window size {size} is invalid");
        var w = Windows.Create(_kind, (int)size, _periodic);
        SignalData.WriteNumeric(ctx.OutputUninitialized(0, _type, [(int)size]), w);
    }
}

[OpKernel("HannWindow", 17)]
public sealed class HannWindow(KernelInfo info) : WindowBase(info, WindowKind.Hann);

[OpKernel("HammingWindow", 17)]
public sealed class HammingWindow(KernelInfo info) : WindowBase(info, WindowKind.Hamming);

[OpKernel("BlackmanWindow", 17)]
public sealed class BlackmanWindow(KernelInfo info) : WindowBase(info, WindowKind.Blackman);

/// <summary>MelWeightMatrix (opset 17).</summary>
[OpKernel("MelWeightMatrix", 17)]
public sealed class MelWeightMatrix : OpKernel
{
    private readonly DataType _type;
    public MelWeightMatrix(KernelInfo info) => _type = SignalData.OutputType(info);

    public override void Compute(KernelContext ctx)
    {
        long mel = SignalData.Scalar(ctx, 0, "num_mel_bins");
        long dft = SignalData.Scalar(ctx, 1, "dft_length");
        long rate = SignalData.Scalar(ctx, 2, "sample_rate");
        var loT = ctx.Input(3); var hiT = ctx.Input(4);
        if (loT.Length != 1 || hiT.Length != 1) throw ctx.Error("lower_edge_hertz and upper_edge_hertz must be scalars");
        double lo = loT.GetDouble(0), hi = hiT.GetDouble(0);
        if (mel <= 0 || dft <= 0 || rate <= 0) throw ctx.Error($"num_mel_bins ({mel}), dft_length ({dft}) and sample_rate ({rate}) must be positive");
        if (lo < 0 || hi < lo || hi > rate / 2.0 + 1e-9) throw ctx.Error($"edge frequencies [{lo}, {hi}] must satisfy 0 <= lower <= upper <= sample_rate/2");
        double[] m;
        try { m = Windows.MelWeightMatrix((int)mel, (int)dft, (int)rate, lo, hi); }
        catch (ArgumentException e) { throw ctx.Error(e.Message); }
        SignalData.WriteNumeric(ctx.OutputUninitialized(0, _type, [(int)(dft / 2 + 1), (int)mel]), m);
    }
}

/// <summary>
/// DFT (opset 17: axis attribute; opset 20: axis input, default -2). Input [..., 1|2] real or complex, output [..., 2];
/// dft_length pads/truncates the signal axis; onesided keeps n/2+1 bins; inverse divides by n.
/// </summary>
[OpKernel("DFT", 17)]
public sealed class Dft : OpKernel
{
    private readonly bool _axisIsInput;
    private readonly long _axisAttr;
    private readonly bool _inverse, _onesided;

    public Dft(KernelInfo info)
    {
        _axisIsInput = info.OpsetVersion >= 20;
        _axisAttr = info.GetInt("axis", 1);
        _inverse = info.GetInt("inverse", 0) != 0;
        _onesided = info.GetInt("onesided", 0) != 0;
    }

    public override void Compute(KernelContext ctx)
    {
        var x = ctx.Input(0);
        if (!SeqTensorData.IsSupported(x.ElementType)) throw ctx.Error($"unsupported element type {x.ElementType.OnnxName()}");
        int rank = x.Rank;
        if (rank < 2 || x.Shape[^1] is not (1 or 2)) throw ctx.Error($"input must be [..., 1] or [..., 2], got {Kernels.ShapeMath.Format(x.Shape)}");
        long axis = _axisAttr;
        if (_axisIsInput)
        {
            axis = -2;
            if (ctx.OptionalInput(2) is { } a)
            {
                if (a.Length != 1) throw ctx.Error("axis must be a scalar");
                axis = a.ToInt64Array()[0];
            }
        }
        if (axis < 0) axis += rank;
        if (axis < 0 || axis >= rank - 1) throw ctx.Error($"axis {axis} must name a signal dimension of an input of rank {rank}");
        int ax = (int)axis;
        int inLen = x.Shape[ax];
        int n = inLen;
        if (ctx.OptionalInput(1) is { } lenT)
        {
            if (lenT.Length != 1) throw ctx.Error("dft_length must be a scalar");
            long l = lenT.ToInt64Array()[0];
            if (l <= 0 || l > int.MaxValue / 4) throw ctx.Error($"dft_length {l} must be positive");
            n = (int)l;
        }
        bool complexIn = x.Shape[^1] == 2;
        // Inverse + onesided is the inverse real FFT: the input holds bins 0..n/2 of a Hermitian spectrum
        // (n defaults to 2*(bins-1)) and the output is the real signal of length n.
        bool irfft = _inverse && _onesided;
        if (irfft && ctx.OptionalInput(1) is null) n = Math.Max(1, 2 * (inLen - 1));
        int outLen = _onesided && !irfft ? n / 2 + 1 : n;
        int outComp = irfft ? 1 : 2;
        var outShape = (int[])x.Shape.Clone();
        outShape[ax] = outLen;
        outShape[^1] = outComp;

        var data = SeqTensorData.Read<double>(x);
        int outer = 1, inner = 1;
        for (int i = 0; i < ax; i++) outer *= x.Shape[i];
        for (int i = ax + 1; i < rank - 1; i++) inner *= x.Shape[i];
        int comp = x.Shape[^1];
        var result = new double[outer * outLen * inner * outComp];
        var re = new double[n];
        var im = new double[n];
        int copy = Math.Min(irfft ? n / 2 + 1 : n, inLen);
        for (int o = 0; o < outer; o++)
            for (int j = 0; j < inner; j++)
            {
                Array.Clear(re); Array.Clear(im);
                for (int t = 0; t < copy; t++)
                {
                    int src = ((o * inLen + t) * inner + j) * comp;
                    re[t] = data[src];
                    if (complexIn) im[t] = data[src + 1];
                }
                if (irfft)
                    for (int k = 1; k < copy; k++)
                        if (n - k >= copy) { re[n - k] = re[k]; im[n - k] = -im[k]; }
                Fft.Transform(re, im, _inverse);
                double scale = _inverse ? 1.0 / n : 1.0;
                for (int k = 0; k < outLen; k++)
                {
                    int dst = ((o * outLen + k) * inner + j) * outComp;
                    result[dst] = re[k] * scale;
                    if (outComp == 2) result[dst + 1] = im[k] * scale;
                }
            }
        SeqTensorData.Write<double>(ctx.OutputUninitialized(0, x.ElementType, outShape), result);
    }
}

/// <summary>
/// STFT (opset 17): signal [B, L, 1|2], frame_step, optional window [W] and frame_length; output
/// [B, frames, bins, 2] with frames = 1 + (L - frame_length) / frame_step and bins = n/2+1 when onesided.
/// </summary>
[OpKernel("STFT", 17)]
public sealed class Stft : OpKernel
{
    private readonly bool _onesided;
    public Stft(KernelInfo info) => _onesided = info.GetInt("onesided", 1) != 0;

    public override void Compute(KernelContext ctx)
    {
        var x = ctx.Input(0);
        if (!SeqTensorData.IsSupported(x.ElementType)) throw ctx.Error($"unsupported element type {x.ElementType.OnnxName()}");
        if (x.Rank != 3 || x.Shape[2] is not (1 or 2)) throw ctx.Error($"signal must be [batch, length, 1|2], got {Kernels.ShapeMath.Format(x.Shape)}");
        long step = SignalData.Scalar(ctx, 1, "frame_step");
        if (step <= 0) throw ctx.Error($"frame_step must be positive, got {step}");
        var winT = ctx.OptionalInput(2);
        long frameLen = ctx.OptionalInput(3) is not null ? SignalData.Scalar(ctx, 3, "frame_length")
            : winT is not null ? winT.Length : x.Shape[1];
        int batch = x.Shape[0], len = x.Shape[1], comp = x.Shape[2];
        if (frameLen <= 0 || frameLen > len) throw ctx.Error($"frame_length {frameLen} must be in [1, {len}]");
        int n = (int)frameLen;
        double[] window;
        if (winT is not null)
        {
            if (winT.Rank != 1) throw ctx.Error("window must be 1-D");
            window = SeqTensorData.Read<double>(winT);
        }
        else { window = new double[n]; Array.Fill(window, 1.0); }
        int winLen = window.Length;
        if (comp == 2 && _onesided) throw ctx.Error("onesided output requires a real signal");
        int frames = 1 + (int)((len - n) / step);
        int bins = _onesided ? n / 2 + 1 : n;
        var data = SeqTensorData.Read<double>(x);
        var result = new double[batch * frames * bins * 2];
        var re = new double[n];
        var im = new double[n];
        for (int b = 0; b < batch; b++)
            for (int f = 0; f < frames; f++)
            {
                Array.Clear(re); Array.Clear(im);
                int begin = (int)(f * step);
                // The frame holds window-length samples (zero past the signal end), truncated or padded to n.
                int count = Math.Min(Math.Min(winLen, n), len - begin);
                for (int t = 0; t < count; t++)
                {
                    int src = (b * len + begin + t) * comp;
                    re[t] = data[src] * window[t];
                    if (comp == 2) im[t] = data[src + 1] * window[t];
                }
                Fft.Transform(re, im, false);
                for (int k = 0; k < bins; k++)
                {
                    int dst = ((b * frames + f) * bins + k) * 2;
                    result[dst] = re[k];
                    result[dst + 1] = im[k];
                }
            }
        SeqTensorData.Write<double>(ctx.OutputUninitialized(0, x.ElementType, [batch, frames, bins, 2]), result);
    }
}
