namespace NetOnnx.Kernels.Signal;

public enum WindowKind { Hann, Hamming, Blackman }

public static class Windows
{
    /// <summary>
    /// Generalised cosine windows; periodic windows use N = size (for spectral analysis), symmetric ones N = size - 1.
    /// </summary>
    public static double[] Create(WindowKind kind, int size, bool periodic)
    {
        var w = new double[size];
        if (size == 0) return w;
        double n = periodic ? size : size - 1;
        if (n == 0) { w[0] = 1; return w; }
        for (int i = 0; i < size; i++)
        {
            double a = 2 * Math.PI * i / n;
            w[i] = kind switch
            {
                WindowKind.Hann => 0.5 - 0.5 * Math.Cos(a),
                WindowKind.Hamming => 25.0 / 46.0 - (21.0 / 46.0) * Math.Cos(a),
                _ => 0.42 - 0.5 * Math.Cos(a) + 0.08 * Math.Cos(2 * a),
            };
        }
        return w;
    }

    /// <summary>Triangular mel filter bank [dftLength/2+1, numMelBins] on HTK-style mel spacing, ONNX MelWeightMatrix semantics.</summary>
    public static double[] MelWeightMatrix(int numMelBins, int dftLength, int sampleRate, double lowerHz, double upperHz)
    {
        int bins = dftLength / 2 + 1;
        var output = new double[bins * numMelBins];
        double lowMel = 2595 * Math.Log10(1 + lowerHz / 700);
        double highMel = 2595 * Math.Log10(1 + upperHz / 700);
        double step = (highMel - lowMel) / (numMelBins + 2);
        var fb = new int[numMelBins + 2];
        for (int i = 0; i < fb.Length; i++)
        {
            double mel = i * step + lowMel;
            double hz = 700 * (Math.Pow(10, mel / 2595) - 1);
            fb[i] = (int)Math.Floor((dftLength + 1) * hz / sampleRate);
        }
        for (int i = 0; i < numMelBins; i++)
        {
            int lo = fb[i], center = fb[i + 1], hi = fb[i + 2];
            int lowToCenter = center - lo;
            if (lowToCenter == 0) Set(center, i, 1);
            else for (int j = lo; j <= center; j++) Set(j, i, (double)(j - lo) / lowToCenter);
            int centerToHigh = hi - center;
            if (centerToHigh > 0) for (int j = center; j < hi; j++) Set(j, i, (double)(hi - j) / centerToHigh);
        }
        return output;

        void Set(int row, int col, double v)
        {
            if (row < 0 || row >= bins) throw new ArgumentException($"mel filter edge {row} falls outside the {bins} spectrogram bins; check the edge frequencies and sample rate");
            output[row * numMelBins + col] = v;
        }
    }
}
