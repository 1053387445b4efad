using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;
using Platform.AppHost.Hosting;
using Platform.AppHost.Launch;
using Platform.AppHost.Options;
using Platform.AppHost.Orchestration;
using Platform.AppHost.Output;
using Platform.AppHost.Tests.Support;

namespace Platform.AppHost.Tests.Orchestration;

[Collection(ProcessCollection.Name)]
public sealed class ReplicaSupervisorTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(20);

    private static ReplicaSupervisor Sleeper(TimeProvider time) => new(
        new ReplicaPlan(new ExecutableResource("sleeper", "sleep"), 0, 0, []),
        new ProcessSpec("sleep", ["300"], new Dictionary<string, string>()),
        new RunningProbe(),
        new ConsoleMux(TextWriter.Null, color: false),
        new SupervisionOptions { RestartInitialDelayMs = 500, RestartMaxDelayMs = 30_000, StopTimeoutMs = 2_000 },
        time,
        NullLogger.Instance);

    private static async Task<int> KillAndWaitForBackOffAsync(ReplicaSupervisor supervisor)
    {
        var pid = supervisor.Snapshot().Pid!.Value;
        Assert.True(ProcessTree.Signal(pid, ProcessTree.SigKill));
        await Poll.UntilAsync(() => supervisor.Snapshot().State == ReplicaState.BackingOff, Timeout, "the back-off state");
        return pid;
    }

    [Fact]
    public async Task Crash_SigKill_RestartsOnlyWhenTheBackOffDelayHasPassed()
    {
        var time = new FakeTimeProvider();
        var supervisor = Sleeper(time);
        await supervisor.StartAsync(TestContext.Current.CancellationToken);
        await supervisor.FirstHealthy.WaitAsync(Timeout, TestContext.Current.CancellationToken);

        var first = await KillAndWaitForBackOffAsync(supervisor);
        time.Advance(TimeSpan.FromMilliseconds(499));
        Assert.Equal(ReplicaState.BackingOff, supervisor.Snapshot().State);
        Assert.Null(supervisor.Snapshot().Pid);
        time.Advance(TimeSpan.FromMilliseconds(1));
        await Poll.UntilAsync(() => supervisor.Snapshot().Pid is { } pid && pid != first, Timeout, "the first restart");

        // The second consecutive crash waits twice as long.
        var second = await KillAndWaitForBackOffAsync(supervisor);
        time.Advance(TimeSpan.FromMilliseconds(999));
        Assert.Equal(ReplicaState.BackingOff, supervisor.Snapshot().State);
        time.Advance(TimeSpan.FromMilliseconds(1));
        await Poll.UntilAsync(() => supervisor.Snapshot().Pid is { } pid && pid != second, Timeout, "the second restart");

        var snapshot = supervisor.Snapshot();
        Assert.Equal(2, snapshot.Restarts);
        Assert.Equal(128 + ProcessTree.SigKill, snapshot.LastExitCode);
        await supervisor.ShutdownAsync();
        Assert.Equal(ReplicaState.Stopped, supervisor.Snapshot().State);
    }

    [Fact]
    public async Task Stop_DuringBackOff_CancelsTheRestart()
    {
        var time = new FakeTimeProvider();
        var supervisor = Sleeper(time);
        await supervisor.StartAsync(TestContext.Current.CancellationToken);
        await supervisor.FirstHealthy.WaitAsync(Timeout, TestContext.Current.CancellationToken);
        await KillAndWaitForBackOffAsync(supervisor);

        await supervisor.StopAsync(TestContext.Current.CancellationToken);
        time.Advance(TimeSpan.FromMinutes(1));

        Assert.Equal(ReplicaState.Stopped, supervisor.Snapshot().State);
        Assert.Null(supervisor.Snapshot().Pid);
        await supervisor.ShutdownAsync();
    }

    [Fact]
    public async Task Restart_Running_StopsGracefullyAndStartsANewProcess()
    {
        var supervisor = Sleeper(TimeProvider.System);
        await supervisor.StartAsync(TestContext.Current.CancellationToken);
        await supervisor.FirstHealthy.WaitAsync(Timeout, TestContext.Current.CancellationToken);
        var before = ProcessTree.Identify(supervisor.Snapshot().Pid!.Value)!.Value;

        await supervisor.RestartAsync(TestContext.Current.CancellationToken);

        var after = supervisor.Snapshot();
        Assert.NotEqual(before.Pid, after.Pid);
        Assert.Equal(1, after.Restarts);
        Assert.Equal(128 + ProcessTree.SigTerm, after.LastExitCode);
        Assert.False(ProcessTree.IsAlive(before));
        await supervisor.ShutdownAsync();
    }
}
