namespace Platform.EngineSim.Engine;

/// <summary>What one scheduled sequence does in a step.</summary>
internal readonly record struct StepEntry(Sequence Sequence, int NumNewTokens, int DraftTokens, bool Prefill);

/// <summary>
/// One engine step as the scheduler planned it: the sequences it runs and how long it takes on the
/// simulated GPU. A single instance is reused by the scheduler loop (no allocation per step).
/// </summary>
internal sealed class StepPlan
{
    public List<StepEntry> Entries { get; } = new(256);

    public TimeSpan Duration { get; set; }

    /// <summary>Decoding sequences in the step.</summary>
    public int Decodes { get; set; }

    /// <summary>Uncached prompt tokens computed in the step.</summary>
    public int PrefillTokens { get; set; }

    public void Clear()
    {
        Entries.Clear();
        Duration = TimeSpan.Zero;
        Decodes = 0;
        PrefillTokens = 0;
    }
}
