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
/// for the caller's own cancellation.
/// </summary>
internal sealed partial class GrpcRequestClassifier : IRequestClassifier, IDisposable
{
    private readonly GrpcChannel? _channel;
    private readonly Classifier.V1.Classifier.ClassifierClient? _client;
    private readonly ClassifierOptions _options;
    private readonly TimeProvider _timeProvider;
    private readonly ILogger<GrpcRequestClassifier> _logger;
    private long _skipUntilTicks;

    public GrpcRequestClassifier(IOptions<ClassifierOptions> options, IConfiguration configuration, TimeProvider timeProvider, ILogger<GrpcRequestClassifier> logger)
    {
        _options = options.Value;
        _timeProvider = timeProvider;
        _logger = logger;
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
        if (_client is null || messages.Count == 0 || _timeProvider.GetUtcNow().UtcTicks < Interlocked.Read(ref _skipUntilTicks))
        {
            return TaskKind.General;
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
            return response.Kind == TaskKind.Code ? TaskKind.Code : TaskKind.General;
        }
        catch (RpcException ex) when (!cancellationToken.IsCancellationRequested)
        {
            Interlocked.Exchange(ref _skipUntilTicks, (_timeProvider.GetUtcNow() + _options.SkipAfterFailure).UtcTicks);
            LogClassifierFailed(_logger, ex.StatusCode);
            return TaskKind.General;
        }
    }

    public void Dispose() => _channel?.Dispose();

    [LoggerMessage(EventId = 3201, Level = LogLevel.Warning, Message = "Classifier call failed ({StatusCode}); requests are routed as general for a while")]
    private static partial void LogClassifierFailed(ILogger logger, StatusCode statusCode);
}
