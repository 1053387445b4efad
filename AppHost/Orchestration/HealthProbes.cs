using System.Net.Sockets;
using System.Text;

namespace Platform.AppHost.Orchestration;

/// <summary>Tells whether one replica is ready. Probes are cheap and bounded by the caller's token.</summary>
internal interface IHealthProbe
{
    /// <summary>What is probed, for logs: "GET http://127.0.0.1:18100/health", "PING 127.0.0.1:16379".</summary>
    string Description { get; }

    Task<bool> CheckAsync(CancellationToken cancellationToken);
}

/// <summary>Ready when GET answers 200 (the <c>/health</c> endpoint every service and engine maps).</summary>
internal sealed class HttpHealthProbe(HttpClient client, Uri uri) : IHealthProbe
{
    public string Description => "GET " + uri;

    public async Task<bool> CheckAsync(CancellationToken cancellationToken)
    {
        try
        {
            using var response = await client.GetAsync(uri, HttpCompletionOption.ResponseHeadersRead, cancellationToken).ConfigureAwait(false);
            return response.StatusCode == System.Net.HttpStatusCode.OK;
        }
        catch (HttpRequestException)
        {
            return false;
        }
    }
}

/// <summary>Ready when a RESP <c>PING</c> gets <c>+PONG</c> (redis-server and Garnet alike).</summary>
internal sealed class RedisPingProbe(string host, int port) : IHealthProbe
{
    private static readonly byte[] Ping = "*1\r\n$4\r\nPING\r\n"u8.ToArray();

    public string Description => $"PING {host}:{port}";

    public async Task<bool> CheckAsync(CancellationToken cancellationToken)
    {
        try
        {
            using var client = new TcpClient { NoDelay = true };
            await client.ConnectAsync(host, port, cancellationToken).ConfigureAwait(false);
            var stream = client.GetStream();
            await stream.WriteAsync(Ping, cancellationToken).ConfigureAwait(false);
            var buffer = new byte[64];
            var read = 0;
            while (read < buffer.Length)
            {
                var n = await stream.ReadAsync(buffer.AsMemory(read), cancellationToken).ConfigureAwait(false);
                if (n == 0)
                {
                    break;
                }

                read += n;
                if (buffer.AsSpan(0, read).IndexOf("\r\n"u8) >= 0)
                {
                    break;
                }
            }

            return Encoding.ASCII.GetString(buffer, 0, read).StartsWith("+PONG\r\n", StringComparison.Ordinal);
        }
        catch (Exception ex) when (ex is SocketException or IOException)
        {
            return false;
        }
    }
}

/// <summary>For processes without a health endpoint: ready while running.</summary>
internal sealed class RunningProbe : IHealthProbe
{
    public string Description => "process running";

    public Task<bool> CheckAsync(CancellationToken cancellationToken) => Task.FromResult(true);
}
