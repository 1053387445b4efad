namespace Platform.Gateway.Auth;

/// <summary>Loads the keys at start, so a bad key entry or keys file stops the process before it serves.</summary>
internal sealed class ApiKeyStartupCheck(ApiKeyStore store) : IHostedService
{
    public Task StartAsync(CancellationToken cancellationToken)
    {
        _ = store.Count;
        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}
