using NetOnnx.Kernels;

namespace NetOnnx.Runtime.Operators.Training;

/// <summary>
/// Gradient (ai.onnx.preview.training): d(sum of y)/d(x) for each name in 'xs', by reverse-mode differentiation
/// of the part of this graph that computes 'y'. That part is recomputed here from the node's inputs (xs, zs) and
/// the graph's inputs/initializers, so released intermediates are not needed. Supported ops: Add, Sub, Mul, Div,
/// Neg, Identity (with numpy broadcasting).
/// </summary>
[OpKernel("Gradient", 1, Domain = Optim.Domain)]
public sealed class Gradient : OpKernel
{
    private readonly string[] _xs, _zs;
    private readonly string _y;

    private sealed record Val(double[] Data, int[] Shape);

    public Gradient(KernelInfo info)
    {
        _xs = info.GetStrings("xs") ?? throw info.Error("requires the xs attribute");
        _zs = info.GetStrings("zs") ?? [];
        _y = info.GetString("y", "");
        if (_y.Length == 0) throw info.Error("requires the y attribute");
        if (info.InputCount != _xs.Length + _zs.Length) throw info.Error($"has {info.InputCount} inputs for {_xs.Length} xs and {_zs.Length} zs");
        if (info.Node.Outputs.Count != _xs.Length) throw info.Error($"has {info.Node.Outputs.Count} outputs for {_xs.Length} xs");
    }

    public override void Compute(KernelContext ctx)
    {
        var vals = new Dictionary<string, Val>(StringComparer.Ordinal);
        for (int i = 0; i < _xs.Length + _zs.Length; i++)
        {
            var t = ctx.Input(i);
            vals[i < _xs.Length ? _xs[i] : _zs[i - _xs.Length]] = new Val(Enumerable.Range(0, t.Length).Select(t.GetDouble).ToArray(), t.Shape);
        }

        // The nodes y depends on, stopping at known values; then evaluate them in graph order.
        var graph = ctx.Graph;
        var producer = new Dictionary<string, Node>(StringComparer.Ordinal);
        foreach (var n in graph.Nodes) foreach (var o in n.Outputs) if (o.Length > 0) producer[o] = n;
        var needed = new HashSet<Node>();
        var stack = new Stack<string>([_y]);
        while (stack.Count > 0)
        {
            var name = stack.Pop();
            if (vals.ContainsKey(name) || !producer.TryGetValue(name, out var n) || !needed.Add(n)) continue;
            foreach (var i in n.Inputs) if (i.Length > 0) stack.Push(i);
        }
        var tape = graph.Nodes.Where(needed.Contains).ToList();
        Val Get(string name)
        {
            if (vals.TryGetValue(name, out var v)) return v;
            if (ctx.Lookup(name) is Tensor t) return vals[name] = new Val(Enumerable.Range(0, t.Length).Select(t.GetDouble).ToArray(), t.Shape);
            throw ctx.Error($"cannot differentiate through '{name}': it is neither computed from xs nor available");
        }
        foreach (var n in tape)
        {
            if (n.Outputs.Count != 1) throw ctx.Error($"cannot differentiate through {n.Describe()}");
            var a = Get(n.Inputs[0]);
            vals[n.Outputs[0]] = n.OpType switch
            {
                "Identity" => a,
                "Neg" => new Val(a.Data.Select(v => -v).ToArray(), a.Shape),
                "Add" => Binary(a, Get(n.Inputs[1]), (p, q) => p + q),
                "Sub" => Binary(a, Get(n.Inputs[1]), (p, q) => p - q),
                "Mul" => Binary(a, Get(n.Inputs[1]), (p, q) => p * q),
                "Div" => Binary(a, Get(n.Inputs[1]), (p, q) => p / q),
                _ => throw ctx.Error($"differentiating {n.OpType} is not supported (Add, Sub, Mul, Div, Neg, Identity are)"),
            };
        }

        // Reverse sweep from dy/dy = 1.
        var y = Get(_y);
        var grads = new Dictionary<string, double[]>(StringComparer.Ordinal) { [_y] = Enumerable.Repeat(1.0, y.Data.Length).ToArray() };
        void Accumulate(string name, double[] g, int[] fromShape)
        {
            var target = vals[name];
            var reduced = Unbroadcast(g, fromShape, target.Shape);
            if (grads.TryGetValue(name, out var have)) for (int i = 0; i < have.Length; i++) have[i] += reduced[i];
            else grads[name] = reduced;
        }
        for (int k = tape.Count - 1; k >= 0; k--)
        {
            var n = tape[k];
            if (!grads.TryGetValue(n.Outputs[0], out var g)) continue;
            var shape = vals[n.Outputs[0]].Shape;
            var a = vals[n.Inputs[0]];
            switch (n.OpType)
            {
                case "Identity": Accumulate(n.Inputs[0], g, shape); break;
                case "Neg": Accumulate(n.Inputs[0], g.Select(v => -v).ToArray(), shape); break;
                default:
                {
                    var b = vals[n.Inputs[1]];
                    var av = Expand(a, shape);
                    var bv = Expand(b, shape);
                    double[] ga = new double[g.Length], gb = new double[g.Length];
                    for (int i = 0; i < g.Length; i++)
                    {
                        (ga[i], gb[i]) = n.OpType switch
                        {
                            "Add" => (g[i], g[i]),
                            "Sub" => (g[i], -g[i]),
                            "Mul" => (g[i] * bv[i], g[i] * av[i]),
                            _ => (g[i] / bv[i], -g[i] * av[i] / (bv[i] * bv[i])),
                        };
                    }
                    Accumulate(n.Inputs[0], ga, shape);
                    Accumulate(n.Inputs[1], gb, shape);
                    break;
                }
            }
        }

        for (int i = 0; i < _xs.Length; i++)
        {
            var x = ctx.Input(i);
            var g = grads.GetValueOrDefault(_xs[i]) ?? new double[x.Length];
            Optim.Write(ctx, i, x, g);
        }
    }

    private static Val Binary(Val a, Val b, Func<double, double, double> f)
    {
        var shape = ShapeMath.Broadcast(a.Shape, b.Shape);
        var av = Expand(a, shape);
        var bv = Expand(b, shape);
        var r = new double[av.Length];
        for (int i = 0; i < r.Length; i++) r[i] = f(av[i], bv[i]);
        return new Val(r, shape);
    }

    /// <summary>A value broadcast to a larger shape, materialised.</summary>
    private static double[] Expand(Val v, int[] shape)
    {
        int n = ShapeMath.Size(shape);
        if (v.Data.Length == n) return v.Data;
        var r = new double[n];
        var strides = ShapeMath.BroadcastStrides(v.Shape, shape);
        var idx = new int[shape.Length];
        for (int i = 0; i < n; i++)
        {
            int src = 0;
            for (int d = 0; d < shape.Length; d++) src += idx[d] * strides[d];
            r[i] = v.Data[src];
            for (int d = shape.Length - 1; d >= 0 && ++idx[d] == shape[d]; d--) idx[d] = 0;
        }
        return r;
    }

    /// <summary>Sums a gradient over the axes along which <paramref name="to"/> was broadcast to <paramref name="from"/>.</summary>
    private static double[] Unbroadcast(double[] g, int[] from, int[] to)
    {
        int n = ShapeMath.Size(to);
        if (g.Length == n) return (double[])g.Clone();
        var r = new double[n];
        var strides = ShapeMath.BroadcastStrides(to, from);
        var idx = new int[from.Length];
        for (int i = 0; i < g.Length; i++)
        {
            int dst = 0;
            for (int d = 0; d < from.Length; d++) dst += idx[d] * strides[d];
            r[dst] += g[i];
            for (int d = from.Length - 1; d >= 0 && ++idx[d] == from[d]; d--) idx[d] = 0;
        }
        return r;
    }
}
