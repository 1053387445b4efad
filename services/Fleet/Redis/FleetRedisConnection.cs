using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Logging;
using StackExchange.Redis;

namespace Platform.Fleet.Redis;

/// <summary>
/// The one Redis connection of the fleet library (state and rate limits), from <c>ConnectionStrings:redis</c>
/// (Aspire's <c>host:port[,password=...]</c>). It never blocks start-up on an unreachable server and fails commands
/// fast while disconnected (no backlog), so callers fall back to local state at once; it reconnects on its own.
/// </summary>
internal sealed partial class FleetRedisConnection : IAsyncDisposable, IDisposable
{
    public const string ConnectionStringName = "redis";

    private readonly string? _connectionString;
    private readonly ILogger _logger;
    private readonly SemaphoreSlim _connectLock = new(1, 1);
    private ConnectionMultiplexer? _multiplexer;

    public FleetRedisConnection(string? connectionString, ILogger<FleetRedisConnection> logger)
    {
        _connectionString = string.IsNullOrWhiteSpace(connectionString) ? null : connectionString;
        _logger = logger;
    }

    public FleetRedisConnection(IConfiguration configuration, ILogger<FleetRedisConnection> logger)
        : this(configuration.GetConnectionString(ConnectionStringName), logger)
    {
    }

    /// <summary>False when no connection string is configured: the fleet runs on local state only.</summary>
    public bool IsConfigured => _connectionString is not null;

    public ConnectionMultiplexer? Multiplexer => _multiplexer;

    public async Task<ConnectionMultiplexer?> ConnectAsync(CancellationToken cancellationToken)
    {
        if (_connectionString is null)
        {
            return null;
        }

        if (_multiplexer is { } existing)
        {
            return existing;
        }

        await _connectLock.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (_multiplexer is null)
            {
                var options = ConfigurationOptions.Parse(_connectionString);
                options.AbortOnConnectFail = false;
                options.BacklogPolicy = BacklogPolicy.FailFast;
                options.ConnectTimeout = 1000;
                options.AsyncTimeout = 1000;
                options.SyncTimeout = 1000;
                options.ConnectRetry = 1;
                options.ReconnectRetryPolicy = new LinearRetry(250);
                options.HeartbeatInterval = TimeSpan.FromMilliseconds(250);
                options.ClientName ??= "platform-fleet";
                _multiplexer = await ConnectionMultiplexer.ConnectAsync(options).ConfigureAwait(false);
                LogConnecting(_logger, string.Join(",", options.EndPoints), _multiplexer.IsConnected);
            }

            return _multiplexer;
        }
        finally
        {
            _connectLock.Release();
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (_multiplexer is { } multiplexer)
        {
            await multiplexer.CloseAsync(allowCommandsToComplete: false).ConfigureAwait(false);
            await multiplexer.DisposeAsync().ConfigureAwait(false);
        }

        _connectLock.Dispose();
    }

    public void Dispose()
    {
        _multiplexer?.Dispose();
        _connectLock.Dispose();
    }

    [LoggerMessage(EventId = 100, Level = LogLevel.Information, Message = "Fleet Redis at {EndPoints}: connected={Connected}")]
    private static partial void LogConnecting(ILogger logger, string endPoints, bool connected);
}
