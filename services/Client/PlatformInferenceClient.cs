using System.Runtime.CompilerServices;
using Grpc.Core;
using Grpc.Net.Client;
using Platform.Inference.V1;

namespace Platform.Client;

/// <summary>
/// A typed client of the gateway's <c>platform.inference.v1.Inference</c> service for internal services: every call
/// carries <c>authorization: Bearer &lt;api key&gt;</c>. Errors surface as <see cref="RpcException"/> with the status
/// the proto documents (UNAVAILABLE and RESOURCE_EXHAUSTED carry a <c>retry-after-ms</c> trailer). Thread-safe.
/// </summary>
public sealed class PlatformInferenceClient
{
    private readonly Inference.V1.Inference.InferenceClient _client;
    private readonly Metadata _headers;

    public PlatformInferenceClient(Inference.V1.Inference.InferenceClient client, string apiKey)
    {
        ArgumentNullException.ThrowIfNull(client);
        ArgumentException.ThrowIfNullOrWhiteSpace(apiKey);
        _client = client;
        _headers = new Metadata { { "authorization", "Bearer " + apiKey } };
    }

    /// <summary>A client over a channel the caller owns (e.g. <c>GrpcChannel.ForAddress("http://127.0.0.1:8081")</c>).</summary>
    public PlatformInferenceClient(GrpcChannel channel, string apiKey)
        : this(new Inference.V1.Inference.InferenceClient(channel), apiKey)
    {
    }

    /// <summary>
    /// Streams a generation: deltas, then one finish message. A stream that ends without finish throws the
    /// <see cref="RpcException"/> the gateway ended it with. Cancelling the token cancels the engine request.
    /// </summary>
    public async IAsyncEnumerable<GenerateResponse> GenerateAsync(
        GenerateRequest request, DateTime? deadline = null, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        using var call = _client.Generate(request, _headers, deadline, cancellationToken);
        while (await call.ResponseStream.MoveNext(cancellationToken).ConfigureAwait(false))
        {
            yield return call.ResponseStream.Current;
        }
    }

    /// <summary>The whole generation, answered when it has finished.</summary>
    public async Task<CompleteResponse> CompleteAsync(GenerateRequest request, DateTime? deadline = null, CancellationToken cancellationToken = default)
    {
        using var call = _client.CompleteAsync(request, _headers, deadline, cancellationToken);
        return await call.ResponseAsync.ConfigureAwait(false);
    }

    /// <summary>The models the key may use.</summary>
    public async Task<IReadOnlyList<Model>> ListModelsAsync(CancellationToken cancellationToken = default)
    {
        using var call = _client.ListModelsAsync(new ListModelsRequest(), _headers, cancellationToken: cancellationToken);
        var response = await call.ResponseAsync.ConfigureAwait(false);
        return response.Models;
    }
}
