using System.Text.RegularExpressions;
using NetOnnx.Kernels;

namespace NetOnnx.Runtime.Operators.Strings;

/// <summary>
/// StringNormalizer: drops stopwords, then lower/upper-cases. Casing uses the invariant culture, so results do
/// not depend on the machine's locale; the 'locale' attribute is accepted but only invariant rules are applied.
/// </summary>
[OpKernel("StringNormalizer", 10)]
public sealed class StringNormalizer : OpKernel
{
    private readonly int _case; // 0 none, 1 lower, 2 upper
    private readonly HashSet<string> _stopwords;

    public StringNormalizer(KernelInfo info)
    {
        _case = info.GetString("case_change_action", "NONE") switch
        {
            "NONE" => 0,
            "LOWER" => 1,
            "UPPER" => 2,
            var s => throw info.Error($"case_change_action must be LOWER, UPPER or NONE, got '{s}'"),
        };
        bool sensitive = info.GetInt("is_case_sensitive", 0) != 0;
        _stopwords = new HashSet<string>(info.GetStrings("stopwords") ?? [],
            sensitive ? StringComparer.Ordinal : StringComparer.InvariantCultureIgnoreCase);
    }

    public override void Compute(KernelContext ctx)
    {
        var x = ctx.Input(0);
        if (x.ElementType != DataType.String) throw ctx.Error($"input must be a string tensor, got {x.ElementType.OnnxName()}");
        bool twoD = x.Rank == 2;
        if (!(x.Rank == 1 || twoD && x.Shape[0] == 1))
            throw ctx.Error($"input must have shape [C] or [1, C], got {ShapeMath.Format(x.Shape)}");
        var kept = new List<string>(x.Length);
        foreach (var s in x.ReadOnlySpan<string>())
            if (!_stopwords.Contains(s))
                kept.Add(_case switch { 1 => s.ToLowerInvariant(), 2 => s.ToUpperInvariant(), _ => s });
        if (kept.Count == 0) kept.Add(""); // all dropped: a single empty string, per the spec
        var y = ctx.Output(0, DataType.String, twoD ? [1, kept.Count] : [kept.Count]);
        kept.CopyTo(y.Span<string>());
    }
}

/// <summary>StringConcat: element-wise concatenation of two string tensors with numpy broadcasting.</summary>
[OpKernel("StringConcat", 20)]
public sealed class StringConcat : OpKernel
{
    public StringConcat(KernelInfo info) { }

    public override void Compute(KernelContext ctx)
    {
        var a = ctx.Input(0);
        var b = ctx.Input(1);
        if (a.ElementType != DataType.String || b.ElementType != DataType.String) throw ctx.Error("inputs must be string tensors");
        var shape = ShapeMath.Broadcast(a.Shape, b.Shape);
        var y = ctx.Output(0, DataType.String, shape);
        var sa = ShapeMath.BroadcastStrides(a.Shape, shape);
        var sb = ShapeMath.BroadcastStrides(b.Shape, shape);
        var av = a.ReadOnlySpan<string>();
        var bv = b.ReadOnlySpan<string>();
        var yv = y.Span<string>();
        var idx = new int[shape.Length];
        for (int i = 0; i < yv.Length; i++)
        {
            int ia = 0, ib = 0;
            for (int d = 0; d < shape.Length; d++) { ia += idx[d] * sa[d]; ib += idx[d] * sb[d]; }
            yv[i] = string.Concat(av[ia], bv[ib]);
            for (int d = shape.Length - 1; d >= 0 && ++idx[d] == shape[d]; d--) idx[d] = 0;
        }
    }
}

/// <summary>
/// StringSplit: splits each string like Python's str.split: on a delimiter (consecutive ones give empty
/// substrings) or, without one, on runs of whitespace. Y pads with "" to the longest split; Z holds the counts.
/// </summary>
[OpKernel("StringSplit", 20)]
public sealed class StringSplit : OpKernel
{
    private readonly string _delimiter;
    private readonly long _maxSplit;

    public StringSplit(KernelInfo info)
    {
        _delimiter = info.GetString("delimiter", "");
        _maxSplit = info.GetInt("maxsplit", -1);
    }

    public override void Compute(KernelContext ctx)
    {
        var x = ctx.Input(0);
        if (x.ElementType != DataType.String) throw ctx.Error($"input must be a string tensor, got {x.ElementType.OnnxName()}");
        var parts = new List<string>[x.Length];
        int widest = 0;
        var xs = x.ReadOnlySpan<string>();
        for (int i = 0; i < parts.Length; i++)
        {
            parts[i] = _delimiter.Length > 0 ? SplitOn(xs[i], _delimiter, _maxSplit) : SplitWhitespace(xs[i], _maxSplit);
            widest = Math.Max(widest, parts[i].Count);
        }
        var y = ctx.Output(0, DataType.String, [.. x.Shape, widest]);
        var yv = y.Span<string>();
        for (int i = 0; i < parts.Length; i++)
            for (int j = 0; j < parts[i].Count; j++) yv[i * widest + j] = parts[i][j];
        if (ctx.IsOutputRequested(1))
        {
            var z = ctx.Output(1, DataType.Int64, x.Shape).Span<long>();
            for (int i = 0; i < parts.Length; i++) z[i] = parts[i].Count;
        }
    }

    private static List<string> SplitOn(string s, string delim, long max)
    {
        var r = new List<string>();
        int start = 0;
        while (max < 0 || r.Count < max)
        {
            int at = s.IndexOf(delim, start, StringComparison.Ordinal);
            if (at < 0) break;
            r.Add(s[start..at]);
            start = at + delim.Length;
        }
        r.Add(s[start..]);
        return r;
    }

    private static List<string> SplitWhitespace(string s, long max)
    {
        var r = new List<string>();
        int i = 0, n = s.Length;
        while (true)
        {
            while (i < n && char.IsWhiteSpace(s[i])) i++;
            if (i == n) break;
            if (max >= 0 && r.Count == max)
            {
                // Out of splits: the rest (trailing whitespace included) is the last substring.
                r.Add(s[i..]);
                break;
            }
            int start = i;
            while (i < n && !char.IsWhiteSpace(s[i])) i++;
            r.Add(s[start..i]);
        }
        return r;
    }
}

/// <summary>
/// RegexFullMatch: whether each string matches the whole pattern. The RE2 pattern runs on .NET's backtracking
/// engine (RE2's syntax is, for practical patterns, a subset of it) with a timeout so no pattern can hang a run.
/// </summary>
[OpKernel("RegexFullMatch", 20)]
public sealed class RegexFullMatch : OpKernel
{
    private readonly Regex _regex;

    public RegexFullMatch(KernelInfo info)
    {
        var pattern = info.GetString("pattern", "");
        try
        {
            _regex = new Regex(@"\A(?:" + Re2Syntax.ToDotNet(pattern) + @")\z", RegexOptions.CultureInvariant, TimeSpan.FromSeconds(2));
        }
        catch (ArgumentException e)
        {
            throw info.Error($"pattern '{pattern}' is not a valid regular expression: {e.Message}");
        }
    }

    public override void Compute(KernelContext ctx)
    {
        var x = ctx.Input(0);
        if (x.ElementType != DataType.String) throw ctx.Error($"input must be a string tensor, got {x.ElementType.OnnxName()}");
        var y = ctx.Output(0, DataType.Bool, x.Shape).Span<bool>();
        var xs = x.ReadOnlySpan<string>();
        try
        {
            for (int i = 0; i < xs.Length; i++) y[i] = _regex.IsMatch(xs[i]);
        }
        catch (RegexMatchTimeoutException)
        {
            throw ctx.Error("the pattern took too long to match (over 2 s for one string)");
        }
    }
}

/// <summary>
/// Rewrites the RE2 constructs whose .NET spelling or meaning differs: ASCII-only \d \w \s, POSIX bracket
/// classes ([[:alpha:]]), one-letter Unicode classes (\pL) and Python-style named groups ((?P&lt;name&gt;...)).
/// </summary>
internal static class Re2Syntax
{
    private static readonly Dictionary<string, string> Posix = new(StringComparer.Ordinal)
    {
        ["alnum"] = "0-9A-Za-z", ["alpha"] = "A-Za-z", ["ascii"] = "\\x00-\\x7F", ["blank"] = "\\t ",
        ["cntrl"] = "\\x00-\\x1F\\x7F", ["digit"] = "0-9", ["graph"] = "!-~", ["lower"] = "a-z",
        ["print"] = " -~", ["punct"] = "!-/:-@\\[-`{-~", ["space"] = "\\t\\n\\v\\f\\r ", ["upper"] = "A-Z",
        ["word"] = "0-9A-Za-z_", ["xdigit"] = "0-9A-Fa-f",
    };

    public static string ToDotNet(string p)
    {
        var sb = new System.Text.StringBuilder(p.Length + 16);
        bool inClass = false;
        for (int i = 0; i < p.Length; i++)
        {
            char c = p[i];
            if (c == '\\' && i + 1 < p.Length)
            {
                char n = p[++i];
                switch (n)
                {
                    case 'd': sb.Append(inClass ? "0-9" : "[0-9]"); break;
                    case 'w': sb.Append(inClass ? "0-9A-Za-z_" : "[0-9A-Za-z_]"); break;
                    case 's': sb.Append(inClass ? "\\t\\n\\f\\r " : "[\\t\\n\\f\\r ]"); break;
                    case 'D': sb.Append(inClass ? "\\D" : "[^0-9]"); break;
                    case 'W': sb.Append(inClass ? "\\W" : "[^0-9A-Za-z_]"); break;
                    case 'S': sb.Append(inClass ? "\\S" : "[^\\t\\n\\f\\r ]"); break;
                    case 'p' or 'P' when i + 1 < p.Length && p[i + 1] != '{':
                        sb.Append('\\').Append(n).Append('{').Append(p[++i]).Append('}');
                        break;
                    default: sb.Append('\\').Append(n); break;
                }
                continue;
            }
            if (inClass)
            {
                if (c == '[' && i + 1 < p.Length && p[i + 1] == ':')
                {
                    int end = p.IndexOf(":]", i + 2, StringComparison.Ordinal);
                    if (end > 0)
                    {
                        var name = p[(i + 2)..end];
                        bool negate = name.StartsWith('^');
                        if (!negate && Posix.TryGetValue(name, out var set)) { sb.Append(set); i = end + 1; continue; }
                    }
                }
                if (c == ']') inClass = false;
                sb.Append(c);
                continue;
            }
            if (c == '[')
            {
                inClass = true;
                sb.Append(c);
                // A leading ']' (after an optional '^') is a literal, not the end of the class.
                if (i + 1 < p.Length && p[i + 1] == '^') sb.Append(p[++i]);
                if (i + 1 < p.Length && p[i + 1] == ']') { sb.Append("\\]"); i++; }
                continue;
            }
            if (c == '(' && string.CompareOrdinal(p, i, "(?P<", 0, 4) == 0) { sb.Append("(?<"); i += 3; continue; }
            sb.Append(c);
        }
        return sb.ToString();
    }
}
