using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;
using Platform.Fleet.Catalog;

namespace Platform.Fleet.Tests.Catalog;

public sealed class FleetCatalogTests
{
    /// <summary>The keys AppHost/Launch/FleetCatalog.cs writes for the default topology, as environment variables.</summary>
    private static readonly Dictionary<string, string?> AppHostKeys = new()
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
        ["Fleet__Pools__0__Engines__0__Url"] = "http://127.0.0.1:18100",
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
        ["Fleet__Pools__1__Engines__0__Url"] = "http://127.0.0.1:18101",
        ["Fleet__Pools__1__Engines__1__Id"] = "enginegeneral-1",
        ["Fleet__Pools__1__Engines__1__Url"] = "http://127.0.0.1:18102",
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
        ["Fleet__Pools__2__Engines__0__Url"] = "http://127.0.0.1:18103",
    };

    [Fact]
    public void AddFleetCatalog_AppHostKeys_BindsModelsPoolsAndEngines()
    {
        using var provider = Build(AppHostKeys);

        var catalog = provider.GetRequiredService<IFleetCatalog>();

        Assert.Equal(2, catalog.Models.Count);
        Assert.Equal(3, catalog.Pools.Count);
        Assert.Equal(4, catalog.Engines.Count);
        var llama = catalog.FindModel("llama-3.1-8b-instruct")!;
        Assert.Equal("phi-3-mini-4k-instruct", llama.FallbackModel);
        Assert.Equal(32768, llama.MaxModelLen);
        Assert.Equal(["enginegeneral", "enginecode"], llama.Pools.Select(p => p.Name));
        Assert.Null(catalog.FindModel("phi-3-mini-4k-instruct")!.FallbackModel);
        var code = catalog.FindPool("enginecode")!;
        Assert.Equal(TaskAffinity.Code, code.Affinity);
        Assert.Equal(new SpeculativeInfo("draft_model", "llama-3.2-1b-code", TaskAffinity.Code, 5), code.Speculative);
        Assert.Null(catalog.FindPool("enginefallback")!.Speculative);
        var engine = catalog.FindEngine("enginegeneral-1")!;
        Assert.Equal(new Uri("http://127.0.0.1:18102/"), engine.BaseUri);
        Assert.Equal("enginegeneral", engine.Pool);
        Assert.Equal("llama-3.1-8b-instruct", engine.Model);
        Assert.Null(catalog.FindEngine("nope"));
    }

    [Fact]
    public void AddFleetCatalog_PoolWithoutEngines_ResolvesThemFromServiceDiscovery()
    {
        var keys = new Dictionary<string, string?>(AppHostKeys.Where(k => !k.Key.StartsWith("Fleet__Pools__1__Engines", StringComparison.Ordinal)))
        {
            ["services__enginegeneral__http__0"] = "http://10.0.0.5:8000",
            ["services__enginegeneral__http__1"] = "http://10.0.0.6:8000/",
        };
        using var provider = Build(keys);

        var pool = provider.GetRequiredService<IFleetCatalog>().FindPool("enginegeneral")!;

        Assert.Equal(["enginegeneral-0", "enginegeneral-1"], pool.Engines.Select(e => e.Id));
        Assert.Equal(new Uri("http://10.0.0.5:8000/"), pool.Engines[0].BaseUri);
        Assert.Equal(new Uri("http://10.0.0.6:8000/"), pool.Engines[1].BaseUri);
    }

    [Fact]
    public void Validate_BadCatalog_ListsEveryErrorNamingTheSetting()
    {
        var keys = new Dictionary<string, string?>
        {
            ["Fleet__Models__0__Name"] = "a-1",
            ["Fleet__Models__0__FallbackModel"] = "b-1",
            ["Fleet__Models__1__Name"] = "b-1",
            ["Fleet__Models__1__FallbackModel"] = "a-1",
            ["Fleet__Models__2__Name"] = "c-1",
            ["Fleet__Models__2__FallbackModel"] = "missing",
            ["Fleet__Pools__0__Name"] = "p",
            ["Fleet__Pools__0__Model"] = "a-1",
            ["Fleet__Pools__0__TaskAffinity"] = "poetry",
            ["Fleet__Pools__0__MaxModelLen"] = "4096",
            ["Fleet__Pools__0__Speculative__Method"] = "draft_model",
            ["Fleet__Pools__0__Speculative__NumSpeculativeTokens"] = "17",
            ["Fleet__Pools__0__Engines__0__Id"] = "e",
            ["Fleet__Pools__0__Engines__0__Url"] = "ftp://host",
            ["Fleet__Pools__1__Name"] = "p",
            ["Fleet__Pools__1__Model"] = "b-1",
            ["Fleet__Pools__1__MaxModelLen"] = "4096",
            ["Fleet__Pools__1__Speculative__Method"] = "draft_model",
            ["Fleet__Pools__1__Speculative__DraftModel"] = "qwen-0.5b",
            ["Fleet__Pools__1__Speculative__DraftKind"] = "general",
            ["Fleet__Pools__1__Speculative__NumSpeculativeTokens"] = "4",
            ["Fleet__Pools__1__Engines__0__Id"] = "e",
            ["Fleet__Pools__1__Engines__0__Url"] = "http://host:1",
            ["Fleet__Pools__2__Name"] = "empty",
            ["Fleet__Pools__2__Model"] = "c-1",
            ["Fleet__Pools__2__MaxModelLen"] = "0",
        };
        using var provider = Build(keys);

        var error = Assert.Throws<OptionsValidationException>(() => provider.GetRequiredService<IOptions<FleetCatalogOptions>>().Value);
        var message = string.Join("\n", error.Failures);

        Assert.Contains("Fleet:Models:0:FallbackModel: the fallback chain from 'a-1' is a cycle.", message, StringComparison.Ordinal);
        Assert.Contains("Fleet:Models:2:FallbackModel 'missing' is not a model of the catalog.", message, StringComparison.Ordinal);
        Assert.Contains("Fleet:Pools:0:TaskAffinity 'poetry'", message, StringComparison.Ordinal);
        Assert.Contains("Fleet:Pools:0:Speculative:DraftModel is required", message, StringComparison.Ordinal);
        Assert.Contains("Fleet:Pools:0:Speculative:NumSpeculativeTokens must be in 1..16 (got 17)", message, StringComparison.Ordinal);
        Assert.Contains("Fleet:Pools:0:Engines:0:Url 'ftp://host'", message, StringComparison.Ordinal);
        Assert.Contains("Fleet:Pools:1:Name 'p' is listed twice.", message, StringComparison.Ordinal);
        Assert.Contains("Fleet:Pools:1:Engines:0:Id 'e' is used by two engines.", message, StringComparison.Ordinal);
        Assert.Contains("Fleet:Pools:1:Speculative:DraftModel 'qwen-0.5b' is not of the family", message, StringComparison.Ordinal);
        Assert.Contains("Fleet:Pools:2: pool 'empty' has no engines", message, StringComparison.Ordinal);
        Assert.Contains("Fleet:Pools:2:MaxModelLen must be a positive number", message, StringComparison.Ordinal);
        Assert.True(error.Failures.Count() >= 11);
    }

    [Fact]
    public async Task StartAsync_BadCatalog_StopsTheHostAtStart()
    {
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?> { ["Fleet:Models:0:Name"] = "m" });
        builder.AddFleetCatalog();
        using var host = builder.Build();

        var error = await Assert.ThrowsAsync<OptionsValidationException>(() => host.StartAsync(TestContext.Current.CancellationToken));

        Assert.Contains("Fleet:Pools: the catalog has no pool.", error.Message, StringComparison.Ordinal);
    }

    private static ServiceProvider Build(Dictionary<string, string?> environmentStyleKeys)
    {
        var configuration = new ConfigurationBuilder()
            .AddInMemoryCollection(environmentStyleKeys.Select(k => KeyValuePair.Create(k.Key.Replace("__", ":", StringComparison.Ordinal), k.Value)))
            .Build();
        var services = new ServiceCollection();
        services.AddSingleton<IConfiguration>(configuration);
        services.AddFleetCatalog();
        return services.BuildServiceProvider();
    }
}
