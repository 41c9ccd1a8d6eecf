using NetOnnx.Kernels.Elementwise;
using NetOnnx.Runtime;

namespace NetOnnx.Optimizer;

/// <summary>
/// Makes a model with com.netonnx fused nodes loadable by other runtimes: each fused node becomes a call to a
/// model-local ONNX function (ModelProto.functions) whose body computes the same thing with standard ops.
/// ONNX Runtime inlines the body; our importer skips these functions and runs the fused kernel. A body is
/// specialised to the node's attributes and optional inputs (activation kind, mask presence...), so each
/// distinct variant is one function overload (IR 10), selected by <see cref="Node.Overload"/>.
/// </summary>
public static class InternalOpFunctions
{
    /// <summary>Adds bodies for every internal-domain node (subgraphs included); returns how many functions it added.</summary>
    public static int Attach(Model model)
    {
        long opset = model.Opsets.GetValueOrDefault("", 1);
        var byKey = new Dictionary<string, FunctionDef>(StringComparer.Ordinal);
        int added = 0;
        Visit(model.Graph);
        if (added > 0) model.IrVersion = Math.Max(model.IrVersion, 10); // overloads need IR 10
        return added;

        void Visit(Graph g)
        {
            foreach (var n in g.Nodes)
            {
                foreach (var sg in g.Subgraphs(n)) Visit(sg);
                if (n.Domain != FusedOps.Domain) continue;
                var b = new BodyBuilder(opset, n, g);
                Build(b);
                string key = n.OpType + "|" + b.Signature;
                if (!byKey.TryGetValue(key, out var f))
                {
                    string overload = "v" + byKey.Count(kv => kv.Value.Name == n.OpType);
                    f = new FunctionDef
                    {
                        Name = n.OpType,
                        Domain = FusedOps.Domain,
                        Overload = overload,
                        Inputs = Enumerable.Range(0, n.Inputs.Count).Select(i => $"in{i}").ToList(),
                        Outputs = Enumerable.Range(0, n.Outputs.Count).Select(i => $"out{i}").ToList(),
                        // Declared so checkers accept the call's attributes; the body has their values built in.
                        AttributeNames = n.Attributes.Keys.ToList(),
                        Nodes = b.Nodes,
                        Opsets = { [""] = opset },
                    };
                    byKey[key] = f;
                    if (!model.Functions.TryAdd((f.Domain, f.Name + ":" + overload), f))
                        throw new InvalidOperationException($"the model already holds a function {f.Domain}.{f.Name} overload {overload}");
                    added++;
                }
                n.Overload = f.Overload;
            }
        }
    }

    private static void Build(BodyBuilder b)
    {
        var n = b.Call;
        switch (n.OpType)
        {
            case "FusedConv":
            {
                var conv = b.Op("Conv", [b.In(0), b.In(1), b.OptIn(2)], b.CopyAttrs("activation", "activation_params"));
                var y = b.HasIn(3) ? b.Op("Add", [conv, b.In(3)]) : conv;
                b.Activation(y, b.Out(0));
                break;
            }
            case "FusedGemm":
            {
                var gemm = b.Op("Gemm", [b.In(0), b.In(1), b.OptIn(2)], b.CopyAttrs("activation", "activation_params"));
                b.Activation(gemm, b.Out(0));
                break;
            }
            case "Gelu":
                b.Gelu(b.In(0), n.GetString("approximate", "none") == "tanh", b.Out(0));
                break;
            case "LayerNormalization":
                b.RequireOutputs(1);
                b.LayerNorm(b.In(0), b.In(1), b.OptIn(2), b.NormAxes(n.GetInt("axis", -1)), n.GetFloat("epsilon", 1e-5f), b.Out(0));
                break;
            case "SkipLayerNormalization":
            {
                var sum = b.Op("Add", [b.In(0), b.In(1)], output: n.Outputs.Count > 1 ? b.Out(1) : null);
                b.LayerNorm(sum, b.In(2), b.OptIn(3), [-1], n.GetFloat("epsilon", 1e-5f), b.Out(0));
                break;
            }
            case "RMSNormalization":
            {
                b.RequireOutputs(1);
                string x = b.In(0);
                var axes = b.NormAxes(n.GetInt("axis", -1));
                var ms = b.ReduceMean(b.Op("Mul", [x, x]), axes);
                var rms = b.Op("Sqrt", [b.Op("Add", [ms, b.Const(n.GetFloat("epsilon", 1e-5f))])]);
                b.Op("Mul", [b.Op("Div", [x, rms]), b.In(1)], output: b.Out(0));
                break;
            }
            case "ScaledDotProductAttention":
            {
                var s = b.Op("Mul", [b.Op("MatMul", [b.In(0), b.In(1)]), b.Const(n.GetFloat("scale", 1f))]);
                if (b.HasIn(3)) s = b.Op("Add", [s, b.In(3)]);
                if (b.HasIn(4))
                {
                    var cond = n.GetInt("fill_where_true", 1) != 0 ? b.In(4) : b.Op("Not", [b.In(4)]);
                    s = b.Op("Where", [cond, b.Const(n.GetFloat("fill", float.NegativeInfinity)), s]);
                }
                var p = b.Op("Softmax", [s], [NodeAttribute.Of("axis", -1L)]);
                b.Op("MatMul", [p, b.In(2)], output: b.Out(0));
                break;
            }
            case "MatMulBias":
            {
                var mm = b.Op("MatMul", [b.In(0), b.In(1)]);
                var y = b.HasIn(2) ? b.Op("Add", [mm, b.In(2)]) : mm;
                b.Activation(y, b.Out(0));
                break;
            }
            case "FusedMatMul":
            {
                var a = n.GetInt("transA", 0) != 0 ? b.TransposeLastTwo(b.In(0), 0) : b.In(0);
                var bb = n.GetInt("transB", 0) != 0 ? b.TransposeLastTwo(b.In(1), 1) : b.In(1);
                b.Op("MatMul", [a, bb], output: b.Out(0));
                break;
            }
            case "QLinearAdd":
            {
                // The chain it was fused from: DequantizeLinear both, Add, the Relu, QuantizeLinear.
                var sum = b.Op("Add", [b.Op("DequantizeLinear", [b.In(0), b.In(1), b.OptIn(2)]), b.Op("DequantizeLinear", [b.In(3), b.In(4), b.OptIn(5)])]);
                if (n.GetString("activation", "") == "Relu") sum = b.Op("Relu", [sum]);
                b.Op("QuantizeLinear", [sum, b.In(6), b.OptIn(7)], output: b.Out(0));
                break;
            }
            case "QLinearLookup":
                // table[x]: the bytes as Gather indices.
                b.Op("Gather", [b.In(1), b.Op("Cast", [b.In(0)], [NodeAttribute.Of("to", (long)DataType.Int32)])], [NodeAttribute.Of("axis", 0L)], b.Out(0));
                break;
            default:
                throw new InvalidOperationException($"{n.Describe()}: no standard-op body is known for {FusedOps.Domain}.{n.OpType}");
        }
    }

    /// <summary>Accumulates one function body; <see cref="Signature"/> names what it depends on, for sharing.</summary>
    private sealed class BodyBuilder(long opset, Node call, Graph graph)
    {
        private int _next;
        private readonly List<string> _facts = [];
        public Node Call => call;
        public List<Node> Nodes { get; } = [];

        /// <summary>Everything the body was built from: attributes, which inputs are present, ranks it used.</summary>
        public string Signature =>
            string.Join(";", call.Attributes.Values.OrderBy(a => a.Name, StringComparer.Ordinal).Select(Describe))
            + "|in:" + string.Concat(call.Inputs.Select(i => i.Length > 0 ? '1' : '0'))
            + "|out:" + call.Outputs.Count + "|" + string.Join(",", _facts);

        public bool HasIn(int i) => i < call.Inputs.Count && call.Inputs[i].Length > 0;
        public string In(int i) => HasIn(i) ? $"in{i}" : throw Error($"needs input {i}");
        public string OptIn(int i) => HasIn(i) ? $"in{i}" : "";
        public string Out(int i) => $"out{i}";

        public void RequireOutputs(int count)
        {
            if (call.Outputs.Count > count) throw Error($"has {call.Outputs.Count} outputs; its portable body gives only {count}");
        }

        public string Op(string opType, IEnumerable<string> inputs, IEnumerable<NodeAttribute>? attrs = null, string? output = null)
        {
            var ins = inputs.ToList();
            while (ins.Count > 0 && ins[^1].Length == 0) ins.RemoveAt(ins.Count - 1);
            var o = output ?? $"t{_next++}";
            Nodes.Add(new Node(opType, ins, [o], $"{opType}_{Nodes.Count}", "", attrs));
            return o;
        }

        public string Const(float v) => Op("Constant", [], [NodeAttribute.Of("value", Tensor.Scalar(v))]);

        public IEnumerable<NodeAttribute> CopyAttrs(params string[] except) =>
            call.Attributes.Values.Where(a => !except.Contains(a.Name));

        public string ReduceMean(string x, long[] axes)
        {
            if (opset >= 18)
                return Op("ReduceMean", [x, Op("Constant", [], [NodeAttribute.Of("value", Tensor.Create(axes, axes.Length))])],
                    [NodeAttribute.Of("keepdims", 1L)]);
            return Op("ReduceMean", [x], [NodeAttribute.Of("axes", axes), NodeAttribute.Of("keepdims", 1L)]);
        }

        /// <summary>(x - mean) / sqrt(var + eps) * scale (+ bias), over <paramref name="axes"/>.</summary>
        public void LayerNorm(string x, string scale, string bias, long[] axes, float eps, string output)
        {
            var d = Op("Sub", [x, ReduceMean(x, axes)]);
            var variance = ReduceMean(Op("Mul", [d, d]), axes);
            var sd = Op("Sqrt", [Op("Add", [variance, Const(eps)])]);
            var scaled = Op("Mul", [Op("Div", [d, sd]), scale], output: bias.Length > 0 ? null : output);
            if (bias.Length > 0) Op("Add", [scaled, bias], output: output);
        }

        /// <summary>The axes from <paramref name="axis"/> to the last; needs the input's rank for a non-negative axis.</summary>
        public long[] NormAxes(long axis)
        {
            if (axis < 0) return Enumerable.Range(0, (int)-axis).Select(i => axis + i).ToArray();
            int rank = Rank(0);
            if (axis >= rank) throw Error($"axis {axis} is out of range for rank {rank}");
            return Enumerable.Range((int)axis, rank - (int)axis).Select(i => (long)i).ToArray();
        }

        public string TransposeLastTwo(string x, int input)
        {
            int rank = Rank(input);
            if (rank < 2) throw Error($"input {input} needs rank 2 or more to transpose, has {rank}");
            var perm = Enumerable.Range(0, rank).Select(i => (long)i).ToArray();
            (perm[^1], perm[^2]) = (perm[^2], perm[^1]);
            return Op("Transpose", [x], [NodeAttribute.Of("perm", perm)]);
        }

        private int Rank(int input)
        {
            if (graph.TypeOf(call.Inputs[input]) is not TensorType { Shape: { } shape })
                throw Error($"the rank of input {input} ('{call.Inputs[input]}') is unknown, so no body can be written");
            _facts.Add($"rank{input}={shape.Length}");
            return shape.Length;
        }

        /// <summary>Gelu(x) written to <paramref name="output"/> as primitive ops (any opset).</summary>
        public void Gelu(string x, bool tanh, string output)
        {
            string inner;
            if (tanh)
            {
                // 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))
                var x3 = Op("Mul", [Op("Mul", [x, x]), x]);
                var poly = Op("Add", [x, Op("Mul", [x3, Const(0.044715f)])]);
                inner = Op("Tanh", [Op("Mul", [poly, Const(MathF.Sqrt(2f / MathF.PI))])]);
            }
            else inner = Op("Erf", [Op("Div", [x, Const(MathF.Sqrt(2f))])]); // 0.5 x (1 + erf(x / sqrt 2))
            var half = Op("Mul", [x, Const(0.5f)]);
            Op("Mul", [half, Op("Add", [inner, Const(1f)])], output: output);
        }

        /// <summary>act(x) written to <paramref name="output"/>, from the call's activation attributes.</summary>
        public void Activation(string x, string output)
        {
            FusedActivation act;
            try { act = FusedActivation.Parse(call.GetString("activation", ""), call.GetFloats("activation_params")); }
            catch (ArgumentException e) { throw Error(e.Message); }
            switch (act.Kind)
            {
                case ActivationKind.None: Op("Identity", [x], output: output); break;
                case ActivationKind.Relu: Op("Relu", [x], output: output); break;
                case ActivationKind.Sigmoid: Op("Sigmoid", [x], output: output); break;
                case ActivationKind.Tanh: Op("Tanh", [x], output: output); break;
                case ActivationKind.LeakyRelu: Op("LeakyRelu", [x], [NodeAttribute.Of("alpha", act.A)], output); break;
                case ActivationKind.HardSigmoid:
                    Op("HardSigmoid", [x], [NodeAttribute.Of("alpha", act.A), NodeAttribute.Of("beta", act.B)], output); break;
                case ActivationKind.Clip:
                    if (opset >= 11) Op("Clip", [x, Const(act.A), Const(act.B)], output: output);
                    else Op("Clip", [x], [NodeAttribute.Of("min", act.A), NodeAttribute.Of("max", act.B)], output);
                    break;
                case ActivationKind.HardSwish:
                    if (opset >= 14) Op("HardSwish", [x], output: output);
                    else Op("Mul", [x, Op("HardSigmoid", [x], [NodeAttribute.Of("alpha", 1f / 6f), NodeAttribute.Of("beta", 0.5f)])], output: output);
                    break;
                case ActivationKind.Silu: Op("Mul", [x, Op("Sigmoid", [x])], output: output); break;
                case ActivationKind.Gelu: Gelu(x, false, output); break;
                case ActivationKind.GeluTanh: Gelu(x, true, output); break;
                default: throw Error($"activation {act.Kind} has no standard-op body");
            }
        }

        private InvalidOperationException Error(string message) => new($"{call.Describe()} ({FusedOps.Domain}.{call.OpType}): {message}");

        private static string Describe(NodeAttribute a) => a.Name + "=" + a.Kind switch
        {
            AttributeKind.Float => a.Float.ToString("R", System.Globalization.CultureInfo.InvariantCulture),
            AttributeKind.Int => a.Int.ToString(System.Globalization.CultureInfo.InvariantCulture),
            AttributeKind.String => a.String,
            AttributeKind.Floats => string.Join(",", (a.Floats ?? []).Select(f => f.ToString("R", System.Globalization.CultureInfo.InvariantCulture))),
            AttributeKind.Ints => string.Join(",", a.Ints ?? []),
            _ => throw new InvalidOperationException($"attribute '{a.Name}' of kind {a.Kind} cannot be written into a function body key"),
        };
    }
}
