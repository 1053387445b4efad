using System.Buffers;
using System.IO.Pipelines;
using System.Net;
using System.Net.Http.Headers;
using System.Runtime.CompilerServices;
using System.Text;
using System.Text.Json;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;
using Platform.Gateway.Pipeline;

namespace Platform.Gateway.Upstream;

/// <summary>
/// Calls an engine's <c>/v1/chat/completions</c> or <c>/v1/completions</c> over the engine client (ServiceDefaults'
/// streaming client without delegating handlers: HTTP/1.1, no total timeout, no drain) and parses its SSE stream from a <see cref="PipeReader"/>, line by line.
/// The time-to-first-token timeout runs from the request to the first data event (comments do not count), then the
/// idle timeout bounds every wait for the next bytes; neither runs while the consumer holds the stream.
/// </summary>
internal sealed class EngineHttpClient(IHttpClientFactory httpClientFactory, IOptions<UpstreamOptions> options, TimeProvider timeProvider) : IUpstreamClient
{
    /// <summary>The named HTTP client of engine calls (<see cref="EngineSideExtensions.AddEngineHttpClient"/>).</summary>
    public const string HttpClientName = "platform-engine";

    // A streamed chunk is a few hundred bytes; a small segment keeps an open stream's footprint low while it waits
    // (a larger event simply spans segments).
    private const int ReadBufferSize = 2048;
    private static readonly MediaTypeHeaderValue JsonMediaType = new("application/json");
    private readonly UpstreamOptions _options = options.Value;

    public async IAsyncEnumerable<UpstreamEvent> StreamAsync(UpstreamRequest request, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        using var timeout = new CancellationTokenSource(Timeout.InfiniteTimeSpan, timeProvider);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, timeout.Token);
        var started = timeProvider.GetTimestamp();
        timeout.CancelAfter(_options.FirstTokenTimeout);

        var (response, failure) = await SendAsync(request, linked.Token, cancellationToken).ConfigureAwait(false);
        if (failure is not null)
        {
            yield return failure;
            yield break;
        }

        using (response)
        {
            if (!response!.IsSuccessStatusCode)
            {
                yield return await ReadErrorAsync(response, linked.Token, cancellationToken).ConfigureAwait(false);
                yield break;
            }

            var expectedChoices = request.Body["n"] is System.Text.Json.Nodes.JsonValue v && v.TryGetValue<int>(out var n) ? n : 1;
            var state = new StreamState(expectedChoices);
            var pending = new List<UpstreamEvent>(8);
            var stream = await response.Content.ReadAsStreamAsync(linked.Token).ConfigureAwait(false);
            var reader = PipeReader.Create(stream, new StreamPipeReaderOptions(bufferSize: ReadBufferSize, minimumReadSize: ReadBufferSize / 4, leaveOpen: false));

            // The caller going away (or a timer) cancels the pending read as a value, not an exception: the pipe's read of
            // the engine's connection is cancelled at once (HTTP/1.1 closes the connection, so the engine frees the
            // sequence), and the read returns IsCanceled. A storm of client disconnects then costs no exception unwinding
            // through this iterator and the pipe, a thousand at once.
            var cancelRead = linked.Token.UnsafeRegister(static r => ((PipeReader)r!).CancelPendingRead(), reader);
            try
            {
                while (true)
                {
                    // The timers run only while waiting on the engine: a slow consumer (a slow client) between two
                    // reads must not be blamed on the engine. The first-token deadline counts from the request.
                    timeout.CancelAfter(state.FirstEventSeen
                        ? _options.IdleTimeout
                        : Max(_options.FirstTokenTimeout - timeProvider.GetElapsedTime(started), TimeSpan.FromTicks(1)));
                    var end = await ReadBatchAsync(reader, state, pending, cancellationToken).ConfigureAwait(false);
                    timeout.CancelAfter(Timeout.InfiniteTimeSpan);
                    foreach (var e in pending)
                    {
                        yield return e;
                    }

                    pending.Clear();
                    if (end is not null)
                    {
                        yield return end;
                        yield break;
                    }
                }
            }
            finally
            {
                // Unregistered first (waiting for a callback in progress), so nothing cancels a completed reader.
                cancelRead.Dispose();
                await reader.CompleteAsync().ConfigureAwait(false);
            }
        }
    }

    private static TimeSpan Max(TimeSpan a, TimeSpan b) => a > b ? a : b;

    private async ValueTask<(HttpResponseMessage? Response, UpstreamEnd? Failure)> SendAsync(
        UpstreamRequest request, CancellationToken token, CancellationToken callerToken)
    {
        var path = request.Api == GenerationApi.Completions ? "v1/completions" : "v1/chat/completions";
        var message = new HttpRequestMessage(HttpMethod.Post, new Uri(request.Engine.BaseUri, path))
        {
            Version = HttpVersion.Version11,
            VersionPolicy = HttpVersionPolicy.RequestVersionExact,
            Content = new ByteArrayContent(Serialize(request.Body)) { Headers = { ContentType = JsonMediaType } },
        };
        try
        {
            var client = httpClientFactory.CreateClient(HttpClientName);
            var response = await client.SendAsync(message, HttpCompletionOption.ResponseHeadersRead, token).ConfigureAwait(false);
            return (response, null);
        }
        catch (OperationCanceledException)
        {
            return (null, Cancelled(callerToken, firstEventSeen: false));
        }
        catch (HttpRequestException ex)
        {
            return (null, new UpstreamEnd(UpstreamError.ConnectFailed, Detail: ex.HttpRequestError.ToString()));
        }
        finally
        {
            message.Dispose();
        }
    }

    private async ValueTask<UpstreamEnd> ReadErrorAsync(HttpResponseMessage response, CancellationToken token, CancellationToken callerToken)
    {
        var status = (int)response.StatusCode;
        string? body = null;
        try
        {
            var bytes = await response.Content.ReadAsByteArrayAsync(token).ConfigureAwait(false);
            body = Encoding.UTF8.GetString(bytes, 0, Math.Min(bytes.Length, _options.MaxErrorBodyBytes));
        }
        catch (OperationCanceledException) when (callerToken.IsCancellationRequested)
        {
            return new UpstreamEnd(UpstreamError.Canceled);
        }
        catch (Exception ex) when (ex is HttpRequestException or IOException or OperationCanceledException)
        {
            body = null;
        }

        var retryAfter = RetryAfter(response.Headers.RetryAfter);
        var engineSide = status >= 500 || status is 408 or 429;
        return engineSide
            ? new UpstreamEnd(UpstreamError.ServerError, status, body, retryAfter, $"HTTP {status}")
            : new UpstreamEnd(UpstreamError.RequestRejected, status, body, retryAfter, $"HTTP {status}");
    }

    private TimeSpan? RetryAfter(RetryConditionHeaderValue? header)
    {
        if (header?.Delta is { } delta)
        {
            return delta;
        }

        if (header?.Date is { } date)
        {
            var wait = date - timeProvider.GetUtcNow();
            return wait > TimeSpan.Zero ? wait : TimeSpan.Zero;
        }

        return null;
    }

    /// <summary>Reads what is available, parses every complete line into <paramref name="pending"/>; non-null at the end (or when the read was cancelled).</summary>
    private static async ValueTask<UpstreamEnd?> ReadBatchAsync(
        PipeReader reader, StreamState state, List<UpstreamEvent> pending, CancellationToken callerToken)
    {
        ReadResult result;
        try
        {
            // Cancelled through CancelPendingRead (see StreamAsync), never through a token.
            result = await reader.ReadAsync(CancellationToken.None).ConfigureAwait(false);
            if (result.IsCanceled)
            {
                return Cancelled(callerToken, state.FirstEventSeen);
            }
        }
        catch (OperationCanceledException)
        {
            return Cancelled(callerToken, state.FirstEventSeen);
        }
        catch (Exception ex) when (ex is IOException or HttpRequestException)
        {
            return new UpstreamEnd(UpstreamError.StreamBroken, Detail: "connection lost mid-stream");
        }

        var buffer = result.Buffer;
        UpstreamEnd? end = null;
        while (end is null && TryReadLine(ref buffer, out var line))
        {
            end = state.OnLine(line, pending);
        }

        reader.AdvanceTo(buffer.Start, buffer.End);
        if (end is null && result.IsCompleted)
        {
            end = new UpstreamEnd(UpstreamError.StreamBroken, Detail: "stream ended without [DONE]");
        }

        return end;
    }

    private static UpstreamEnd Cancelled(CancellationToken callerToken, bool firstEventSeen) =>
        callerToken.IsCancellationRequested ? new UpstreamEnd(UpstreamError.Canceled)
        : firstEventSeen ? new UpstreamEnd(UpstreamError.IdleTimeout, Detail: "idle timeout")
        : new UpstreamEnd(UpstreamError.FirstTokenTimeout, Detail: "time-to-first-token timeout");

    private static bool TryReadLine(ref ReadOnlySequence<byte> buffer, out ReadOnlySequence<byte> line)
    {
        var position = buffer.PositionOf((byte)'\n');
        if (position is null)
        {
            line = default;
            return false;
        }

        line = buffer.Slice(0, position.Value);
        buffer = buffer.Slice(buffer.GetPosition(1, position.Value));
        return true;
    }

    private static byte[] Serialize(System.Text.Json.Nodes.JsonObject body)
    {
        var buffer = new ArrayBufferWriter<byte>(1024);
        using (var writer = new Utf8JsonWriter(buffer))
        {
            body.WriteTo(writer);
        }

        return buffer.WrittenSpan.ToArray();
    }

    /// <summary>Per-call parse state: which choices finished, whether anything arrived yet.</summary>
    private sealed class StreamState(int expectedChoices)
    {
        private readonly HashSet<int> _finished = [];
        private int _maxChoice = -1;

        public bool FirstEventSeen { get; private set; }

        public UpstreamEnd? OnLine(ReadOnlySequence<byte> line, List<UpstreamEvent> pending)
        {
            if (line.IsSingleSegment)
            {
                return OnLine(line.FirstSpan, pending);
            }

            var rented = ArrayPool<byte>.Shared.Rent((int)line.Length);
            try
            {
                line.CopyTo(rented);
                return OnLine(rented.AsSpan(0, (int)line.Length), pending);
            }
            finally
            {
                ArrayPool<byte>.Shared.Return(rented);
            }
        }

        private UpstreamEnd? OnLine(ReadOnlySpan<byte> line, List<UpstreamEvent> pending)
        {
            if (!line.IsEmpty && line[^1] == (byte)'\r')
            {
                line = line[..^1];
            }

            if (!line.StartsWith("data:"u8))
            {
                // Blank separators, comments (": ping") and other fields carry nothing for us.
                return null;
            }

            FirstEventSeen = true;
            var first = pending.Count;
            switch (SseChunkParser.Parse(line[5..], pending))
            {
                case SseChunkKind.Done:
                    return _finished.Count >= Math.Max(expectedChoices, _maxChoice + 1)
                        ? UpstreamEnd.Completed
                        : new UpstreamEnd(UpstreamError.StreamBroken, Detail: "[DONE] before every choice finished");
                case SseChunkKind.Error:
                    return new UpstreamEnd(UpstreamError.StreamBroken, Detail: "engine error event mid-stream");
                case SseChunkKind.Invalid:
                    return new UpstreamEnd(UpstreamError.StreamBroken, Detail: "malformed stream event");
            }

            for (var i = first; i < pending.Count; i++)
            {
                if (pending[i] is UpstreamDelta delta)
                {
                    _maxChoice = Math.Max(_maxChoice, delta.ChoiceIndex);
                    if (delta.FinishReason is not null)
                    {
                        _finished.Add(delta.ChoiceIndex);
                    }
                }
            }

            return null;
        }
    }
}
