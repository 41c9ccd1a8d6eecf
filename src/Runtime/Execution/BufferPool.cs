using System.Runtime.CompilerServices;

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

    /// <summary>
    /// Readies the pool for another run. Buffers still referenced (outputs handed to the caller, values that
    /// outlived the run) are forgotten so they are never reused; released buffers stay on the free lists, so
    /// steady-state runs allocate nothing and touch no fresh pages.
    /// </summary>
    public void ResetForReuse()
    {
        _refs.Clear();
        LiveBytes = PeakBytes = AllocatedBytes = 0;
    }

    public void AddRef(object? value)
    {
        ForEachTensor(value, t =>
        {
            if (_refs.TryGetValue(t.Buffer, out int c)) _refs[t.Buffer] = c + 1;
        });
    }

    public void Release(object? value)
    {
        ForEachTensor(value, t =>
        {
            var b = t.Buffer;
            if (!_refs.TryGetValue(b, out int c)) return;
            if (--c > 0) { _refs[b] = c; return; }
            _refs.Remove(b);
            LiveBytes -= (long)b.Length * t.ElementType.SizeOf();
            var clr = b.GetType().GetElementType()!;
            if (!_free.TryGetValue(clr, out var list)) _free[clr] = list = [];
            list.Add(b);
        });
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
