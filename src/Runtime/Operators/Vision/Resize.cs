using NetOnnx.Kernels.Vision;

namespace NetOnnx.Runtime.Operators.Vision;

/// <summary>
/// Resize (opset 10-19) and Upsample (7-9): nearest, (n-)linear and cubic resampling of any subset of axes,
/// driven by scales or sizes. Opset 10 and Upsample use the old asymmetric mapping.
/// </summary>
[OpKernel("Resize", 10)]
[OpKernel("Upsample", 7, 10)]
public sealed class Resize : OpKernel
{
    private readonly bool _upsample;
    private readonly int _opset;
    private readonly InterpolationMode _mode;
    private readonly CoordinateMode _coord;
    private readonly NearestMode _nearest;
    private readonly double _cubicA;
    private readonly bool _excludeOutside;
    private readonly double _extrapolation;
    private readonly bool _antialias;
    private readonly long[]? _axes;
    private readonly string _aspectPolicy;
    private readonly float[]? _scalesAttr; // Upsample-7

    public Resize(KernelInfo info)
    {
        _upsample = info.Node.OpType == "Upsample";
        _opset = info.OpsetVersion;
        bool legacy = _upsample || _opset < 11;
        string mode = info.GetString("mode", "nearest");
        _mode = mode switch
        {
            "nearest" => InterpolationMode.Nearest,
            "linear" or "bilinear" when legacy || mode == "linear" => InterpolationMode.Linear,
            "cubic" when !legacy => InterpolationMode.Cubic,
            _ => throw info.Error($"unsupported mode '{mode}'"),
        };
        if (legacy)
        {
            _coord = CoordinateMode.Asymmetric;
            _nearest = NearestMode.Simple;
            _cubicA = -0.75;
            _aspectPolicy = "stretch";
            if (_upsample && _opset < 9)
            {
                _scalesAttr = info.GetFloats("scales") ?? throw info.Error("attribute 'scales' is required");
            }
            return;
        }
        string ct = info.GetString("coordinate_transformation_mode", "half_pixel");
        _coord = ct switch
        {
            "half_pixel" => CoordinateMode.HalfPixel,
            "half_pixel_symmetric" => CoordinateMode.HalfPixelSymmetric,
            "pytorch_half_pixel" => CoordinateMode.PytorchHalfPixel,
            "align_corners" => CoordinateMode.AlignCorners,
            "asymmetric" => CoordinateMode.Asymmetric,
            "tf_half_pixel_for_nn" => CoordinateMode.TfHalfPixelForNN,
            "tf_crop_and_resize" => CoordinateMode.TfCropAndResize,
            _ => throw info.Error($"unsupported coordinate_transformation_mode '{ct}'"),
        };
        string nm = info.GetString("nearest_mode", "round_prefer_floor");
        _nearest = nm switch
        {
            "round_prefer_floor" => NearestMode.RoundPreferFloor,
            "round_prefer_ceil" => NearestMode.RoundPreferCeil,
            "floor" => NearestMode.Floor,
            "ceil" => NearestMode.Ceil,
            _ => throw info.Error($"unsupported nearest_mode '{nm}'"),
        };
        _cubicA = info.GetFloat("cubic_coeff_a", -0.75f);
        _excludeOutside = info.GetInt("exclude_outside", 0) != 0;
        _extrapolation = info.GetFloat("extrapolation_value", 0f);
        _antialias = info.GetInt("antialias", 0) != 0;
        _axes = info.GetInts("axes");
        _aspectPolicy = info.GetString("keep_aspect_ratio_policy", "stretch");
        if (_aspectPolicy is not ("stretch" or "not_larger" or "not_smaller"))
            throw info.Error($"unsupported keep_aspect_ratio_policy '{_aspectPolicy}'");
    }

    public override void Compute(KernelContext ctx)
    {
        var x = ctx.Input(0);
        int rank = x.Rank;
        bool legacy = _upsample || _opset < 11;

        // Which axes the scales/sizes/roi refer to.
        int[] axes;
        if (_axes is { Length: > 0 } && !legacy)
        {
            axes = new int[_axes.Length];
            for (int i = 0; i < axes.Length; i++)
            {
                long a = _axes[i] < 0 ? _axes[i] + rank : _axes[i];
                if (a < 0 || a >= rank) throw ctx.Error($"axis {_axes[i]} is out of range for rank {rank}");
                if (Array.IndexOf(axes, (int)a, 0, i) >= 0) throw ctx.Error($"axis {_axes[i]} is repeated");
                axes[i] = (int)a;
            }
        }
        else
        {
            axes = new int[rank];
            for (int i = 0; i < rank; i++) axes[i] = i;
        }

        Tensor? roiT = null, scalesT = null, sizesT = null;
        if (_scalesAttr is null)
        {
            if (legacy) scalesT = ctx.Input(1);
            else
            {
                roiT = ctx.OptionalInput(1);
                scalesT = ctx.OptionalInput(2);
                sizesT = ctx.OptionalInput(3);
            }
        }
        if (scalesT is { Length: 0 }) scalesT = null;
        if (sizesT is { Length: 0 }) sizesT = null;

        var scale = new double[rank];
        var outShape = (int[])x.Shape.Clone();
        for (int a = 0; a < rank; a++) scale[a] = 1;

        if (_scalesAttr is not null || scalesT is not null)
        {
            if (sizesT is not null) throw ctx.Error("only one of 'scales' and 'sizes' may be given");
            int n = _scalesAttr?.Length ?? scalesT!.Length;
            if (n != axes.Length) throw ctx.Error($"'scales' has {n} values but {axes.Length} axes are resized");
            for (int i = 0; i < n; i++)
            {
                double s = _scalesAttr is not null ? _scalesAttr[i] : (float)scalesT!.GetDouble(i);
                if (!(s > 0)) throw ctx.Error($"scale {s} for axis {axes[i]} must be positive");
                int a = axes[i];
                scale[a] = s;
                double od = Math.Floor(x.Shape[a] * s);
                if (od > int.MaxValue) throw ctx.Error($"scale {s} makes axis {a} too large ({od})");
                outShape[a] = (int)od;
            }
        }
        else if (sizesT is not null)
        {
            if (sizesT.Length != axes.Length) throw ctx.Error($"'sizes' has {sizesT.Length} values but {axes.Length} axes are resized");
            var sizes = sizesT.ToInt64Array();
            for (int i = 0; i < sizes.Length; i++)
                if (sizes[i] < 0 || sizes[i] > int.MaxValue) throw ctx.Error($"size {sizes[i]} for axis {axes[i]} is invalid");
            if (_aspectPolicy == "stretch")
            {
                for (int i = 0; i < axes.Length; i++)
                {
                    int a = axes[i];
                    outShape[a] = (int)sizes[i];
                    scale[a] = x.Shape[a] == 0 ? 1 : (double)sizes[i] / x.Shape[a];
                }
            }
            else
            {
                double s = _aspectPolicy == "not_larger" ? double.MaxValue : double.MinValue;
                for (int i = 0; i < axes.Length; i++)
                {
                    if (x.Shape[axes[i]] == 0) continue;
                    double r = (double)sizes[i] / x.Shape[axes[i]];
                    s = _aspectPolicy == "not_larger" ? Math.Min(s, r) : Math.Max(s, r);
                }
                if (s is double.MaxValue or double.MinValue) s = 1;
                foreach (int a in axes)
                {
                    scale[a] = s;
                    double od = Math.Round(s * x.Shape[a], MidpointRounding.AwayFromZero);
                    if (od > int.MaxValue) throw ctx.Error($"axis {a} would be too large ({od})");
                    outShape[a] = (int)od;
                }
            }
        }
        else throw ctx.Error("one of 'scales' and 'sizes' must be given");

        // roi: [starts..., ends...] over the resized axes; only tf_crop_and_resize reads it.
        var roiStart = new double[rank];
        var roiEnd = new double[rank];
        for (int a = 0; a < rank; a++) roiEnd[a] = 1;
        if (_coord == CoordinateMode.TfCropAndResize)
        {
            if (roiT is null || roiT.Length == 0) throw ctx.Error("tf_crop_and_resize needs the 'roi' input");
            if (roiT.Length != 2 * axes.Length) throw ctx.Error($"'roi' has {roiT.Length} values, expected {2 * axes.Length}");
            for (int i = 0; i < axes.Length; i++)
            {
                roiStart[axes[i]] = roiT.GetDouble(i);
                roiEnd[axes[i]] = roiT.GetDouble(i + axes.Length);
            }
        }

        for (int a = 0; a < rank; a++)
            if (x.Shape[a] == 0 && outShape[a] != 0) throw ctx.Error($"cannot resize empty axis {a} to {outShape[a]}");
        long total = 1;
        foreach (int d in outShape) total *= d;
        if (total > Array.MaxLength) throw ctx.Error($"output shape {Kernels.ShapeMath.Format(outShape)} is too large");
        var y = ctx.OutputUninitialized(0, x.ElementType, outShape);
        if (y.Length == 0) return;

        if (_mode == InterpolationMode.Nearest)
        {
            var idx = new int[rank][];
            for (int a = 0; a < rank; a++)
                idx[a] = ResizeKernels.NearestIndices(_coord, _nearest, scale[a], x.Shape[a], outShape[a], roiStart[a], roiEnd[a]);
            GatherAny(ctx, x, y, idx);
            return;
        }

        if (x.ElementType == DataType.Double)
            Separable((double[])x.Buffer, x.Length, x.Shape, outShape, scale, roiStart, roiEnd, y, _extrapolation, ctx.Threads);
        else if (x.ElementType == DataType.Float)
            Separable((float[])x.Buffer, x.Length, x.Shape, outShape, scale, roiStart, roiEnd, y, (float)_extrapolation, ctx.Threads);
        else if (VisionTensors.IsReal(x.ElementType))
        {
            var xf = VisionTensors.ToFloat(x);
            Separable(xf, xf.Length, x.Shape, outShape, scale, roiStart, roiEnd, y, (float)_extrapolation, ctx.Threads);
        }
        else throw ctx.Error($"{x.ElementType.OnnxName()} is not supported by {_mode} resize");
    }

    private void Separable<T>(T[] data, int dataLen, int[] inShape, int[] outShape, double[] scale, double[] roiStart, double[] roiEnd,
        Tensor y, T extrapolation, int threads)
        where T : unmanaged, System.Numerics.IFloatingPointIeee754<T>
    {
        int rank = inShape.Length;
        var taps = new Kernels.Vision.AxisTaps?[rank];
        int lastAxis = -1;
        for (int a = 0; a < rank; a++)
        {
            var t = ResizeKernels.InterpolationTaps(_mode, _coord, scale[a], inShape[a], outShape[a], roiStart[a], roiEnd[a],
                _antialias, _cubicA, _excludeOutside);
            if (t.IsIdentity(inShape[a])) continue;
            taps[a] = t;
            lastAxis = a;
        }
        // The final pass writes straight into the output when it has the working type.
        bool direct = y.Buffer is T[];
        var cur = (int[])inShape.Clone();
        for (int a = 0; a <= lastAxis; a++)
        {
            var t = taps[a];
            if (t is null) continue;
            int outer = 1, inner = 1;
            for (int b = 0; b < a; b++) outer *= cur[b];
            for (int b = a + 1; b < rank; b++) inner *= cur[b];
            int inLen = inShape[a], outLen = outShape[a];
            int nextLen = outer * outLen * inner;
            var next = a == lastAxis && direct ? (T[])y.Buffer : new T[nextLen];
            var src = data;
            VisionTensors.ParallelRanges(outer, (long)outLen * inner * t.Taps, threads, (o0, o1) =>
                ResizeKernels.ResizeAxis<T>(src.AsSpan(o0 * inLen * inner, (o1 - o0) * inLen * inner),
                    next.AsSpan(o0 * outLen * inner, (o1 - o0) * outLen * inner), o1 - o0, inLen, inner, t, extrapolation));
            data = next;
            dataLen = nextLen;
            cur[a] = outLen;
        }
        if (lastAxis >= 0 && direct) return;
        if (direct) { data.AsSpan(0, dataLen).CopyTo(((T[])y.Buffer).AsSpan(0, y.Length)); return; }
        if (data is float[] f) VisionTensors.Store(y, f);
        else VisionTensors.Store(y, (double[])(object)data);
    }

    private void GatherAny(KernelContext ctx, Tensor x, Tensor y, int[][] idx)
    {
        double e = _extrapolation;
        switch (x.ElementType)
        {
            case DataType.Float: G(x, y, idx, (float)e); break;
            case DataType.Double: G(x, y, idx, e); break;
            case DataType.Float16: G(x, y, idx, (Half)e); break;
            case DataType.BFloat16: G(x, y, idx, (BFloat16)(float)e); break;
            case DataType.Int8: G(x, y, idx, (sbyte)e); break;
            case DataType.UInt8: G(x, y, idx, (byte)e); break;
            case DataType.Int16: G(x, y, idx, (short)e); break;
            case DataType.UInt16: G(x, y, idx, (ushort)e); break;
            case DataType.Int32: G(x, y, idx, (int)e); break;
            case DataType.UInt32: G(x, y, idx, (uint)e); break;
            case DataType.Int64: G(x, y, idx, (long)e); break;
            case DataType.UInt64: G(x, y, idx, (ulong)e); break;
            case DataType.Bool: G(x, y, idx, e != 0); break;
            case DataType.String: G(x, y, idx, ""); break;
            default: throw ctx.Error($"{x.ElementType.OnnxName()} is not supported");
        }
    }

    private static void G<T>(Tensor x, Tensor y, int[][] idx, T e) =>
        ResizeKernels.NearestGather(x.ReadOnlySpan<T>(), y.Span<T>(), x.Shape, idx, e);
}
