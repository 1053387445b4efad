using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;
using Platform.Fleet.Catalog;
using Platform.Gateway.Tests.Fixtures.Engines;

namespace Platform.Gateway.Tests.Routing;

/// <summary>A bad engine-side configuration stops the host at start with messages naming every wrong setting.</summary>
public sealed class EngineSideOptionsTests
{
    private static readonly FakeCatalog Catalog = new([new ModelInfo("m", null, 4096, [FakeCatalog.Pool("p", "m", TaskAffinity.None, 1)])]);

    [Fact]
    public async Task Start_BadSettings_FailsNamingEverySetting()
    {
        using var host = EngineSideHost.Build(Catalog, new FakeFleetState(), settings: new Dictionary<string, string?>
        {
            ["Gateway:Routing:Policy"] = "fastest",
            ["Gateway:Health:PressureOpenThreshold"] = "0.7",
            ["Gateway:Health:PressureCloseThreshold"] = "0.8",
            ["Gateway:Retries:MaxAttempts"] = "0",
            ["Gateway:Retries:BaseDelay"] = "00:00:01",
            ["Gateway:Retries:MaxDelay"] = "00:00:00.100",
        });

        var error = await Assert.ThrowsAnyAsync<Exception>(() => host.StartAsync(TestContext.Current.CancellationToken));

        var failures = error is AggregateException a ? a.InnerExceptions : [error];
        Assert.All(failures, f => Assert.IsType<OptionsValidationException>(f));
        var message = string.Join("\n", failures.Select(e => e.Message));
        Assert.Contains("Gateway:Routing:Policy 'fastest'", message, StringComparison.Ordinal);
        Assert.Contains("PressureCloseThreshold", message, StringComparison.Ordinal);
        Assert.Contains("MaxAttempts", message, StringComparison.Ordinal);
        Assert.Contains("BaseDelay", message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Start_BadLatencySettings_FailsNamingEverySetting()
    {
        using var host = EngineSideHost.Build(Catalog, new FakeFleetState(), settings: new Dictionary<string, string?>
        {
            ["Gateway:Routing:LatencyHalfLife"] = "00:00:00",
            ["Gateway:Routing:LatencyMinSamples"] = "0",
            ["Gateway:Routing:OutlierLatencyFactor"] = "1.0",
            ["Gateway:Routing:OutlierProbeInterval"] = "01:00:00",
        });

        var error = await Assert.ThrowsAnyAsync<OptionsValidationException>(() => host.StartAsync(TestContext.Current.CancellationToken));

        Assert.Contains("LatencyHalfLife", error.Message, StringComparison.Ordinal);
        Assert.Contains("LatencyMinSamples", error.Message, StringComparison.Ordinal);
        Assert.Contains("OutlierLatencyFactor", error.Message, StringComparison.Ordinal);
        Assert.Contains("OutlierProbeInterval", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("sometimes")]
    [InlineData("7")]
    public async Task Start_ForceKindNotAKind_FailsNamingTheSetting(string value)
    {
        using var host = EngineSideHost.Build(Catalog, new FakeFleetState(), settings: new Dictionary<string, string?>
        {
            ["Gateway:Classifier:ForceKind"] = value,
        });

        // A word the binder cannot read fails binding; a number outside the enum fails validation: both at start.
        var error = await Assert.ThrowsAnyAsync<Exception>(() => host.StartAsync(TestContext.Current.CancellationToken));

        Assert.True(error is InvalidOperationException or OptionsValidationException or AggregateException, error.GetType().Name);
        Assert.Contains("ForceKind", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("code")]
    [InlineData("General")]
    [InlineData("none")]
    public async Task Start_ForceKindAKind_Starts(string value)
    {
        using var host = EngineSideHost.Build(Catalog, new FakeFleetState(), settings: new Dictionary<string, string?>
        {
            ["Gateway:Classifier:ForceKind"] = value,
        });

        await host.StartAsync(TestContext.Current.CancellationToken);
        await host.StopAsync(TestContext.Current.CancellationToken);
    }

    [Fact]
    public async Task Start_Defaults_StartAndStop()
    {
        using var host = EngineSideHost.Build(Catalog, new FakeFleetState());

        await host.StartAsync(TestContext.Current.CancellationToken);
        await host.StopAsync(TestContext.Current.CancellationToken);
    }
}
