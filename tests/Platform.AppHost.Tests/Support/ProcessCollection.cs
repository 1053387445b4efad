namespace Platform.AppHost.Tests.Support;

/// <summary>
/// Tests that start real processes run one class at a time: on a 2-core machine, two platforms starting
/// at once would only make each other's start-up slower.
/// </summary>
[CollectionDefinition(Name)]
public sealed class ProcessCollection
{
    public const string Name = "processes";
}
