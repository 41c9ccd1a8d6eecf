using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace NetOnnx.Runtime;

/// <summary>
/// Per-run recycler of tensor buffers. A buffer goes back to the pool when the last value that refers to it
/// dies (values can alias one buffer: Reshape views, sequences holding tensors). Arrays are reused for any
/// later value of the same element type that fits, which is how lifetimes turn into memory reuse.
/// </summary>
internal sealed class BufferPool
{
    private readonly Dictionary<Type, List<Array>> _free = [];
    private readonly Dictionary<Array, int> _refs = new(ReferenceEqualityComparer.Instance);
    public long LiveBytes { get; private set; }
    public long PeakBytes { get; private set; }
    public long AllocatedBytes { get; private set; }

    private readonly Dictionary<int, Stack<object?[]>> _slotArrays = [];
    private RunState? _run;
    /// <summary>Top-level frame and kernel context kept for the next run of the same plan (so a warm run allocates neither).</summary>
    internal Frame? TopFrame;

    /// <summary>The run state of an unprofiled run on this pool, made once (a pool serves one run at a time).</summary>
    public RunState RunState(int threads) =>
        _run is { } r && r.Threads == threads ? r : _run = new RunState { Threads = threads, Pool = this };

    /// <summary>A cleared value array for one execution of a plan (subgraph bodies run many times per run).</summary>
    public object?[] RentSlots(int length)
    {
        if (_slotArrays.TryGetValue(length, out var stack) && stack.TryPop(out var a)) return a;
        return new object?[length];
    }

    /// <summary>Returns a value array from <see cref="RentSlots"/>; it is cleared so it holds no values alive.</summary>
    public void ReturnSlots(object?[] slots)
    {
        Array.Clear(slots);
        if (!_slotArrays.TryGetValue(slots.Length, out var stack)) _slotArrays[slots.Length] = stack = new Stack<object?[]>();
        stack.Push(slots);
    }

    public Array Rent(DataType type, int length)
    {
        var clr = type.ClrType();
        if (type != DataType.String && _free.TryGetValue(clr, out var list))
        {
            // Best fit: the smallest free array that holds the request, if it is not wastefully large.
            int best = -1;
            for (int i = 0; i < list.Count; i++)
            {
                int len = list[i].Length;
                if (len >= length && len <= 2L * length + 64 && (best < 0 || len < list[best].Length)) best = i;
            }
            if (best >= 0)
            {
                var a = list[best];
                list[best] = list[^1];
                list.RemoveAt(list.Count - 1);
                _refs[a] = 0;
                Account(a, type);
                return a;
            }
        }
        var arr = Array.CreateInstance(clr, length);
        if (type == DataType.String) Array.Fill((string[])arr, string.Empty);
        else _refs[arr] = 0;
        AllocatedBytes += (long)length * type.SizeOf();
        Account(arr, type);
        return arr;
    }

    private void Account(Array a, DataType type)
    {
        LiveBytes += (long)a.Length * type.SizeOf();
        if (LiveBytes > PeakBytes) PeakBytes = LiveBytes;
    }

    public bool Owns(Array a) => _refs.ContainsKey(a);

    /// <summary>Tensors made over each pooled buffer, a few per buffer: recycled buffers trade roles (shapes) between runs.</summary>
    private readonly Dictionary<Array, Tensor?[]> _tensorOver = new(ReferenceEqualityComparer.Instance);
    private const int TensorsPerBuffer = 8;

    /// <summary>
    /// A tensor over a buffer just rented: one made over it before when element type and shape agree, else a new
    /// one. The old one is dead (its buffer was free, so no value refers to it), and a tensor is only its type,
    /// shape and buffer, so reusing it is the same as making a new one, minus the allocation.
    /// </summary>
    /// <param name="shapeArray">The shape as an array the new tensor may keep, or null to copy <paramref name="shape"/>.</param>
    public Tensor TensorOver(DataType type, ReadOnlySpan<int> shape, int[]? shapeArray, Array buffer)
    {
        if (type == DataType.String) return new Tensor(type, shapeArray ?? shape.ToArray(), buffer); // string buffers are never pooled
        if (!_tensorOver.TryGetValue(buffer, out var made)) _tensorOver[buffer] = made = new Tensor?[TensorsPerBuffer];
        int free = -1;
        for (int i = 0; i < made.Length; i++)
        {
            var t = made[i];
            if (t is null) { if (free < 0) free = i; continue; }
            if (t.ElementType == type && t.Shape.AsSpan().SequenceEqual(shape)) return t;
        }
        var n = new Tensor(type, shapeArray ?? shape.ToArray(), buffer);
        if (free < 0)
        {
            // All slots taken: the oldest goes (shift down, newest last).
            Array.Copy(made, 1, made, 0, made.Length - 1);
            free = made.Length - 1;
        }
        made[free] = n;
        return n;
    }

    /// <summary>
    /// Readies the pool for another run. Buffers still referenced (outputs handed to the caller, values that
    /// outlived the run) are forgotten so they are never reused; released buffers stay on the free lists, so
    /// steady-state runs allocate nothing and touch no fresh pages.
    /// </summary>
    public void ResetForReuse()
    {
        // Buffers still referenced leave the pool; so do the tensors over them (the caller may hold those).
        foreach (var a in _refs.Keys) _tensorOver.Remove(a);
        _refs.Clear();
        LiveBytes = PeakBytes = AllocatedBytes = 0;
    }

    // Switches rather than a callback per tensor: these run for every value of every step, and a capturing
    // lambda would allocate a delegate each time.
    public void AddRef(object? value)
    {
        switch (value)
        {
            case Tensor t: AddRef(t); break;
            case TensorSequence s: foreach (var t in s.Items) AddRef(t); break;
            case OptionalValue o: AddRef(o.Value); break;
        }
    }

    public void Release(object? value)
    {
        switch (value)
        {
            case Tensor t: Release(t); break;
            case TensorSequence s: foreach (var t in s.Items) Release(t); break;
            case OptionalValue o: Release(o.Value); break;
        }
    }

    private void AddRef(Tensor t)
    {
        ref int c = ref CollectionsMarshal.GetValueRefOrNullRef(_refs, t.Buffer);
        if (!Unsafe.IsNullRef(ref c)) c++;
    }

    private void Release(Tensor t)
    {
        var b = t.Buffer;
        ref int c = ref CollectionsMarshal.GetValueRefOrNullRef(_refs, b);
        if (Unsafe.IsNullRef(ref c)) return;
        if (--c > 0) return;
        _refs.Remove(b);
        LiveBytes -= (long)b.Length * t.ElementType.SizeOf();
        var clr = b.GetType().GetElementType()!;
        if (!_free.TryGetValue(clr, out var list)) _free[clr] = list = [];
        list.Add(b);
    }

    public static void ForEachTensor(object? value, Action<Tensor> f)
    {
        switch (value)
        {
            case Tensor t: f(t); break;
            case TensorSequence s: foreach (var t in s.Items) f(t); break;
            case OptionalValue o: ForEachTensor(o.Value, f); break;
        }
    }
}
