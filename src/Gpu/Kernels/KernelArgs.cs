namespace NetOnnx.Gpu.Kernels;

// Kernel parameters travel as small unmanaged structs: ILGPU passes them by value, and shapes of rank up to 6
// are right-aligned (leading dimensions 1, stride 0) so kernels index without loops over the rank.

/// <summary>Six dimensions or strides, innermost last.</summary>
public struct Six
{
    public int V0, V1, V2, V3, V4, V5;

    /// <summary>Right-aligns values of rank up to 6, padding the front with <paramref name="pad"/>.</summary>
    public static Six Of(ReadOnlySpan<int> values, int pad)
    {
        if (values.Length > 6) throw new NotSupportedException($"the GPU kernels handle rank up to 6, got {values.Length}");
        Span<int> v = stackalloc int[6];
        v.Fill(pad);
        values.CopyTo(v[(6 - values.Length)..]);
        return new Six { V0 = v[0], V1 = v[1], V2 = v[2], V3 = v[3], V4 = v[4], V5 = v[5] };
    }
}

/// <summary>Elementwise op codes; 0-10 match <c>ActivationKind</c> so fused epilogues share them.</summary>
public enum UnaryOp
{
    Identity = 0, Relu, Clip, Sigmoid, HardSigmoid, HardSwish, LeakyRelu, Silu, Tanh,
    GeluErf, GeluTanh, Sqrt, Exp, Neg, Abs, Erf, Reciprocal, Log, Pow, Floor, Ceil, Softplus, Elu, Scale,
}

public enum BinaryOp { Add = 0, Sub, Mul, Div, Pow, Max, Min, FillWhereEqual }

public struct UnaryArgs
{
    public int Op;
    public float A, B;
}

public struct BinaryArgs
{
    public int Op;
    /// <summary>FillWhereEqual: where b == A the result is B, else a.</summary>
    public float A, B;
    public Six Dims, StrideA, StrideB;
}

/// <summary>y[i] = x[Base + sum(index_d * Stride_d)]: transposes, slices and expands are all this.</summary>
public struct GatherArgs
{
    public Six Dims, Stride;
    public int Base;
}

public struct AxisGatherArgs
{
    public int AxisLength, Indices, Inner;
}

/// <summary>
/// C[b] = act(Alpha * A[b] B[b] + Beta * Bias + Residual): A element (m, k) at m*Am + k*Ak (transposes are
/// strides), batches at BatchA/BatchB (0 broadcasts), bias element (m, n) at m*BiasM + n*BiasN.
/// </summary>
public struct GemmArgs
{
    public int M, N, K;
    public int Am, Ak, Bk, Bn;
    public int BatchA, BatchB, BatchC;
    public float Alpha, Beta;
    public int HasBias, BiasM, BiasN, HasResidual;
    public int Act;
    public float ActA, ActB;
}

/// <summary>Convolution over NCHW (1-D convolutions have H = 1); the output tile epilogue adds bias, residual and activation.</summary>
public struct ConvArgs
{
    public int C, H, W, OC, OH, OW, KH, KW;
    public int StrideH, StrideW, PadH, PadW, DilationH, DilationW;
    public int Groups, HasBias, HasResidual, Act;
    public float ActA, ActB;
}

public struct PoolArgs
{
    public int H, W, OH, OW, KH, KW;
    public int StrideH, StrideW, PadH, PadW, DilationH, DilationW;
    public int PadEndH, PadEndW;
    public int IsMax, CountIncludePad;
}

/// <summary>Row-wise ops: Rows rows of N contiguous elements.</summary>
public struct RowArgs
{
    public int Rows, N;
    public float Epsilon;
    /// <summary>Reduce: 0 sum, 1 mean, 2 max, 3 min. LayerNorm: flags (1 skip, 2 beta, 4 write sum, 8 bias).</summary>
    public int Mode;
}

/// <summary>Nearest-neighbour resize of the last two axes: source = floor(destination / scale), clamped.</summary>
public struct ResizeArgs
{
    public int H, W, OH, OW;
    public float ScaleH, ScaleW;
}
