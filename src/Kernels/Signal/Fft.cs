using System.Numerics;

namespace NetOnnx.Kernels.Signal;

/// <summary>
/// Complex discrete Fourier transforms in double precision: iterative radix-2 for power-of-two lengths,
/// Bluestein's chirp-z (built on the radix-2 path) for other lengths, and a direct sum for short odd sizes.
/// The inverse uses the positive exponent and is NOT normalised (callers divide by n as the operator needs).
/// </summary>
public static class Fft
{
    public static void Transform(Span<double> re, Span<double> im, bool inverse)
    {
        int n = re.Length;
        if (im.Length != n) throw new ArgumentException("real and imaginary parts differ in length");
        if (n <= 1) return;
        if (BitOperations.IsPow2(n)) Radix2(re, im, inverse, Twiddles(n));
        else if (n <= 32) Direct(re, im, inverse);
        else Bluestein(re, im, inverse);
    }

    /// <summary>cos/sin of 2*pi*k/n for k &lt; n/2 (n a power of two), cached per thread since STFT reuses them per frame.</summary>
    private static (double[] Cos, double[] Sin) Twiddles(int n)
    {
        if (t_cos is { } c0 && t_sin is { } s0 && c0.Length == n / 2) return (c0, s0);
        var cos = new double[n / 2];
        var sin = new double[n / 2];
        for (int k = 0; k < cos.Length; k++) (sin[k], cos[k]) = Math.SinCos(2 * Math.PI * k / n);
        t_cos = cos;
        t_sin = sin;
        return (cos, sin);
    }

    [ThreadStatic] private static double[]? t_cos, t_sin;

    private static void Direct(Span<double> re, Span<double> im, bool inverse)
    {
        int n = re.Length;
        var outRe = new double[n];
        var outIm = new double[n];
        double sign = inverse ? 1 : -1;
        for (int k = 0; k < n; k++)
        {
            double sr = 0, si = 0;
            for (int t = 0; t < n; t++)
            {
                // Reduce k*t mod n first so the angle stays small and exact.
                long kt = (long)k * t % n;
                var (s, c) = Math.SinCos(sign * 2 * Math.PI * kt / n);
                sr += re[t] * c - im[t] * s;
                si += re[t] * s + im[t] * c;
            }
            outRe[k] = sr;
            outIm[k] = si;
        }
        outRe.CopyTo(re);
        outIm.CopyTo(im);
    }

    private static void Radix2(Span<double> re, Span<double> im, bool inverse, (double[] Cos, double[] Sin) tw)
    {
        int n = re.Length;
        // Bit-reversal permutation.
        for (int i = 1, j = 0; i < n; i++)
        {
            int bit = n >> 1;
            for (; (j & bit) != 0; bit >>= 1) j ^= bit;
            j ^= bit;
            if (i < j)
            {
                (re[i], re[j]) = (re[j], re[i]);
                (im[i], im[j]) = (im[j], im[i]);
            }
        }
        // Twiddles for the full length; stage of size len uses every (n/len)-th one.
        var cos = tw.Cos;
        var sin = tw.Sin;
        double sign = inverse ? 1 : -1;
        for (int len = 2; len <= n; len <<= 1)
        {
            int h = len >> 1, step = n / len;
            for (int start = 0; start < n; start += len)
            {
                for (int k = 0; k < h; k++)
                {
                    double wr = cos[k * step], wi = sign * sin[k * step];
                    int a = start + k, b = a + h;
                    double xr = re[b] * wr - im[b] * wi;
                    double xi = re[b] * wi + im[b] * wr;
                    re[b] = re[a] - xr; im[b] = im[a] - xi;
                    re[a] += xr; im[a] += xi;
                }
            }
        }
    }

    private static void Bluestein(Span<double> re, Span<double> im, bool inverse)
    {
        int n = re.Length;
        int m = (int)BitOperations.RoundUpToPowerOf2((uint)(2 * n - 1));
        double sign = inverse ? 1 : -1;
        // Chirp w[k] = exp(sign * i*pi*k^2/n); k^2 reduced mod 2n keeps the angle accurate.
        var wr = new double[n];
        var wi = new double[n];
        for (int k = 0; k < n; k++)
        {
            long k2 = (long)k * k % (2L * n);
            var (s, c) = Math.SinCos(Math.PI * k2 / n);
            wr[k] = c;
            wi[k] = sign * s;
        }
        var ar = new double[m]; var ai = new double[m];
        var br = new double[m]; var bi = new double[m];
        for (int k = 0; k < n; k++)
        {
            // a = x * w
            ar[k] = re[k] * wr[k] - im[k] * wi[k];
            ai[k] = re[k] * wi[k] + im[k] * wr[k];
        }
        // b = conj(w), symmetric around 0.
        br[0] = wr[0]; bi[0] = -wi[0];
        for (int k = 1; k < n; k++)
        {
            br[k] = br[m - k] = wr[k];
            bi[k] = bi[m - k] = -wi[k];
        }
        var tw = Twiddles(m);
        Radix2(ar, ai, false, tw);
        Radix2(br, bi, false, tw);
        for (int k = 0; k < m; k++)
        {
            double r = ar[k] * br[k] - ai[k] * bi[k];
            double i = ar[k] * bi[k] + ai[k] * br[k];
            ar[k] = r; ai[k] = i;
        }
        Radix2(ar, ai, true, tw);
        double inv = 1.0 / m;
        for (int k = 0; k < n; k++)
        {
            double r = ar[k] * inv, i = ai[k] * inv;
            re[k] = r * wr[k] - i * wi[k];
            im[k] = r * wi[k] + i * wr[k];
        }
    }
}
