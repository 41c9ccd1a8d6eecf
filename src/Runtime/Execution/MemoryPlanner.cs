namespace NetOnnx.Runtime;

/// <summary>
/// Estimates intermediate memory (bytes of buffers the run must allocate) from inferred shapes by replaying the plan's allocations and releases
/// through the same best-fit reuse the run-time pool applies.
/// </summary>
internal static class MemoryPlanner
{
    public static void Estimate(ExecutionPlan plan)
    {
        var size = new long[plan.SlotNames.Length];
        for (int s = 0; s < size.Length; s++)
        {
            if (plan.Graph.TypeOf(plan.SlotNames[s]) is TensorType { StaticShape: { } shape } t && t.ElementType != DataType.String)
                size[s] = (long)Kernels.ShapeMath.Size(shape) * t.ElementType.SizeOf();
        }
        var free = new List<long>();
        long allocated = 0, total = 0;
        foreach (var step in plan.Steps)
        {
            foreach (int s in step.Outputs)
            {
                if (s < 0 || size[s] == 0) continue;
                total += size[s];
                int best = -1;
                for (int i = 0; i < free.Count; i++)
                    if (free[i] >= size[s] && free[i] <= 2 * size[s] + 256 && (best < 0 || free[i] < free[best])) best = i;
                if (best >= 0) { size[s] = free[best]; free.RemoveAt(best); }
                else allocated += size[s];
            }
            foreach (int s in step.ReleaseAfter)
            {
                if (size[s] == 0) continue;
                free.Add(size[s]);
            }
        }
        plan.PlannedPeakBytes = allocated;
        plan.PlannedTotalBytes = total;
    }
}
