using System.Diagnostics;

namespace NetOnnx.Tools;

/// <summary>
/// A one-line progress bar with the current model and an ETA, redrawn in place on a terminal (stderr), so
/// redirected output and CI logs stay plain.
/// </summary>
public sealed class ProgressLine(TextWriter terminal, int totalUnits)
{
    private readonly Stopwatch _clock = Stopwatch.StartNew();
    private int _done;
    private long _lastDrawMs = -1000;

    /// <summary>Reports <paramref name="fraction"/> of the current unit done; 1 completes it.</summary>
    public void Report(string label, double fraction)
    {
        if (fraction >= 1) _done++;
        double progress = Math.Min(1, (_done + (fraction >= 1 ? 0 : fraction)) / Math.Max(1, totalUnits));
        long now = _clock.ElapsedMilliseconds;
        if (fraction < 1 && now - _lastDrawMs < 100) return;
        _lastDrawMs = now;
        string eta = progress > 0.01 ? Format(TimeSpan.FromMilliseconds(now / progress - now)) : "--:--";
        const int width = 30;
        int filled = (int)(progress * width);
        string text = $"[{new string('#', filled)}{new string('.', width - filled)}] {Math.Min(_done + 1, totalUnits)}/{totalUnits} {label}";
        if (text.Length > 70) text = text[..70];
        terminal.Write($"\r{text,-70} ETA {eta} ");
        terminal.Flush();
    }

    public void Clear()
    {
        terminal.Write("\r" + new string(' ', 90) + "\r");
        terminal.Flush();
    }

    private static string Format(TimeSpan t) => t.TotalHours >= 1 ? t.ToString(@"h\:mm\:ss") : t.ToString(@"mm\:ss");
}
