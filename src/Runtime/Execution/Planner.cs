namespace NetOnnx.Runtime;

/// <summary>
/// Compiles a graph into an <see cref="ExecutionPlan"/>: orders nodes, binds each to a kernel chosen by
/// (domain, op, opset, element type), assigns value slots and computes each value's last use.
/// </summary>
public sealed class Planner
{
    private readonly Model _model;
    private readonly SessionOptions _options;
    private readonly KernelRegistry _registry;
    private readonly IExecutionProvider? _provider;
    private readonly bool _releaseWeights;

    /// <param name="releaseModelWeights">Remove packed weights from the model's graph as planning goes (see <see cref="SessionOptions.ReleaseModelWeights"/>).</param>
    public Planner(Model model, SessionOptions options, bool releaseModelWeights = false)
    {
        _model = model;
        _releaseWeights = releaseModelWeights;
        _options = options;
        _registry = options.Kernels ?? KernelRegistry.Default;
        _provider = ExecutionProviders.Resolve(options);
    }

    public ExecutionPlan Plan(Graph graph, Graph? enclosing = null) => PlanGraph(graph, isSubgraph: enclosing is not null, outerTypes: enclosing is null ? null : [enclosing], outerKnown: null);

    /// <param name="outerKnown">Constants of the enclosing graphs (subgraphs only): outer-scope reads of them become constants here.</param>
    private ExecutionPlan PlanGraph(Graph graph, bool isSubgraph, List<Graph>? outerTypes, IReadOnlyDictionary<string, Tensor>? outerKnown)
    {
        var slotOf = new Dictionary<string, int>(StringComparer.Ordinal);
        var names = new List<string>();
        int Slot(string n)
        {
            if (!slotOf.TryGetValue(n, out int s)) { s = names.Count; names.Add(n); slotOf[n] = s; }
            return s;
        }

        foreach (var k in graph.Initializers.Keys) Slot(k);
        var inputSlots = graph.Inputs.Select(i => Slot(i.Name)).ToArray();
        var defined = new HashSet<string>(graph.Initializers.Keys, StringComparer.Ordinal);
        foreach (var i in graph.Inputs) defined.Add(i.Name);

        var outerNames = new List<string>();
        var evaluated = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        if (isSubgraph)
            foreach (var r in graph.OuterScopeReads())
            {
                Slot(r);
                defined.Add(r);
                if (outerKnown is not null && outerKnown.TryGetValue(r, out var c)) evaluated[r] = c;
                else outerNames.Add(r);
            }

        var order = TopologicalOrder(graph, defined);
        var steps = new List<PlanStep>();
        var implicitReads = new List<int[]>();
        // Per initializer: whether every run-time reader so far packed it (true) or some reader needs it (false).
        var releasable = new Dictionary<string, bool>(StringComparer.Ordinal);
        // Values known at plan time: initializers, plus (in subgraphs, which the optimizer does not enter) the
        // outputs of nodes evaluated here once because all their inputs are known. Kernels created later see
        // them as constant inputs (Conv packs such weights), and runs skip those nodes.
        var known = new Dictionary<string, Tensor>(graph.Initializers, StringComparer.Ordinal);
        foreach (var i in graph.Inputs) known.Remove(i.Name); // an initializer the caller may override is not a constant
        foreach (var (k, v) in evaluated) known[k] = v;
        // Control flow bodies stay on the CPU: only the top-level graph is partitioned.
        var units = _provider is null || isSubgraph ? order.Select(n => (IReadOnlyList<Node>)[n]).ToList() : Partition(graph, order, outerTypes);
        var weightRelease = !isSubgraph && _releaseWeights ? new WeightRelease(graph, order) : null;
        foreach (var unit in units)
        {
            if (unit.Count > 1 || (unit.Count == 1 && _claimed.Contains(unit[0])))
            {
                steps.Add(CompilePartition(graph, unit, Slot, steps.Count, outerTypes));
                implicitReads.Add([]);
                foreach (var n in unit) foreach (var r in n.Inputs) releasable[r] = false;
                continue;
            }
            var node = unit[0];
            var inputs = node.Inputs.Select(n => n.Length == 0 ? -1 : Slot(n)).ToArray();
            var outputs = node.Outputs.Select(n => n.Length == 0 ? -1 : Slot(n)).ToArray();
            var kernel = CreateKernel(graph, node, outerTypes, out string kernelName, known, out var released);
            var step = new PlanStep { Node = node, Kernel = kernel, Inputs = inputs, Outputs = outputs, KernelName = kernelName };
            if (isSubgraph && PlanTimeConstants.TryEvaluate(graph, step, known, slotOf, names.Count) is { } results)
            {
                for (int k = 0; k < results.Length; k++)
                    if (node.Outputs[k].Length > 0) { known[node.Outputs[k]] = results[k]; evaluated[node.Outputs[k]] = results[k]; }
                continue;
            }
            steps.Add(step);
            for (int k = 0; k < node.Inputs.Count; k++)
                if (node.Inputs[k].Length > 0)
                    releasable[node.Inputs[k]] = (released?.Contains(k) ?? false) && releasable.GetValueOrDefault(node.Inputs[k], true);
            weightRelease?.Planned(node, releasable, known);
            var reads = new List<int>();
            foreach (var g in graph.Subgraphs(node))
                foreach (var r in g.OuterScopeReads())
                {
                    releasable[r] = false;
                    if (slotOf.TryGetValue(r, out int s)) reads.Add(s);
                }
            implicitReads.Add(reads.ToArray());
        }

        foreach (var o in graph.Outputs)
            if (!slotOf.ContainsKey(o.Name))
                throw new ModelLoadException($"graph output '{o.Name}' is produced by no node, input or initializer");
        var outputSlots = graph.Outputs.Select(o => slotOf[o.Name]).ToArray();

        // Last use of every node-produced slot; graph outputs live to the end.
        var lastUse = new int[names.Count];
        Array.Fill(lastUse, -1);
        var producedBy = new int[names.Count];
        Array.Fill(producedBy, -1);
        for (int i = 0; i < steps.Count; i++)
        {
            foreach (int s in steps[i].Inputs) if (s >= 0) lastUse[s] = i;
            foreach (int s in implicitReads[i]) lastUse[s] = i;
            foreach (int s in steps[i].Outputs) if (s >= 0) { producedBy[s] = i; if (lastUse[s] < i) lastUse[s] = i; }
        }
        var keep = new HashSet<int>(outputSlots);
        var release = new List<int>[steps.Count];
        for (int i = 0; i < steps.Count; i++) release[i] = [];
        for (int s = 0; s < names.Count; s++)
            if (producedBy[s] >= 0 && !keep.Contains(s)) release[lastUse[s]].Add(s);
        for (int i = 0; i < steps.Count; i++) steps[i].ReleaseAfter = release[i].ToArray();

        var constants = new Tensor?[names.Count];
        foreach (var (k, v) in graph.Initializers) constants[slotOf[k]] = v;
        foreach (var (k, v) in evaluated) constants[slotOf[k]] = v;
        // Packed initializers: only top-level ones that are neither graph inputs (a caller may feed them) nor
        // outputs, and that every reader packed. Subgraph plans keep theirs (their readers are not all seen here).
        var releasedNames = new List<string>(weightRelease?.Dropped ?? []);
        if (!isSubgraph)
        {
            foreach (var o in graph.Outputs) releasable[o.Name] = false;
            foreach (var i in graph.Inputs) releasable[i.Name] = false;
            foreach (var (name, ok) in releasable)
                if (ok && graph.Initializers.ContainsKey(name)) { constants[slotOf[name]] = null; releasedNames.Add(name); }
        }

        var plan = new ExecutionPlan
        {
            Graph = graph,
            SlotNames = names.ToArray(),
            SlotOf = slotOf,
            Constants = constants,
            ReleasedConstants = releasedNames.ToArray(),
            InputSlots = inputSlots,
            OutputSlots = outputSlots,
            Steps = steps.ToArray(),
            OuterNames = outerNames.ToArray(),
            OuterSlots = outerNames.Select(n => slotOf[n]).ToArray(),
            ProducedOutputSlots = outputSlots.Distinct().Where(s => producedBy[s] >= 0).ToArray(),
        };
        MemoryPlanner.Estimate(plan);
        return plan;
    }

    /// <summary>Nodes in an order where every input is computed first; reports inputs nothing produces.</summary>
    private static List<Node> TopologicalOrder(Graph graph, HashSet<string> available)
    {
        var have = new HashSet<string>(available, StringComparer.Ordinal);
        var producer = new Dictionary<string, Node>(StringComparer.Ordinal);
        foreach (var n in graph.Nodes)
            foreach (var o in n.Outputs)
                if (o.Length > 0 && !producer.TryAdd(o, n))
                    throw ModelLoadException.ForNode(n, $"output '{o}' is also produced by {producer[o].Describe()}");

        var order = new List<Node>(graph.Nodes.Count);
        var pending = new List<Node>(graph.Nodes);
        while (pending.Count > 0)
        {
            var next = new List<Node>();
            foreach (var n in pending)
            {
                bool ready = n.Inputs.All(i => i.Length == 0 || have.Contains(i))
                    && graph.Subgraphs(n).All(g => g.OuterScopeReads().All(r => have.Contains(r) || !producer.ContainsKey(r)));
                if (ready)
                {
                    order.Add(n);
                    foreach (var o in n.Outputs) if (o.Length > 0) have.Add(o);
                }
                else next.Add(n);
            }
            if (next.Count == pending.Count)
            {
                var n = next[0];
                var missing = n.Inputs.FirstOrDefault(i => i.Length > 0 && !have.Contains(i) && !producer.ContainsKey(i));
                if (missing is not null)
                    throw ModelLoadException.ForNode(n, $"input '{missing}' is not produced by any node, graph input or initializer");
                throw ModelLoadException.ForNode(n, "is part of a cycle: its inputs depend on its own outputs");
            }
            pending = next;
        }
        return order;
    }

    private readonly HashSet<Node> _claimed = new(ReferenceEqualityComparer.Instance);

    /// <summary>
    /// Splits the order into units: single CPU nodes and runs of nodes the provider claims. Nodes are reordered
    /// (keeping dependencies) so that each device keeps running while it has ready nodes, which makes the runs
    /// long and the host/device crossings few.
    /// </summary>
    private List<IReadOnlyList<Node>> Partition(Graph graph, List<Node> order, List<Graph>? outer)
    {
        var claimed = new bool[order.Count];
        for (int i = 0; i < order.Count; i++)
        {
            if (graph.Subgraphs(order[i]).Any()) continue;
            try { claimed[i] = _provider!.CanRun(CreateInfo(graph, order[i], outer)); }
            catch (OnnxException) { claimed[i] = false; }
            if (claimed[i]) _claimed.Add(order[i]);
        }
        var index = new Dictionary<Node, int>(ReferenceEqualityComparer.Instance);
        for (int i = 0; i < order.Count; i++) index[order[i]] = i;
        var producer = new Dictionary<string, int>(StringComparer.Ordinal);
        for (int i = 0; i < order.Count; i++) foreach (var o in order[i].Outputs) if (o.Length > 0) producer[o] = i;
        var waiting = new int[order.Count];
        var consumers = new List<int>[order.Count];
        for (int i = 0; i < order.Count; i++) consumers[i] = [];
        for (int i = 0; i < order.Count; i++)
        {
            var reads = order[i].Inputs.Concat(graph.Subgraphs(order[i]).SelectMany(g => g.OuterScopeReads())).Distinct();
            foreach (var r in reads)
                if (r.Length > 0 && producer.TryGetValue(r, out int p) && p != i) { waiting[i]++; consumers[p].Add(i); }
        }
        var ready = new[] { new SortedSet<int>(), new SortedSet<int>() };
        for (int i = 0; i < order.Count; i++) if (waiting[i] == 0) ready[claimed[i] ? 1 : 0].Add(i);
        var units = new List<IReadOnlyList<Node>>();
        List<Node>? run = null;
        int side = 0;
        while (ready[0].Count + ready[1].Count > 0)
        {
            if (ready[side].Count == 0) side = 1 - side;
            int i = ready[side].Min;
            ready[side].Remove(i);
            if (side == 1) { if (run is null) { run = []; units.Add(run); } run.Add(order[i]); }
            else { run = null; units.Add([order[i]]); }
            foreach (int c in consumers[i]) if (--waiting[c] == 0) ready[claimed[c] ? 1 : 0].Add(c);
        }
        return units;
    }

    private PlanStep CompilePartition(Graph graph, IReadOnlyList<Node> nodes, Func<string, int> slot,
        int stepIndex, List<Graph>? outer)
    {
        var inside = new HashSet<Node>(nodes, ReferenceEqualityComparer.Instance);
        var produced = new HashSet<string>(nodes.SelectMany(n => n.Outputs).Where(o => o.Length > 0), StringComparer.Ordinal);
        var inputs = nodes.SelectMany(n => n.Inputs)
            .Where(i => i.Length > 0 && !produced.Contains(i) && !graph.Initializers.ContainsKey(i)).Distinct().ToList();
        var readOutside = new HashSet<string>(graph.Outputs.Select(o => o.Name), StringComparer.Ordinal);
        foreach (var n in graph.Nodes)
        {
            if (inside.Contains(n)) continue;
            foreach (var i in n.Inputs) readOutside.Add(i);
            foreach (var g in graph.Subgraphs(n)) foreach (var r in g.OuterScopeReads()) readOutside.Add(r);
        }
        var outputs = nodes.SelectMany(n => n.Outputs).Where(o => o.Length > 0 && readOutside.Contains(o)).Distinct().ToList();
        var partition = new DevicePartition
        {
            Nodes = nodes.Select(n => CreateInfo(graph, n, outer)).ToList(),
            Inputs = inputs,
            Outputs = outputs,
            Constant = name => graph.Initializers.GetValueOrDefault(name),
        };
        var node = new Node("DevicePartition", inputs, outputs, $"{_provider!.Name} partition {stepIndex} ({nodes.Count} nodes)", FusedOps.Domain);
        OpKernel kernel;
        try { kernel = _provider.Compile(partition); }
        catch (OnnxException) { throw; }
        catch (Exception e) when (e is ArgumentException or NotSupportedException or InvalidOperationException)
        {
            throw ModelLoadException.ForNode(node, e.Message, e);
        }
        return new PlanStep
        {
            Node = node, Kernel = kernel, KernelName = _provider.Name,
            Inputs = inputs.Select(slot).ToArray(), Outputs = outputs.Select(slot).ToArray(),
        };
    }

    /// <param name="known">Values known at plan time (initializers and plan-time constants); null: the graph's initializers.</param>
    private KernelInfo CreateInfo(Graph graph, Node node, List<Graph>? outer, IReadOnlyDictionary<string, Tensor>? known = null)
    {
        int opset = (int)Math.Min(int.MaxValue, _model.OpsetFor(node.Domain));
        if (opset == 0)
        {
            // ai.onnx.ml and friends are often used without being imported; ONNX Runtime tolerates that too.
            if (node.Domain.Length == 0) throw ModelLoadException.ForNode(node, "the model imports no ai.onnx opset");
            opset = 1;
        }
        OnnxType? TypeOf(string n)
        {
            if (n.Length == 0) return null;
            var t = graph.TypeOf(n);
            if (t is not null) return t;
            if (outer is not null) foreach (var g in outer) if ((t = g.TypeOf(n)) is not null) return t;
            return null;
        }
        IReadOnlyDictionary<string, Tensor> constants = known ?? graph.Initializers;
        return new KernelInfo(node, opset, node.Inputs.Select(TypeOf).ToArray(), node.Outputs.Select(TypeOf).ToArray(),
            name => constants.GetValueOrDefault(name),
            sub => PlanGraph(sub, isSubgraph: true, outerTypes: [graph, .. outer ?? []], outerKnown: known),
            _options);
    }

    private OpKernel CreateKernel(Graph graph, Node node, List<Graph>? outer, out string kernelName, IReadOnlyDictionary<string, Tensor> known,
        out HashSet<int>? released)
    {
        var info = CreateInfo(graph, node, outer, known);
        released = null;
        // The element type the registration constrains: input 0 by default.
        DataType? TypeAt(int i) => i < info.InputTypes.Count && info.InputTypes[i] is TensorType tt ? tt.ElementType : null;
        var reg = _registry.Find(node.Domain, node.OpType, info.OpsetVersion, null, out string why);
        if (reg is not null && reg.Types.Length > 0)
            reg = _registry.Find(node.Domain, node.OpType, info.OpsetVersion, TypeAt(reg.TypeInput), out why);
        if (reg is null) throw ModelLoadException.ForNode(node, why);

        kernelName = reg.Source;
        try
        {
            var kernel = reg.Factory(info);
            released = info.ReleasedInputs;
            return kernel;
        }
        catch (OnnxException) { throw; }
        catch (Exception e) when (e is ArgumentException or NotSupportedException or InvalidOperationException or IndexOutOfRangeException or InvalidCastException)
        {
            throw ModelLoadException.ForNode(node, e.Message, e);
        }
    }
}
