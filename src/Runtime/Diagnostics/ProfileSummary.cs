namespace NetOnnx.Runtime.Diagnostics;

/// <summary>Mean time per run of one op type with the kernel chosen for it.</summary>
public sealed record OpTime(string OpType, string Kernel, int Nodes, double MillisecondsPerRun, double Share);

/// <summary>Mean time per run of one node, with its shapes.</summary>
public sealed record NodeTime(string NodeName, string OpType, string Kernel, string InputShapes, string OutputShape, double MillisecondsPerRun, double Share);

/// <summary>
/// What profiled runs spent where: per op type and per node, as mean milliseconds per run and share of the mean
/// run latency, plus memory per run. Build it from <see cref="Session.Profile"/> (runs made with
/// <see cref="SessionOptions.EnableProfiling"/>).
/// </summary>
public sealed class ProfileSummary
{
    public int Runs { get; }
    public double MeanRunMilliseconds { get; }
    /// <summary>Heaviest first.</summary>
    public IReadOnlyList<OpTime> Ops { get; }
    /// <summary>Heaviest first.</summary>
    public IReadOnlyList<NodeTime> Nodes { get; }
    /// <summary>Run time outside any node's self time (input checks, buffer bookkeeping).</summary>
    public double BetweenNodesMilliseconds { get; }
    /// <summary>True when nodes inside If/Loop/Scan bodies were timed (their time is taken out of the enclosing node's).</summary>
    public bool HasNestedNodes { get; }
    public long MaxPeakBytes { get; }
    public double MeanManagedAllocatedBytes { get; }

    public ProfileSummary(IReadOnlyList<RunProfile> runs)
    {
        Runs = runs.Count;
        if (runs.Count == 0) { Ops = []; Nodes = []; return; }
        MeanRunMilliseconds = runs.Average(r => r.TotalMilliseconds);
        double total = MeanRunMilliseconds > 0 ? MeanRunMilliseconds : 1;
        // Self time: an If/Loop/Scan node's time less the nodes of its bodies, so shares add up to the run.
        var all = runs.SelectMany(r => SelfTimes(r.Nodes)).ToList();
        Ops = all.GroupBy(n => (n.Node.OpType, n.Node.Kernel))
            .Select(g =>
            {
                double ms = g.Sum(n => n.SelfMs) / runs.Count;
                return new OpTime(g.Key.OpType, g.Key.Kernel, (int)Math.Round((double)g.Count() / runs.Count), ms, ms / total);
            })
            .OrderByDescending(o => o.MillisecondsPerRun).ThenBy(o => o.OpType, StringComparer.Ordinal).ToList();
        Nodes = all.GroupBy(n => (n.Node.NodeName, n.Node.OpType, n.Node.Depth))
            .Select(g =>
            {
                var f = g.First().Node;
                double ms = g.Sum(n => n.SelfMs) / runs.Count;
                return new NodeTime(f.NodeName, f.OpType, f.Kernel, f.InputShapes, f.OutputShape, ms, ms / total);
            })
            .OrderByDescending(n => n.MillisecondsPerRun).ThenBy(n => n.NodeName, StringComparer.Ordinal).ToList();
        BetweenNodesMilliseconds = MeanRunMilliseconds - all.Sum(n => n.SelfMs) / runs.Count;
        HasNestedNodes = all.Any(n => n.Node.Depth > 0);
        MaxPeakBytes = runs.Max(r => r.PeakBytes);
        MeanManagedAllocatedBytes = runs.Average(r => (double)r.ManagedAllocatedBytes);
    }

    /// <summary>
    /// Each node's time less that of the nodes one level deeper that started while it ran (a run executes its
    /// nodes one after another, so a body's nodes lie inside the interval of the node that ran the body).
    /// </summary>
    public static List<(NodeTiming Node, double SelfMs)> SelfTimes(IReadOnlyList<NodeTiming> nodes)
    {
        var result = new List<(NodeTiming, double)>(nodes.Count);
        if (nodes.All(n => n.Depth == 0))
        {
            foreach (var n in nodes) result.Add((n, n.Milliseconds));
            return result;
        }
        double tickMs = 1000.0 / System.Diagnostics.Stopwatch.Frequency;
        // By start time (a parent starts before its body's nodes; ties put the shallower first), so each node
        // only looks ahead over the nodes that started while it ran.
        var byStart = nodes.OrderBy(n => n.StartTimestamp).ThenBy(n => n.Depth).ToArray();
        for (int i = 0; i < byStart.Length; i++)
        {
            var n = byStart[i];
            double end = n.StartTimestamp + n.Milliseconds / tickMs, inner = 0;
            for (int j = i + 1; j < byStart.Length && byStart[j].StartTimestamp <= end; j++)
                if (byStart[j].Depth == n.Depth + 1) inner += byStart[j].Milliseconds;
            result.Add((n, Math.Max(0, n.Milliseconds - inner)));
        }
        return result;
    }
}
