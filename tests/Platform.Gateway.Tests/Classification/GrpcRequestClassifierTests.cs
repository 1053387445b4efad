using System.Buffers.Binary;
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Google.Protobuf;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Platform.Classifier.V1;
using Platform.Gateway.Classification;
using Platform.Gateway.Pipeline;
using Platform.Gateway.Tests.Fixtures.Engines;

namespace Platform.Gateway.Tests.Classification;

public sealed class GrpcRequestClassifierTests : IDisposable
{
    private static readonly ChatTurn[] Messages = [new("user", "Write a function that reverses a list.")];
    private readonly TestMeterFactory _meters = new();
    private readonly System.Diagnostics.Metrics.MeterListener _listener = new();
    private readonly System.Collections.Concurrent.ConcurrentQueue<(string Kind, string Outcome)> _decisions = new();

    public GrpcRequestClassifierTests()
    {
        _listener.InstrumentPublished = (instrument, listener) =>
        {
            if (instrument.Name == "platform.gateway.classifications" && instrument.Meter.Scope == _meters)
            {
                listener.EnableMeasurementEvents(instrument);
            }
        };
        _listener.SetMeasurementEventCallback<long>((_, _, tags, _) =>
        {
            string? kind = null, outcome = null;
            foreach (var tag in tags)
            {
                kind = tag.Key == "kind" ? tag.Value as string : kind;
                outcome = tag.Key == "outcome" ? tag.Value as string : outcome;
            }

            _decisions.Enqueue((kind!, outcome!));
        });
        _listener.Start();
    }

    public void Dispose()
    {
        _listener.Dispose();
        _meters.Dispose();
    }

    private GrpcRequestClassifier Classifier(string? address, TimeSpan? timeout = null, ForcedKind force = ForcedKind.None) => new(
        Options.Create(new ClassifierOptions { Address = address, Timeout = timeout ?? TimeSpan.FromMilliseconds(50), SkipAfterFailure = TimeSpan.FromSeconds(30), ForceKind = force }),
        new ConfigurationBuilder().Build(), TimeProvider.System, NullLogger<GrpcRequestClassifier>.Instance, new EngineSideMetrics(_meters));

    /// <summary>A minimal gRPC Classify endpoint over h2c: one length-prefixed protobuf message, grpc-status in the trailers.</summary>
    private static Task<ScriptedEngineServer> ClassifierServer(TaskKind kind, Action<ClassifyRequest>? seen = null, TimeSpan? delay = null) =>
        ScriptedEngineServer.StartAsync(async ctx =>
        {
            using var body = new MemoryStream();
            await ctx.Request.Body.CopyToAsync(body);
            seen?.Invoke(ClassifyRequest.Parser.ParseFrom(body.ToArray().AsSpan(5)));
            if (delay is { } d)
            {
                await Task.Delay(d, ctx.RequestAborted).ContinueWith(_ => { }, TaskScheduler.Default);
            }

            var payload = new ClassifyResponse { Kind = kind, Confidence = 0.9 }.ToByteArray();
            var frame = new byte[5 + payload.Length];
            BinaryPrimitives.WriteUInt32BigEndian(frame.AsSpan(1), (uint)payload.Length);
            payload.CopyTo(frame, 5);
            ctx.Response.ContentType = "application/grpc";
            ctx.Response.AppendTrailer("grpc-status", "0");
            await ctx.Response.Body.WriteAsync(frame);
        }, http2: true);

    [Fact]
    public async Task ClassifyAsync_ServiceAnswersCode_ReturnsCode()
    {
        ClassifyRequest? seen = null;
        await using var server = await ClassifierServer(TaskKind.Code, r => seen = r);
        using var classifier = Classifier(server.BaseUri.ToString(), TimeSpan.FromSeconds(5));

        var kind = await classifier.ClassifyAsync(Messages, TestContext.Current.CancellationToken);

        Assert.Equal(TaskKind.Code, kind);
        Assert.Equal("user", Assert.Single(seen!.Messages).Role);
        Assert.Equal([("code", "classified")], _decisions.ToArray());
    }

    [Fact]
    public async Task ClassifyAsync_NoAddress_GeneralWithoutCall()
    {
        using var classifier = Classifier(null);

        Assert.Equal(TaskKind.General, await classifier.ClassifyAsync(Messages, TestContext.Current.CancellationToken));
    }

    [Fact]
    public async Task ClassifyAsync_Unreachable_GeneralAndSkippedAfterwards()
    {
        int port;
        using (var listener = new TcpListener(IPAddress.Loopback, 0))
        {
            listener.Start();
            port = ((IPEndPoint)listener.LocalEndpoint).Port;
        }

        using var classifier = Classifier($"http://127.0.0.1:{port}", TimeSpan.FromSeconds(5));
        var first = await classifier.ClassifyAsync(Messages, TestContext.Current.CancellationToken);
        var second = await classifier.ClassifyAsync(Messages, TestContext.Current.CancellationToken);

        Assert.Equal(TaskKind.General, first);
        Assert.Equal(TaskKind.General, second);
        Assert.Equal([("general", "failed"), ("general", "skipped_after_failure")], _decisions.ToArray());
    }

    [Fact]
    public async Task ClassifyAsync_SlowService_GeneralAtTheDeadline()
    {
        await using var server = await ClassifierServer(TaskKind.Code, delay: TimeSpan.FromSeconds(5));
        using var classifier = Classifier(server.BaseUri.ToString(), TimeSpan.FromMilliseconds(100));
        var watch = Stopwatch.StartNew();

        var kind = await classifier.ClassifyAsync(Messages, TestContext.Current.CancellationToken);

        Assert.Equal(TaskKind.General, kind);
        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(3), $"took {watch.Elapsed}");
        Assert.Equal([("general", "deadline_exceeded")], _decisions.ToArray());
    }

    [Fact]
    public async Task ClassifyAsync_ForceKindGeneral_GeneralWithoutCallingTheService()
    {
        var calls = 0;
        await using var server = await ClassifierServer(TaskKind.Code, _ => Interlocked.Increment(ref calls));
        using var normal = Classifier(server.BaseUri.ToString(), TimeSpan.FromSeconds(5));
        using var forced = Classifier(server.BaseUri.ToString(), TimeSpan.FromSeconds(5), ForcedKind.General);

        var classified = await normal.ClassifyAsync(Messages, TestContext.Current.CancellationToken);
        var kind = await forced.ClassifyAsync(Messages, TestContext.Current.CancellationToken);

        Assert.Equal(TaskKind.Code, classified);
        Assert.Equal(TaskKind.General, kind);
        Assert.Equal(1, Volatile.Read(ref calls));
    }

    [Fact]
    public async Task ClassifyAsync_ForceKindCode_CodeEvenWithoutAClassifier()
    {
        using var classifier = Classifier(null, force: ForcedKind.Code);

        Assert.Equal(TaskKind.Code, await classifier.ClassifyAsync([new ChatTurn("user", "Write a poem about the sea.")], TestContext.Current.CancellationToken));
    }
}
