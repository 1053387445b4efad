namespace Platform.Watchdog.Actions;

/// <summary>Whether this replica may act on engines now (the leader lease; a fake in unit tests).</summary>
internal interface ILeadership
{
    bool IsLeader { get; }

    /// <summary>This replica's id in the lease (the persisted state is written only while the lease holds it).</summary>
    string ReplicaId { get; }

    /// <summary>The current holder as last seen (for error messages), or null.</summary>
    string? Holder { get; }

    /// <summary>The gRPC address the holder published with its lease, as last seen, or null.</summary>
    string? LeaderAddress { get; }
}
