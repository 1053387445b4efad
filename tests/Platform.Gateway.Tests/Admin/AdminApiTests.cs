using System.Net;
using System.Net.Http.Headers;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Platform.Fleet.State;
using Platform.Gateway.Admin;
using Platform.Gateway.Auth;
using Platform.Gateway.Tests.Api;
using Platform.Gateway.Tests.Fixtures.Engines;
using Platform.Gateway.Tests.Fixtures.Stack;

namespace Platform.Gateway.Tests.Admin;

public sealed class AdminApiTests
{
    private const string AdminKey = "sk-admin-0123456789";

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Fleet_NoAdminKeyConfigured_NotFound()
    {
        var (host, _, _) = await GatewayHost.StartScriptedAsync();
        await using var _h = host;
        using var http = host.CreateHttpClient(key: null);
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", AdminKey);

        using var response = await http.GetAsync("/admin/fleet", Ct);

        await ErrorBody.AssertAsync(response, 404);
    }

    [Theory]
    [InlineData(null)]
    [InlineData(GatewayHost.Key)]
    [InlineData("sk-admin-wrong")]
    public async Task Fleet_WithoutTheAdminKey_Unauthorized(string? key)
    {
        var (host, _, _) = await GatewayHost.StartScriptedAsync(c => c["Gateway:Admin:Key"] = AdminKey);
        await using var _h = host;
        using var http = host.CreateHttpClient(key);

        using var response = await http.GetAsync("/admin/fleet", Ct);

        await ErrorBody.AssertAsync(response, 401, code: "invalid_admin_key");
    }

    [Fact]
    public async Task Fleet_AdminKeyByHash_ListsEveryEngineWithItsBreaker()
    {
        var (host, _, _) = await GatewayHost.StartScriptedAsync(c => c["Gateway:Admin:KeyHash"] = ApiKeyStore.HashKey(AdminKey));
        await using var _h = host;
        var state = host.Services.GetRequiredService<IFleetState>();
        for (var i = 0; i < 5; i++)
        {
            await state.RecordOutcomeAsync("enginegeneral-0", EngineOutcome.Failure, "HTTP 500", Ct);
        }

        using var http = host.CreateHttpClient(AdminKey);
        using var response = await http.GetAsync("/admin/fleet", Ct);
        var body = JsonDocument.Parse(await response.Content.ReadAsStringAsync(Ct)).RootElement;

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("no-store", response.Headers.CacheControl?.ToString());
        Assert.False(body.GetProperty("redisAvailable").GetBoolean());
        var engines = body.GetProperty("engines").EnumerateArray().ToDictionary(e => e.GetProperty("id").GetString()!);
        Assert.Equal(["enginefallback-0", "enginegeneral-0"], engines.Keys.Order());
        var open = engines["enginegeneral-0"].GetProperty("breaker");
        Assert.Equal("open", open.GetProperty("state").GetString());
        Assert.Equal("HTTP 500", open.GetProperty("reason").GetString());
        Assert.True(open.GetProperty("version").GetInt64() > 0);
        Assert.InRange(open.GetProperty("changedAtMs").GetDouble(), open.GetProperty("openedAtMs").GetDouble(), body.GetProperty("atMs").GetDouble());
        var closed = engines["enginefallback-0"].GetProperty("breaker");
        Assert.Equal("closed", closed.GetProperty("state").GetString());
        Assert.Equal(JsonValueKind.Null, closed.GetProperty("changedAtMs").ValueKind);
        Assert.Equal("enginegeneral", engines["enginegeneral-0"].GetProperty("pool").GetString());
        Assert.Equal(0, engines["enginegeneral-0"].GetProperty("inFlight").GetInt32());
    }

    [Fact]
    public async Task ChangeTimes_AnotherVersionThanTheLastChangeSeen_Unknown()
    {
        var state = new FakeFleetState();
        var times = new FleetChangeTimes(state);
        await times.StartAsync(Ct);
        var before = DateTimeOffset.UtcNow;

        state.SetBreaker("e1", BreakerState.Open);

        // A view read after the swap and before the change handler ran holds a newer version than the time known.
        Assert.InRange(times.BreakerChangedAt("e1", 1)!.Value, before, DateTimeOffset.UtcNow);
        Assert.Null(times.BreakerChangedAt("e1", 2));
        Assert.Null(times.BreakerChangedAt("e2", 0));
        await times.StopAsync(Ct);
    }

    [Fact]
    public void Options_KeyAndHashTogetherOrMalformedHash_EveryErrorNamed()
    {
        var result = new AdminOptionsValidator().Validate(null, new AdminOptions { Key = "sk-a b", KeyHash = "abc" });

        Assert.True(result.Failed);
        Assert.Equal(3, result.Failures!.Count());
        Assert.All(result.Failures!, f => Assert.StartsWith("Gateway:Admin", f, StringComparison.Ordinal));
    }

    [Fact]
    public async Task Start_MalformedAdminKeyHash_StopsWithTheSettingNamed()
    {
        var error = await Assert.ThrowsAsync<OptionsValidationException>(() =>
            GatewayHost.StartScriptedAsync(c => c["Gateway:Admin:KeyHash"] = "not-a-hash"));

        Assert.Contains("Gateway:Admin:KeyHash", error.Message, StringComparison.Ordinal);
    }
}
