using Platform.Fleet.Catalog;
using Platform.HealthScorer.Scoring;

namespace Platform.HealthScorer.Tests.Scoring;

public sealed class PoolStatusTests
{
    private static EngineStatus Engine(string id, string pool, double drafts, double draftTokens, double accepted, bool reachable = true) => new()
    {
        Engine = new EngineInfo(id, pool, "llama", new Uri("http://127.0.0.1:1/")),
        Reachable = reachable,
        SpecDrafts = drafts,
        SpecDraftTokens = draftTokens,
        SpecAcceptedTokens = accepted,
    };

    [Fact]
    public void Aggregate_BusyAndIdleEngines_SumsDeltasNotAMeanOfRates()
    {
        // A busy engine accepting 80% and a nearly idle one accepting 10%: the pool accepted 801 of 1,010 tokens
        // (0.793), where the mean of the two rates would say 0.45.
        var pools = PoolStatus.Aggregate(
        [
            Engine("code-0", "code", drafts: 250, draftTokens: 1000, accepted: 800),
            Engine("code-1", "code", drafts: 2.5, draftTokens: 10, accepted: 1),
        ]);

        var code = Assert.Single(pools);
        Assert.Equal(("code", "llama", 2), (code.Pool, code.Model, code.Engines));
        Assert.Equal(801.0 / 1010, code.SpecAcceptanceRate, 9);
        Assert.Equal(1 + (801.0 / 252.5), code.SpecMeanAcceptanceLength, 9);
        Assert.Equal((252.5, 1010.0, 801.0), (code.SpecDrafts, code.SpecDraftTokens, code.SpecAcceptedTokens));
    }

    [Fact]
    public void Aggregate_PoolsInCatalogOrder_EachFromItsOwnEngines()
    {
        var pools = PoolStatus.Aggregate(
        [
            Engine("general-0", "general", 100, 400, 80),
            Engine("code-0", "code", 100, 400, 240),
            Engine("general-1", "general", 100, 400, 100),
        ]);

        Assert.Equal(["general", "code"], pools.Select(p => p.Pool));
        Assert.Equal(180.0 / 800, pools[0].SpecAcceptanceRate, 9);
        Assert.Equal(2, pools[0].Engines);
        Assert.Equal(240.0 / 400, pools[1].SpecAcceptanceRate, 9);
    }

    [Fact]
    public void Aggregate_UnreachableOrUnknownEngines_LeftOutOfTheSums()
    {
        var pools = PoolStatus.Aggregate(
        [
            Engine("code-0", "code", 100, 400, 300),
            Engine("code-1", "code", 100, 400, 0, reachable: false),
            Engine("code-2", "code", double.NaN, double.NaN, double.NaN),
        ]);

        var code = Assert.Single(pools);
        Assert.Equal(0.75, code.SpecAcceptanceRate, 9);
        Assert.Equal((3, 2), (code.Engines, code.HealthyEngines));
    }

    [Fact]
    public void Aggregate_NothingDrafted_NaNNotZero()
    {
        var pools = PoolStatus.Aggregate(
        [
            Engine("code-0", "code", 0, 0, 0),
            Engine("fallback-0", "fallback", double.NaN, double.NaN, double.NaN),
        ]);

        Assert.All(pools, p => Assert.True(double.IsNaN(p.SpecAcceptanceRate) && double.IsNaN(p.SpecMeanAcceptanceLength), p.Pool));
        Assert.All(pools, p => Assert.Equal(0, p.SpecDraftTokens));
    }
}
