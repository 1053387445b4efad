using System.Globalization;
using System.Net.Http.Json;
using Platform.HealthScorer.Tests.Fixtures;
using HealthV1 = Platform.Health.V1;

namespace Platform.HealthScorer.Tests.EndToEnd;

/// <summary>
/// A misrouting classifier shows as falling speculative acceptance: two EngineSim processes, one with a code-tuned
/// draft (pool "code") and one with a general draft (pool "general"), the real Classifier process, the HealthScorer
/// and two real gateways, one routing by the classifier and one with <c>Gateway:Classifier:ForceKind=general</c>. The
/// same code prompts go through each; the HealthScorer's pool view of where they landed is compared. Pools are not
/// named like the other end-to-end tests' so the process-wide meters of parallel tests cannot mix.
/// </summary>
public sealed class SpecAcceptanceEndToEndTests
{
    private const string Model = "llama";

    // Code asks that both the classifier and EngineSim's own prompt kind read as code.
    private static readonly string[] CodePrompts =
    [
        "Write a function in Python that merges two sorted lists.",
        "Write a SQL query that returns the top 20 customers by revenue.",
        "Implement a thread-safe LRU cache in C#.",
        "Write a bash script that backs up every Postgres database.",
    ];

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task CodePrompts_ForcedToTheGeneralPool_AcceptFewerDraftTokensThanRoutedToTheCodePool()
    {
        string[] Engine(string draft, string kind) =>
        [
            "--speculative-config", $$"""{"method":"draft_model","model":"{{draft}}","num_speculative_tokens":4}""", "--sim-draft-kind", kind,
            "--sim-speedup", "10", "--max-model-len", "4096",
        ];
        var codeStart = EngineSim.StartAsync(Model, Engine("llama-draft-code", "code"));
        var generalStart = EngineSim.StartAsync(Model, Engine("llama-draft-general", "general"));
        var classifierStart = ClassifierProcess.StartAsync();
        await using var code = await codeStart;
        await using var general = await generalStart;
        await using var classifier = await classifierStart;

        var catalog = new Dictionary<string, string?>
        {
            ["Fleet:Models:0:Name"] = Model,
            ["Fleet:Pools:0:Name"] = "code",
            ["Fleet:Pools:0:Model"] = Model,
            ["Fleet:Pools:0:TaskAffinity"] = "code",
            ["Fleet:Pools:0:MaxModelLen"] = "4096",
            ["Fleet:Pools:0:Speculative:Method"] = "draft_model",
            ["Fleet:Pools:0:Speculative:DraftModel"] = "llama-draft-code",
            ["Fleet:Pools:0:Speculative:DraftKind"] = "code",
            ["Fleet:Pools:0:Speculative:NumSpeculativeTokens"] = "4",
            ["Fleet:Pools:1:Name"] = "general",
            ["Fleet:Pools:1:Model"] = Model,
            ["Fleet:Pools:1:TaskAffinity"] = "general",
            ["Fleet:Pools:1:MaxModelLen"] = "4096",
            ["Fleet:Pools:1:Speculative:Method"] = "draft_model",
            ["Fleet:Pools:1:Speculative:DraftModel"] = "llama-draft-general",
            ["Fleet:Pools:1:Speculative:DraftKind"] = "general",
            ["Fleet:Pools:1:Speculative:NumSpeculativeTokens"] = "4",
            ["services:code:http:0"] = code.BaseUri.AbsoluteUri.TrimEnd('/'),
            ["services:general:http:0"] = general.BaseUri.AbsoluteUri.TrimEnd('/'),
        };
        var configuration = HealthScorerHost.Configuration([]);
        foreach (var key in configuration.Keys.Where(k => k.StartsWith("Fleet:", StringComparison.Ordinal) || k.StartsWith("services:", StringComparison.Ordinal)).ToList())
        {
            configuration.Remove(key);
        }

        foreach (var (key, value) in catalog)
        {
            configuration[key] = value;
        }

        // A window longer than the test: each pool's figure covers everything it served.
        configuration["HealthScorer:Window"] = "00:02:00";
        await using var scorer = await HealthScorerHost.StartAsync(configuration);

        Dictionary<string, string> Gateway(string force)
        {
            var env = catalog.ToDictionary(p => p.Key.Replace(":", "__", StringComparison.Ordinal), p => p.Value!);
            env["Logging__LogLevel__Default"] = "Warning";
            env["services__classifier__grpc__0"] = classifier.GrpcUri.AbsoluteUri.TrimEnd('/');
            env["services__healthscorer__grpc__0"] = scorer.GrpcUri.AbsoluteUri.TrimEnd('/');
            // A loaded test machine must not turn a slow classifier answer into "general".
            env["Gateway__Classifier__Timeout"] = "00:00:05";
            env["Gateway__Classifier__ForceKind"] = force;
            return env;
        }

        var routedStart = GatewayProcess.StartAsync(Gateway("none"));
        var forcedStart = GatewayProcess.StartAsync(Gateway("general"));
        await using var routed = await routedStart;
        await using var forced = await forcedStart;

        // Routed by the classifier: every code prompt to the code pool.
        Assert.All(await SendAsync(routed), pool => Assert.Equal("code", pool));
        var onCodeDraft = await PoolAfterAsync(scorer, "code", code);

        // Misrouted on purpose: the same prompts to the general pool.
        Assert.All(await SendAsync(forced), pool => Assert.Equal("general", pool));
        var onGeneralDraft = await PoolAfterAsync(scorer, "general", general);

        // With k = 4, EngineSim's defaults give 0.59 on a matching draft and 0.20 on a mismatched one.
        Assert.InRange(onCodeDraft.SpecAcceptanceRate, 0.45, 0.75);
        Assert.InRange(onGeneralDraft.SpecAcceptanceRate, 0.08, 0.35);
        Assert.True(
            onGeneralDraft.SpecAcceptanceRate < onCodeDraft.SpecAcceptanceRate - 0.2,
            $"misrouted {onGeneralDraft.SpecAcceptanceRate:F3} vs routed {onCodeDraft.SpecAcceptanceRate:F3}");
        Assert.True(onGeneralDraft.SpecMeanAcceptanceLength < onCodeDraft.SpecMeanAcceptanceLength);
    }

    /// <summary>Every prompt twice (two seeds), non-streaming, four at a time; returns the pool that served each.</summary>
    private static async Task<string[]> SendAsync(GatewayProcess gateway)
    {
        using var http = gateway.CreateClient();
        var requests = CodePrompts.SelectMany(p => new[] { 1, 2 }.Select(seed => (p, seed))).Select(async r =>
        {
            using var response = await http.PostAsJsonAsync(
                "v1/chat/completions",
                new { model = Model, messages = new[] { new { role = "user", content = r.p } }, max_tokens = 64, seed = r.seed },
                Ct);
            Assert.True(response.IsSuccessStatusCode, $"{(int)response.StatusCode}: {await response.Content.ReadAsStringAsync(Ct)}");
            return response.Headers.GetValues("x-platform-pool").Single();
        });
        return await Task.WhenAll(requests);
    }

    /// <summary>The pool's view once the HealthScorer's window holds every draft token the pool's engine counted.</summary>
    private static async Task<HealthV1.PoolHealth> PoolAfterAsync(HealthScorerHost scorer, string pool, EngineSim engine)
    {
        using var http = new HttpClient();
        var counted = Counter(await http.GetStringAsync(new Uri(engine.BaseUri, "metrics"), Ct), "vllm:spec_decode_num_draft_tokens_total");
        Assert.True(counted > 0, $"{pool}: the engine drafted nothing");
        HealthV1.PoolHealth? found = null;
        await Poll.UntilAsync(
            async () =>
            {
                var fleet = await scorer.Client.GetFleetAsync(new HealthV1.GetFleetRequest { Pools = { pool } }, cancellationToken: Ct);
                found = fleet.Pools.SingleOrDefault();
                return found is not null && found.SpecDraftTokens == counted;
            },
            TimeSpan.FromSeconds(15),
            $"{pool}: the HealthScorer's window to hold the engine's {counted} draft tokens");
        return found!;
    }

    private static double Counter(string metrics, string name)
    {
        var line = metrics.Split('\n').Single(l => l.StartsWith(name + "{", StringComparison.Ordinal));
        return double.Parse(line[(line.LastIndexOf(' ') + 1)..], CultureInfo.InvariantCulture);
    }
}
