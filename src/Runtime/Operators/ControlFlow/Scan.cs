using NetOnnx.Kernels;

namespace NetOnnx.Runtime.Operators.ControlFlow;

/// <summary>
/// Scan. Opset 8: a leading batch axis on every input and output, an optional sequence_lens first input,
/// scan axis 1 and per-input 'directions'. Opset 9+: no batch axis; scan_input_axes/directions and
/// scan_output_axes/directions choose the axis and order of every scanned input and stacked output.
/// </summary>
[OpKernel("Scan", 8)]
public sealed class Scan : OpKernel
{
    private readonly ExecutionPlan _body;
    private readonly bool _batched;
    private readonly int _states, _scanIn, _scanOut;
    private readonly long[] _inAxes, _inDirs, _outAxes, _outDirs;

    public Scan(KernelInfo info)
    {
        var body = info.GetGraph("body") ?? throw info.Error("has no body attribute");
        _batched = info.OpsetVersion < 9;
        _scanIn = (int)info.GetInt("num_scan_inputs", -1);
        if (_scanIn <= 0) throw info.Error("needs a positive num_scan_inputs attribute");
        int first = _batched ? 1 : 0;
        _states = info.InputCount - first - _scanIn;
        if (_states < 0) throw info.Error($"has {info.InputCount} inputs, fewer than num_scan_inputs={_scanIn}");
        if (body.Inputs.Count != _states + _scanIn)
            throw info.Error($"body takes {body.Inputs.Count} inputs, expected {_states} states + {_scanIn} scan inputs");
        _scanOut = body.Outputs.Count - _states;
        if (_scanOut < 0) throw info.Error($"body produces {body.Outputs.Count} outputs, fewer than its {_states} states");

        long[] Attr(string name, int n, long def)
        {
            var a = info.GetInts(name);
            if (a is null || a.Length == 0) return Enumerable.Repeat(def, n).ToArray();
            if (a.Length != n) throw info.Error($"attribute {name} has {a.Length} entries, expected {n}");
            return a;
        }
        if (_batched)
        {
            _inDirs = Attr("directions", _scanIn, 0);
            _inAxes = new long[_scanIn];
            _outAxes = new long[_scanOut];
            _outDirs = new long[_scanOut];
        }
        else
        {
            _inAxes = Attr("scan_input_axes", _scanIn, 0);
            _inDirs = Attr("scan_input_directions", _scanIn, 0);
            _outAxes = Attr("scan_output_axes", _scanOut, 0);
            _outDirs = Attr("scan_output_directions", _scanOut, 0);
        }
        _body = info.CompileSubgraph(body);
    }

    public override void Compute(KernelContext ctx)
    {
        if (_batched) ComputeBatched(ctx);
        else ComputeUnbatched(ctx);
    }

    private void ComputeUnbatched(KernelContext ctx)
    {
        var states = new object?[_states];
        for (int i = 0; i < _states; i++) { states[i] = ctx.InputValue(i) ?? throw ctx.Error($"state input {i} is missing"); ctx.AddRef(states[i]); }
        var inputs = new Tensor[_scanIn];
        var axes = new int[_scanIn];
        int steps = -1;
        for (int j = 0; j < _scanIn; j++)
        {
            inputs[j] = ctx.Input(_states + j);
            axes[j] = ShapeMath.Axis(_inAxes[j], inputs[j].Rank);
            int len = inputs[j].Shape[axes[j]];
            if (steps >= 0 && len != steps) throw ctx.Error($"scan input {j} has {len} steps along axis {axes[j]}, others have {steps}");
            steps = len;
        }
        var outs = Iterate(ctx, states, inputs, axes, _inDirs, steps);
        for (int i = 0; i < _states; i++) { ctx.SetOutput(i, states[i]!); ctx.Release(states[i]); }
        for (int k = 0; k < _scanOut; k++)
        {
            if (ctx.IsOutputRequested(_states + k))
            {
                var items = outs[k];
                if (_outDirs[k] != 0) items.Reverse();
                int[] itemShape = items.Count > 0 ? items[0].Shape : DeclaredShape(_states + k);
                var type = items.Count > 0 ? items[0].ElementType : DeclaredType(_states + k);
                int axis = ShapeMath.Axis(_outAxes[k], itemShape.Length + 1);
                int[] shape = [.. itemShape[..axis], items.Count, .. itemShape[axis..]];
                var dst = ctx.OutputUninitialized(_states + k, type, shape);
                for (int t = 0; t < items.Count; t++) AxisCopy.Place(items[t], dst, axis, t);
            }
            foreach (var t in outs[k]) ctx.Release(t);
        }
    }

    private void ComputeBatched(KernelContext ctx)
    {
        var lensT = ctx.OptionalInput(0);
        var stateIn = new Tensor[_states];
        for (int i = 0; i < _states; i++) stateIn[i] = ctx.Input(1 + i);
        var scanIn = new Tensor[_scanIn];
        for (int j = 0; j < _scanIn; j++) scanIn[j] = ctx.Input(1 + _states + j);
        if (scanIn[0].Rank < 2) throw ctx.Error("opset-8 scan inputs need a batch and a sequence axis");
        int batch = scanIn[0].Shape[0], maxLen = scanIn[0].Shape[1];
        foreach (var t in scanIn)
            if (t.Rank < 2 || t.Shape[0] != batch || t.Shape[1] != maxLen)
                throw ctx.Error($"scan inputs must all be [batch={batch}, seq={maxLen}, ...], got {ShapeMath.Format(t.Shape)}");
        foreach (var t in stateIn)
            if (t.Rank < 1 || t.Shape[0] != batch) throw ctx.Error($"state inputs must start with the batch axis {batch}, got {ShapeMath.Format(t.Shape)}");
        var lens = lensT?.ToInt64Array() ?? Enumerable.Repeat((long)maxLen, batch).ToArray();
        if (lens.Length != batch) throw ctx.Error($"sequence_lens has {lens.Length} entries for batch {batch}");

        var stateOut = new Tensor?[_states];
        var scanOut = new Tensor?[_scanOut];
        var zeroAxes = new int[_scanIn];
        for (int b = 0; b < batch; b++)
        {
            if (lens[b] < 0 || lens[b] > maxLen) throw ctx.Error($"sequence_lens[{b}]={lens[b]} is outside [0, {maxLen}]");
            var states = new object?[_states];
            for (int i = 0; i < _states; i++)
            {
                var s = ctx.Allocate(stateIn[i].ElementType, AxisCopy.Without(stateIn[i].Shape, 0));
                AxisCopy.Slice(stateIn[i], 0, b, s);
                states[i] = s;
            }
            var rows = new Tensor[_scanIn];
            for (int j = 0; j < _scanIn; j++)
            {
                // This batch row, cut to its sequence length.
                var full = scanIn[j];
                var row = ctx.Allocate(full.ElementType, [(int)lens[b], .. full.Shape[2..]]);
                Array.Copy(full.Buffer, (long)b * ShapeMath.SizeFrom(full.Shape, 1), row.Buffer, 0, row.Length);
                rows[j] = row;
            }
            var outs = Iterate(ctx, states, rows, zeroAxes, _inDirs, (int)lens[b]);
            foreach (var r in rows) ctx.Release(r);
            for (int i = 0; i < _states; i++)
            {
                var s = states[i] as Tensor ?? throw ctx.Error($"state {i} is not a tensor");
                stateOut[i] ??= ctx.Output(i, s.ElementType, [batch, .. s.Shape]);
                if (!AxisCopy.SameShape(AxisCopy.Without(stateOut[i]!.Shape, 0), s.Shape))
                    throw ctx.Error($"final state {i} has shape {ShapeMath.Format(s.Shape)} which differs between batch rows");
                AxisCopy.Place(s, stateOut[i]!, 0, b);
                ctx.Release(s);
            }
            for (int k = 0; k < _scanOut; k++)
            {
                var items = outs[k];
                if (items.Count > 0)
                {
                    scanOut[k] ??= ctx.Output(_states + k, items[0].ElementType, [batch, maxLen, .. items[0].Shape]);
                    int per = ShapeMath.SizeFrom(scanOut[k]!.Shape, 2);
                    for (int t = 0; t < items.Count; t++)
                    {
                        if (items[t].Length != per) throw ctx.Error($"scan output {k} changes shape between iterations or batch rows");
                        Array.Copy(items[t].Buffer, 0, scanOut[k]!.Buffer, ((long)b * maxLen + t) * per, per);
                    }
                }
                foreach (var t in items) ctx.Release(t);
            }
        }
        for (int i = 0; i < _states; i++)
            if (stateOut[i] is null) ctx.Output(i, stateIn[i].ElementType, stateIn[i].Shape);
        for (int k = 0; k < _scanOut; k++)
            if (scanOut[k] is null) ctx.Output(_states + k, DeclaredType(_states + k), [batch, maxLen, .. DeclaredShape(_states + k)]);
    }

    /// <summary>
    /// Runs the body once per step. On return <paramref name="states"/> holds the final states (owned refs)
    /// and the result holds each scan output's per-iteration tensors in iteration order (owned refs).
    /// </summary>
    private List<Tensor>[] Iterate(KernelContext ctx, object?[] states, Tensor[] inputs, int[] axes, long[] dirs, int steps)
    {
        var collected = new List<Tensor>[_scanOut];
        for (int k = 0; k < _scanOut; k++) collected[k] = [];
        var args = new object?[_states + _scanIn];
        for (int t = 0; t < steps; t++)
        {
            Array.Copy(states, args, _states);
            for (int j = 0; j < _scanIn; j++)
            {
                var x = inputs[j];
                var slice = ctx.Allocate(x.ElementType, AxisCopy.Without(x.Shape, axes[j]));
                AxisCopy.Slice(x, axes[j], dirs[j] != 0 ? steps - 1 - t : t, slice);
                args[_states + j] = slice;
            }
            var outs = ctx.RunSubgraph(_body, args);
            for (int j = 0; j < _scanIn; j++) ctx.Release(args[_states + j]);
            for (int i = 0; i < _states; i++) { ctx.Release(states[i]); states[i] = outs[i]; }
            for (int k = 0; k < _scanOut; k++)
            {
                var o = outs[_states + k] as Tensor ?? throw ctx.Error($"scan output {k} is not a tensor");
                if (collected[k].Count > 0 && !AxisCopy.SameShape(collected[k][0].Shape, o.Shape))
                    throw ctx.Error($"scan output {k} changes shape from {ShapeMath.Format(collected[k][0].Shape)} to {ShapeMath.Format(o.Shape)}");
                collected[k].Add(o);
            }
        }
        return collected;
    }

    private DataType DeclaredType(int output) => (_body.Graph.Outputs[output].Type as TensorType)?.ElementType ?? DataType.Float;

    private int[] DeclaredShape(int output) =>
        _body.Graph.Outputs[output].Type is TensorType { Shape: { } d } && d.All(x => x.IsKnown) ? d.Select(x => (int)x.Value).ToArray() : [];
}
