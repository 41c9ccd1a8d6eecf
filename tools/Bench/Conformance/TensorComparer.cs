using System.Numerics;
using NetOnnx.Kernels;
using NetOnnx.Runtime;

namespace NetOnnx.Tools.Conformance;

/// <summary>
/// The ONNX backend rule for comparing outputs: shapes and element types equal; floating types with
/// |actual - expected| &lt;= atol + rtol * |expected| (NaN equals NaN); everything else exactly.
/// </summary>
public static class TensorComparer
{
    /// <summary>Returns null when the values match, else a one-line reason.</summary>
    public static string? Compare(object? expected, object? actual, double rtol, double atol)
    {
        switch (expected)
        {
            case Tensor e:
                return actual is Tensor a ? CompareTensors(e, a, rtol, atol) : $"expected a tensor, got {Describe(actual)}";
            case TensorSequence es:
            {
                if (actual is not TensorSequence s) return $"expected a sequence, got {Describe(actual)}";
                if (s.Count != es.Count) return $"sequence length {s.Count}, expected {es.Count}";
                for (int i = 0; i < es.Count; i++)
                    if (CompareTensors(es.Items[i], s.Items[i], rtol, atol) is { } why) return $"sequence item {i}: {why}";
                return null;
            }
            case OptionalValue eo:
            {
                object? av = actual is OptionalValue ao ? ao.Value : actual;
                if (eo.Value is null) return av is null ? null : $"expected an empty optional, got {Describe(av)}";
                if (av is null) return "expected a value, got an empty optional";
                return Compare(eo.Value, av, rtol, atol);
            }
            default:
                return $"cannot compare {Describe(expected)}";
        }
    }

    private static string Describe(object? v) => v?.ToString() ?? "nothing";

    /// <summary>Checks only that two values are tensors of the same element type and shape.</summary>
    public static string? CompareShapeAndType(object? expected, object? actual)
    {
        if (expected is not Tensor e || actual is not Tensor a) return $"expected a tensor, got {actual?.GetType().Name ?? "nothing"}";
        if (e.ElementType != a.ElementType) return $"element type {a.ElementType.OnnxName()}, expected {e.ElementType.OnnxName()}";
        if (!e.Shape.AsSpan().SequenceEqual(a.Shape)) return $"shape {Kernels.ShapeMath.Format(a.Shape)}, expected {Kernels.ShapeMath.Format(e.Shape)}";
        return null;
    }

    public static string? CompareTensors(Tensor e, Tensor a, double rtol, double atol)
    {
        if (e.ElementType != a.ElementType) return $"element type {a.ElementType.OnnxName()}, expected {e.ElementType.OnnxName()}";
        if (!ShapeMath.SameShape(e.Shape, a.Shape)) return $"shape {ShapeMath.Format(a.Shape)}, expected {ShapeMath.Format(e.Shape)}";
        int n = e.Length;
        switch (e.ElementType)
        {
            case DataType.Float: return Close(e.ReadOnlySpan<float>(), a.ReadOnlySpan<float>(), x => x, rtol, atol);
            case DataType.Double: return Close(e.ReadOnlySpan<double>(), a.ReadOnlySpan<double>(), x => x, rtol, atol);
            case DataType.Float16: return Close(e.ReadOnlySpan<Half>(), a.ReadOnlySpan<Half>(), x => (double)x, rtol, atol);
            case DataType.BFloat16: return Close(e.ReadOnlySpan<BFloat16>(), a.ReadOnlySpan<BFloat16>(), x => (float)x, rtol, atol);
            case DataType.Complex64:
            {
                var es = e.ReadOnlySpan<Complex64>(); var xs = a.ReadOnlySpan<Complex64>();
                for (int i = 0; i < n; i++)
                    if (!CloseOne(es[i].Real, xs[i].Real, rtol, atol) || !CloseOne(es[i].Imaginary, xs[i].Imaginary, rtol, atol))
                        return $"element {i}: {xs[i]} vs expected {es[i]}";
                return null;
            }
            case DataType.Complex128:
            {
                var es = e.ReadOnlySpan<Complex>(); var xs = a.ReadOnlySpan<Complex>();
                for (int i = 0; i < n; i++)
                    if (!CloseOne(es[i].Real, xs[i].Real, rtol, atol) || !CloseOne(es[i].Imaginary, xs[i].Imaginary, rtol, atol))
                        return $"element {i}: {xs[i]} vs expected {es[i]}";
                return null;
            }
            case DataType.String:
            {
                var es = e.ReadOnlySpan<string>(); var xs = a.ReadOnlySpan<string>();
                for (int i = 0; i < n; i++) if (!string.Equals(es[i], xs[i], StringComparison.Ordinal)) return $"element {i}: \"{xs[i]}\" vs expected \"{es[i]}\"";
                return null;
            }
            default:
            {
                // Integers, bool and the 8/4/2-bit encodings compare bit-exactly, except float8 NaN encodings.
                var eb = e.Bytes(); var ab = a.Bytes();
                int size = e.ElementType.SizeOf();
                for (int i = 0; i < eb.Length; i++)
                    if (eb[i] != ab[i])
                    {
                        int k = i / size;
                        if (e.ElementType.IsFloat() && IsFloat8NaN(e.ElementType, eb[k]) && IsFloat8NaN(e.ElementType, ab[k])) continue;
                        return $"element {k}: {a.Buffer.GetValue(k)} vs expected {e.Buffer.GetValue(k)}";
                    }
                return null;
            }
        }
    }

    private static bool IsFloat8NaN(DataType t, byte b) => t switch
    {
        DataType.Float8E4M3FN => (b & 0x7F) == 0x7F,
        DataType.Float8E4M3FNUZ or DataType.Float8E5M2FNUZ => b == 0x80,
        DataType.Float8E5M2 => (b & 0x7F) > 0x7C,
        DataType.Float8E8M0 => b == 0xFF,
        _ => false,
    };

    private static string? Close<T>(ReadOnlySpan<T> e, ReadOnlySpan<T> a, Func<T, double> f, double rtol, double atol)
    {
        int bad = -1, badCount = 0;
        double worst = 0;
        for (int i = 0; i < e.Length; i++)
        {
            double x = f(e[i]), y = f(a[i]);
            if (CloseOne(x, y, rtol, atol)) continue;
            badCount++;
            double d = double.IsNaN(x) || double.IsNaN(y) ? double.PositiveInfinity : Math.Abs(x - y);
            if (bad < 0 || d > worst) { bad = i; worst = d; }
        }
        if (bad < 0) return null;
        return $"{badCount}/{e.Length} elements differ; worst at {bad}: {f(a[bad])} vs expected {f(e[bad])}";
    }

    private static bool CloseOne(double expected, double actual, double rtol, double atol)
    {
        if (double.IsNaN(expected)) return double.IsNaN(actual);
        if (double.IsInfinity(expected)) return expected == actual;
        return Math.Abs(actual - expected) <= atol + rtol * Math.Abs(expected);
    }
}
