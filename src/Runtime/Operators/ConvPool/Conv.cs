using NetOnnx.Kernels;
using NetOnnx.Kernels.ConvPool;
using NetOnnx.Kernels.Elementwise;
using NetOnnx.Kernels.Gemm;
using NetOnnx.Kernels.SmallShapes;
using NetOnnx.Kernels.Sparse;
using NetOnnx.Kernels.Threading;
using NetOnnx.Runtime.Operators.Linalg;

namespace NetOnnx.Runtime.Operators.ConvPool;

/// <summary>
/// Conv (1-D to 3-D, groups, strides, dilations, pads, auto_pad, bias). Each image and group is one SGEMM,
/// weights (M/g x C/g*k) times the im2col matrix of the input; 1x1 stride-1 unpadded convolutions use the
/// input directly. Constant weights are packed once here. Depthwise groups use a direct kernel.
/// float16/bfloat16/double run through the float path.
/// </summary>
[OpKernel("Conv", 1)]
public class Conv : OpKernel
{
    /// <summary>Applied to the output in the pass that writes it (fused kernels only).</summary>
    private readonly FusedActivation _activation = FusedActivation.None;
    /// <summary>Whether input 3 (Z, added before the activation) is read (fused kernels only).</summary>
    private readonly bool _acceptsResidual;

    private readonly WindowAttributes _attrs;
    private readonly int _group;
    /// <summary>Weights packed per group when the weight input is a float initializer (null once Winograd replaces them).</summary>
    private readonly PackedA[]? _packed;
    /// <summary>The constant weight tensor the packed and Winograd forms were made from.</summary>
    private readonly Tensor? _packedFrom;
    /// <summary>Whether 3x3 stride-1 layers may run as Winograd F(4x4,3x3) (SessionOptions.UseWinogradConvolution).</summary>
    private readonly bool _winogradAllowed;
    /// <summary>The constant weights transformed for Winograd, made when a shape that gains first needs it.</summary>
    private WinogradFilter? _winograd;
    /// <summary>The implicit-GEMM source of the last run (immutable; replaced whole by concurrent runs).</summary>
    private PatchSource? _lastSource;
    /// <summary>Group-1 weights that are mostly zero (pruned), compressed; used where <see cref="SparseConv.Pays"/>.</summary>
    private readonly SparseConvWeights? _sparse;

    /// <summary>
    /// The weight tensor's shape when the kernel gave the tensor back (KernelInfo.ReleaseConstantInput): with a static
    /// input shape whose path reads only the packed, Winograd or sparse forms, the raw weights are not kept twice.
    /// Runs then never read input 1, and shapes other than the planned one take the packed GEMM or Winograd paths.
    /// </summary>
    private readonly int[]? _releasedWeightShape;

    /// <summary>Below this zero fraction the sparse kernel never pays (see <see cref="SparseConv.Pays"/>), so it is not built.</summary>
    private const double MinSparseZeros = 0.5;

    public Conv(KernelInfo info) : this(info, FusedActivation.None, false) { }

    protected Conv(KernelInfo info, FusedActivation activation, bool acceptsResidual)
    {
        _activation = activation;
        _acceptsResidual = acceptsResidual;
        _attrs = new WindowAttributes(info, kernelRequired: false);
        long g = info.GetInt("group", 1);
        if (g < 1 || g > int.MaxValue) throw info.Error($"group {g} must be positive");
        _group = (int)g;
        if (info.ConstantInput(1) is { ElementType: DataType.Float, Rank: >= 3 } w && w.Shape[0] % _group == 0 && w.Shape[1] > 0)
        {
            int mg = w.Shape[0] / _group, kg = w.Length / Math.Max(1, w.Shape[0]);
            // Depthwise weights are read directly; GEMM layout only helps when a group has several input channels.
            if (w.Shape[1] != 1 || _group == 1)
            {
                _packed = new PackedA[_group];
                var ws = w.ReadOnlySpan<float>();
                for (int i = 0; i < _group; i++) _packed[i] = Sgemm.Pack(false, mg, kg, ws.Slice(i * mg * kg, mg * kg), kg);
                _packedFrom = w;
                if (_group == 1 && SparseConvWeights.ZeroFraction(ws) >= MinSparseZeros) _sparse = SparseConvWeights.FromDense(ws, mg, kg);
                _winogradAllowed = info.Options.UseWinogradConvolution && _group == 1 && w.Rank == 4 && w.Shape[2] == 3 && w.Shape[3] == 3;
                // With a static input shape the filter transform is done here, once, rather than in the first run.
                if (_winogradAllowed && info.InputTypes.Count > 0 && info.InputTypes[0] is TensorType { StaticShape: [_, var c, _, _] xs }
                    && c == w.Shape[1])
                {
                    ConvGeometry? geo = null;
                    try { geo = ConvGeometry.Create(xs.AsSpan(2), w.Shape.AsSpan(2), _attrs.Strides, _attrs.Dilations, _attrs.Pads, _attrs.AutoPad, _attrs.CeilMode); }
                    catch (ArgumentException) { } // reported with the node's name when it runs
                    if (geo is not null && Winograd.Choose(c, w.Shape[0], geo) is var layout and not WinogradLayout.None)
                    {
                        _winograd = Winograd.TransformFilter(ws, w.Shape[0], c, layout);
                        // The static shape always takes the Winograd path, so the GEMM packing would only cost memory
                        // (another input shape would still run, with unpacked weights).
                        _packed = null;
                    }
                }
                if (info.InputTypes.Count > 0 && info.InputTypes[0] is TensorType { StaticShape: [_, var cs, ..] staticX } && cs == w.Shape[1] * _group
                    && staticX.Length == w.Rank && (_packed is not null || _winograd is not null))
                {
                    ConvGeometry? geo = null;
                    try { geo = ConvGeometry.Create(staticX.AsSpan(2), w.Shape.AsSpan(2), _attrs.Strides, _attrs.Dilations, _attrs.Pads, _attrs.AutoPad, _attrs.CeilMode); }
                    catch (ArgumentException) { }
                    if (geo is not null && !ReadsRawWeights(geo, cs, w.Shape[0]))
                    {
                        _releasedWeightShape = w.Shape.ToArray();
                        _packedFrom = null;
                        info.ReleaseConstantInput(1);
                    }
                }
            }
        }
    }

    /// <summary>Whether Run's path for this geometry reads the raw weights (the direct kernels do; the packed GEMM, Winograd and sparse ones do not).</summary>
    private bool ReadsRawWeights(ConvGeometry geo, int c, int m)
    {
        int cg = c / _group, mg = m / _group;
        if (cg == 1 && _group > 1) return true;
        if (_group == 1 && geo.InSize == 1 && geo.OutSize == 1 && geo.PadBegin.AsSpan().IndexOfAnyExcept(0) < 0) return true;
        if (_sparse is not null && _group == 1 && SparseConv.Pays(_sparse, geo)) return false;
        if (_winograd is not null) return false;
        if (_group == 1 && _winogradAllowed && Winograd.Choose(c, m, geo) != WinogradLayout.None) return true; // transformed at the first run
        if (NarrowConv.Fits(geo) || PhasedConv.PreferredOverGemm(geo, cg, mg)) return true;
        return _packed is null;
    }

    public override void Compute(KernelContext ctx)
    {
        var x = ctx.Input(0);
        bool released = _releasedWeightShape is not null;
        var w = released ? null : ctx.Input(1);
        int[] wShape = _releasedWeightShape ?? w!.Shape;
        var b = ctx.OptionalInput(2);
        if (x.Rank < 3) throw ctx.Error($"X must be [N, C, spatial...], got {ShapeMath.Format(x.Shape)}");
        if (wShape.Length != x.Rank) throw ctx.Error($"W {ShapeMath.Format(wShape)} must have the rank of X {ShapeMath.Format(x.Shape)}");
        if ((w?.ElementType ?? DataType.Float) != x.ElementType) throw ctx.Error("X and W must have the same element type");
        int n = x.Shape[0], c = x.Shape[1], m = wShape[0], g = _group;
        if (c != wShape[1] * g) throw ctx.Error($"X has {c} channels but W {ShapeMath.Format(wShape)} with group {g} expects {wShape[1] * g}");
        if (m % g != 0) throw ctx.Error($"{m} output channels are not divisible by group {g}");
        if (b is not null && (b.Rank != 1 || b.Shape[0] != m)) throw ctx.Error($"B must be [{m}], got {ShapeMath.Format(b.Shape)}");
        var kernel = wShape.AsSpan(2);
        if (_attrs.KernelShape is { } ks && !KernelMatches(ks, kernel))
            throw ctx.Error($"kernel_shape [{string.Join(",", ks)}] does not match W {ShapeMath.Format(wShape)}");
        var geo = _attrs.Geometry(ctx, x.Shape, kernel);
        Span<int> yShape = stackalloc int[2 + geo.SpatialDims];
        yShape[0] = n; yShape[1] = m;
        geo.OutDims.CopyTo(yShape[2..]);
        var z = _acceptsResidual ? ctx.OptionalInput(3) : null;
        if (z is not null && (z.ElementType != x.ElementType || !z.Shape.AsSpan().SequenceEqual(yShape)))
            throw ctx.Error($"Z {ShapeMath.Format(z.Shape)} must have the output's shape {ShapeMath.Format(yShape)} and X's element type");
        var y = ctx.OutputUninitialized(0, x.ElementType, yShape);
        if (y.Length == 0) return;
        if (x.ElementType == DataType.Float)
        {
            Run((float[])x.Buffer, released ? [] : (float[])w!.Buffer, b is null ? null : (float[])b.Buffer, (float[])y.Buffer, n, c, m, geo,
                released || ReferenceEquals(w, _packedFrom), ctx.Threads, z is null ? null : (float[])z.Buffer);
        }
        else if (x.ElementType is DataType.Float16 or DataType.BFloat16 or DataType.Double)
        {
            var yf = new float[y.Length];
            Run(FloatData.Read(x), FloatData.Read(w!), b is null ? null : FloatData.Read(b), yf, n, c, m, geo, false, ctx.Threads,
                z is null ? null : FloatData.Read(z));
            FloatData.Write(yf, y);
        }
        else throw ctx.Error($"element type {x.ElementType.OnnxName()} is not supported");
    }

    private static bool KernelMatches(long[] ks, ReadOnlySpan<int> kernel)
    {
        if (ks.Length != kernel.Length) return false;
        for (int i = 0; i < ks.Length; i++) if (ks[i] != kernel[i]) return false;
        return true;
    }

    private void Run(float[] x, float[] w, float[]? bias, float[] y, int n, int c, int m, ConvGeometry geo, bool constantWeights, int threads, float[]? residual)
    {
        var packed = constantWeights ? _packed : null;
        var act = _activation;
        int g = _group, cg = c / g, mg = m / g;
        int inSize = geo.InSize, outSize = geo.OutSize, kSize = geo.KernelSize;
        if (cg == 1 && g > 1)
        {
            RunDepthwise(x, w, bias, y, n, c, m, mg, geo, threads, residual, act);
            return;
        }
        bool raw = _releasedWeightShape is null; // released weights: only the packed, Winograd and sparse forms remain
        if (raw && g == 1 && inSize == 1 && outSize == 1 && geo.PadBegin.AsSpan().IndexOfAnyExcept(0) < 0)
        {
            // A fully connected layer on a 1x1 map (squeeze-excite): one row times W^T per image, W streamed
            // eight rows at a time; bias and residual are the accumulated-into output (beta = 1).
            for (int img = 0; img < n; img++)
            {
                var yi = y.AsSpan(img * m, m);
                if (bias is null) yi.Clear(); else bias.AsSpan(0, m).CopyTo(yi);
                if (residual is not null) for (int j = 0; j < m; j++) yi[j] += residual[img * m + j];
                RowGemv.Run(new ReadOnlyMemory<float>(x, img * c, c), w, c, m, c, 1f, bias is null && residual is null ? 0f : 1f,
                    new Memory<float>(y, img * m, m), act, threads);
            }
            return;
        }
        if (constantWeights && _sparse is not null && g == 1 && SparseConv.Pays(_sparse, geo))
        {
            for (int img = 0; img < n; img++)
                SparseConv.Run(x, img * c * inSize, geo, _sparse, bias, residual, y, img * m * outSize, act, threads);
            return;
        }
        var layout = g == 1 && _winogradAllowed && constantWeights ? Winograd.Choose(c, m, geo) : WinogradLayout.None;
        // Released weights: a transformed filter runs any 3x3 shape, and is the only form left when it replaced the packing.
        if (raw ? layout != WinogradLayout.None : _winograd is not null && (_packed is null || layout != WinogradLayout.None))
        {
            // 3x3 stride 1: 36 multiplies per 4x4 output tile and channel pair instead of 144. Either layout is
            // correct for any shape; the first shape that gains picks it.
            var f = _winograd ?? Interlocked.CompareExchange(ref _winograd, Winograd.TransformFilter(w, m, c, layout), null) ?? _winograd!;
            Winograd.Run(x, f, bias, y, n, geo, residual, act, threads);
            return;
        }
        if (raw && NarrowConv.Fits(geo))
        {
            // A few output positions: per-channel dot products, since GEMM tiles would be mostly padding.
            NarrowConv.Run(x, w, bias, y, n, c, m, g, geo, residual, act, threads);
            return;
        }
        if (raw && PhasedConv.PreferredOverGemm(geo, cg, mg))
        {
            RunPhased(x, w, bias, y, n, c, m, cg, mg, geo, threads, residual, act);
            return;
        }
        bool direct = kSize == 1 && geo.InSize == outSize && geo.PadBegin.AsSpan().IndexOfAnyExcept(0) < 0 && geo.Stride.AsSpan().IndexOfAnyExcept(1) < 0;
        if (!direct && packed is not null)
        {
            // Implicit GEMM: SGEMM packs its B panels straight from the input, no im2col matrix in memory.
            for (int img = 0; img < n; img++)
                for (int gi = 0; gi < g; gi++)
                {
                    // Pooled input buffers and the cached geometry repeat between runs: the last source is reused then.
                    int offset = (img * c + gi * cg) * inSize;
                    var src = _lastSource is { } last && last.Reads(x, offset, geo) ? last : _lastSource = new PatchSource(x, offset, geo);
                    var yg = y.AsSpan((img * m + gi * mg) * outSize, mg * outSize);
                    ReadOnlySpan<float> rowBias = bias is null ? default : bias.AsSpan(gi * mg, mg);
                    ReadOnlySpan<float> zg = residual is null ? default : residual.AsSpan((img * m + gi * mg) * outSize, mg * outSize);
                    Sgemm.Multiply(packed[gi], src, outSize, yg, outSize, rowBias, zg, outSize, act, threads);
                }
            return;
        }
        RunUnfolded(x, w, bias, y, n, c, m, geo, packed, threads, residual, direct);
    }

    // The depthwise, phased and im2col paths are apart from Run because their closures (parallel bodies) are
    // allocated on entry to the method that declares what they capture: the other paths then allocate nothing.
    private static void RunDepthwise(float[] x, float[] w, float[]? bias, float[] y, int n, int c, int m, int mg, ConvGeometry geo, int threads,
        float[]? residual, FusedActivation act)
    {
        // Depthwise: channels are independent, so split them across threads, a few channel ranges per thread
        // so that a worker that starts late does not leave the caller waiting on a whole half.
        int inSize = geo.InSize, outSize = geo.OutSize, kSize = geo.KernelSize;
        long work = (long)m * outSize * kSize;
        threads = Math.Max(1, threads);
        int parts = threads == 1 ? 1 : (int)Math.Clamp(work / (1 << 18), 1, Math.Min(m, 4 * threads));
        for (int img = 0; img < n; img++)
        {
            var xi = new ReadOnlyMemory<float>(x, img * c * inSize, c * inSize);
            var yi = new Memory<float>(y, img * m * outSize, m * outSize);
            var zi = residual is null ? default : new ReadOnlyMemory<float>(residual, img * m * outSize, m * outSize);
            if (parts == 1) Depthwise.Run(xi.Span, w, bias, mg, geo, yi.Span, 0, m, zi.Span, act);
            else
                IntraOpPool.For(parts, threads, p =>
                    Depthwise.Run(xi.Span, w, bias, mg, geo, yi.Span, (int)((long)m * p / parts), (int)((long)m * (p + 1) / parts), zi.Span, act));
        }
    }

    private static void RunPhased(float[] x, float[] w, float[]? bias, float[] y, int n, int c, int m, int cg, int mg, ConvGeometry geo, int threads,
        float[]? residual, FusedActivation act)
    {
        // Few weights per output channel: direct convolution beats packing image patches for a GEMM. Output
        // channel ranges in multiples of 4 (its 4-channel register blocks) across threads.
        int inSize = geo.InSize, outSize = geo.OutSize;
        long work = (long)m * outSize * cg * geo.KernelSize;
        threads = Math.Max(1, threads);
        int parts = threads == 1 ? 1 : (int)Math.Clamp(work / (1 << 18), 1, Math.Min((m + 3) / 4, 4 * threads));
        for (int img = 0; img < n; img++)
        {
            var xi = new ReadOnlyMemory<float>(x, img * c * inSize, c * inSize);
            var yi = new Memory<float>(y, img * m * outSize, m * outSize);
            var zi = residual is null ? default : new ReadOnlyMemory<float>(residual, img * m * outSize, m * outSize);
            if (parts == 1) PhasedConv.Run(xi.Span, w, bias, cg, mg, geo, yi.Span, 0, m, zi.Span, act);
            else
                IntraOpPool.For(parts, threads, p =>
                {
                    int o0 = (int)((long)m * p / parts) & ~3, o1 = p == parts - 1 ? m : (int)((long)m * (p + 1) / parts) & ~3;
                    if (o1 > o0) PhasedConv.Run(xi.Span, w, bias, cg, mg, geo, yi.Span, o0, o1, zi.Span, act);
                });
        }
    }

    private void RunUnfolded(float[] x, float[] w, float[]? bias, float[] y, int n, int c, int m, ConvGeometry geo, PackedA[]? packed,
        int threads, float[]? residual, bool direct)
    {
        var act = _activation;
        int g = _group, cg = c / g, mg = m / g;
        int inSize = geo.InSize, outSize = geo.OutSize, kSize = geo.KernelSize, kg = cg * kSize;
        float[]? col = direct ? null : System.Buffers.ArrayPool<float>.Shared.Rent(kg * outSize);
        try
        {
            for (int img = 0; img < n; img++)
            {
                for (int gi = 0; gi < g; gi++)
                {
                    var xg = x.AsSpan((img * c + gi * cg) * inSize, cg * inSize);
                    ReadOnlySpan<float> bmat = xg;
                    if (!direct)
                    {
                        // im2col is memory-bound copying; channels own disjoint rows, so split it too.
                        int xOff = (img * c + gi * cg) * inSize;
                        IntraOpPool.ForRanges(cg, threads, (c0, c1) =>
                            Im2Col.Unfold(x.AsSpan(xOff, cg * inSize), geo, col, c0, c1), work: (long)kg * outSize * sizeof(float));
                        bmat = col.AsSpan(0, kg * outSize);
                    }
                    var yg = y.AsSpan((img * m + gi * mg) * outSize, mg * outSize);
                    // Bias, residual and activation are the GEMM's epilogue, applied per finished tile.
                    ReadOnlySpan<float> rowBias = bias is null ? default : bias.AsSpan(gi * mg, mg);
                    ReadOnlySpan<float> zg = residual is null ? default : residual.AsSpan((img * m + gi * mg) * outSize, mg * outSize);
                    if (packed is not null)
                        Sgemm.Multiply(packed[gi], false, outSize, 1f, bmat, outSize, 0f, yg, outSize, rowBias, zg, outSize, act, threads);
                    else
                        Sgemm.Multiply(false, false, mg, outSize, kg, 1f, w.AsSpan(gi * mg * kg, mg * kg), kg, bmat, outSize, 0f, yg, outSize,
                            rowBias, zg, outSize, act, threads);
                }
            }
        }
        finally
        {
            if (col is not null) System.Buffers.ArrayPool<float>.Shared.Return(col);
        }
    }
}
