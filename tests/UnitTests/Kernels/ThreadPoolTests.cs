using Xunit;
using NetOnnx.Kernels.Threading;

namespace NetOnnx.Tests;

/// <summary>Correctness of the intra-op pool: coverage, exceptions, nesting and concurrent callers (no timing).</summary>
public class ThreadPoolTests
{
    [Theory]
    [InlineData(0, 4)]
    [InlineData(1, 4)]
    [InlineData(2, 2)]
    [InlineData(7, 3)]
    [InlineData(1000, 4)]
    [InlineData(1000, 1)]
    public void EveryIndexRunsExactlyOnce(int count, int threads)
    {
        var hits = new int[count];
        IntraOpPool.For(count, threads, i => Interlocked.Increment(ref hits[i]));
        Assert.All(hits, h => Assert.Equal(1, h));
    }

    [Theory]
    [InlineData(0, 4)]
    [InlineData(1, 4)]
    [InlineData(5, 8)]
    [InlineData(1001, 3)]
    public void RangesCoverEveryIndexOnce(int count, int threads)
    {
        var hits = new int[count];
        IntraOpPool.ForRanges(count, threads, (s, e) =>
        {
            Assert.True(s < e);
            for (int i = s; i < e; i++) Interlocked.Increment(ref hits[i]);
        });
        Assert.All(hits, h => Assert.Equal(1, h));
    }

    [Fact]
    public void SmallWorkRunsInlineOnCaller()
    {
        int caller = Environment.CurrentManagedThreadId;
        IntraOpPool.For(16, 4, _ => Assert.Equal(caller, Environment.CurrentManagedThreadId), work: 10);
    }

    [Fact]
    public void SingleThreadRunsInlineOnCaller()
    {
        int caller = Environment.CurrentManagedThreadId;
        IntraOpPool.For(16, 1, _ => Assert.Equal(caller, Environment.CurrentManagedThreadId));
    }

    [Fact]
    public void ExceptionPropagatesToCaller()
    {
        var e = Assert.Throws<InvalidOperationException>(() =>
            IntraOpPool.For(100, 4, i => { if (i == 37) throw new InvalidOperationException("item 37"); }));
        Assert.Equal("item 37", e.Message);
        // The pool is usable again after a failed job.
        var hits = new int[100];
        IntraOpPool.For(100, 4, i => Interlocked.Increment(ref hits[i]));
        Assert.All(hits, h => Assert.Equal(1, h));
    }

    [Fact]
    public void ExceptionFromRangesPropagates()
    {
        Assert.Throws<ArgumentException>(() => IntraOpPool.ForRanges(10, 4, (s, _) => { if (s > 0) throw new ArgumentException("x"); }));
    }

    [Fact]
    public void NestedCallsDoNotDeadlock()
    {
        var hits = new int[8 * 50];
        var runner = new Thread(() => IntraOpPool.For(8, 4, i =>
            IntraOpPool.For(50, 4, j =>
                IntraOpPool.ForRanges(1, 4, (_, _) => Interlocked.Increment(ref hits[i * 50 + j])))))
        { IsBackground = true };
        runner.Start();
        Assert.True(runner.Join(TimeSpan.FromMinutes(1)), "nested pool calls deadlocked");
        Assert.All(hits, h => Assert.Equal(1, h));
    }

    [Fact]
    public void ConcurrentCallersGetCorrectResults()
    {
        const int callers = 6, rounds = 200, count = 257;
        var sums = new long[callers];
        var threads = Enumerable.Range(0, callers).Select(c => new Thread(() =>
        {
            for (int r = 0; r < rounds; r++)
            {
                var parts = new long[count];
                IntraOpPool.For(count, 1 + c % 4, i => parts[i] = i + c);
                sums[c] += parts.Sum();
            }
        }) { IsBackground = true }).ToArray();
        foreach (var t in threads) t.Start();
        foreach (var t in threads) Assert.True(t.Join(TimeSpan.FromMinutes(2)), "concurrent pool callers did not finish");
        for (int c = 0; c < callers; c++)
            Assert.Equal(rounds * ((long)count * (count - 1) / 2 + (long)count * c), sums[c]);
    }

    [Fact]
    public void UsesAtMostRequestedThreads()
    {
        var seen = new HashSet<int>();
        var gate = new object();
        IntraOpPool.For(64, 2, _ =>
        {
            lock (gate) seen.Add(Environment.CurrentManagedThreadId);
            Thread.SpinWait(2000);
        });
        Assert.InRange(seen.Count, 1, 2);
    }
}
