using System.Net;
using System.Net.Sockets;
using System.Text;
using Platform.Gateway.Tests.Fixtures.Stack;

namespace Platform.Gateway.Tests.Api;

/// <summary>
/// Hostile input against the real Kestrel endpoint: every case is a 4xx with OpenAI's error body (or Kestrel's own
/// 431/closed connection for header abuse), never a 5xx, and nothing reaches the pipeline (no upstream call).
/// </summary>
public sealed class HostileInputTests : IAsyncLifetime
{
    private const string Model = GatewayHost.Model;

    private GatewayHost _host = null!;
    private ScriptedPipeline _pipeline = null!;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public async ValueTask InitializeAsync()
    {
        (_host, _pipeline, _) = await GatewayHost.StartScriptedAsync(c =>
        {
            c["Gateway:Http:RequestHeadersTimeoutSeconds"] = "1";
            c["Gateway:Http:MinRequestBodyBytesPerSecond"] = "100";
            c["Gateway:Http:MinRequestBodyGraceSeconds"] = "1.5";
        });
    }

    public async ValueTask DisposeAsync() => await _host.DisposeAsync();

    public static TheoryData<string, string, int, string?> BadBodies() => new()
    {
        { "/v1/chat/completions", "{not json", 400, null },
        { "/v1/chat/completions", "{\"model\":\"" + Model + "\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}", 400, null },
        { "/v1/chat/completions", "", 400, null },
        { "/v1/chat/completions", "[]", 400, null },
        { "/v1/chat/completions", "\"just a string\"", 400, null },
        { "/v1/chat/completions", "{\"model\":\"" + Model + "\",\"model\":\"x\",\"messages\":[]}", 400, null },
        { "/v1/chat/completions", new string('[', 5000) + new string(']', 5000), 400, null },
        { "/v1/chat/completions", "{\"model\":\"" + Model + "\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"x\":" + new string('[', 100) + new string(']', 100) + "}", 400, null },
        { "/v1/chat/completions", "{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}", 400, "model" },
        { "/v1/chat/completions", "{\"model\":42,\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}", 400, "model" },
        { "/v1/chat/completions", "{\"model\":\"" + Model + "\"}", 400, "messages" },
        { "/v1/chat/completions", "{\"model\":\"" + Model + "\",\"messages\":[]}", 400, "messages" },
        { "/v1/chat/completions", "{\"model\":\"" + Model + "\",\"messages\":{\"role\":\"user\"}}", 400, "messages" },
        { "/v1/chat/completions", "{\"model\":\"" + Model + "\",\"messages\":[\"hi\"]}", 400, "messages.[0]" },
        { "/v1/chat/completions", "{\"model\":\"" + Model + "\",\"messages\":[{\"role\":\"wizard\",\"content\":\"hi\"}]}", 400, "messages.[0].role" },
        { "/v1/chat/completions", "{\"model\":\"" + Model + "\",\"messages\":[{\"role\":\"user\"}]}", 400, "messages.[0].content" },
        { "/v1/chat/completions", "{\"model\":\"" + Model + "\",\"messages\":[{\"role\":\"user\",\"content\":17}]}", 400, "messages.[0].content" },
        { "/v1/chat/completions", Chat("\"max_tokens\":-1"), 400, "max_tokens" },
        { "/v1/chat/completions", Chat("\"max_tokens\":1000000000000"), 400, "max_tokens" },
        { "/v1/chat/completions", Chat("\"max_tokens\":100000"), 400, "max_tokens" },
        { "/v1/chat/completions", Chat("\"max_tokens\":1e400"), 400, "max_tokens" },
        { "/v1/chat/completions", Chat("\"max_tokens\":2.5"), 400, "max_tokens" },
        { "/v1/chat/completions", Chat("\"max_tokens\":\"10\""), 400, "max_tokens" },
        { "/v1/chat/completions", Chat("\"temperature\":99"), 400, "temperature" },
        { "/v1/chat/completions", Chat("\"temperature\":-0.1"), 400, "temperature" },
        { "/v1/chat/completions", Chat("\"temperature\":\"hot\""), 400, "temperature" },
        { "/v1/chat/completions", Chat("\"top_p\":0"), 400, "top_p" },
        { "/v1/chat/completions", Chat("\"top_p\":1.5"), 400, "top_p" },
        { "/v1/chat/completions", Chat("\"n\":1000"), 400, "n" },
        { "/v1/chat/completions", Chat("\"n\":0"), 400, "n" },
        { "/v1/chat/completions", Chat("\"stop\":[" + string.Join(',', Enumerable.Repeat("\"x\"", 100)) + "]"), 400, "stop" },
        { "/v1/chat/completions", Chat("\"stop\":[1,2]"), 400, "stop" },
        { "/v1/chat/completions", Chat("\"presence_penalty\":3"), 400, "presence_penalty" },
        { "/v1/chat/completions", Chat("\"frequency_penalty\":-2.5"), 400, "frequency_penalty" },
        { "/v1/chat/completions", Chat("\"top_logprobs\":5"), 400, "top_logprobs" },
        { "/v1/chat/completions", Chat("\"logprobs\":true,\"top_logprobs\":50"), 400, "top_logprobs" },
        { "/v1/chat/completions", Chat("\"logprobs\":3"), 400, "logprobs" },
        { "/v1/chat/completions", Chat("\"seed\":18446744073709551616"), 400, "seed" },
        { "/v1/chat/completions", Chat("\"stream_options\":{\"include_usage\":true}"), 400, "stream_options" },
        { "/v1/chat/completions", Chat("\"stream\":\"yes\""), 400, "stream" },
        { "/v1/chat/completions", Chat("\"use_beam_search\":true"), 400, "use_beam_search" },
        { "/v1/chat/completions", "{\"model\":\"no-such-model\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}", 404, "model" },
        { "/v1/completions", "{\"model\":\"" + Model + "\"}", 400, "prompt" },
        { "/v1/completions", "{\"model\":\"" + Model + "\",\"prompt\":[\"a\",\"b\"]}", 400, "prompt" },
        { "/v1/completions", "{\"model\":\"" + Model + "\",\"prompt\":{\"a\":1}}", 400, "prompt" },
        { "/v1/completions", "{\"model\":\"" + Model + "\",\"prompt\":\"a\",\"best_of\":2}", 400, "best_of" },
        { "/v1/completions", "{\"model\":\"" + Model + "\",\"prompt\":\"a\",\"logprobs\":21}", 400, "logprobs" },
        { "/v1/completions", "{\"model\":\"" + Model + "\",\"prompt\":\"a\",\"n\":3,\"best_of\":2}", 400, "best_of" },
    };

    [Theory]
    [MemberData(nameof(BadBodies))]
    public async Task Post_HostileBody_4xxWithOpenAiErrorAndNoUpstreamCall(string path, string body, int status, string? param)
    {
        using var http = _host.CreateHttpClient();
        using var response = await http.PostAsync(path, new StringContent(body, Encoding.UTF8, "application/json"), Ct);

        await ErrorBody.AssertAsync(response, status, param);
        Assert.Empty(_pipeline.Requests);
    }

    [Fact]
    public async Task Post_HugeBody_413()
    {
        using var http = _host.CreateHttpClient();
        var huge = Chat("\"user\":\"" + new string('a', 2 * 1024 * 1024) + "\"");

        using var response = await http.PostAsync("/v1/chat/completions", new StringContent(huge, Encoding.UTF8, "application/json"), Ct);

        await ErrorBody.AssertAsync(response, 413, code: "request_too_large");
        Assert.Empty(_pipeline.Requests);
    }

    [Fact]
    public async Task Post_HugeChunkedBody_413()
    {
        using var http = _host.CreateHttpClient();
        var content = new StreamContent(new MemoryStream(Encoding.UTF8.GetBytes(Chat("\"user\":\"" + new string('a', 2 * 1024 * 1024) + "\""))));
        content.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue("application/json");
        using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/chat/completions") { Content = content };
        request.Headers.TransferEncodingChunked = true;

        using var response = await http.SendAsync(request, Ct);

        await ErrorBody.AssertAsync(response, 413);
        Assert.Empty(_pipeline.Requests);
    }

    [Theory]
    [InlineData("text/plain")]
    [InlineData("application/x-www-form-urlencoded")]
    [InlineData("application/json; charset=latin1")]
    [InlineData(null)]
    public async Task Post_WrongContentType_415(string? contentType)
    {
        using var http = _host.CreateHttpClient();
        var content = new ByteArrayContent(Encoding.UTF8.GetBytes(Chat(string.Empty)));
        if (contentType is not null)
        {
            content.Headers.TryAddWithoutValidation("Content-Type", contentType);
        }

        using var response = await http.PostAsync("/v1/chat/completions", content, Ct);

        await ErrorBody.AssertAsync(response, 415);
        Assert.Empty(_pipeline.Requests);
    }

    [Theory]
    [InlineData(null)]
    [InlineData("Bearer sk-wrong")]
    [InlineData("Bearer")]
    [InlineData("Bearer ")]
    [InlineData("Basic dXNlcjpwYXNz")]
    [InlineData("Bearer sk-test-key-0123456789 extra")]
    [InlineData("Bearer sk-test-key-0123456789, Bearer sk-test-key-0123456789")]
    [InlineData("sk-test-key-0123456789")]
    public async Task Post_BadOrMissingKey_401(string? authorization)
    {
        using var http = _host.CreateHttpClient(key: null);
        using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/chat/completions") { Content = new StringContent(Chat(string.Empty), Encoding.UTF8, "application/json") };
        if (authorization is not null)
        {
            request.Headers.TryAddWithoutValidation("Authorization", authorization);
        }

        using var response = await http.SendAsync(request, Ct);

        await ErrorBody.AssertAsync(response, 401, code: "invalid_api_key");
        Assert.Empty(_pipeline.Requests);
    }

    [Fact]
    public async Task Post_DuplicateAuthorizationHeaders_401()
    {
        var raw = await SendRawAsync(
            "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n" +
            $"Authorization: Bearer {GatewayHost.Key}\r\nAuthorization: Bearer {GatewayHost.Key}\r\n" +
            "Content-Type: application/json\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}");

        Assert.StartsWith("HTTP/1.1 401", raw, StringComparison.Ordinal);
        Assert.Contains("invalid_api_key", raw, StringComparison.Ordinal);
        Assert.Empty(_pipeline.Requests);
    }

    [Fact]
    public async Task Post_ModelNotAllowedForKey_403()
    {
        using var http = _host.CreateHttpClient(GatewayHost.PhiOnlyKey);
        using var response = await http.PostAsync("/v1/chat/completions", new StringContent(Chat(string.Empty), Encoding.UTF8, "application/json"), Ct);

        await ErrorBody.AssertAsync(response, 403, "model", "model_not_allowed");
        Assert.Empty(_pipeline.Requests);
    }

    [Fact]
    public async Task Post_HugeHeaders_431()
    {
        using var http = _host.CreateHttpClient();
        using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/chat/completions") { Content = new StringContent(Chat(string.Empty), Encoding.UTF8, "application/json") };
        request.Headers.Add("x-junk", new string('a', 64 * 1024));

        using var response = await http.SendAsync(request, Ct);

        Assert.Equal(HttpStatusCode.RequestHeaderFieldsTooLarge, response.StatusCode);
        Assert.Empty(_pipeline.Requests);
    }

    [Fact]
    public async Task Post_TooManyHeaders_431()
    {
        using var http = _host.CreateHttpClient();
        using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/chat/completions") { Content = new StringContent(Chat(string.Empty), Encoding.UTF8, "application/json") };
        for (var i = 0; i < 200; i++)
        {
            request.Headers.Add($"x-h{i}", "v");
        }

        using var response = await http.SendAsync(request, Ct);

        Assert.Equal(HttpStatusCode.RequestHeaderFieldsTooLarge, response.StatusCode);
    }

    [Fact]
    public async Task Get_UnknownEndpoint_404OpenAiBody()
    {
        using var http = _host.CreateHttpClient();
        using var response = await http.GetAsync("/v1/engines", Ct);

        await ErrorBody.AssertAsync(response, 404);
    }

    [Fact]
    public async Task SlowHeaders_ConnectionDropped_ServerKeepsServing()
    {
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await socket.ConnectAsync(_host.HttpUri.Host, _host.HttpUri.Port, Ct);
        var header = Encoding.ASCII.GetBytes("POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nX-Slow: ");
        await socket.SendAsync(header, Ct);

        // Trickle one header byte at a time: the headers timeout (1 s here) must close the connection.
        var closed = TrickleUntilClosedAsync(socket, (byte)'a', TimeSpan.FromSeconds(15));

        using var http = _host.CreateHttpClient();
        using var ok = await http.PostAsync("/v1/chat/completions", new StringContent(Chat(string.Empty), Encoding.UTF8, "application/json"), Ct);
        Assert.Equal(HttpStatusCode.OK, ok.StatusCode);
        Assert.True(await closed, "the slow connection was not closed by the headers timeout");
    }

    [Fact]
    public async Task SlowBody_RejectedWithin_ServerKeepsServing()
    {
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await socket.ConnectAsync(_host.HttpUri.Host, _host.HttpUri.Port, Ct);
        var header = Encoding.ASCII.GetBytes(
            $"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {GatewayHost.Key}\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n");
        await socket.SendAsync(header, Ct);

        // 100 bytes/s minimum after 1 s grace: a byte every 200 ms is far below it.
        var closed = TrickleUntilClosedAsync(socket, (byte)' ', TimeSpan.FromSeconds(15));

        using var http = _host.CreateHttpClient();
        using var ok = await http.PostAsync("/v1/chat/completions", new StringContent(Chat(string.Empty), Encoding.UTF8, "application/json"), Ct);
        Assert.Equal(HttpStatusCode.OK, ok.StatusCode);
        Assert.True(await closed, "the slow body was not cut off by the minimum data rate");
        Assert.Single(_pipeline.Requests);
    }

    private static string Chat(string extra) =>
        "{\"model\":\"" + Model + "\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]" + (extra.Length > 0 ? "," + extra : string.Empty) + "}";

    /// <summary>Sends one byte every 200 ms until the server closes the connection (true) or the limit passes (false).</summary>
    private static async Task<bool> TrickleUntilClosedAsync(Socket socket, byte value, TimeSpan limit)
    {
        var until = DateTime.UtcNow + limit;
        var one = new[] { value };
        var receive = new byte[4096];
        using var timer = new PeriodicTimer(TimeSpan.FromMilliseconds(200));
        while (DateTime.UtcNow < until)
        {
            try
            {
                if (socket.Available > 0 || socket.Poll(0, SelectMode.SelectRead))
                {
                    var n = await socket.ReceiveAsync(receive, SocketFlags.None, CancellationToken.None);
                    if (n == 0)
                    {
                        return true;
                    }

                    // A response (408) before the close is fine: keep reading until the close.
                    continue;
                }

                await socket.SendAsync(one, SocketFlags.None, CancellationToken.None);
            }
            catch (SocketException)
            {
                return true;
            }

            await timer.WaitForNextTickAsync(CancellationToken.None);
        }

        return false;
    }

    private async Task<string> SendRawAsync(string request)
    {
        using var client = new TcpClient();
        await client.ConnectAsync(_host.HttpUri.Host, _host.HttpUri.Port, Ct);
        var stream = client.GetStream();
        await stream.WriteAsync(Encoding.ASCII.GetBytes(request), Ct);
        using var reader = new StreamReader(stream);
        return await reader.ReadToEndAsync(Ct);
    }
}
