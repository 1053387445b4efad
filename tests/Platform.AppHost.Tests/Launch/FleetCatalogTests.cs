using Platform.AppHost.Hosting;
using Platform.AppHost.Launch;
using Platform.AppHost.Tests.Support;

namespace Platform.AppHost.Tests.Launch;

public sealed class FleetCatalogTests
{
    [Fact]
    public void ToConfiguration_PlatformTopology_ListsModelsPoolsAndEngines()
    {
        var topology = TestTopology.Plan(TestTopology.Platform(), firstPort: 20000);

        var config = FleetCatalog.ToConfiguration(topology).ToDictionary(kv => kv.Key, kv => kv.Value);

        Assert.Equal(new Dictionary<string, string>
        {
            ["Fleet__Models__0__Name"] = "phi-3-mini-4k-instruct",
            ["Fleet__Models__1__Name"] = "llama-3.1-8b-instruct",
            ["Fleet__Models__1__FallbackModel"] = "phi-3-mini-4k-instruct",
            ["Fleet__Pools__0__Name"] = "enginefallback",
            ["Fleet__Pools__0__Model"] = "phi-3-mini-4k-instruct",
            ["Fleet__Pools__0__TaskAffinity"] = "none",
            ["Fleet__Pools__0__MaxModelLen"] = "4096",
            ["Fleet__Pools__0__Replicas"] = "1",
            ["Fleet__Pools__0__Engines__0__Id"] = "enginefallback-0",
            ["Fleet__Pools__0__Engines__0__Url"] = "http://127.0.0.1:20001",
            ["Fleet__Pools__1__Name"] = "enginegeneral",
            ["Fleet__Pools__1__Model"] = "llama-3.1-8b-instruct",
            ["Fleet__Pools__1__TaskAffinity"] = "general",
            ["Fleet__Pools__1__MaxModelLen"] = "32768",
            ["Fleet__Pools__1__Replicas"] = "2",
            ["Fleet__Pools__1__Speculative__Method"] = "draft_model",
            ["Fleet__Pools__1__Speculative__DraftModel"] = "llama-3.2-1b-instruct",
            ["Fleet__Pools__1__Speculative__DraftKind"] = "general",
            ["Fleet__Pools__1__Speculative__NumSpeculativeTokens"] = "4",
            ["Fleet__Pools__1__Engines__0__Id"] = "enginegeneral-0",
            ["Fleet__Pools__1__Engines__0__Url"] = "http://127.0.0.1:20002",
            ["Fleet__Pools__1__Engines__1__Id"] = "enginegeneral-1",
            ["Fleet__Pools__1__Engines__1__Url"] = "http://127.0.0.1:20003",
            ["Fleet__Pools__2__Name"] = "enginecode",
            ["Fleet__Pools__2__Model"] = "llama-3.1-8b-instruct",
            ["Fleet__Pools__2__TaskAffinity"] = "code",
            ["Fleet__Pools__2__MaxModelLen"] = "32768",
            ["Fleet__Pools__2__Replicas"] = "1",
            ["Fleet__Pools__2__Speculative__Method"] = "draft_model",
            ["Fleet__Pools__2__Speculative__DraftModel"] = "llama-3.2-1b-code",
            ["Fleet__Pools__2__Speculative__DraftKind"] = "code",
            ["Fleet__Pools__2__Speculative__NumSpeculativeTokens"] = "5",
            ["Fleet__Pools__2__Engines__0__Id"] = "enginecode-0",
            ["Fleet__Pools__2__Engines__0__Url"] = "http://127.0.0.1:20004",
        }, config);
    }

    [Fact]
    public void Validate_FallbackModelServedByNoPool_ReportsIt()
    {
        var builder = TestTopology.Builder();
        var pool = builder.AddEnginePool("enginegeneral", "llama-3.1-8b-instruct");
        pool.Resource.FallbackModel = "phi-3-mini-4k-instruct";

        var errors = FleetCatalog.Validate(builder.Resources.OfType<EnginePoolResource>());

        Assert.Equal(["pool 'enginegeneral': fallback model 'phi-3-mini-4k-instruct' is served by no pool."], errors);
    }

    [Fact]
    public void Validate_ConflictingFallbacksForOneModel_ReportsIt()
    {
        var builder = TestTopology.Builder();
        var phi = builder.AddEnginePool("enginephi", "phi-3-mini-4k-instruct");
        var qwen = builder.AddEnginePool("engineqwen", "qwen2.5-0.5b-instruct");
        builder.AddEnginePool("enginea", "llama-3.1-8b-instruct").WithFallback(phi);
        builder.AddEnginePool("engineb", "llama-3.1-8b-instruct").WithFallback(qwen);

        var errors = FleetCatalog.Validate(builder.Resources.OfType<EnginePoolResource>());

        Assert.Single(errors);
        Assert.Contains("conflicting fallback models", errors[0], StringComparison.Ordinal);
    }
}
