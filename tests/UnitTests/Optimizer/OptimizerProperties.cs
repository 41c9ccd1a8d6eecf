using FsCheck;
using FsCheck.Fluent;
using NetOnnx.Runtime;
using static NetOnnx.Tests.IrBuilder;

namespace NetOnnx.Tests;

/// <summary>Random small graphs give the same outputs with no optimisation and with every pass.</summary>
public class OptimizerProperties
{
    /// <summary>
    /// A random chain over one input: Add/Mul with constants, Relu, Identity, Transpose (alone or with its inverse), Reshape (static, with
    /// -1, or through Shape), MatMul of a last-two-dims transpose with its source (Transpose folding), with duplicated
    /// branches for CSE and sometimes an Identity as the graph output.
    /// </summary>
    private static Model RandomChain(int seed)
    {
        var rng = new Random(seed);
        int rank = rng.Next(1, 4);
        var shape = Enumerable.Range(0, rank).Select(_ => rng.Next(1, 4)).ToArray();
        var input = F("x", shape);
        var nodes = new List<Node>();
        var inits = new Dictionary<string, Tensor>();
        int k = 0;
        string Fresh() => $"v{k++}";
        string cur = "x";
        int steps = rng.Next(2, 9);
        for (int s = 0; s < steps; s++)
        {
            string o = Fresh();
            switch (rng.Next(10))
            {
                case 0 or 1:
                {
                    // Constant of the full shape or of the last dim only (broadcast).
                    var cshape = rng.Next(2) == 0 ? shape : shape[^1..];
                    string c = Fresh();
                    inits[c] = RandomFloats(rng, cshape);
                    nodes.Add(N(rng.Next(2) == 0 ? "Add" : "Mul", rng.Next(2) == 0 ? [cur, c] : [c, cur], [o]));
                    break;
                }
                case 2: nodes.Add(N("Relu", [cur], [o])); break;
                case 3: nodes.Add(N("Identity", [cur], [o])); break;
                case 4:
                {
                    var perm = Enumerable.Range(0, shape.Length).OrderBy(_ => rng.Next()).ToArray();
                    nodes.Add(N("Transpose", [cur], [o], NodeAttribute.Of("perm", perm.Select(p => (long)p).ToArray())));
                    shape = perm.Select(p => shape[p]).ToArray();
                    break;
                }
                case 5:
                {
                    // Same shape, flattened with -1, or split the first dim off.
                    string c = Fresh();
                    int choice = rng.Next(3);
                    long[] target = choice == 0 ? shape.Select(d => (long)d).ToArray()
                        : choice == 1 ? [-1] : [shape[0], -1];
                    inits[c] = Tensor.Create(target, target.Length);
                    nodes.Add(N("Reshape", [cur, c], [o]));
                    int total = shape.Aggregate(1, (p, d) => p * d);
                    shape = choice == 0 ? shape : choice == 1 ? [total] : [shape[0], total / shape[0]];
                    break;
                }
                case 6:
                {
                    string sh = Fresh();
                    nodes.Add(N("Shape", [cur], [sh]));
                    nodes.Add(N("Reshape", [cur, sh], [o]));
                    break;
                }
                case 8 when shape.Length >= 2:
                {
                    // MatMul(x^T, x) over the last two dims: [.., m, n] -> [.., n, n]; the transpose folds into the product.
                    var perm = Enumerable.Range(0, shape.Length).Select(i => (long)i).ToArray();
                    (perm[^1], perm[^2]) = (perm[^2], perm[^1]);
                    string t = Fresh();
                    nodes.Add(N("Transpose", [cur], [t], NodeAttribute.Of("perm", perm)));
                    nodes.Add(N("MatMul", [t, cur], [o]));
                    shape = [.. shape[..^2], shape[^1], shape[^1]];
                    break;
                }
                case 7:
                {
                    // A transpose and its inverse: cancellation should remove both.
                    var perm = Enumerable.Range(0, shape.Length).OrderBy(_ => rng.Next()).ToArray();
                    var inverse = new long[perm.Length];
                    for (int i = 0; i < perm.Length; i++) inverse[perm[i]] = i;
                    string t = Fresh();
                    nodes.Add(N("Transpose", [cur], [t], NodeAttribute.Of("perm", perm.Select(p => (long)p).ToArray())));
                    nodes.Add(N("Transpose", [t], [o], NodeAttribute.Of("perm", inverse)));
                    break;
                }
                default:
                {
                    // Two identical branches joined: CSE should merge them.
                    string a = Fresh(), b = Fresh();
                    nodes.Add(N("Relu", [cur], [a]));
                    nodes.Add(N("Relu", [cur], [b]));
                    nodes.Add(N("Add", [a, b], [o]));
                    break;
                }
            }
            cur = o;
        }
        if (rng.Next(3) == 0) { nodes.Add(N("Identity", [cur], ["y"])); cur = "y"; }
        return Model([input], [F(cur, shape)], nodes, inits);
    }

    [FsCheck.Xunit.Property(MaxTest = 100)]
    public Property RandomChainsGiveTheSameOutputsAtLevelNoneAndAll(int seed)
    {
        var inputShape = ((TensorType)RandomChain(seed).Graph.Inputs[0].Type!).StaticShape!;
        var feeds = new Dictionary<string, Tensor> { ["x"] = RandomFloats(new Random(seed ^ 0x5eed), inputShape) };
        AssertSameOutputs(() => RandomChain(seed), feeds);
        return true.ToProperty();
    }
}
