using System.Numerics;
using System.Runtime.Intrinsics;

namespace NetOnnx.Kernels;

/// <summary>An element-wise binary operation as a struct, so loops specialise and inline it (the TensorPrimitives pattern).</summary>
public interface IBinaryOperator<T, TResult>
{
    static abstract TResult Invoke(T x, T y);
}

/// <summary>An element-wise unary operation as a struct.</summary>
public interface IUnaryOperator<T, TResult>
{
    static abstract TResult Invoke(T x);
}

/// <summary>A binary operation that also has a SIMD form over 512/256/128-bit vectors (same-type result).</summary>
public interface IVectorBinaryOperator<T> : IBinaryOperator<T, T>
{
    static abstract Vector512<T> Invoke(Vector512<T> x, Vector512<T> y);
    static abstract Vector256<T> Invoke(Vector256<T> x, Vector256<T> y);
    static abstract Vector128<T> Invoke(Vector128<T> x, Vector128<T> y);
}

/// <summary>A unary operation with a SIMD form.</summary>
public interface IVectorUnaryOperator<T> : IUnaryOperator<T, T>
{
    static abstract Vector512<T> Invoke(Vector512<T> x);
    static abstract Vector256<T> Invoke(Vector256<T> x);
    static abstract Vector128<T> Invoke(Vector128<T> x);
}

/// <summary>
/// An operation generic over every numeric type, so one struct serves float, double, the integers and Half
/// (the runtime picks T from the tensor's element type).
/// </summary>
public interface INumericBinary
{
    static abstract T Apply<T>(T x, T y) where T : INumber<T>;
}

public interface INumericUnary
{
    static abstract T Apply<T>(T x) where T : INumber<T>;
}

/// <summary>Adapts an <see cref="INumericBinary"/> to <see cref="IBinaryOperator{T,TResult}"/> for one T.</summary>
public readonly struct NumericBinary<T, TOp> : IBinaryOperator<T, T> where T : INumber<T> where TOp : INumericBinary
{
    public static T Invoke(T x, T y) => TOp.Apply(x, y);
}

public readonly struct NumericUnary<T, TOp> : IUnaryOperator<T, T> where T : INumber<T> where TOp : INumericUnary
{
    public static T Invoke(T x) => TOp.Apply(x);
}

public readonly struct AddOperator<T> : IVectorBinaryOperator<T> where T : INumber<T>
{
    public static T Invoke(T x, T y) => x + y;
    public static Vector512<T> Invoke(Vector512<T> x, Vector512<T> y) => x + y;
    public static Vector256<T> Invoke(Vector256<T> x, Vector256<T> y) => x + y;
    public static Vector128<T> Invoke(Vector128<T> x, Vector128<T> y) => x + y;
}

public readonly struct SubtractOperator<T> : IVectorBinaryOperator<T> where T : INumber<T>
{
    public static T Invoke(T x, T y) => x - y;
    public static Vector512<T> Invoke(Vector512<T> x, Vector512<T> y) => x - y;
    public static Vector256<T> Invoke(Vector256<T> x, Vector256<T> y) => x - y;
    public static Vector128<T> Invoke(Vector128<T> x, Vector128<T> y) => x - y;
}

public readonly struct MultiplyOperator<T> : IVectorBinaryOperator<T> where T : INumber<T>
{
    public static T Invoke(T x, T y) => x * y;
    public static Vector512<T> Invoke(Vector512<T> x, Vector512<T> y) => x * y;
    public static Vector256<T> Invoke(Vector256<T> x, Vector256<T> y) => x * y;
    public static Vector128<T> Invoke(Vector128<T> x, Vector128<T> y) => x * y;
}

/// <summary>Division for floating types only (integer division has no SIMD form and must trap on zero).</summary>
public readonly struct DivideOperator<T> : IVectorBinaryOperator<T> where T : INumber<T>
{
    public static T Invoke(T x, T y) => x / y;
    public static Vector512<T> Invoke(Vector512<T> x, Vector512<T> y) => x / y;
    public static Vector256<T> Invoke(Vector256<T> x, Vector256<T> y) => x / y;
    public static Vector128<T> Invoke(Vector128<T> x, Vector128<T> y) => x / y;
}

public readonly struct MaxOperator<T> : IVectorBinaryOperator<T> where T : INumber<T>
{
    // ONNX Max propagates NaN.
    public static T Invoke(T x, T y) => T.IsNaN(x) || T.IsNaN(y) ? (T.IsNaN(x) ? x : y) : (x > y ? x : y);
    public static Vector512<T> Invoke(Vector512<T> x, Vector512<T> y) => Vector512.Max(x, y);
    public static Vector256<T> Invoke(Vector256<T> x, Vector256<T> y) => Vector256.Max(x, y);
    public static Vector128<T> Invoke(Vector128<T> x, Vector128<T> y) => Vector128.Max(x, y);
}

public readonly struct MinOperator<T> : IVectorBinaryOperator<T> where T : INumber<T>
{
    public static T Invoke(T x, T y) => T.IsNaN(x) || T.IsNaN(y) ? (T.IsNaN(x) ? x : y) : (x < y ? x : y);
    public static Vector512<T> Invoke(Vector512<T> x, Vector512<T> y) => Vector512.Min(x, y);
    public static Vector256<T> Invoke(Vector256<T> x, Vector256<T> y) => Vector256.Min(x, y);
    public static Vector128<T> Invoke(Vector128<T> x, Vector128<T> y) => Vector128.Min(x, y);
}
