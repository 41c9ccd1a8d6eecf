using NetOnnx.OnnxImport;
using NetOnnx.Runtime;

namespace NetOnnx.Tools;

/// <summary>inspect: inputs and outputs with types and shapes, opsets, op histogram, parameter count and size.</summary>
public static class InspectCommand
{
    public static int Run(string[] args, TextWriter o)
    {
        var a = new CliArgs(args);
        a.RejectUnknown();
        if (a.Positional.Count != 1) throw new CliUsageException("inspect needs exactly one MODEL");
        var model = OnnxModelLoader.Load(a.Positional[0]);
        var g = model.Graph;
        o.WriteLine($"model      {a.Positional[0]}");
        o.WriteLine($"producer   {model.ProducerName} {model.ProducerVersion}".TrimEnd());
        o.WriteLine($"ir         {model.IrVersion}");
        o.WriteLine("opsets     " + string.Join(", ", model.Opsets.Select(kv => $"{(kv.Key.Length == 0 ? "ai.onnx" : kv.Key)} {kv.Value}")));
        o.WriteLine("inputs");
        foreach (var i in g.RequiredInputs) o.WriteLine($"  {i.Name}: {i.Type}");
        o.WriteLine("outputs");
        foreach (var x in g.Outputs) o.WriteLine($"  {x.Name}: {x.Type}");

        var all = AllNodes(g).ToList();
        long parameters = 0, bytes = 0;
        foreach (var t in AllInitializers(g)) { parameters += t.Length; bytes += (long)t.Length * t.ElementType.SizeOf(); }
        o.WriteLine($"nodes      {all.Count}");
        o.WriteLine($"parameters {parameters:N0} ({bytes / 1048576.0:F2} MiB)");
        o.WriteLine("ops");
        foreach (var grp in all.GroupBy(n => n.Domain.Length == 0 ? n.OpType : $"{n.Domain}.{n.OpType}").OrderByDescending(x => x.Count()).ThenBy(x => x.Key))
            o.WriteLine($"  {grp.Key,-28} {grp.Count(),6}");
        return 0;
    }

    private static IEnumerable<Node> AllNodes(Graph g)
    {
        foreach (var n in g.Nodes)
        {
            yield return n;
            foreach (var sg in g.Subgraphs(n)) foreach (var x in AllNodes(sg)) yield return x;
        }
    }

    private static IEnumerable<Tensor> AllInitializers(Graph g)
    {
        foreach (var t in g.Initializers.Values) yield return t;
        foreach (var n in g.Nodes)
        {
            if (n.OpType == "Constant" && n.GetTensor("value") is { } c) yield return c;
            foreach (var sg in g.Subgraphs(n)) foreach (var t in AllInitializers(sg)) yield return t;
        }
    }
}
