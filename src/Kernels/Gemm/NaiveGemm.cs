using System.Numerics;

namespace NetOnnx.Kernels.Gemm;

/// <summary>
/// GEMM for element types without a tuned kernel (double, integers): a row of C at a time, i-k-j order so
/// the inner loop streams contiguous rows of B. Integer arithmetic wraps like ONNX Runtime's.
/// </summary>
public static class NaiveGemm
{
    public static void Multiply<T>(bool transA, bool transB, int m, int n, int k, T alpha,
        ReadOnlySpan<T> a, int lda, ReadOnlySpan<T> b, int ldb, T beta, Span<T> c, int ldc) where T : INumber<T>
    {
        if (m == 0 || n == 0) return;
        var acc = new T[n];
        for (int i = 0; i < m; i++)
        {
            Array.Fill(acc, T.Zero);
            for (int p = 0; p < k; p++)
            {
                T av = transA ? a[p * lda + i] : a[i * lda + p];
                if (!transB)
                {
                    var row = b.Slice(p * ldb, n);
                    for (int j = 0; j < n; j++) acc[j] += av * row[j];
                }
                else
                {
                    for (int j = 0; j < n; j++) acc[j] += av * b[j * ldb + p];
                }
            }
            var crow = c.Slice(i * ldc, n);
            bool noBeta = beta == T.Zero;
            for (int j = 0; j < n; j++) crow[j] = noBeta ? alpha * acc[j] : alpha * acc[j] + beta * crow[j];
        }
    }
}
