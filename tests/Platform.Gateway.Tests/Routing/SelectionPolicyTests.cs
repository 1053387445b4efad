using Microsoft.Extensions.Options;
using Platform.Classifier.V1;
using Platform.Fleet.Catalog;
using Platform.Gateway.Pipeline;
using Platform.Gateway.Routing;

namespace Platform.Gateway.Tests.Routing;

public sealed class SelectionPolicyTests
{
    private static readonly RoutingRequest Request = new("m", TaskKind.General, null, [], false);

    private static EngineCandidate Candidate(string id, int inFlight, double waiting = 0, double score = 100) =>
        new(new EngineInfo(id, "p", "m", new Uri("http://127.0.0.1:1/")), score, inFlight, waiting);

    [Fact]
    public void PowerOfTwo_TwoCandidates_AlwaysPrefersLessLoaded()
    {
        var policy = new PowerOfTwoChoicesPolicy(new RoutingRandom(Options.Create(new RoutingOptions { Seed = 1 })));
        EngineCandidate[] candidates = [Candidate("busy", 8, waiting: 3), Candidate("idle", 1)];

        for (var i = 0; i < 100; i++)
        {
            Assert.Equal("idle", policy.Pick(candidates, Request).Id);
        }
    }

    [Fact]
    public void PowerOfTwo_ManyCandidates_NeverPicksTheMostLoaded()
    {
        var policy = new PowerOfTwoChoicesPolicy(new RoutingRandom(Options.Create(new RoutingOptions { Seed = 3 })));
        var candidates = Enumerable.Range(0, 5).Select(i => Candidate($"e{i}", i * 2)).ToArray();

        var picks = Enumerable.Range(0, 500).Select(_ => policy.Pick(candidates, Request).Id).ToList();

        Assert.DoesNotContain("e4", picks);
        Assert.True(picks.Count(p => p == "e0") > picks.Count(p => p == "e3"));
    }

    [Fact]
    public void PowerOfTwo_EqualLoad_LowerScoreLoses()
    {
        var policy = new PowerOfTwoChoicesPolicy(new RoutingRandom(Options.Create(new RoutingOptions { Seed = 5 })));
        EngineCandidate[] candidates = [Candidate("sick", 2, score: 10), Candidate("fine", 2, score: 90)];

        Assert.All(Enumerable.Range(0, 20), _ => Assert.Equal("fine", policy.Pick(candidates, Request).Id));
    }

    [Fact]
    public void RoundRobin_Cycles_OverEveryCandidate()
    {
        var policy = new RoundRobinPolicy();
        EngineCandidate[] candidates = [Candidate("a", 9), Candidate("b", 0), Candidate("c", 0)];

        var picks = Enumerable.Range(0, 6).Select(_ => policy.Pick(candidates, Request).Id).ToArray();

        Assert.Equal(["a", "b", "c", "a", "b", "c"], picks);
    }

    [Fact]
    public void LeastLoaded_Picks_TheCheapest()
    {
        EngineCandidate[] candidates = [Candidate("a", 3), Candidate("b", 1, waiting: 1), Candidate("c", 1)];

        Assert.Equal("c", new LeastLoadedPolicy().Pick(candidates, Request).Id);
    }

    [Fact]
    public void InFlightTracker_Lease_CountsUntilDisposedOnce()
    {
        var tracker = new InFlightTracker();
        var a = tracker.Track("e");
        var b = tracker.Track("e");
        Assert.Equal(2, tracker.Count("e"));

        a.Dispose();
        a.Dispose();
        Assert.Equal(1, tracker.Count("e"));
        b.Dispose();
        Assert.Equal(0, tracker.Count("e"));
    }

    [Fact]
    public void PrefixHash_SameSystemAndUser_SameHash_DifferentUser_Different()
    {
        static GenerationRequest Chat(string user) => new()
        {
            Id = "chatcmpl-1", Api = GenerationApi.ChatCompletions, Model = "m", Tenant = "t", Frontend = "http",
            Body = [], Messages = [new ChatTurn("system", "You are helpful."), new ChatTurn("user", user), new ChatTurn("assistant", "x")],
        };

        Assert.Equal(PrefixHash.Compute(Chat("hello"), 256), PrefixHash.Compute(Chat("hello"), 256));
        Assert.NotEqual(PrefixHash.Compute(Chat("hello"), 256), PrefixHash.Compute(Chat("world"), 256));
        Assert.Equal(PrefixHash.Compute(Chat(new string('a', 300) + "x"), 256), PrefixHash.Compute(Chat(new string('a', 300) + "y"), 256));
    }
}
