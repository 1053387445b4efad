using Grpc.Core;
using Grpc.Net.Client;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Platform.Classifier.V1;
using Platform.Gateway.Pipeline;
using Platform.Gateway.Routing;

namespace Platform.Gateway.Classification;

/// <summary>
/// Calls <c>platform.classifier.v1.Classifier/Classify</c> with a short deadline. No address, a failure, a timeout or
/// an unexpected answer all mean General; after a failure the classifier is skipped for a while. Never throws except
/// for the caller's own cancellation. With <see cref="ClassifierOptions.ForceKind"/> set it answers that kind without a call.
/// </summary>
internal sealed partial class GrpcRequestClassifier : IRequestClassifier, IDisposable
{
    private readonly GrpcChannel? _channel;
    private readonly Classifier.V1.Classifier.ClassifierClient? _client;
    private readonly ClassifierOptions _options;
    private readonly TimeProvider _timeProvider;
    private readonly ILogger<GrpcRequestClassifier> _logger;
    private readonly TaskKind _forced;
    private readonly EngineSideMetrics? _metrics;
    private long _skipUntilTicks;

    public GrpcRequestClassifier(
        IOptions<ClassifierOptions> options, IConfiguration configuration, TimeProvider timeProvider, ILogger<GrpcRequestClassifier> logger, EngineSideMetrics? metrics = null)
    {
        _metrics = metrics;
        _options = options.Value;
        _timeProvider = timeProvider;
        _logger = logger;
        _forced = _options.ForceKind switch
        {
            ForcedKind.Code => TaskKind.Code,
            ForcedKind.General => TaskKind.General,
            _ => TaskKind.Unspecified,
        };
        if (_forced != TaskKind.Unspecified)
        {
            // Loud on purpose: a forced kind bypasses classification for every request of this replica.
            LogKindForced(_logger, _options.ForceKind);
            return;
        }

        var address = string.IsNullOrWhiteSpace(_options.Address) ? configuration["services:classifier:grpc:0"] : _options.Address;
        if (!string.IsNullOrWhiteSpace(address) && Uri.TryCreate(address, UriKind.Absolute, out var uri))
        {
            _channel = GrpcChannel.ForAddress(uri, new GrpcChannelOptions
            {
                InitialReconnectBackoff = TimeSpan.FromMilliseconds(Math.Min(1000, _options.MaxReconnectBackoff.TotalMilliseconds)),
                MaxReconnectBackoff = _options.MaxReconnectBackoff,
            });
            _client = new Classifier.V1.Classifier.ClassifierClient(_channel);
        }
    }

    public async ValueTask<TaskKind> ClassifyAsync(IReadOnlyList<ChatTurn> messages, CancellationToken cancellationToken)
    {
        if (_forced != TaskKind.Unspecified)
        {
            return Decided(_forced, "forced");
        }

        if (_client is null || messages.Count == 0)
        {
            return Decided(TaskKind.General, "not_configured");
        }

        if (_timeProvider.GetUtcNow().UtcTicks < Interlocked.Read(ref _skipUntilTicks))
        {
            return Decided(TaskKind.General, "skipped_after_failure");
        }

        var request = new ClassifyRequest();
        foreach (var m in messages)
        {
            request.Messages.Add(new ChatMessage { Role = m.Role, Content = m.Content });
        }

        try
        {
            var response = await _client.ClassifyAsync(
                request, deadline: DateTime.UtcNow + _options.Timeout, cancellationToken: cancellationToken).ConfigureAwait(false);
            return Decided(response.Kind == TaskKind.Code ? TaskKind.Code : TaskKind.General, "classified");
        }
        catch (RpcException ex) when (!cancellationToken.IsCancellationRequested)
        {
            Interlocked.Exchange(ref _skipUntilTicks, (_timeProvider.GetUtcNow() + _options.SkipAfterFailure).UtcTicks);
            LogClassifierFailed(_logger, ex.StatusCode);
            return Decided(TaskKind.General, ex.StatusCode == StatusCode.DeadlineExceeded ? "deadline_exceeded" : "failed");
        }
    }

    private TaskKind Decided(TaskKind kind, string outcome)
    {
        _metrics?.Classified(kind == TaskKind.Code ? "code" : "general", outcome);
        return kind;
    }

    public void Dispose() => _channel?.Dispose();

    [LoggerMessage(EventId = 3201, Level = LogLevel.Warning, Message = "Classifier call failed ({StatusCode}); requests are routed as general for a while")]
    private static partial void LogClassifierFailed(ILogger logger, StatusCode statusCode);

    [LoggerMessage(EventId = 3202, Level = LogLevel.Warning, Message = "Gateway:Classifier:ForceKind is {Kind}: the classifier is not called, every request without a kind hint is routed as that kind")]
    private static partial void LogKindForced(ILogger logger, ForcedKind kind);
}
