namespace NetOnnx.Runtime.Operators.ControlFlow;

/// <summary>
/// Loop: runs its body while the trip count and the condition allow. Body inputs are (iteration, cond,
/// carried...), outputs (cond, carried..., scan outputs...); scan outputs are stacked on a new leading axis.
/// Carried values may be tensors, sequences (opset 13+) or optionals (opset 16+).
/// </summary>
[OpKernel("Loop", 1)]
public sealed class Loop : OpKernel
{
    private readonly ExecutionPlan _body;
    private readonly int _carried, _scans;

    public Loop(KernelInfo info)
    {
        var body = info.GetGraph("body") ?? throw info.Error("has no body attribute");
        _carried = info.InputCount - 2;
        if (_carried < 0) throw info.Error("needs at least the inputs M and cond (either may be empty)");
        if (body.Inputs.Count != _carried + 2)
            throw info.Error($"body takes {body.Inputs.Count} inputs but the loop carries {_carried} values (expected {_carried + 2})");
        _scans = body.Outputs.Count - 1 - _carried;
        if (_scans < 0) throw info.Error($"body produces {body.Outputs.Count} outputs, fewer than 1 + {_carried} carried values");
        if (info.Node.Outputs.Count > _carried + _scans)
            throw info.Error($"has {info.Node.Outputs.Count} outputs but the body yields {_carried} carried values and {_scans} scan outputs");
        _body = info.CompileSubgraph(body);
    }

    public override void Compute(KernelContext ctx)
    {
        long max = long.MaxValue;
        if (ctx.OptionalInput(0) is { } m)
        {
            if (m.Length != 1) throw ctx.Error("M (trip count) must be a single integer");
            max = m.ToInt64Array()[0];
        }
        bool cond = true;
        if (ctx.OptionalInput(1) is { } c)
        {
            if (c.Length != 1) throw ctx.Error("cond must be a single boolean");
            cond = c.ElementType == DataType.Bool ? c.Item<bool>() : c.GetDouble(0) != 0;
        }

        var carried = new object?[_carried];
        for (int i = 0; i < _carried; i++) { carried[i] = ctx.InputValue(2 + i); ctx.AddRef(carried[i]); }
        var scans = new List<Tensor>[_scans];
        for (int k = 0; k < _scans; k++) scans[k] = [];

        var inputs = new object?[2 + _carried];
        for (long it = 0; it < max && cond; it++)
        {
            inputs[0] = Tensor.Scalar(it);
            inputs[1] = Tensor.Scalar(cond);
            Array.Copy(carried, 0, inputs, 2, _carried);
            var outs = ctx.RunSubgraph(_body, inputs);
            if (outs[0] is not Tensor co || co.Length != 1)
                throw ctx.Error("body must output a single boolean condition as its first output");
            cond = co.ElementType == DataType.Bool ? co.Item<bool>() : co.GetDouble(0) != 0;
            ctx.Release(outs[0]);
            for (int i = 0; i < _carried; i++) { ctx.Release(carried[i]); carried[i] = outs[1 + i]; }
            for (int k = 0; k < _scans; k++)
            {
                if (outs[1 + _carried + k] is not Tensor st)
                    throw ctx.Error($"scan output {k} of iteration {it} is not a tensor");
                if (scans[k].Count > 0 && !AxisCopy.SameShape(scans[k][0].Shape, st.Shape))
                    throw ctx.Error($"scan output {k} changes shape from {Kernels.ShapeMath.Format(scans[k][0].Shape)} to {Kernels.ShapeMath.Format(st.Shape)} at iteration {it}");
                scans[k].Add(st);
            }
        }

        for (int i = 0; i < _carried; i++)
        {
            if (carried[i] is { } v) ctx.SetOutput(i, v);
            else if (ctx.IsOutputRequested(i))
            {
                // An omitted optional input carried through unchanged: the output is an empty optional.
                var t = _body.Graph.Outputs[1 + i].Type;
                ctx.SetOutput(i, new OptionalValue(t is OptionalType ot ? ot.ElementType ?? t : t ?? OnnxType.Tensor(DataType.Float), null));
            }
            ctx.Release(carried[i]);
        }
        for (int k = 0; k < _scans; k++)
        {
            Stack(ctx, _carried + k, scans[k], _body.Graph.Outputs[1 + _carried + k].Type);
            foreach (var t in scans[k]) ctx.Release(t);
        }
    }

    /// <summary>Stacks per-iteration tensors on a new axis 0; with no iterations the shape comes from the body's declared type.</summary>
    internal static void Stack(KernelContext ctx, int output, List<Tensor> items, OnnxType? declared)
    {
        if (!ctx.IsOutputRequested(output)) return;
        if (items.Count == 0)
        {
            var tt = declared as TensorType;
            int[] inner = tt?.Shape is { } dims && dims.All(d => d.IsKnown) ? dims.Select(d => (int)d.Value).ToArray() : [];
            ctx.Output(output, tt?.ElementType ?? DataType.Float, [0, .. inner]);
            return;
        }
        var first = items[0];
        var dst = ctx.OutputUninitialized(output, first.ElementType, [items.Count, .. first.Shape]);
        for (int t = 0; t < items.Count; t++)
            Array.Copy(items[t].Buffer, 0, dst.Buffer, (long)t * first.Length, first.Length);
    }
}
