using Platform.Gateway.Pipeline;

namespace Platform.Gateway.Api;

/// <summary>The front end's own errors, shaped as OpenAI's (type, message, param, code) with their HTTP status.</summary>
internal static class GatewayErrors
{
    public const string InvalidRequest = "invalid_request_error";

    public static GatewayError Invalid(string message, string? param, string? code = "invalid_value") =>
        new(StatusCodes.Status400BadRequest, InvalidRequest, message, param, code);

    public static GatewayError Missing(string param) =>
        new(StatusCodes.Status400BadRequest, InvalidRequest, $"'{param}' is a required property.", param, "missing_required_parameter");

    public static GatewayError WrongType(string param, string expected) =>
        new(StatusCodes.Status400BadRequest, InvalidRequest, $"'{param}' must be {expected}.", param, "invalid_type");

    public static GatewayError NotJson(string detail) =>
        new(StatusCodes.Status400BadRequest, InvalidRequest, $"The request body is not valid JSON: {detail}", null, "invalid_json");

    public static readonly GatewayError BodyTooLarge =
        new(StatusCodes.Status413PayloadTooLarge, InvalidRequest, "The request body is larger than the gateway accepts.", null, "request_too_large");

    public static readonly GatewayError UnsupportedMediaType =
        new(StatusCodes.Status415UnsupportedMediaType, InvalidRequest, "Content-Type must be application/json.", null, "unsupported_media_type");

    public static readonly GatewayError InvalidApiKey =
        new(StatusCodes.Status401Unauthorized, InvalidRequest, "Incorrect or missing API key. Send one header 'Authorization: Bearer <key>'.", null, "invalid_api_key");

    public static readonly GatewayError RequestTimeout =
        new(StatusCodes.Status408RequestTimeout, InvalidRequest, "The request body arrived too slowly.", null, "request_timeout");

    public static readonly GatewayError Internal =
        new(StatusCodes.Status500InternalServerError, "server_error", "The gateway failed to process the request.", null, "internal_error");

    public static GatewayError ModelNotFound(string model) =>
        new(StatusCodes.Status404NotFound, InvalidRequest, $"The model '{model}' does not exist.", "model", "model_not_found");

    public static GatewayError ModelNotAllowed(string model) =>
        new(StatusCodes.Status403Forbidden, "permission_error", $"This API key may not use the model '{model}'.", "model", "model_not_allowed");

    public static GatewayError RateLimited(string limit, TimeSpan retryAfter) =>
        new(StatusCodes.Status429TooManyRequests, "rate_limit_error", $"Rate limit reached ({limit}). Retry after {Math.Ceiling(retryAfter.TotalSeconds)} s.", null, "rate_limit_exceeded", retryAfter);
}
