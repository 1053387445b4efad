using System.Diagnostics;
using System.Diagnostics.Metrics;
using Platform.Gateway.Pipeline;

namespace Platform.Gateway.Telemetry;

/// <summary>
/// The gateway's meter and activity source ("Platform.Gateway"), following the OpenTelemetry GenAI semantic
/// conventions: <c>gen_ai.client.operation.duration</c>, <c>gen_ai.client.token.usage</c>,
/// <c>gen_ai.server.time_to_first_token</c>, <c>gen_ai.server.time_per_output_token</c>, plus requests by status and
/// rate-limit rejections by tenant and limit, and the gateway's own share of the time to first token
/// (<c>platform.gateway.overhead</c>).
/// </summary>
internal sealed class GatewayTelemetry
{
    public const string Name = "Platform.Gateway";
    public const string ProviderName = "vllm";

    public static readonly ActivitySource ActivitySource = new(Name);

    // The semantic conventions' advised bucket boundaries.
    private static readonly double[] DurationBuckets = [0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92];
    private static readonly long[] TokenBuckets = [1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864];
    private static readonly double[] TtftBuckets = [0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0];
    private static readonly double[] TpotBuckets = [0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1.0, 2.5];
    private static readonly double[] OverheadBuckets = [0.0001, 0.00025, 0.0005, 0.00075, 0.001, 0.0015, 0.002, 0.003, 0.005, 0.0075, 0.01, 0.025, 0.05, 0.1, 0.25];

    private readonly Histogram<double> _operationDuration;
    private readonly Histogram<long> _tokenUsage;
    private readonly Histogram<double> _timeToFirstToken;
    private readonly Histogram<double> _timePerOutputToken;
    private readonly Counter<long> _requests;
    private readonly Counter<long> _rateLimitRejections;
    private readonly Histogram<double> _overhead;

    public GatewayTelemetry(IMeterFactory meterFactory)
    {
        var meter = meterFactory.Create(Name);
        _operationDuration = meter.CreateHistogram(
            "gen_ai.client.operation.duration", "s", "Duration of GenAI operations through the gateway.",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = DurationBuckets });
        _tokenUsage = meter.CreateHistogram(
            "gen_ai.client.token.usage", "{token}", "Input and output tokens per operation.",
            advice: new InstrumentAdvice<long> { HistogramBucketBoundaries = TokenBuckets });
        _timeToFirstToken = meter.CreateHistogram(
            "gen_ai.server.time_to_first_token", "s", "Time from the request to the first generated token.",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = TtftBuckets });
        _timePerOutputToken = meter.CreateHistogram(
            "gen_ai.server.time_per_output_token", "s", "Time between output tokens after the first (inter-token latency).",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = TpotBuckets });
        _requests = meter.CreateCounter<long>(
            "platform.gateway.requests", "{request}", "Generation requests by front end, operation and final status.");
        _rateLimitRejections = meter.CreateCounter<long>(
            "platform.gateway.rate_limit.rejections", "{request}", "Requests rejected by a per-key limit, by tenant and limit.");
        _overhead = meter.CreateHistogram(
            "platform.gateway.overhead", "s",
            "The gateway's own share of a streamed generation's time to first token: from the request reaching the API to the first content sent, minus the engine's wait (first attempts only).",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = OverheadBuckets });
    }

    public static string OperationName(GenerationApi api) => api == GenerationApi.ChatCompletions ? "chat" : "text_completion";

    /// <summary>Counts a request answered with an error before the pipeline ran (auth, validation, limits).</summary>
    public void Rejected(GenerationApi api, string frontend, int status) =>
        _requests.Add(1, new("platform.frontend", frontend), new("gen_ai.operation.name", OperationName(api)), new("http.response.status_code", status));

    public void RateLimitRejected(string tenant, string limit) =>
        _rateLimitRejections.Add(1, new("tenant", tenant), new("limit", limit));

    /// <summary>
    /// Starts the span and the clock of one generation; <paramref name="received"/> is the timestamp at which the front
    /// end got the request (before authentication and parsing), so the gateway's overhead counts them.
    /// </summary>
    public GenerationScope Start(GenerationApi api, string model, string frontend, TimeProvider time, long? received = null)
    {
        var operation = OperationName(api);
        var activity = ActivitySource.StartActivity($"{operation} {model}", ActivityKind.Client);
        if (activity is not null)
        {
            activity.SetTag("gen_ai.operation.name", operation);
            activity.SetTag("gen_ai.provider.name", ProviderName);
            activity.SetTag("gen_ai.system", ProviderName);
            activity.SetTag("gen_ai.request.model", model);
            activity.SetTag("platform.frontend", frontend);
        }

        return new GenerationScope(this, activity, operation, model, frontend, time, received ?? time.GetTimestamp());
    }

    /// <summary>Measures one generation; not thread-safe (one front-end loop drives it).</summary>
    internal sealed class GenerationScope(
        GatewayTelemetry telemetry, Activity? activity, string operation, string model, string frontend, TimeProvider time, long received) : IDisposable
    {
        private readonly long _start = received;
        private long _firstToken;
        private long _lastToken;
        private int _pieces;
        private string? _responseModel;
        private bool _ended;

        public Activity? Activity => activity;

        public void Routed(RouteDecision route)
        {
            _responseModel = route.ServedModel;
            if (activity is not null)
            {
                activity.SetTag("gen_ai.response.model", route.ServedModel);
                activity.SetTag("platform.pool", route.Pool);
                activity.SetTag("platform.engine", route.Engine.Id);
                activity.SetTag("platform.fallback", route.Fallback);
                activity.SetTag("platform.route_reason", route.Reason);
            }
        }

        public void Content()
        {
            var now = time.GetTimestamp();
            if (_pieces++ == 0)
            {
                _firstToken = now;
                telemetry._timeToFirstToken.Record(time.GetElapsedTime(_start, now).TotalSeconds, Tags(null));
            }

            _lastToken = now;
        }

        /// <summary>
        /// The gateway's time so far: since the request arrived, minus <paramref name="engineWait"/> (the engine's part
        /// of the first attempt). Null when there is no first-attempt engine wait (a retried generation).
        /// </summary>
        public TimeSpan? GatewayTime(TimeSpan? engineWait) =>
            engineWait is { } wait ? time.GetElapsedTime(_start) - wait : null;

        /// <summary>Records the gateway's overhead once the first content has been sent to the client.</summary>
        public void FirstContentSent(TimeSpan? engineWait)
        {
            if (GatewayTime(engineWait) is { } overhead)
            {
                telemetry._overhead.Record(Math.Max(0, overhead.TotalSeconds), new KeyValuePair<string, object?>("platform.frontend", frontend));
            }
        }

        public void Completed(CompletedEvent completed, string id, int status)
        {
            _responseModel = completed.Route.ServedModel;
            var usage = completed.Usage;
            var tags = Tags(null);
            telemetry._tokenUsage.Record(usage.PromptTokens, Append(tags, new("gen_ai.token.type", "input")));
            telemetry._tokenUsage.Record(usage.CompletionTokens, Append(tags, new("gen_ai.token.type", "output")));
            if (usage.CompletionTokens > 1 && _pieces > 1)
            {
                var perToken = time.GetElapsedTime(_firstToken, _lastToken).TotalSeconds / (usage.CompletionTokens - 1);
                telemetry._timePerOutputToken.Record(perToken, tags);
            }

            if (activity is not null)
            {
                activity.SetTag("gen_ai.response.id", id);
                activity.SetTag("gen_ai.usage.input_tokens", usage.PromptTokens);
                activity.SetTag("gen_ai.usage.output_tokens", usage.CompletionTokens);
                activity.SetTag("platform.retries", completed.Retries);
                activity.SetTag("platform.continuations", completed.Continuations);
            }

            End(status, null);
        }

        /// <summary>Ends with an error: <paramref name="errorType"/> is the OpenAI code or type, or "cancelled".</summary>
        public void Failed(int status, string errorType)
        {
            activity?.SetStatus(ActivityStatusCode.Error, errorType);
            End(status, errorType);
        }

        public void Dispose()
        {
            if (!_ended)
            {
                End(499, "cancelled");
            }

            activity?.Dispose();
        }

        private void End(int status, string? errorType)
        {
            if (_ended)
            {
                return;
            }

            _ended = true;
            var tags = Tags(errorType);
            telemetry._operationDuration.Record(time.GetElapsedTime(_start).TotalSeconds, tags);
            telemetry._requests.Add(1, new("platform.frontend", frontend), new("gen_ai.operation.name", operation), new("http.response.status_code", status));
            if (errorType is not null)
            {
                activity?.SetTag("error.type", errorType);
            }
        }

        private TagList Tags(string? errorType)
        {
            var tags = new TagList
            {
                { "gen_ai.operation.name", operation },
                { "gen_ai.provider.name", ProviderName },
                { "gen_ai.system", ProviderName },
                { "gen_ai.request.model", model },
            };
            if (_responseModel is not null)
            {
                tags.Add("gen_ai.response.model", _responseModel);
            }

            if (errorType is not null)
            {
                tags.Add("error.type", errorType);
            }

            return tags;
        }

        private static TagList Append(TagList tags, KeyValuePair<string, object?> tag)
        {
            tags.Add(tag);
            return tags;
        }
    }
}
