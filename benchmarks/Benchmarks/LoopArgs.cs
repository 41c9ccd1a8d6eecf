using System.Globalization;

namespace NetOnnx.Benchmarks;

/// <summary>The options every kernel loop takes (`--threads N`, `--seconds S`), plus each loop's own one-value options.</summary>
internal sealed class LoopArgs
{
    public int Threads { get; private set; } = 1;
    public double Seconds { get; private set; }

    /// <summary>
    /// Parses args; <paramref name="extra"/> gets each other option name with its value and says whether it knew it.
    /// Null (after printing which option) when an option is unknown or lacks its value.
    /// </summary>
    public static LoopArgs? Parse(string[] args, double defaultSeconds, Func<string, string, bool>? extra = null)
    {
        var o = new LoopArgs { Seconds = defaultSeconds };
        for (int i = 0; i < args.Length; i++)
        {
            if (i + 1 >= args.Length) { Console.Error.WriteLine($"option '{args[i]}' needs a value"); return null; }
            string name = args[i], value = args[++i];
            switch (name)
            {
                case "--threads": o.Threads = int.Parse(value, CultureInfo.InvariantCulture); break;
                case "--seconds": o.Seconds = double.Parse(value, CultureInfo.InvariantCulture); break;
                default:
                    if (extra is null || !extra(name, value)) { Console.Error.WriteLine($"unknown option '{name}'"); return null; }
                    break;
            }
        }
        return o;
    }
}
