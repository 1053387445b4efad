using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Platform.AppHost.Orchestration;
using Platform.AppHost.Tests.Support;
using StackExchange.Redis;

namespace Platform.AppHost.Tests.Integration;

/// <summary>`dotnet run --project AppHost` as a person runs it (dynamic ports): the whole platform, then its control API.</summary>
[Collection(ProcessCollection.Name)]
public sealed class AppHostProcessTests(PlatformFixture fixture) : IClassFixture<PlatformFixture>
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(120);

    private static readonly Dictionary<string, (string Model, int Replicas)> Pools = new()
    {
        ["enginegeneral"] = ("llama-3.1-8b-instruct", 2),
        ["enginecode"] = ("llama-3.1-8b-instruct", 1),
        ["enginefallback"] = ("phi-3-mini-4k-instruct", 1),
    };

    private AppHostProcess AppHost => fixture.AppHost;

    [Fact]
    public void Start_DynamicPorts_PrintsOneReadyLineListingEveryResource()
    {
        Assert.Single(AppHost.Lines, l => l.StartsWith("Platform ready", StringComparison.Ordinal));
        Assert.Equal(["control", "redis", "enginefallback", "enginegeneral", "enginecode", "classifier", "healthscorer", "gateway", "apikey", "watchdog"], AppHost.Urls.Keys);
        Assert.Equal(2, AppHost.Urls["gateway"].Count);
        Assert.Equal(2, AppHost.Urls["classifier"].Count);
        Assert.Equal(2, AppHost.Urls["healthscorer"].Count);
        Assert.Equal(2, AppHost.Urls["watchdog"].Count);
        Assert.StartsWith("sk-dev-", AppHost.Urls["apikey"][0], StringComparison.Ordinal);
        foreach (var (pool, (_, replicas)) in Pools)
        {
            Assert.Equal(replicas, AppHost.Urls[pool].Count);
        }

        Assert.StartsWith("tcp://127.0.0.1:", AppHost.Urls["redis"][0], StringComparison.Ordinal);
        Assert.Contains("Redis: using redis-server", AppHost.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Gateway_AfterReady_ServesTheOpenAiApiWithTheDevelopmentKey()
    {
        var ct = TestContext.Current.CancellationToken;
        var gateway = new Uri(AppHost.Urls["gateway"][0]);
        using var http = new HttpClient { BaseAddress = gateway };

        using (var anonymous = await http.GetAsync("/v1/models", ct))
        {
            Assert.Equal(HttpStatusCode.Unauthorized, anonymous.StatusCode);
        }

        http.DefaultRequestHeaders.Authorization = new("Bearer", AppHost.Urls["apikey"][0]);
        using var models = JsonDocument.Parse(await http.GetStringAsync("/v1/models", ct));
        Assert.Equal(
            ["llama-3.1-8b-instruct", "phi-3-mini-4k-instruct"],
            models.RootElement.GetProperty("data").EnumerateArray().Select(m => m.GetProperty("id").GetString()).Order());

        using var chat = await http.PostAsync(
            "/v1/chat/completions",
            new StringContent("""{"model":"llama-3.1-8b-instruct","messages":[{"role":"user","content":"hello"}],"max_tokens":4}""", Encoding.UTF8, "application/json"),
            ct);
        var body = await chat.Content.ReadAsStringAsync(ct);
        Assert.True(chat.StatusCode == HttpStatusCode.OK, body);
        using var completion = JsonDocument.Parse(body);
        Assert.Equal(4, completion.RootElement.GetProperty("usage").GetProperty("completion_tokens").GetInt32());
    }

    [Fact]
    public async Task Classifier_AfterReady_ClassifiesOverGrpcAndTheGatewayIsGivenItsAddress()
    {
        var ct = TestContext.Current.CancellationToken;
        var grpcUrl = AppHost.Urls["classifier"][1];
        using var control = new HttpClient { BaseAddress = AppHost.ControlUrl };
        var gateway = await ReplicaAsync(control, "gateway-0");
        var environ = File.ReadAllText($"/proc/{gateway.GetProperty("pid").GetInt32()}/environ").Split('\0', StringSplitOptions.RemoveEmptyEntries)
            .Select(kv => kv.Split('=', 2)).Where(kv => kv.Length == 2).ToDictionary(kv => kv[0], kv => kv[1]);
        Assert.Equal(grpcUrl, environ["services__classifier__grpc__0"]);

        // platform.classifier.v1.Classifier/Classify over h2c, protobuf written by hand (no generated code here):
        // ClassifyRequest { messages: [ { role: "user", content } ] }.
        var content = "Write a Python function that reverses a list."u8.ToArray();
        byte[] message = [0x0A, 4, .. "user"u8, 0x12, (byte)content.Length, .. content];
        byte[] payload = [0x0A, (byte)message.Length, .. message];
        byte[] frame = [0, 0, 0, 0, (byte)payload.Length, .. payload];
        using var http = new HttpClient();
        using var request = new HttpRequestMessage(HttpMethod.Post, grpcUrl + "/platform.classifier.v1.Classifier/Classify")
        {
            Content = new ByteArrayContent(frame),
            Version = HttpVersion.Version20,
            VersionPolicy = HttpVersionPolicy.RequestVersionExact,
        };
        request.Content.Headers.ContentType = new("application/grpc");
        request.Headers.TryAddWithoutValidation("TE", "trailers");

        using var response = await http.SendAsync(request, ct);
        var body = await response.Content.ReadAsByteArrayAsync(ct);

        Assert.Equal("0", response.TrailingHeaders.GetValues("grpc-status").Single());
        Assert.Equal(0x08, body[5]); // field 1 (kind), varint
        Assert.Equal(1, body[6]);    // TASK_KIND_CODE
    }

    [Fact]
    public async Task HealthScorer_AfterReady_ScoresEveryEngineAndTheGatewayFollowsIt()
    {
        var ct = TestContext.Current.CancellationToken;
        using var http = new HttpClient { BaseAddress = new Uri(AppHost.Urls["healthscorer"][0]) };
        using (var health = await http.GetAsync("/health", ct))
        {
            Assert.Equal(HttpStatusCode.OK, health.StatusCode);
        }

        string[] engines = ["enginefallback-0", "enginegeneral-0", "enginegeneral-1", "enginecode-0"];
        var metrics = string.Empty;
        await Poll.UntilAsync(
            async () =>
            {
                metrics = await http.GetStringAsync("/metrics", ct);
                return engines.All(e => System.Text.RegularExpressions.Regex.IsMatch(metrics, $"platform_healthscorer_engine_reachable\\{{[^}}]*engine=\"{e}\"[^}}]*\\}} 1"));
            },
            Timeout,
            "a score for every engine");

        // The gateway gets the HealthScorer's gRPC endpoint the way Aspire passes it (service discovery).
        using var control = new HttpClient { BaseAddress = AppHost.ControlUrl };
        var pid = (await ReplicaAsync(control, "gateway-0")).GetProperty("pid").GetInt32();
        var environ = File.ReadAllText($"/proc/{pid}/environ").Split('\0', StringSplitOptions.RemoveEmptyEntries);
        Assert.Contains($"services__healthscorer__grpc__0={AppHost.Urls["healthscorer"][1]}", environ);
        Assert.Contains($"services__healthscorer__http__0={AppHost.Urls["healthscorer"][0]}", environ);
    }

    [Fact]
    public async Task Watchdog_AfterReady_LeadsAndIsGivenTheControlApiTheHealthScorerAndRedis()
    {
        var ct = TestContext.Current.CancellationToken;
        using var control = new HttpClient { BaseAddress = AppHost.ControlUrl };
        var pid = (await ReplicaAsync(control, "watchdog-0")).GetProperty("pid").GetInt32();
        var environ = File.ReadAllText($"/proc/{pid}/environ").Split('\0', StringSplitOptions.RemoveEmptyEntries);
        Assert.Contains($"AppHost__ControlUrl={AppHost.ControlUrl.ToString().TrimEnd('/')}", environ);
        Assert.Contains($"services__healthscorer__grpc__0={AppHost.Urls["healthscorer"][1]}", environ);
        Assert.Contains(environ, e => e.StartsWith("ConnectionStrings__redis=127.0.0.1:", StringComparison.Ordinal));
        Assert.Contains($"Watchdog__Admin__Key={AppHost.Urls["apikey"][0]}", environ);

        // platform.watchdog.v1.Watchdog/GetStatus over h2c, protobuf by hand: an empty request; the answer starts with
        // field 1 (leader) = true once the lease is taken.
        using var http = new HttpClient();
        await Poll.UntilAsync(
            async () =>
            {
                using var request = new HttpRequestMessage(HttpMethod.Post, AppHost.Urls["watchdog"][1] + "/platform.watchdog.v1.Watchdog/GetStatus")
                {
                    Content = new ByteArrayContent([0, 0, 0, 0, 0]),
                    Version = HttpVersion.Version20,
                    VersionPolicy = HttpVersionPolicy.RequestVersionExact,
                };
                request.Content.Headers.ContentType = new("application/grpc");
                request.Headers.TryAddWithoutValidation("TE", "trailers");
                using var response = await http.SendAsync(request, ct);
                var body = await response.Content.ReadAsByteArrayAsync(ct);
                return response.TrailingHeaders.GetValues("grpc-status").Single() == "0"
                    && body.Length > 7 && body[5] == 0x08 && body[6] == 1
                    && Encoding.UTF8.GetString(body).Contains("enginegeneral-1", StringComparison.Ordinal);
            },
            Timeout,
            "the watchdog leading and listing every engine");
    }

    [Fact]
    public async Task Redis_AfterReady_AnswersPing()
    {
        var redisUrl = new Uri(AppHost.Urls["redis"][0]);
        await using var redis = await ConnectionMultiplexer.ConnectAsync($"{redisUrl.Host}:{redisUrl.Port}");

        var latency = await redis.GetDatabase().PingAsync();

        Assert.True(latency < TimeSpan.FromSeconds(5));
    }

    [Fact]
    public async Task Engines_AfterReady_AnswerHealthAndListTheirServedModel()
    {
        using var http = new HttpClient();
        var ct = TestContext.Current.CancellationToken;
        foreach (var (pool, (model, _)) in Pools)
        {
            foreach (var url in AppHost.Urls[pool])
            {
                using var health = await http.GetAsync(url + "/health", ct);
                Assert.Equal(HttpStatusCode.OK, health.StatusCode);
                var models = await http.GetFromJsonAsync<JsonElement>(url + "/v1/models", ct);
                Assert.Equal(model, models.GetProperty("data")[0].GetProperty("id").GetString());
            }
        }
    }

    [Fact]
    public async Task Engines_Processes_GetVllmArgumentsAndTheAspireEnvironment()
    {
        using var http = new HttpClient { BaseAddress = AppHost.ControlUrl };
        var replica = await ReplicaAsync(http, "enginegeneral-1");
        var pid = replica.GetProperty("pid").GetInt32();
        var port = new Uri(replica.GetProperty("endpoints").GetProperty("http").GetString()!).Port;

        var argv = File.ReadAllText($"/proc/{pid}/cmdline").Split('\0', StringSplitOptions.RemoveEmptyEntries);
        var environ = File.ReadAllText($"/proc/{pid}/environ").Split('\0', StringSplitOptions.RemoveEmptyEntries)
            .Select(kv => kv.Split('=', 2)).Where(kv => kv.Length == 2).ToDictionary(kv => kv[0], kv => kv[1]);

        Assert.EndsWith("Platform.EngineSim.dll", argv[1], StringComparison.Ordinal);
        Assert.Equal(port.ToString(System.Globalization.CultureInfo.InvariantCulture), argv[Array.IndexOf(argv, "--port") + 1]);
        Assert.Equal("llama-3.1-8b-instruct", argv[Array.IndexOf(argv, "--served-model-name") + 1]);
        Assert.Equal("""{"method":"draft_model","model":"llama-3.2-1b-instruct","num_speculative_tokens":4}""", argv[Array.IndexOf(argv, "--speculative-config") + 1]);
        Assert.Equal("enginegeneral-1", argv[Array.IndexOf(argv, "--sim-engine-label") + 1]);
        Assert.Equal("enginegeneral", environ["OTEL_SERVICE_NAME"]);
        Assert.Equal("service.instance.id=enginegeneral-1", environ["OTEL_RESOURCE_ATTRIBUTES"]);
        Assert.Equal("Development", environ["ASPNETCORE_ENVIRONMENT"]);
    }

    [Fact]
    public async Task ControlApi_RestartEngine_ComesBackHealthyOnTheSameEndpoint()
    {
        var ct = TestContext.Current.CancellationToken;
        using var http = new HttpClient { BaseAddress = AppHost.ControlUrl };
        var before = await ReplicaAsync(http, "enginegeneral-0");
        var url = before.GetProperty("endpoints").GetProperty("http").GetString()!;

        using var response = await http.PostAsync("/resources/enginegeneral-0/restart", null, ct);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var after = (await response.Content.ReadFromJsonAsync<JsonElement>(ct))[0].GetProperty("replicas")[0];
        Assert.NotEqual(before.GetProperty("pid").GetInt32(), after.GetProperty("pid").GetInt32());
        Assert.Equal(url, after.GetProperty("endpoints").GetProperty("http").GetString());
        Assert.Equal(before.GetProperty("restarts").GetInt32() + 1, after.GetProperty("restarts").GetInt32());
        await WaitHealthyAsync(http, "enginegeneral-0", url);
    }

    [Fact]
    public async Task Engine_KilledWithSigKill_IsRestartedAutomaticallyOnTheSameEndpoint()
    {
        using var http = new HttpClient { BaseAddress = AppHost.ControlUrl };
        var before = await ReplicaAsync(http, "enginecode-0");
        var pid = before.GetProperty("pid").GetInt32();
        var url = before.GetProperty("endpoints").GetProperty("http").GetString()!;

        Assert.True(ProcessTree.Signal(pid, ProcessTree.SigKill));

        await Poll.UntilAsync(
            async () => (await ReplicaAsync(http, "enginecode-0")) is var r && r.GetProperty("pid").ValueKind == JsonValueKind.Number && r.GetProperty("pid").GetInt32() != pid,
            Timeout,
            "a new enginecode-0 process");
        await WaitHealthyAsync(http, "enginecode-0", url);
        var after = await ReplicaAsync(http, "enginecode-0");
        Assert.Equal(137, after.GetProperty("lastExitCode").GetInt32());
        Assert.True(after.GetProperty("restarts").GetInt32() > before.GetProperty("restarts").GetInt32());
    }

    private static async Task WaitHealthyAsync(HttpClient control, string id, string url)
    {
        using var engine = new HttpClient();
        await Poll.UntilAsync(
            async () =>
            {
                var replica = await ReplicaAsync(control, id);
                if (replica.GetProperty("state").GetString() != "running" || !replica.GetProperty("healthy").ValueKind.Equals(JsonValueKind.True))
                {
                    return false;
                }

                using var health = await engine.GetAsync(url + "/health");
                return health.StatusCode == HttpStatusCode.OK;
            },
            Timeout,
            $"{id} healthy on {url}");
    }

    private static async Task<JsonElement> ReplicaAsync(HttpClient control, string id)
    {
        var json = await control.GetStringAsync($"/resources/{id}");
        using var document = JsonDocument.Parse(Encoding.UTF8.GetBytes(json));
        return document.RootElement[0].GetProperty("replicas")[0].Clone();
    }
}
