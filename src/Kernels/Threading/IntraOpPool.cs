using System.Diagnostics;
using System.Runtime.ExceptionServices;

namespace NetOnnx.Kernels.Threading;

/// <summary>
/// Process-wide pool for data-parallel kernel loops. Waking a sleeping worker costs 100+ µs, more than many kernels
/// take, so workers spin for a short while after each job and back-to-back launches find them awake. The calling
/// thread always takes part, so a job never waits for a worker that is not there.
/// </summary>
/// <remarks>
/// One job runs at a time. A call that finds the pool busy (another session's job, or a call nested inside a
/// running body) runs inline on its own thread: that keeps the total number of busy threads bounded and can never
/// deadlock. Each call uses at most the thread count it is given, however many workers the pool holds.
/// </remarks>
public static class IntraOpPool
{
    /// <summary>Below this estimated work (flops or bytes touched) a call runs inline: dispatch would cost more.</summary>
    public const long MinParallelWork = 1 << 14;

    /// <summary>Upper bound on pool workers, whatever thread count sessions ask for.</summary>
    public const int MaxWorkers = 63;

    /// <summary>Runs <paramref name="body"/>(i) for every i in [0, count) on up to <paramref name="threads"/> threads.</summary>
    /// <param name="work">Estimated total work (flops or bytes); below <see cref="MinParallelWork"/> runs inline.</param>
    public static void For(int count, int threads, Action<int> body, long work = long.MaxValue)
    {
        ArgumentNullException.ThrowIfNull(body);
        if (count <= 0) return;
        // Single-thread callers and tiny jobs never touch the pool (nor start its workers).
        if (threads <= 1 || count == 1 || work < MinParallelWork || Workers.InsideJob)
        {
            for (int i = 0; i < count; i++) body(i);
            return;
        }
        Workers.Run(count, Math.Min(threads, count), body);
    }

    /// <summary>
    /// Splits [0, count) into contiguous ranges of near-equal size, run on up to <paramref name="threads"/> threads,
    /// and runs <paramref name="body"/>(start, end) once per range, so the per-item cost is a plain loop, not a
    /// delegate call. Large jobs get up to <see cref="RangesPerThread"/> ranges per thread, taken dynamically, so a
    /// worker that starts late (woken from sleep, or descheduled on a busy host) costs only its last range.
    /// </summary>
    public static void ForRanges(int count, int threads, Action<int, int> body, long work = long.MaxValue)
    {
        ArgumentNullException.ThrowIfNull(body);
        if (count <= 0) return;
        threads = Math.Min(Math.Max(threads, 1), count);
        if (threads <= 1 || work < MinParallelWork || Workers.InsideJob)
        {
            body(0, count);
            return;
        }
        long byWork = Math.Max(work / MinParallelWork, threads);
        int parts = (int)Math.Min(Math.Min(byWork, (long)threads * RangesPerThread), count);
        Workers.Run(parts, threads, p => body((int)((long)count * p / parts), (int)((long)count * (p + 1) / parts)));
    }

    /// <summary>Most ranges <see cref="ForRanges"/> cuts a job into per thread.</summary>
    public const int RangesPerThread = 4;

    /// <summary>Number of worker threads started so far (the caller thread not counted).</summary>
    public static int WorkerCount => Workers.Count;

    private sealed class Job(int count, int maxHelpers, Action<int> body)
    {
        public readonly int Count = count;
        public readonly Action<int> Body = body;
        private readonly int _maxHelpers = maxHelpers;
        private int _next;
        private int _completed;
        private int _helpers;
        private int _waiting;
        private Exception? _error;

        public bool Done => Volatile.Read(ref _completed) >= Count;

        public Exception? Error => Volatile.Read(ref _error);

        /// <summary>A worker joins only while the job still wants helpers, so a job never uses more threads than asked.</summary>
        public void Help()
        {
            if (Interlocked.Increment(ref _helpers) > _maxHelpers) return;
            Work();
        }

        public void Work()
        {
            while (true)
            {
                int i = Interlocked.Increment(ref _next) - 1;
                if (i >= Count) return;
                if (Volatile.Read(ref _error) is null)
                {
                    try { Body(i); }
                    catch (Exception e) { Interlocked.CompareExchange(ref _error, e, null); }
                }
                if (Interlocked.Increment(ref _completed) == Count && Volatile.Read(ref _waiting) != 0)
                    lock (this) Monitor.PulseAll(this);
            }
        }

        /// <summary>Caller side: items still running on workers usually finish within microseconds, so spin first.</summary>
        public void WaitDone()
        {
            var spin = new SpinWait();
            while (!Done)
            {
                if (spin.Count < 100) { spin.SpinOnce(-1); continue; }
                lock (this)
                {
                    // Interlocked store, then load of _completed: pairs with the finisher's increment-then-load.
                    Interlocked.Exchange(ref _waiting, 1);
                    while (!Done) Monitor.Wait(this);
                }
            }
        }
    }

    private static class Workers
    {
        // How long an idle worker keeps polling for the next job before it blocks.
        private static readonly long SpinTicks = Stopwatch.Frequency / 10_000; // 100 µs

        [ThreadStatic] private static bool t_insideJob;
        private static readonly object Gate = new();
        private static Job? _job;
        private static long _generation;
        private static int _sleeping;
        private static int _busy;
        private static int _count;

        public static bool InsideJob => t_insideJob;

        public static int Count => Volatile.Read(ref _count);

        public static void Run(int count, int threads, Action<int> body)
        {
            if (Interlocked.CompareExchange(ref _busy, 1, 0) != 0)
            {
                // Another caller owns the workers: run on this thread rather than oversubscribe or queue.
                for (int i = 0; i < count; i++) body(i);
                return;
            }
            var job = new Job(count, threads - 1, body);
            try
            {
                EnsureWorkers(threads - 1);
                Volatile.Write(ref _job, job);
                Interlocked.Increment(ref _generation);
                if (Volatile.Read(ref _sleeping) > 0)
                    lock (Gate) Monitor.PulseAll(Gate);
                t_insideJob = true;
                try { job.Work(); }
                finally { t_insideJob = false; }
                job.WaitDone();
            }
            finally
            {
                Volatile.Write(ref _job, null);
                Volatile.Write(ref _busy, 0);
            }
            if (job.Error is { } error) ExceptionDispatchInfo.Throw(error);
        }

        private static void EnsureWorkers(int wanted)
        {
            wanted = Math.Min(wanted, MaxWorkers);
            // Only the job owner (holding _busy) starts workers, so no lock is needed.
            while (_count < wanted)
            {
                var thread = new Thread(Loop) { IsBackground = true, Name = $"NetOnnx intra-op {_count + 1}" };
                thread.Start();
                Volatile.Write(ref _count, _count + 1);
            }
        }

        private static void Loop()
        {
            t_insideJob = true;
            long seen = Volatile.Read(ref _generation);
            while (true)
            {
                seen = WaitForJob(seen);
                Volatile.Read(ref _job)?.Help();
            }
        }

        private static long WaitForJob(long seen)
        {
            long start = Stopwatch.GetTimestamp();
            for (int spins = 1; Stopwatch.GetTimestamp() - start < SpinTicks; spins++)
            {
                long g = Volatile.Read(ref _generation);
                if (g != seen) return g;
                Thread.SpinWait(20);
                // On an oversubscribed host this core may be shared with the caller (or another process): give
                // way every few microseconds so that a spinning worker never delays the thread that posts the work.
                if ((spins & 7) == 0) Thread.Yield();
            }
            lock (Gate)
            {
                // Interlocked increment, then load of _generation: pairs with Run's increment-then-load of _sleeping.
                Interlocked.Increment(ref _sleeping);
                try
                {
                    while (true)
                    {
                        long g = Volatile.Read(ref _generation);
                        if (g != seen) return g;
                        Monitor.Wait(Gate);
                    }
                }
                finally { Interlocked.Decrement(ref _sleeping); }
            }
        }
    }
}
