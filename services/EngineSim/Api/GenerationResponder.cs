using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using Platform.EngineSim.Engine;
using Platform.EngineSim.Faults;

namespace Platform.EngineSim.Api;

/// <summary>
/// Runs a <see cref="GenerationPlan"/> on the engine and answers as vLLM's serving_chat / serving_completion
/// do: one JSON body, or an SSE stream (role chunk first for chat, content chunks, finish_reason on the last
/// content chunk, an optional usage chunk with no choices, then <c>data: [DONE]</c>).
/// </summary>
internal sealed partial class GenerationResponder(IInferenceEngine engine, FaultInjector faults, ILogger<GenerationResponder> logger)
{
    private static ReadOnlySpan<byte> ChatChunkObject => "chat.completion.chunk"u8;

    private static ReadOnlySpan<byte> ChatObject => "chat.completion"u8;

    private static ReadOnlySpan<byte> CompletionObject => "text_completion"u8;

    public async Task StreamAsync(HttpContext http, GenerationPlan plan)
    {
        var cancellationToken = http.RequestAborted;
        var response = http.Response;
        response.StatusCode = StatusCodes.Status200OK;
        response.ContentType = "text/event-stream; charset=utf-8";
        using var sse = new SseWriter(response.BodyWriter);
        var state = new ChoiceState[plan.Choices.Count];
        for (var i = 0; i < state.Length; i++)
        {
            state[i] = new ChoiceState(plan.Prompts[plan.Choices[i].PromptIndex].Echo);
        }

        var started = false;
        var outputs = ChoiceStreams.RunAsync(engine, plan, cancellationToken).GetAsyncEnumerator(cancellationToken);
        try
        {
            // The first step queues the request (or refuses it at once: a prompt larger than the cache, a dead engine,
            // answered with an error status by the caller). Once it is queued the status and headers leave at once, as
            // vLLM's StreamingResponse sends them before the first token: a client that waits for its first token is
            // then reading the body, and going away costs it a closed connection, not a cancelled request.
            var next = outputs.MoveNextAsync();
            if (!next.IsCompleted)
            {
                await response.StartAsync(cancellationToken).ConfigureAwait(false);
                await response.BodyWriter.FlushAsync(cancellationToken).ConfigureAwait(false);
            }

            for (; await next.ConfigureAwait(false); next = outputs.MoveNextAsync())
            {
                var (choice, output) = outputs.Current;
                await faults.Controller.WaitWhileHungAsync(cancellationToken).ConfigureAwait(false);
                var s = state[choice];
                s.Observe(output);
                if (!started)
                {
                    started = true;
                    if (plan.Kind == ApiKind.Chat)
                    {
                        await WriteChatPreambleAsync(sse, plan, state, cancellationToken).ConfigureAwait(false);
                    }
                }

                if (output.Text.Length == 0 && output.FinishReason is null && !plan.Logprobs)
                {
                    continue;
                }

                WriteDeltaChunk(sse.BeginEvent(), plan, state, choice, output);
                await sse.EndEventAsync(cancellationToken).ConfigureAwait(false);
                if (faults.CrashIfDue(s.Tokens))
                {
                    http.Abort();
                    return;
                }
            }

            if (plan.IncludeUsage)
            {
                WriteUsageChunk(sse.BeginEvent(), plan, state);
                await sse.EndEventAsync(cancellationToken).ConfigureAwait(false);
            }

            await sse.WriteDoneAsync(cancellationToken).ConfigureAwait(false);
            LogFinished(plan, state);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested || sse.ClientGone)
        {
            LogClientGone(logger, plan.Id);
        }
        catch (EngineDeadException) when (response.HasStarted)
        {
            await WriteStreamErrorAsync(http, sse, OpenAiException.ForStatus(StatusCodes.Status500InternalServerError, "The engine is dead."), cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            await outputs.DisposeAsync().ConfigureAwait(false);
        }
    }

    public async Task RespondAsync(HttpContext http, GenerationPlan plan)
    {
        var cancellationToken = http.RequestAborted;
        var state = new ChoiceState[plan.Choices.Count];
        for (var i = 0; i < state.Length; i++)
        {
            state[i] = new ChoiceState(plan.Prompts[plan.Choices[i].PromptIndex].Echo) { Text = new StringBuilder(), Tokens = 0 };
            if (plan.Logprobs)
            {
                state[i].AllTokens = [];
            }
        }

        try
        {
            await foreach (var (choice, output) in ChoiceStreams.RunAsync(engine, plan, cancellationToken).ConfigureAwait(false))
            {
                await faults.Controller.WaitWhileHungAsync(cancellationToken).ConfigureAwait(false);
                var s = state[choice];
                s.Observe(output);
                s.Text!.Append(output.Text);
                s.AllTokens?.AddRange(output.Tokens);
                if (faults.CrashIfDue(s.Tokens))
                {
                    http.Abort();
                    return;
                }
            }

            await faults.Controller.WaitWhileHungAsync(cancellationToken).ConfigureAwait(false);
            await JsonResponses.WriteAsync(http.Response, (plan, state), static (w, x) => WriteFullBody(w, x.plan, x.state), cancellationToken).ConfigureAwait(false);
            LogFinished(plan, state);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            LogClientGone(logger, plan.Id);
        }
    }

    private static async ValueTask WriteChatPreambleAsync(SseWriter sse, GenerationPlan plan, ChoiceState[] state, CancellationToken cancellationToken)
    {
        // vLLM sends the role for every choice before any content, then (echo) the echoed message.
        for (var i = 0; i < state.Length; i++)
        {
            var w = sse.BeginEvent();
            w.WriteStartObject();
            ResponseJson.WriteHead(w, plan, ChatChunkObject);
            w.WriteStartArray("choices"u8);
            w.WriteStartObject();
            w.WriteNumber("index"u8, i);
            w.WriteStartObject("delta"u8);
            w.WriteString("role"u8, "assistant"u8);
            w.WriteString("content"u8, ""u8);
            w.WriteEndObject();
            w.WriteNull("logprobs"u8);
            w.WriteNull("finish_reason"u8);
            w.WriteEndObject();
            w.WriteEndArray();
            WriteContinuousUsage(w, plan, state, i, 0);
            w.WriteEndObject();
            await sse.EndEventAsync(cancellationToken).ConfigureAwait(false);
        }

        for (var i = 0; i < state.Length; i++)
        {
            if (state[i].Echo is not { Length: > 0 } echo)
            {
                continue;
            }

            state[i].Echo = null;
            var w = sse.BeginEvent();
            w.WriteStartObject();
            ResponseJson.WriteHead(w, plan, ChatChunkObject);
            w.WriteStartArray("choices"u8);
            w.WriteStartObject();
            w.WriteNumber("index"u8, i);
            w.WriteStartObject("delta"u8);
            w.WriteString("content"u8, echo);
            w.WriteEndObject();
            w.WriteNull("logprobs"u8);
            w.WriteNull("finish_reason"u8);
            w.WriteEndObject();
            w.WriteEndArray();
            w.WriteEndObject();
            await sse.EndEventAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    private static void WriteDeltaChunk(Utf8JsonWriter w, GenerationPlan plan, ChoiceState[] state, int choice, StepOutput output)
    {
        var s = state[choice];
        w.WriteStartObject();
        if (plan.Kind == ApiKind.Chat)
        {
            // Chat chunks are dumped with exclude_unset: stop_reason only on the finishing chunk, no usage unless continuous.
            ResponseJson.WriteHead(w, plan, ChatChunkObject);
            w.WriteStartArray("choices"u8);
            w.WriteStartObject();
            w.WriteNumber("index"u8, choice);
            w.WriteStartObject("delta"u8);
            w.WriteString("content"u8, output.Text);
            w.WriteEndObject();
            if (plan.Logprobs)
            {
                ResponseJson.WriteChatLogprobs(w, output.Tokens, plan.TopLogprobs);
            }
            else
            {
                w.WriteNull("logprobs"u8);
            }

            ResponseJson.WriteFinish(w, output.FinishReason, output.StopReason, alwaysWriteStopReason: false);
            w.WriteEndObject();
            w.WriteEndArray();
            WriteContinuousUsage(w, plan, state, choice, s.Tokens);
        }
        else
        {
            // Completion chunks are dumped with every field: stop_reason and usage are null until known.
            ResponseJson.WriteHead(w, plan, CompletionObject);
            w.WriteStartArray("choices"u8);
            w.WriteStartObject();
            w.WriteNumber("index"u8, choice);
            var echo = s.Echo;
            s.Echo = null;
            if (echo is null)
            {
                w.WriteString("text"u8, output.Text);
            }
            else
            {
                w.WriteString("text"u8, string.Concat(echo, output.Text));
                s.TextOffset += echo.Length;
            }

            if (plan.Logprobs)
            {
                ResponseJson.WriteCompletionLogprobs(w, output.Tokens, plan.TopLogprobs, s.TextOffset);
            }
            else
            {
                w.WriteNull("logprobs"u8);
            }

            s.TextOffset += output.Text.Length;
            ResponseJson.WriteFinish(w, output.FinishReason, output.StopReason, alwaysWriteStopReason: true);
            w.WriteEndObject();
            w.WriteEndArray();
            if (plan.ContinuousUsage)
            {
                WriteContinuousUsage(w, plan, state, choice, s.Tokens);
            }
            else
            {
                w.WriteNull("usage"u8);
            }
        }

        w.WriteEndObject();
    }

    private static void WriteContinuousUsage(Utf8JsonWriter w, GenerationPlan plan, ChoiceState[] state, int choice, int completionTokens)
    {
        if (plan.ContinuousUsage)
        {
            var prompt = plan.Prompts[plan.Choices[choice].PromptIndex].TokenIds.Length;
            ResponseJson.WriteUsage(w, prompt, completionTokens, null, writeNullDetails: false);
        }
    }

    private static void WriteUsageChunk(Utf8JsonWriter w, GenerationPlan plan, ChoiceState[] state)
    {
        var (prompt, completion, cached) = Usage(plan, state);
        w.WriteStartObject();
        ResponseJson.WriteHead(w, plan, plan.Kind == ApiKind.Chat ? ChatChunkObject : CompletionObject);
        w.WriteStartArray("choices"u8);
        w.WriteEndArray();
        ResponseJson.WriteUsage(w, prompt, completion, cached, writeNullDetails: false);
        w.WriteEndObject();
    }

    private static void WriteFullBody(Utf8JsonWriter w, GenerationPlan plan, ChoiceState[] state)
    {
        var chat = plan.Kind == ApiKind.Chat;
        w.WriteStartObject();
        ResponseJson.WriteHead(w, plan, chat ? ChatObject : CompletionObject);
        w.WriteStartArray("choices"u8);
        for (var i = 0; i < state.Length; i++)
        {
            var s = state[i];
            var text = s.Echo is null ? s.Text!.ToString() : string.Concat(s.Echo, s.Text!.ToString());
            w.WriteStartObject();
            w.WriteNumber("index"u8, i);
            if (chat)
            {
                w.WriteStartObject("message"u8);
                w.WriteString("role"u8, "assistant"u8);
                w.WriteString("content"u8, text);
                w.WriteNull("refusal"u8);
                w.WriteNull("annotations"u8);
                w.WriteNull("audio"u8);
                w.WriteNull("function_call"u8);
                w.WriteStartArray("tool_calls"u8);
                w.WriteEndArray();
                w.WriteNull("reasoning_content"u8);
                w.WriteEndObject();
                if (s.AllTokens is { } tokens)
                {
                    ResponseJson.WriteChatLogprobs(w, tokens, plan.TopLogprobs);
                }
                else
                {
                    w.WriteNull("logprobs"u8);
                }

                ResponseJson.WriteFinish(w, s.Finish, s.StopReason, alwaysWriteStopReason: true);
            }
            else
            {
                w.WriteString("text"u8, text);
                if (s.AllTokens is { } tokens)
                {
                    ResponseJson.WriteCompletionLogprobs(w, tokens, plan.TopLogprobs, s.Echo?.Length ?? 0);
                }
                else
                {
                    w.WriteNull("logprobs"u8);
                }

                ResponseJson.WriteFinish(w, s.Finish, s.StopReason, alwaysWriteStopReason: true);
                w.WriteNull("prompt_logprobs"u8);
            }

            w.WriteEndObject();
        }

        w.WriteEndArray();
        w.WriteNull("service_tier"u8);
        w.WriteNull("system_fingerprint"u8);
        var (prompt, completion, cached) = Usage(plan, state);
        ResponseJson.WriteUsage(w, prompt, completion, cached, writeNullDetails: true);
        if (chat)
        {
            w.WriteNull("prompt_logprobs"u8);
        }

        w.WriteNull("kv_transfer_params"u8);
        w.WriteEndObject();
    }

    /// <summary>Prompt tokens count once per prompt (not per choice); completion tokens add up over choices.</summary>
    private static (int Prompt, int Completion, int? Cached) Usage(GenerationPlan plan, ChoiceState[] state)
    {
        var prompt = 0;
        var completion = 0;
        int? cached = null;
        var countedPrompt = -1;
        for (var i = 0; i < state.Length; i++)
        {
            completion += state[i].Tokens;
            var promptIndex = plan.Choices[i].PromptIndex;
            if (promptIndex != countedPrompt)
            {
                countedPrompt = promptIndex;
                prompt += plan.Prompts[promptIndex].TokenIds.Length;
                if (state[i].Cached is { } c)
                {
                    cached = (cached ?? 0) + c;
                }
            }
        }

        return (prompt, completion, cached);
    }

    private async Task WriteStreamErrorAsync(HttpContext http, SseWriter sse, OpenAiException error, CancellationToken cancellationToken)
    {
        LogRejected(logger, error.Status, error.Type);
        try
        {
            // vLLM reports a failure inside an open stream as one error event, then [DONE].
            error.WriteTo(sse.BeginEvent());
            await sse.EndEventAsync(cancellationToken).ConfigureAwait(false);
            await sse.WriteDoneAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            LogClientGone(logger, http.TraceIdentifier);
        }
    }

    private void LogFinished(GenerationPlan plan, ChoiceState[] state)
    {
        if (logger.IsEnabled(LogLevel.Debug))
        {
            var (prompt, completion, _) = Usage(plan, state);
            LogRequestFinished(logger, plan.Id, prompt, completion, state[0].Finish is { } f ? ResponseJson.FinishReasonText(f) : "none");
        }
    }

    [LoggerMessage(EventId = 200, Level = LogLevel.Debug,
        Message = "Request {RequestId} finished: {PromptTokens} prompt tokens, {CompletionTokens} completion tokens, finish reason {FinishReason}")]
    private static partial void LogRequestFinished(ILogger logger, string requestId, int promptTokens, int completionTokens, string finishReason);

    [LoggerMessage(EventId = 201, Level = LogLevel.Debug, Message = "Request {RequestId} aborted: the client went away")]
    private static partial void LogClientGone(ILogger logger, string requestId);

    [LoggerMessage(EventId = 202, Level = LogLevel.Warning, Message = "Stream failed with {Status} {ErrorType}")]
    private static partial void LogRejected(ILogger logger, int status, string errorType);

    /// <summary>What one choice has produced so far.</summary>
    private sealed class ChoiceState(string? echo)
    {
        public string? Echo { get; set; } = echo;

        public int Tokens { get; set; }

        public int? Cached { get; private set; }

        public FinishReason? Finish { get; private set; }

        public string? StopReason { get; private set; }

        /// <summary>Characters sent so far (completions logprobs' text_offset).</summary>
        public int TextOffset { get; set; }

        public StringBuilder? Text { get; init; }

        public List<GeneratedToken>? AllTokens { get; set; }

        public void Observe(StepOutput output)
        {
            Tokens = output.CompletionTokens;
            Cached ??= output.CachedPromptTokens;
            if (output.FinishReason is { } finish)
            {
                Finish = finish;
                StopReason = output.StopReason;
            }
        }
    }
}
