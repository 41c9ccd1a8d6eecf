using System.Collections.Concurrent;
using ILGPU.Runtime;
using NetOnnx.Gpu.Operators;

using KernelInfo = NetOnnx.Runtime.KernelInfo;

namespace NetOnnx.Gpu;

/// <summary>
/// Runs the nodes it has ILGPU kernels for on one accelerator. The planner hands it runs of such nodes; each
/// becomes a <see cref="GpuPartitionKernel"/> that uploads what it reads from the host, keeps intermediates on
/// the device and downloads only what the rest of the graph (or the caller) reads.
/// </summary>
public sealed class GpuExecutionProvider : IExecutionProvider
{
    public GpuExecutionProvider(GpuDevice device) => Device = device;

    public GpuDevice Device { get; }
    public string Name => Device.Name;

    /// <summary>Ops (domain, op type) that have a GPU kernel.</summary>
    public static IEnumerable<string> SupportedOps => GpuOps.All.Select(k => k.Domain.Length == 0 ? k.Op : $"{k.Domain}.{k.Op}").Order(StringComparer.Ordinal);

    public bool CanRun(KernelInfo node) => GpuOps.TryCreate(node) is not null;

    public OpKernel Compile(DevicePartition partition) => new GpuPartitionKernel(Device, partition);
}

/// <summary>
/// A partition compiled for the device. Constants are uploaded once here; each run takes a device pool (its
/// own stream and free buffers, so concurrent runs do not share scratch), uploads inputs, queues every op,
/// recycles each intermediate after its last reader and downloads the partition's outputs.
/// </summary>
internal sealed class GpuPartitionKernel : OpKernel, IDisposable
{
    private readonly GpuDevice _device;
    private readonly GpuOp[] _ops;
    private readonly Node[] _nodes;
    private readonly int[][] _opInputs, _opOutputs, _releaseAfter;
    private readonly int[] _inputIds, _outputIds;
    private readonly DeviceTensor?[] _constants;
    private readonly List<DeviceBuffer> _pinned = [];
    private readonly ConcurrentBag<DevicePool> _pools = [];
    private int _disposed;

    public GpuPartitionKernel(GpuDevice device, DevicePartition partition)
    {
        _device = device;
        var ids = new Dictionary<string, int>(StringComparer.Ordinal);
        var constants = new List<DeviceTensor?>();
        int Id(string name)
        {
            if (!ids.TryGetValue(name, out int id)) { id = ids.Count; ids[name] = id; constants.Add(null); }
            return id;
        }
        _inputIds = partition.Inputs.Select(Id).ToArray();
        int n = partition.Nodes.Count;
        _ops = new GpuOp[n];
        _nodes = new Node[n];
        _opInputs = new int[n][];
        _opOutputs = new int[n][];
        var accel = device.Accelerator;
        accel.Bind();
        for (int i = 0; i < n; i++)
        {
            var info = partition.Nodes[i];
            _nodes[i] = info.Node;
            var op = GpuOps.TryCreate(info) ?? throw new InvalidOperationException($"{info.Node.Describe()} has no GPU kernel");
            _ops[i] = op;
            op.Upload(Pin);
            _opInputs[i] = new int[info.Node.Inputs.Count];
            for (int k = 0; k < info.Node.Inputs.Count; k++)
            {
                string name = info.Node.Inputs[k];
                if (name.Length == 0 || !op.ReadsOnDevice(k)) { _opInputs[i][k] = -1; continue; }
                int id = Id(name);
                if (constants[id] is null && partition.Constant(name) is { } c) constants[id] = Pin(c);
                _opInputs[i][k] = id;
            }
            _opOutputs[i] = info.Node.Outputs.Select(o => o.Length == 0 ? -1 : Id(o)).ToArray();
        }
        _outputIds = partition.Outputs.Select(o => ids.TryGetValue(o, out int id) ? id
            : throw new InvalidOperationException($"partition output '{o}' is produced by none of its nodes")).ToArray();
        _constants = constants.ToArray();

        // Lifetimes: a value is released after its last reader (or its producer when nothing reads it); the
        // partition's outputs live until they are downloaded.
        var last = new int[ids.Count];
        Array.Fill(last, -1);
        for (int i = 0; i < n; i++)
        {
            foreach (int id in _opOutputs[i]) if (id >= 0 && last[id] < i) last[id] = i;
            foreach (int id in _opInputs[i]) if (id >= 0) last[id] = i;
        }
        var keep = new HashSet<int>(_outputIds);
        var release = Enumerable.Range(0, n).Select(_ => new List<int>()).ToArray();
        for (int id = 0; id < last.Length; id++)
            if (last[id] >= 0 && _constants[id] is null && !keep.Contains(id)) release[last[id]].Add(id);
        _releaseAfter = release.Select(l => l.ToArray()).ToArray();

        DeviceTensor Pin(Tensor host)
        {
            var buf = new DeviceBuffer { Memory = accel.Allocate1D<int>(Math.Max(host.Length, 1)), Pinned = true };
            _pinned.Add(buf);
            Transfers.Upload(accel.DefaultStream, host, buf);
            accel.DefaultStream.Synchronize();
            return new DeviceTensor(host.ElementType, (int[])host.Shape.Clone(), buf) { Host = host };
        }
    }

    public override void Compute(KernelContext ctx)
    {
        ObjectDisposedException.ThrowIf(_disposed != 0, this);
        // CUDA wants its context current on the calling thread; runs come from any thread.
        _device.Accelerator.Bind();
        var pool = _pools.TryTake(out var p) ? p : new DevicePool(_device.Accelerator);
        bool ok = false;
        try
        {
            var values = (DeviceTensor?[])_constants.Clone();
            for (int k = 0; k < _inputIds.Length; k++)
            {
                var host = ctx.Input(k);
                if (!Transfers.IsDeviceType(host.ElementType))
                    throw ctx.Error($"input '{ctx.Node.Inputs[k]}' is {host.ElementType.OnnxName()}, which the device does not hold");
                var buf = pool.Rent(host.Length);
                try { Transfers.Upload(pool.Stream, host, buf); }
                catch (NotSupportedException e) { throw ctx.Error($"input '{ctx.Node.Inputs[k]}': {e.Message}"); }
                values[_inputIds[k]] = new DeviceTensor(host.ElementType, (int[])host.Shape.Clone(), buf) { Host = host };
            }
            for (int i = 0; i < _ops.Length; i++)
            {
                var oc = new GpuOpContext(_device, pool, values, _opInputs[i], _opOutputs[i], _nodes[i]);
                try { _ops[i].Run(oc); }
                catch (Exception e) when (e is ArgumentException or NotSupportedException or InvalidOperationException or OverflowException)
                {
                    throw new InferenceException($"{_nodes[i].Describe()} on {_device.Name}: {e.Message}", _nodes[i].Name, e);
                }
                foreach (var t in oc.Scratch) pool.Release(t);
                for (int k = 0; k < _opOutputs[i].Length; k++)
                    if (_opOutputs[i][k] >= 0 && values[_opOutputs[i][k]] is null)
                        throw new InferenceException($"{_nodes[i].Describe()} on {_device.Name} did not produce output {k}", _nodes[i].Name);
                foreach (int id in _releaseAfter[i]) { pool.Release(values[id]); values[id] = null; }
            }
            for (int k = 0; k < _outputIds.Length; k++)
            {
                var t = values[_outputIds[k]]!;
                var host = ctx.OutputUninitialized(k, t.ElementType, (int[])t.Shape.Clone());
                Transfers.Download(pool.Stream, t, host);
            }
            pool.Stream.Synchronize();
            foreach (int id in _outputIds) { pool.Release(values[id]); values[id] = null; }
            ok = true;
        }
        finally
        {
            // A failed run may leave references behind: its pool is dropped rather than reused.
            if (ok && _disposed == 0) _pools.Add(pool);
            else pool.Dispose();
        }
    }

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
        while (_pools.TryTake(out var p)) p.Dispose();
        foreach (var b in _pinned) b.Memory.Dispose();
        _pinned.Clear();
    }
}
