import ControlPlane
import Foundation
import JobProtocol
import Logging
import Metrics
import RedisClient
import Settings
import Synchronization

/// How long a new small-tier job would wait in its queue: each lane's depth over the tier's
/// recent drain rate (jobs workers took from its queues per second, over the last 30–40 s of
/// the recent statistics, from the first 10 s slot in which any were taken). Refreshed every half second by the producer's process (one pipeline: two
/// LLENs and four small HGETs per small tier); what deadline-aware routing reads
/// (`Producer.makeJob`, reason `tier1_backlog`).
public final class BacklogWatch: Sendable {
    /// One small tier's queue as last read.
    public struct Estimate: Sendable, Equatable {
        public var interactiveDepth: Int
        public var bulkDepth: Int
        /// Jobs taken from the tier's queues per second, recently.
        public var drainPerSecond: Double

        public init(interactiveDepth: Int, bulkDepth: Int, drainPerSecond: Double) {
            self.interactiveDepth = interactiveDepth
            self.bulkDepth = bulkDepth
            self.drainPerSecond = drainPerSecond
        }

        /// Seconds a new job of `priority` would wait: the jobs ahead of it over the drain rate.
        /// Nil when nothing is ahead of it; infinite when jobs wait and none were taken lately
        /// (no worker serves the tier).
        public func waitSeconds(priority: JobPriority) -> Double? {
            // A bulk job waits behind its own lane and every interactive job.
            let ahead = priority == .bulk ? interactiveDepth + bulkDepth : interactiveDepth
            guard ahead > 0 else { return nil }
            guard drainPerSecond > 0 else { return .infinity }
            return Double(ahead) / drainPerSecond
        }
    }

    private let connection: RedisConnection
    private let keys: KeySpace
    private let logger: Logger
    private let state = Mutex<[Tier: Estimate]>([:])
    /// Slots (10 s each) the drain rate is measured over, the current one included.
    static let slots = 4

    public init(connection: RedisConnection, keys: KeySpace, logger: Logger) {
        self.connection = connection
        self.keys = keys
        self.logger = logger
    }

    /// The tier's estimate as last read; nil before the first read.
    public func estimate(_ tier: Tier) -> Estimate? { state.withLock { $0[tier] } }

    /// Reads the queues and the recent statistics once; keeps the last estimate on a failure.
    public func refresh(now: Date = Date()) async {
        let tiers = Tier.allCases.filter(\.isSmall)
        let current = HourlyStats.slot(now)
        var commands: [RedisCommand] = []
        for tier in tiers {
            let queue = tier.queue
            commands.append(RedisCommand("LLEN", RedisArgument(keys.queue(queue))))
            commands.append(RedisCommand("LLEN", RedisArgument(keys.queue(queue.bulkLane ?? queue))))
            for slot in (current - Self.slots + 1)...current {
                commands.append(RedisCommand("HGET", RedisArgument(keys.recentStats(slot: slot)), RedisArgument("requests:tier\(tier)")))
            }
        }
        guard let replies = try? await connection.pipeline(commands), replies.count == commands.count else { return }
        // Seconds into the current slot, which is partly over.
        let intoSlot = max(1, now.timeIntervalSince1970.truncatingRemainder(dividingBy: Double(HourlyStats.slotSeconds)))
        var estimates: [Tier: Estimate] = [:]
        let stride = 2 + Self.slots
        for (index, tier) in tiers.enumerated() {
            let base = index * stride
            let taken = replies[(base + 2)..<(base + stride)].map { reply in min(1_000_000_000, max(0, reply.string.flatMap { Int($0) } ?? 0)) }
            estimates[tier] = Estimate(
                interactiveDepth: max(0, replies[base].integer ?? 0), bulkDepth: max(0, replies[base + 1].integer ?? 0),
                drainPerSecond: Self.drainRate(takenPerSlot: taken, secondsIntoCurrentSlot: intoSlot))
        }
        state.withLock { $0 = estimates }
    }

    /// Jobs taken per second, from the jobs taken in each slot (oldest first, the current one
    /// last): over the time since the first slot that took any, so that a tier that was idle
    /// until a burst began is not measured as slow as its idle time would make it.
    static func drainRate(takenPerSlot: [Int], secondsIntoCurrentSlot: Double) -> Double {
        guard let first = takenPerSlot.firstIndex(where: { $0 > 0 }) else { return 0 }
        let wholeSlots = Double(takenPerSlot.count - 1 - first)
        let elapsed = wholeSlots * Double(HourlyStats.slotSeconds) + max(1, secondsIntoCurrentSlot)
        return Double(takenPerSlot.reduce(0, +)) / elapsed
    }

    /// Refreshes until the task is cancelled.
    public func run(interval: Duration = .milliseconds(500)) async {
        await repeatEvery(interval) { await refresh() }
    }

    /// Counts a job sent to Claude by its tier's backlog (`cervella_backlog_reroutes_total`).
    static func counted(_ tier: Tier) {
        Counter(label: "cervella_backlog_reroutes_total", dimensions: [("tier", "\(tier)")]).increment()
    }
}
