using System.Runtime.CompilerServices;
using System.Text;
using Microsoft.Extensions.AI;
using Platform.Inference.V1;
using AiChatMessage = Microsoft.Extensions.AI.ChatMessage;
using ProtoChatMessage = Platform.Inference.V1.ChatMessage;

namespace Platform.Client;

/// <summary>
/// The gateway as a <see cref="IChatClient"/> (Microsoft.Extensions.AI) over gRPC. Maps <see cref="ChatOptions"/>
/// (ModelId, MaxOutputTokens, Temperature, TopP, StopSequences, Seed) to <see cref="GenerateRequest"/>, usage to
/// <see cref="UsageDetails"/> and the finish reason to <see cref="ChatFinishReason"/>. Text content only.
/// </summary>
public sealed class PlatformChatClient : IChatClient
{
    private readonly PlatformInferenceClient _client;
    private readonly string? _defaultModel;
    private readonly ChatClientMetadata _metadata;

    public PlatformChatClient(PlatformInferenceClient client, string? defaultModel = null, Uri? endpoint = null)
    {
        ArgumentNullException.ThrowIfNull(client);
        _client = client;
        _defaultModel = defaultModel;
        _metadata = new ChatClientMetadata("platform", endpoint, defaultModel);
    }

    public async Task<ChatResponse> GetResponseAsync(IEnumerable<AiChatMessage> messages, ChatOptions? options = null, CancellationToken cancellationToken = default)
    {
        var response = await _client.CompleteAsync(ToRequest(messages, options), cancellationToken: cancellationToken).ConfigureAwait(false);
        return new ChatResponse(new AiChatMessage(ChatRole.Assistant, response.Text) { RawRepresentation = response })
        {
            ResponseId = response.Id,
            ModelId = response.Model,
            FinishReason = ToFinishReason(response.FinishReason),
            Usage = ToUsage(response.Usage),
            CreatedAt = DateTimeOffset.UtcNow,
            RawRepresentation = response,
        };
    }

    public async IAsyncEnumerable<ChatResponseUpdate> GetStreamingResponseAsync(
        IEnumerable<AiChatMessage> messages, ChatOptions? options = null, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        var request = ToRequest(messages, options);
        var messageId = Guid.NewGuid().ToString("N");
        await foreach (var message in _client.GenerateAsync(request, cancellationToken: cancellationToken).ConfigureAwait(false))
        {
            if (message.EventCase == GenerateResponse.EventOneofCase.Delta)
            {
                yield return new ChatResponseUpdate(ChatRole.Assistant, message.Delta.Text)
                {
                    MessageId = messageId,
                    ModelId = request.Model,
                    RawRepresentation = message,
                };
            }
            else if (message.EventCase == GenerateResponse.EventOneofCase.Finish)
            {
                var finish = message.Finish;
                yield return new ChatResponseUpdate(ChatRole.Assistant, [new UsageContent(ToUsage(finish.Usage) ?? new UsageDetails())])
                {
                    MessageId = messageId,
                    ResponseId = finish.Id,
                    ModelId = finish.Model,
                    FinishReason = ToFinishReason(finish.FinishReason),
                    RawRepresentation = message,
                };
            }
        }
    }

    public object? GetService(Type serviceType, object? serviceKey = null)
    {
        ArgumentNullException.ThrowIfNull(serviceType);
        if (serviceKey is not null)
        {
            return null;
        }

        if (serviceType == typeof(ChatClientMetadata))
        {
            return _metadata;
        }

        if (serviceType == typeof(PlatformInferenceClient))
        {
            return _client;
        }

        return serviceType.IsInstanceOfType(this) ? this : null;
    }

    public void Dispose()
    {
        // The gRPC client and its channel belong to whoever created them (the DI container or the caller).
    }

    internal GenerateRequest ToRequest(IEnumerable<AiChatMessage> messages, ChatOptions? options)
    {
        ArgumentNullException.ThrowIfNull(messages);
        var model = options?.ModelId ?? _defaultModel
            ?? throw new ArgumentException("No model: set ChatOptions.ModelId or give the client a default model.", nameof(options));
        var request = new GenerateRequest { Model = model };
        foreach (var message in messages)
        {
            request.Messages.Add(new ProtoChatMessage { Role = message.Role.Value, Content = TextOf(message) });
        }

        if (options is null)
        {
            return request;
        }

        if (options.MaxOutputTokens is { } max)
        {
            request.MaxTokens = max;
        }

        if (options.Temperature is { } temperature)
        {
            request.Temperature = temperature;
        }

        if (options.TopP is { } topP)
        {
            request.TopP = topP;
        }

        if (options.Seed is { } seed)
        {
            request.Seed = seed;
        }

        if (options.StopSequences is { } stops)
        {
            request.Stop.AddRange(stops);
        }

        return request;
    }

    private static string TextOf(AiChatMessage message)
    {
        if (message.Contents.Count == 1 && message.Contents[0] is TextContent single)
        {
            return single.Text;
        }

        var text = new StringBuilder();
        foreach (var content in message.Contents)
        {
            if (content is TextContent t)
            {
                text.Append(t.Text);
            }
        }

        return text.ToString();
    }

    private static ChatFinishReason? ToFinishReason(FinishReason reason) => reason switch
    {
        FinishReason.Stop => ChatFinishReason.Stop,
        FinishReason.Length => ChatFinishReason.Length,
        _ => null,
    };

    private static UsageDetails? ToUsage(Usage? usage) => usage is null ? null : new UsageDetails
    {
        InputTokenCount = usage.PromptTokens,
        OutputTokenCount = usage.CompletionTokens,
        TotalTokenCount = usage.TotalTokens,
        CachedInputTokenCount = usage.CachedPromptTokens,
    };
}
