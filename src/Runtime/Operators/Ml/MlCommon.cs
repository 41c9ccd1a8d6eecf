namespace NetOnnx.Runtime.Operators.Ml;

/// <summary>Helpers shared by the ai.onnx.ml kernels: numeric input as doubles, score post-transforms.</summary>
internal static class MlCommon
{
    public const string Domain = "ai.onnx.ml";

    /// <summary>Any numeric tensor as doubles (the ML ops accept float, double, int32, int64).</summary>
    public static double[] ToDoubles(KernelContext ctx, Tensor x)
    {
        var r = new double[x.Length];
        switch (x.ElementType)
        {
            case DataType.Float: { var s = x.ReadOnlySpan<float>(); for (int i = 0; i < r.Length; i++) r[i] = s[i]; break; }
            case DataType.Double: x.ReadOnlySpan<double>().CopyTo(r); break;
            case DataType.Int64: { var s = x.ReadOnlySpan<long>(); for (int i = 0; i < r.Length; i++) r[i] = s[i]; break; }
            case DataType.Int32: { var s = x.ReadOnlySpan<int>(); for (int i = 0; i < r.Length; i++) r[i] = s[i]; break; }
            case DataType.Float16: { var s = x.ReadOnlySpan<Half>(); for (int i = 0; i < r.Length; i++) r[i] = (double)s[i]; break; }
            default: throw ctx.Error($"input must be numeric (float, double, int32, int64), got {x.ElementType.OnnxName()}");
        }
        return r;
    }

    /// <summary>Writes doubles into a float/double/float16 tensor.</summary>
    public static void Store(Tensor y, ReadOnlySpan<double> v)
    {
        switch (y.ElementType)
        {
            case DataType.Float: { var s = y.Span<float>(); for (int i = 0; i < v.Length; i++) s[i] = (float)v[i]; break; }
            case DataType.Double: v.CopyTo(y.Span<double>()); break;
            case DataType.Float16: { var s = y.Span<Half>(); for (int i = 0; i < v.Length; i++) s[i] = (Half)v[i]; break; }
            default: throw new InvalidOperationException($"cannot store scores as {y.ElementType.OnnxName()}");
        }
    }

    public enum PostTransform { None, Softmax, Logistic, SoftmaxZero, Probit }

    public static PostTransform ParseTransform(KernelInfo info, string s) => s switch
    {
        "NONE" => PostTransform.None,
        "SOFTMAX" => PostTransform.Softmax,
        "LOGISTIC" => PostTransform.Logistic,
        "SOFTMAX_ZERO" => PostTransform.SoftmaxZero,
        "PROBIT" => PostTransform.Probit,
        _ => throw info.Error($"post_transform must be NONE, SOFTMAX, LOGISTIC, SOFTMAX_ZERO or PROBIT, got '{s}'"),
    };

    /// <summary>Applies a post-transform in place to one row of scores.</summary>
    public static void Apply(PostTransform t, Span<double> row)
    {
        switch (t)
        {
            case PostTransform.Logistic:
                for (int i = 0; i < row.Length; i++) row[i] = 1 / (1 + Math.Exp(-row[i]));
                break;
            case PostTransform.Softmax:
            case PostTransform.SoftmaxZero:
            {
                // SOFTMAX_ZERO leaves zero scores at zero and normalises only the others.
                bool skipZero = t == PostTransform.SoftmaxZero;
                double max = double.NegativeInfinity;
                foreach (var v in row) if (!(skipZero && v == 0) && v > max) max = v;
                double sum = 0;
                for (int i = 0; i < row.Length; i++)
                {
                    if (skipZero && row[i] == 0) continue;
                    row[i] = Math.Exp(row[i] - max);
                    sum += row[i];
                }
                if (sum > 0) for (int i = 0; i < row.Length; i++) if (!(skipZero && row[i] == 0)) row[i] /= sum;
                break;
            }
            case PostTransform.Probit:
                for (int i = 0; i < row.Length; i++) row[i] = Math.Sqrt(2) * ErfInv(2 * row[i] - 1);
                break;
        }
    }

    /// <summary>Inverse error function (Giles' single-precision approximation, ample for probit scores).</summary>
    public static double ErfInv(double x)
    {
        if (x <= -1) return double.NegativeInfinity;
        if (x >= 1) return double.PositiveInfinity;
        double w = -Math.Log((1 - x) * (1 + x)), p;
        if (w < 5)
        {
            w -= 2.5;
            p = 2.81022636e-08;
            p = 3.43273939e-07 + p * w; p = -3.5233877e-06 + p * w; p = -4.39150654e-06 + p * w;
            p = 0.00021858087 + p * w; p = -0.00125372503 + p * w; p = -0.00417768164 + p * w;
            p = 0.246640727 + p * w; p = 1.50140941 + p * w;
        }
        else
        {
            w = Math.Sqrt(w) - 3;
            p = -0.000200214257;
            p = 0.000100950558 + p * w; p = 0.00134934322 + p * w; p = -0.00367342844 + p * w;
            p = 0.00573950773 + p * w; p = -0.0076224613 + p * w; p = 0.00943887047 + p * w;
            p = 1.00167406 + p * w; p = 2.83297682 + p * w;
        }
        return p * x;
    }
}
