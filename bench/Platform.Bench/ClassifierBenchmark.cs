using System.Diagnostics;
using System.Globalization;
using System.Text;
using Grpc.Net.Client;
using Platform.Classifier.Model;
using Platform.Classifier.Training;
using Platform.Classifier.V1;

namespace Platform.Bench;

/// <summary>
/// The classifier's figures in one run: accuracy and per-class precision/recall on the held-out sets, in-process
/// latency on 4 KB prompts, gRPC round trips on loopback against a real classifier process, and ClassifyBatch
/// throughput.
/// </summary>
internal static class ClassifierBenchmark
{
    public static async Task<int> RunAsync(BenchArgs args)
    {
        var iterations = args.Int("iterations", 200_000);
        var calls = args.Int("calls", 20_000);
        var batches = args.Int("batches", 20);
        using var cts = new CancellationTokenSource(TimeSpan.FromMinutes(10));
        var ct = cts.Token;
        var c = CultureInfo.InvariantCulture;
        var load = File.Exists("/proc/loadavg") ? File.ReadAllText("/proc/loadavg").Split(' ')[0] : "?";
        var report = new StringBuilder().AppendLine(c, $"## Classifier ({Environment.ProcessorCount} cores, load average {load} at start)").AppendLine();

        // Accuracy on the sets the model was not trained on.
        var data = Dataset.LocateDataDirectory(args.String("data"));
        var classifier = new TaskClassifier(ClassifierModel.Default);
        report.AppendLine("| set | prompts | accuracy | code precision / recall | general precision / recall | ECE |")
            .AppendLine("| --- | --- | --- | --- | --- | --- |");
        foreach (var file in new[] { Dataset.DevFile, Dataset.TestFile })
        {
            var r = Evaluation.Evaluate(classifier, Dataset.Load(Path.Combine(data, file)));
            report.AppendLine(c, $"| {file} | {r.Count} | {r.Accuracy:P1} | {r.CodePrecision:P1} / {r.CodeRecall:P1} | {r.GeneralPrecision:P1} / {r.GeneralRecall:P1} | {r.ExpectedCalibrationError:F3} |");
        }

        report.AppendLine();

        // In process: 4 KB prompts (dev prompts, prose and pasted code, joined until 4,096 bytes), after warm-up.
        var prompts = FourKilobytePrompts(Dataset.Load(Path.Combine(data, Dataset.DevFile)));
        var strongest = new FeatureContribution[TaskClassifier.ReportedFeatures];
        for (var i = 0; i < 20_000; i++)
        {
            classifier.Classify("You are a helpful assistant.", prompts[i % prompts.Length], strongest, out _);
        }

        var samples = new double[iterations];
        var allocated = GC.GetAllocatedBytesForCurrentThread();
        var cpuStart = Process.GetCurrentProcess().TotalProcessorTime;
        for (var i = 0; i < iterations; i++)
        {
            var start = Stopwatch.GetTimestamp();
            classifier.Classify("You are a helpful assistant.", prompts[i % prompts.Length], strongest, out _);
            samples[i] = Stopwatch.GetElapsedTime(start).TotalMicroseconds;
        }

        var cpuPerCall = (Process.GetCurrentProcess().TotalProcessorTime - cpuStart).TotalMicroseconds / iterations;
        allocated = GC.GetAllocatedBytesForCurrentThread() - allocated;
        Array.Sort(samples);
        report.AppendLine(c, $"In process, {iterations:N0} classifications of 4 KB prompts ({prompts.Length} different, {Encoding.UTF8.GetByteCount(prompts[0])} bytes each) after 20,000 warm-up calls:")
            .AppendLine()
            .AppendLine("| p50 | p90 | p99 | p99.9 | max | CPU per call (mean) | allocated per call |")
            .AppendLine("| --- | --- | --- | --- | --- | --- | --- |")
            .AppendLine(c, $"| {P(samples, 0.50):F1} µs | {P(samples, 0.90):F1} µs | {P(samples, 0.99):F1} µs | {P(samples, 0.999):F1} µs | {samples[^1]:F0} µs | {cpuPerCall:F1} µs | {allocated / (double)iterations:F1} B |")
            .AppendLine();

        if (args.String("in-process-only") is not null)
        {
            Console.WriteLine(report.ToString());
            return 0;
        }

        // Over gRPC: a real classifier process on loopback, one call at a time, then several at once.
        var concurrency = args.Int("concurrency", 8);
        var grpcPort = BenchProcess.FreePort();
        var httpPort = BenchProcess.FreePort();
        var environment = new Dictionary<string, string>
        {
            ["Kestrel__Endpoints__http__Url"] = $"http://127.0.0.1:{httpPort}",
            ["Kestrel__Endpoints__grpc__Url"] = $"http://127.0.0.1:{grpcPort}",
            ["Logging__LogLevel__Default"] = "Warning",
            ["ASPNETCORE_ENVIRONMENT"] = "Production",
        };
        foreach (var (key, value) in args.Settings("service-env"))
        {
            environment[key] = value;
        }

        // With service-cpus the classifier runs on those cores only (taskset); start the tool itself on the others.
        var dll = BenchProcess.BuildOutput("ClassifierOutput");
        var serviceCpus = args.String("service-cpus");
        await using var service = await BenchProcess.StartAsync(
            "classifier", serviceCpus is null ? "dotnet" : "taskset", serviceCpus is null ? [dll] : ["-c", serviceCpus, "dotnet", dll],
            environment, new Uri($"http://127.0.0.1:{httpPort}"), "/health", ct);
        using var channel = GrpcChannel.ForAddress($"http://127.0.0.1:{grpcPort}", new GrpcChannelOptions
        {
            HttpHandler = new SocketsHttpHandler { EnableMultipleHttp2Connections = true, PooledConnectionIdleTimeout = Timeout.InfiniteTimeSpan },
        });
        var client = new Classifier.V1.Classifier.ClassifierClient(channel);
        var requests = prompts.Select(p =>
        {
            var request = new ClassifyRequest();
            request.Messages.Add(new ChatMessage { Role = "system", Content = "You are a helpful assistant." });
            request.Messages.Add(new ChatMessage { Role = "user", Content = p });
            return request;
        }).ToArray();
        for (var i = 0; i < 2_000; i++)
        {
            await client.ClassifyAsync(requests[i % requests.Length], cancellationToken: ct);
        }

        var roundTrips = new double[calls];
        var serverTimes = new double[calls];
        var serviceCpuBefore = service.CpuTime();
        for (var i = 0; i < calls; i++)
        {
            var start = Stopwatch.GetTimestamp();
            var response = await client.ClassifyAsync(requests[i % requests.Length], cancellationToken: ct);
            roundTrips[i] = Stopwatch.GetElapsedTime(start).TotalMicroseconds;
            serverTimes[i] = response.ElapsedMicroseconds;
        }

        var serviceCpuPerCall = (service.CpuTime() - serviceCpuBefore).TotalMicroseconds / calls;

        // Several callers at once, each one call at a time: the latency a busy gateway sees, and the throughput.
        var concurrent = new double[calls];
        var next = -1;
        var concurrentWatch = Stopwatch.StartNew();
        await Task.WhenAll(Enumerable.Range(0, concurrency).Select(_ => Task.Run(async () =>
        {
            for (var i = Interlocked.Increment(ref next); i < calls; i = Interlocked.Increment(ref next))
            {
                var start = Stopwatch.GetTimestamp();
                await client.ClassifyAsync(requests[i % requests.Length], cancellationToken: ct);
                concurrent[i] = Stopwatch.GetElapsedTime(start).TotalMicroseconds;
            }
        }, ct)));
        var concurrentSeconds = concurrentWatch.Elapsed.TotalSeconds;

        Array.Sort(roundTrips);
        Array.Sort(serverTimes);
        Array.Sort(concurrent);
        report.AppendLine(c, $"gRPC Classify on loopback (h2c, 4 KB prompts), {calls:N0} calls after 2,000 warm-up calls; CPU placement: {(serviceCpus is null ? "the service and this tool share every core" : $"service on core(s) {serviceCpus}, this tool on {GatewayBenchmarks.Affinity()}")}:")
            .AppendLine()
            .AppendLine("| figure | p50 | p90 | p99 | p99.9 |")
            .AppendLine("| --- | --- | --- | --- | --- |")
            .AppendLine(c, $"| round trip, one call at a time | {P(roundTrips, 0.50):F0} µs | {P(roundTrips, 0.90):F0} µs | {P(roundTrips, 0.99):F0} µs | {P(roundTrips, 0.999):F0} µs |")
            .AppendLine(c, $"| inside the service (elapsed_microseconds) | {P(serverTimes, 0.50):F1} µs | {P(serverTimes, 0.90):F1} µs | {P(serverTimes, 0.99):F1} µs | {P(serverTimes, 0.999):F1} µs |")
            .AppendLine(c, $"| round trip, {concurrency} callers at once | {P(concurrent, 0.50):F0} µs | {P(concurrent, 0.90):F0} µs | {P(concurrent, 0.99):F0} µs | {P(concurrent, 0.999):F0} µs |")
            .AppendLine()
            .AppendLine(c, $"Service CPU per call, one at a time: {serviceCpuPerCall:F1} µs (HTTP/2, protobuf and classification); {concurrency} callers at once: {calls / concurrentSeconds:N0} calls/s.")
            .AppendLine();

        // ClassifyBatch: full batches of 1,024 prompts of 4 KB (4 MB per call).
        var batch = new ClassifyBatchRequest();
        for (var i = 0; i < ClassifierBatchSize; i++)
        {
            batch.Requests.Add(requests[i % requests.Length]);
        }

        await client.ClassifyBatchAsync(batch, cancellationToken: ct);
        var watch = Stopwatch.StartNew();
        var cpuBefore = service.CpuTime();
        for (var i = 0; i < batches; i++)
        {
            var response = await client.ClassifyBatchAsync(batch, cancellationToken: ct);
            if (response.Responses.Count != ClassifierBatchSize)
            {
                throw new InvalidOperationException("a batch answer lost responses");
            }
        }

        var seconds = watch.Elapsed.TotalSeconds;
        var cpu = service.CpuTime() - cpuBefore;
        var classified = batches * ClassifierBatchSize;
        report.AppendLine(c, $"ClassifyBatch: {batches} batches of {ClassifierBatchSize:N0} prompts of 4 KB, one call at a time: {classified / seconds:N0} prompts/s ({seconds * 1000 / batches:F0} ms per batch; service CPU {cpu.TotalMicroseconds / classified:F1} µs per prompt, protobuf included).");

        Console.WriteLine(report.ToString());
        if (args.String("out") is { } output)
        {
            await File.WriteAllTextAsync(output, report.ToString(), ct);
        }

        return 0;
    }

    private const int ClassifierBatchSize = 1024;

    /// <summary>16 different prompts of 4,096 bytes: held-out prompts (prose and pasted code) joined, then cut.</summary>
    private static string[] FourKilobytePrompts(IReadOnlyList<LabeledPrompt> dev)
    {
        var prompts = new string[16];
        for (var k = 0; k < prompts.Length; k++)
        {
            var text = new StringBuilder();
            for (var i = k; Encoding.UTF8.GetByteCount(text.ToString()) < 4096; i += 7)
            {
                text.Append(dev[i % dev.Count].Text.User).Append("\n\n");
            }

            var full = text.ToString();
            prompts[k] = full[..Platform.Classifier.Features.PromptText.Prefix(full, 4096).Length];
        }

        return prompts;
    }

    private static double P(double[] sorted, double p) => sorted[Math.Min(sorted.Length - 1, (int)Math.Ceiling(p * sorted.Length) - 1)];
}
