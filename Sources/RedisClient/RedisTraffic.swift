import Synchronization

/// Commands written and round trips made (pipelines flushed): what a process costs Redis,
/// as `cervella bench` and a worker's heartbeat report it.
public final class RedisTraffic: Sendable {
    private let commandCount = Atomic<Int>(0)
    private let roundTripCount = Atomic<Int>(0)
    private let shortfallCount = Atomic<Int>(0)

    public init() {}

    func record(commands: Int) {
        commandCount.add(commands, ordering: .relaxed)
        roundTripCount.add(1, ordering: .relaxed)
    }

    public var commands: Int { commandCount.load(ordering: .relaxed) }
    public var roundTrips: Int { roundTripCount.load(ordering: .relaxed) }

    /// Counts a replicated write that fewer replicas than asked acknowledged in time; returns
    /// the count so far.
    func recordShortfall() -> Int { shortfallCount.add(1, ordering: .relaxed).newValue }

    /// Replicated writes that stood on the primary alone (`RedisConnection.pipeline(_:replicated:)`).
    public var replicationShortfalls: Int { shortfallCount.load(ordering: .relaxed) }
}
