using System.Globalization;
using System.Text.Encodings.Web;
using System.Text.Json;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.WebUtilities;

namespace Platform.EngineSim.Api;

/// <summary>
/// An API error at the edge, rendered as vLLM renders OpenAI's error body:
/// <c>{"error": {"message", "type", "param", "code"}}</c> with <c>code</c> the HTTP status.
/// </summary>
internal sealed class OpenAiException(int status, string type, string message, string? param = null) : Exception(message)
{
    public int Status { get; } = status;

    /// <summary>vLLM's "type": "BadRequestError" from the serving layer, the status phrase from validation.</summary>
    public string Type { get; } = type;

    public string? Param { get; } = param;

    /// <summary>A request vLLM's serving layer rejects (create_error_response: "BadRequestError").</summary>
    public static OpenAiException BadRequest(string message, string? param = null) =>
        new(StatusCodes.Status400BadRequest, "BadRequestError", message, param);

    /// <summary>A body FastAPI/pydantic rejects (RequestValidationError: type is the status phrase).</summary>
    public static OpenAiException Validation(string message, string? param = null) =>
        new(StatusCodes.Status400BadRequest, "Bad Request", message, param);

    /// <summary>
    /// A pydantic-style validation failure: <c>[{'type': ..., 'loc': ('body', field), 'msg': ..., 'input': ...}]</c>.
    /// </summary>
    public static OpenAiException Field(string field, string errorType, string message, string input) =>
        Validation($"[{{'type': '{errorType}', 'loc': ('body', '{field}'), 'msg': '{message}', 'input': {input}}}]", field);

    /// <summary>A model validator's ValueError, as pydantic words it.</summary>
    public static OpenAiException ValueError(string message, string? param = null) =>
        Validation($"[{{'type': 'value_error', 'loc': ('body',), 'msg': 'Value error, {message}'}}]", param);

    public static OpenAiException ModelNotFound(string model) =>
        new(StatusCodes.Status404NotFound, "NotFoundError", $"The model `{model}` does not exist.", "model");

    /// <summary>An error whose type is its status phrase, as vLLM's HTTPException handler renders it.</summary>
    public static OpenAiException ForStatus(int status, string message) =>
        new(status, Phrase(status), message);

    public static string Phrase(int status) =>
        ReasonPhrases.GetReasonPhrase(status) is { Length: > 0 } phrase ? phrase : status.ToString(CultureInfo.InvariantCulture);

    /// <summary>Writes the error object (without the outer "data: " framing), e.g. inside an SSE event.</summary>
    public void WriteTo(Utf8JsonWriter writer)
    {
        writer.WriteStartObject();
        writer.WriteStartObject("error"u8);
        writer.WriteString("message"u8, Message);
        writer.WriteString("type"u8, Type);
        if (Param is null)
        {
            writer.WriteNull("param"u8);
        }
        else
        {
            writer.WriteString("param"u8, Param);
        }

        writer.WriteNumber("code"u8, Status);
        writer.WriteEndObject();
        writer.WriteEndObject();
    }

    /// <summary>Writes this error as the whole JSON response.</summary>
    public Task WriteResponseAsync(HttpResponse response, CancellationToken cancellationToken)
    {
        response.StatusCode = Status;
        return JsonResponses.WriteAsync(response, this, static (w, e) => e.WriteTo(w), cancellationToken);
    }
}

/// <summary>Non-streaming JSON bodies: written with Utf8JsonWriter into a buffer so Content-Length is known.</summary>
internal static class JsonResponses
{
    /// <summary>Like pydantic's JSON: non-ASCII text stays UTF-8 rather than \u escapes.</summary>
    public static readonly JsonWriterOptions WriterOptions = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    public static async Task WriteAsync<TState>(HttpResponse response, TState state, Action<Utf8JsonWriter, TState> write, CancellationToken cancellationToken)
    {
        var buffer = new System.Buffers.ArrayBufferWriter<byte>(1024);
        using (var writer = new Utf8JsonWriter(buffer, WriterOptions))
        {
            write(writer, state);
        }

        response.ContentType = "application/json";
        response.ContentLength = buffer.WrittenCount;
        await response.Body.WriteAsync(buffer.WrittenMemory, cancellationToken);
    }
}
