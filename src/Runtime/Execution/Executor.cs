using System.Diagnostics;

namespace NetOnnx.Runtime;

/// <summary>State shared by a run and the subgraph runs inside it.</summary>
internal sealed class RunState
{
    public required int Threads { get; init; }
    public List<NodeTiming>? Timings { get; init; }
    public required BufferPool Pool { get; init; }
}

/// <summary>The values of one execution of one plan; subgraph frames point at their parent for outer-scope reads.</summary>
internal sealed class Frame
{
    public required ExecutionPlan Plan { get; init; }
    public required object?[] Values { get; set; }
    /// <summary>The context the executor moves from step to step (kept with a reused top-level frame).</summary>
    public KernelContext? Context { get; set; }
    public Frame? Parent { get; init; }
    public required RunState Run { get; init; }
    public BufferPool Pool => Run.Pool;

    public object? Lookup(string name)
    {
        for (var f = this; f is not null; f = f.Parent)
            if (f.Plan.SlotOf.TryGetValue(name, out int s) && f.Values[s] is { } v) return v;
        return null;
    }
}

/// <summary>Runs a plan step by step, recycling each buffer after its value's last use.</summary>
internal static class Executor
{
    public static object?[] Run(ExecutionPlan plan, IReadOnlyList<object?> inputs, Frame? parent, RunState run)
    {
        var values = run.Pool.RentSlots(plan.SlotNames.Length);
        var frame = TopFrame(plan, values, parent, run) ?? new Frame { Plan = plan, Values = values, Parent = parent, Run = run };
        for (int i = 0; i < plan.Constants.Length; i++) values[i] = plan.Constants[i];
        for (int i = 0; i < plan.OuterSlots.Length; i++)
        {
            values[plan.OuterSlots[i]] = parent?.Lookup(plan.OuterNames[i])
                ?? throw new InferenceException($"subgraph '{plan.Graph.Name}' reads '{plan.OuterNames[i]}', which no enclosing graph has computed");
        }
        for (int i = 0; i < plan.InputSlots.Length && i < inputs.Count; i++)
            if (inputs[i] is not null) values[plan.InputSlots[i]] = inputs[i];

        KernelContext? ctx = frame.Context;
        foreach (var step in plan.Steps)
        {
            if (ctx is null) ctx = frame.Context = new KernelContext(frame, step);
            else ctx.MoveTo(step);
            long t0 = run.Timings is null ? 0 : Stopwatch.GetTimestamp();
            try
            {
                step.Kernel.Compute(ctx);
            }
            catch (OnnxException) { throw; }
            catch (Exception e) when (e is ArgumentException or InvalidOperationException or NotSupportedException
                or IndexOutOfRangeException or InvalidCastException or OverflowException or ArithmeticException or NullReferenceException)
            {
                throw new InferenceException($"{step.Node.Describe()} failed: {e.Message}", step.Node.Name, e);
            }
            if (run.Timings is not null) RecordTiming(run.Timings, t0, frame, step);
            for (int k = 0; k < step.Outputs.Length; k++)
            {
                int s = step.Outputs[k];
                if (s >= 0 && values[s] is null)
                    throw new InferenceException($"{step.Node.Describe()} did not produce its output {k} ('{plan.SlotNames[s]}')", step.Node.Name);
            }
            foreach (int s in step.ReleaseAfter)
            {
                run.Pool.Release(values[s]);
                values[s] = null;
            }
        }

        var outs = run.Pool.RentSlots(plan.OutputSlots.Length);
        for (int i = 0; i < outs.Length; i++) outs[i] = values[plan.OutputSlots[i]];
        if (parent is not null)
        {
            // A subgraph's caller gets one reference per output (it releases them when done), and the frame,
            // which dies here, drops its own: buffers then live exactly as long as the caller needs them.
            foreach (var o in outs) run.Pool.AddRef(o);
            foreach (int s in plan.ProducedOutputSlots) run.Pool.Release(values[s]);
        }
        run.Pool.ReturnSlots(values);
        return outs;
    }

    /// <summary>
    /// The pool's frame for a top-level run of <paramref name="plan"/> (kept with its kernel context between runs),
    /// or null for subgraph frames, which nest and so are made per call.
    /// </summary>
    private static Frame? TopFrame(ExecutionPlan plan, object?[] values, Frame? parent, RunState run)
    {
        if (parent is not null) return null;
        var f = run.Pool.TopFrame;
        if (f is null || f.Plan != plan || f.Run != run) return run.Pool.TopFrame = new Frame { Plan = plan, Values = values, Parent = null, Run = run };
        f.Values = values;
        return f;
    }

    // Profiling only: kept out of the loop body so the unprofiled path stays a single null check.
    private static void RecordTiming(List<NodeTiming> timings, long t0, Frame frame, PlanStep step)
    {
        var ms = Stopwatch.GetElapsedTime(t0).TotalMilliseconds;
        var values = frame.Values;
        int depth = 0;
        for (var f = frame.Parent; f is not null; f = f.Parent) depth++;
        var timing = new NodeTiming(step.Node.Name, step.Node.OpType, step.KernelName, ms, OutputShape(values, step))
        {
            InputShapes = string.Join(" ", step.Inputs.Select(s => s >= 0 && values[s] is Tensor t ? Kernels.ShapeMath.Format(t.Shape) : "-")),
            StartTimestamp = t0,
            Depth = depth,
        };
        lock (timings) timings.Add(timing);
    }

    private static string OutputShape(object?[] values, PlanStep step) =>
        step.Outputs.Length > 0 && step.Outputs[0] >= 0 && values[step.Outputs[0]] is Tensor t ? Kernels.ShapeMath.Format(t.Shape) : "";
}

/// <summary>Time one node took in one run.</summary>
public sealed record NodeTiming(string NodeName, string OpType, string Kernel, double Milliseconds, string OutputShape)
{
    /// <summary>Shapes of the node's inputs, space-separated ("-" for an omitted or non-tensor input).</summary>
    public string InputShapes { get; init; } = "";
    /// <summary><see cref="Stopwatch.GetTimestamp"/> when the node started (for traces).</summary>
    public long StartTimestamp { get; init; }
    /// <summary>0 for nodes of the main graph, 1 inside an If/Loop/Scan body, 2 inside a body in a body...</summary>
    public int Depth { get; init; }
}
