namespace NetOnnx.Runtime.Operators.ControlFlow;

/// <summary>If: runs then_branch or else_branch on a boolean scalar; the branch outputs become the node's outputs.</summary>
[OpKernel("If", 1)]
public sealed class If : OpKernel
{
    private readonly ExecutionPlan _then, _else;

    public If(KernelInfo info)
    {
        var t = info.GetGraph("then_branch") ?? throw info.Error("has no then_branch attribute");
        var e = info.GetGraph("else_branch") ?? throw info.Error("has no else_branch attribute");
        if (t.Outputs.Count != info.Node.Outputs.Count || e.Outputs.Count != info.Node.Outputs.Count)
            throw info.Error($"branches produce {t.Outputs.Count} and {e.Outputs.Count} outputs but the node has {info.Node.Outputs.Count}");
        _then = info.CompileSubgraph(t);
        _else = info.CompileSubgraph(e);
    }

    public override void Compute(KernelContext ctx)
    {
        var c = ctx.Input(0);
        if (c.Length != 1) throw ctx.Error($"condition must hold one element, got shape {Kernels.ShapeMath.Format(c.Shape)}");
        bool cond = c.ElementType == DataType.Bool ? c.Item<bool>() : c.GetDouble(0) != 0;
        var outs = ctx.RunSubgraph(cond ? _then : _else, []);
        for (int i = 0; i < outs.Length; i++)
            ctx.SetOutput(i, outs[i] ?? throw ctx.Error($"branch output {i} was not computed"));
        foreach (var o in outs) ctx.Release(o);
    }
}
