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
    /// <summary>Run time outside any node (input checks, buffer bookkeeping); negative when subgraph nodes are counted twice.</summary>
    public double BetweenNodesMilliseconds { get; }
    /// <summary>True when nodes inside If/Loop/Scan bodies were timed: they count both on their own and in the enclosing node.</summary>
    public bool HasNestedNodes { get; }
    public long MaxPeakBytes { get; }
    public double MeanManagedAllocatedBytes { get; }

    public ProfileSummary(IReadOnlyList<RunProfile> runs)
    {
        Runs = runs.Count;
        if (runs.Count == 0) { Ops = []; Nodes = []; return; }
        MeanRunMilliseconds = runs.Average(r => r.TotalMilliseconds);
        double total = MeanRunMilliseconds > 0 ? MeanRunMilliseconds : 1;
        var all = runs.SelectMany(r => r.Nodes).ToList();
        Ops = all.GroupBy(n => (n.OpType, n.Kernel))
            .Select(g =>
            {
                double ms = g.Sum(n => n.Milliseconds) / runs.Count;
                return new OpTime(g.Key.OpType, g.Key.Kernel, (int)Math.Round((double)g.Count() / runs.Count), ms, ms / total);
            })
            .OrderByDescending(o => o.MillisecondsPerRun).ThenBy(o => o.OpType, StringComparer.Ordinal).ToList();
        Nodes = all.GroupBy(n => (n.NodeName, n.OpType))
            .Select(g =>
            {
                var f = g.First();
                double ms = g.Sum(n => n.Milliseconds) / runs.Count;
                return new NodeTime(f.NodeName, f.OpType, f.Kernel, f.InputShapes, f.OutputShape, ms, ms / total);
            })
            .OrderByDescending(n => n.MillisecondsPerRun).ThenBy(n => n.NodeName, StringComparer.Ordinal).ToList();
        double inNodes = all.Sum(n => n.Milliseconds) / runs.Count;
        BetweenNodesMilliseconds = MeanRunMilliseconds - inNodes;
        // A run timed more node-milliseconds than it lasted only if some nodes ran inside others.
        HasNestedNodes = BetweenNodesMilliseconds < 0;
        MaxPeakBytes = runs.Max(r => r.PeakBytes);
        MeanManagedAllocatedBytes = runs.Average(r => (double)r.ManagedAllocatedBytes);
    }
}
