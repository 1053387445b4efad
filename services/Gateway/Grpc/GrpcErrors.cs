using System.Globalization;
using Grpc.Core;
using Platform.Gateway.Pipeline;

namespace Platform.Gateway.Grpc;

/// <summary>The one place where gateway errors become gRPC statuses (and <c>retry-after-ms</c> trailers).</summary>
internal static class GrpcErrors
{
    public const string RetryAfterTrailer = "retry-after-ms";

    public static StatusCode ToStatusCode(int httpStatus) => httpStatus switch
    {
        400 or 413 or 415 or 422 => StatusCode.InvalidArgument,
        401 => StatusCode.Unauthenticated,
        403 => StatusCode.PermissionDenied,
        404 => StatusCode.NotFound,
        408 or 504 => StatusCode.DeadlineExceeded,
        429 => StatusCode.ResourceExhausted,
        499 => StatusCode.Cancelled,
        502 or 503 => StatusCode.Unavailable,
        _ => StatusCode.Internal,
    };

    public static RpcException ToRpcException(GatewayError error)
    {
        var trailers = new Metadata();
        if (error.RetryAfter is { } retryAfter)
        {
            trailers.Add(RetryAfterTrailer, ((long)Math.Ceiling(retryAfter.TotalMilliseconds)).ToString(CultureInfo.InvariantCulture));
        }

        var detail = error.Param is null ? error.Message : $"{error.Message} (param: {error.Param})";
        return new RpcException(new Status(ToStatusCode(error.Status), detail), trailers);
    }
}
