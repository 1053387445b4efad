using System.Buffers;
using System.IO.Pipelines;
using System.Text.Json;

namespace Platform.EngineSim.Api;

/// <summary>
/// Writes server-sent events (<c>data: {json}\n\n</c>) straight into the response's PipeWriter: the JSON is
/// produced by one reused Utf8JsonWriter into the pipe's own buffers, and each event is flushed on its own
/// so a token reaches the client when it is generated. Nothing is built as a string per token.
/// </summary>
internal sealed class SseWriter(PipeWriter pipe) : IDisposable
{
    private readonly Utf8JsonWriter _json = new(pipe, JsonResponses.WriterOptions);

    /// <summary>True once a flush found the client gone.</summary>
    public bool ClientGone { get; private set; }

    /// <summary>Starts an event; write exactly one JSON value to the returned writer, then call <see cref="EndEventAsync"/>.</summary>
    public Utf8JsonWriter BeginEvent()
    {
        pipe.Write("data: "u8);
        _json.Reset(pipe);
        return _json;
    }

    public async ValueTask EndEventAsync(CancellationToken cancellationToken)
    {
        _json.Flush();
        pipe.Write("\n\n"u8);
        var result = await pipe.FlushAsync(cancellationToken).ConfigureAwait(false);
        if (result.IsCanceled || result.IsCompleted)
        {
            // The client is gone (the pipe's reader completed): treat it as the cancellation it is.
            ClientGone = true;
            throw new OperationCanceledException(cancellationToken);
        }
    }

    public async ValueTask WriteDoneAsync(CancellationToken cancellationToken)
    {
        pipe.Write("data: [DONE]\n\n"u8);
        await pipe.FlushAsync(cancellationToken).ConfigureAwait(false);
    }

    public void Dispose() => _json.Dispose();
}
