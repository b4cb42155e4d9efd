/// The Redis keys of one Cervella deployment, all under one prefix (default `cervella`).
///
/// Tests give each case its own prefix, so cases never see each other's keys.
public struct KeySpace: Sendable, Equatable {
    public var prefix: String

    public init(prefix: String = "cervella") { self.prefix = prefix }

    public func queue(_ queue: QueueName) -> String { "\(prefix):queue:\(queue.rawValue)" }
    public func processing(_ queue: QueueName, worker: String) -> String { "\(prefix):processing:\(queue.rawValue):\(worker)" }
    public func worker(_ id: String) -> String { "\(prefix):worker:\(id)" }
    public func reply(_ jobID: String) -> String { "\(prefix):reply:\(jobID)" }
    public func cache(_ digest: String) -> String { "\(prefix):cache:\(digest)" }
    /// Single-flight: the id of the job answering requests with this cache digest now (its
    /// followers wait in `…:followers`).
    public func flight(_ digest: String) -> String { "\(prefix):flight:\(digest)" }
    /// A streamed job's answer as it is written (a Redis stream; docs/PROTOCOL.md, "Streaming").
    public func stream(_ jobID: String) -> String { "\(prefix):stream:\(jobID)" }
    /// Set (with a TTL) when a job's producer cancels it; a worker checks it before it starts
    /// the job, and hears of it on `cancelEvents` while it runs.
    public func cancelled(_ jobID: String) -> String { "\(prefix):cancel:\(jobID)" }
    /// Channel on which producers announce cancelled job ids (payload: the id).
    public var cancelEvents: String { "\(prefix):cancels" }
    /// A job group's hash (its spec and state); its other keys add a suffix: `:children`
    /// (list of child ids in order), `:results` (hash child id → result JSON), `:succeeded`,
    /// `:failed`, `:cancelled` (sets of child ids). The group's result goes to `reply(groupID)`
    /// and its cancellation to `cancelled(groupID)` (docs/PROTOCOL.md, "Job groups").
    public func group(_ groupID: String) -> String { "\(prefix):group:\(groupID)" }
    /// A file of OpenAI's Batch API (`POST /v1/files`, or a batch's output): a hash with its
    /// owner, name, purpose, size, time and content, kept `gateway.files_ttl_seconds`.
    public func file(_ fileID: String) -> String { "\(prefix):file:\(fileID)" }
    /// A batch of OpenAI's Batch API: a hash with its owner, input file, job group, custom ids
    /// and output files.
    public func batch(_ batchID: String) -> String { "\(prefix):batch:\(batchID)" }
    public var dead: String { "\(prefix):dead" }
    /// Set once when a job's reply is written; a second finisher of the same job writes nothing.
    public func done(_ jobID: String) -> String { "\(prefix):done:\(jobID)" }
    /// The job id of a key written by `done(_:)`, else nil.
    public func jobID(fromDoneKey key: String) -> String? {
        let head = "\(prefix):done:"
        guard key.hasPrefix(head), key.count > head.count else { return nil }
        return String(key.dropFirst(head.count))
    }

    /// The queue and worker id of a key written by `processing(_:worker:)`, else nil. The
    /// worker id may itself hold colons (`host:pid`); the queue name holds none.
    public func processingList(fromKey key: String) -> (queue: QueueName, worker: String)? {
        let head = "\(prefix):processing:"
        guard key.hasPrefix(head) else { return nil }
        let rest = key.dropFirst(head.count)
        guard let colon = rest.firstIndex(of: ":"), let queue = QueueName(rawValue: String(rest[..<colon])) else { return nil }
        let worker = rest[rest.index(after: colon)...]
        return worker.isEmpty ? nil : (queue, String(worker))
    }

    /// The short lease that lets one worker at a time run the reaper.
    public var reaperLease: String { "\(prefix):reaper:lease" }
    public var processingPattern: String { "\(prefix):processing:*" }
    /// Set of every processing list a worker has used: where the reaper looks, instead of
    /// scanning a keyspace that holds a done marker per recent job.
    public var processingLists: String { "\(prefix):processing-lists" }
    /// Each worker's view of each tier's endpoints (field `tier<N>:<worker>`), refreshed by probes.
    public var health: String { "\(prefix):health" }
    /// Channel on which workers announce each written reply (payload: the result JSON), so that a
    /// gateway holding thousands of waiting requests needs one subscription, not a BLPOP each.
    public var replyEvents: String { "\(prefix):replies" }
    /// Marks an async job (`POST /api/jobs`) as accepted until its result could have expired.
    public func accepted(_ jobID: String) -> String { "\(prefix):accepted:\(jobID)" }
    /// Per-API-key request counter for one minute window.
    public func rateLimit(_ keyDigest: String, window: Int) -> String { "\(prefix):ratelimit:\(keyDigest):\(window)" }
    public var config: String { "\(prefix):config" }
    /// Hash of the tiers the pool turned off by itself (field `tier<N>`: JSON with the reason
    /// and time) and of when each small tier was last seen down or up (`tier<N>_down_since`,
    /// `tier<N>_up_since`); see `TierGuard`.
    public var autoSwitch: String { "\(prefix):auto_switch" }
    /// Lease of the worker that runs `TierGuard` (one per pool).
    public var tierGuardLease: String { "\(prefix):tier_guard:lease" }
    public func stats(hour: String) -> String { "\(prefix):stats:\(hour)" }
    /// Per-10-second counters (jobs taken, answers, latency histogram per tier), kept an hour:
    /// what the auto-scale signal reads (`ScaleAdvisor`). `slot` is the Unix time / 10.
    public func recentStats(slot: Int) -> String { "\(prefix):recent:\(slot)" }
    /// The auto-scale signal the pool last decided (JSON), which every worker exports.
    public var scaleSignal: String { "\(prefix):scale" }
    /// `<replid> <unix seconds>`: the Redis primary's replication id and when the pool first
    /// saw it; a new id after a failover restarts the reaper's settling time.
    public var primarySeen: String { "\(prefix):primary" }
    /// Stream of labelled outcomes (field `o`: one `LabelledOutcome` JSON line) from the shadow
    /// sampler and user feedback, capped in length; what `cervella calibrate --from-redis` reads.
    public var outcomes: String { "\(prefix):outcomes" }
    /// A gateway job's answer as the gate saw it (JSON, `GateRecord`), kept for the feedback
    /// window so that its owner can rate it.
    public func gateRecord(_ jobID: String) -> String { "\(prefix):gate:\(jobID)" }
    /// Set once a job's answer is rated: one rating per job.
    public func rated(_ jobID: String) -> String { "\(prefix):rated:\(jobID)" }
    /// Sampled small-model answers waiting to be shadowed by Claude and judged (`ShadowTask`
    /// JSON), newest first, capped at `shadow.max_pending`.
    public var shadowQueue: String { "\(prefix):shadow" }
    /// Claude spend on shadow labels on one UTC day (`YYYYMMDD`), in dollars.
    public func shadowSpend(day: String) -> String { "\(prefix):shadow:spend:\(day)" }
    /// The escalation budget's Claude spend on fallbacks (integer micro-dollars) in one UTC hour
    /// (`YYYYMMDDHH`) or day (`YYYYMMDD`); the scripts of `EscalationBudget` build the same names.
    public func budgetSpent(_ stamp: String) -> String { "\(prefix):budget:spent:\(stamp)" }
    /// Micro-dollars reserved by fallbacks on their way to Claude, in one hour or day.
    public func budgetReserved(_ stamp: String) -> String { "\(prefix):budget:reserved:\(stamp)" }
    /// Job id → `<µ$> <hour> <day>`: each fallback's reservation, released by its Claude commit.
    public var budgetReservations: String { "\(prefix):budget:reservations" }
    /// Lease of the worker that decides the auto-scale signal (one per pool).
    public var scaleLease: String { "\(prefix):scale:lease" }

    /// The Redis client name of one of a worker's connections (`CLIENT SETNAME`):
    /// `<prefix>/worker/<role>/<worker-id>`. The reaper reads the ids back from `CLIENT LIST`:
    /// a worker with no connection left has died, seconds before its heartbeat expires.
    public func connectionName(worker: String, role: String) -> String { "\(prefix)/worker/\(role)/\(worker)" }

    /// The worker id in a client name written by `connectionName(worker:role:)`, else nil.
    public func worker(fromConnectionName name: Substring) -> String? {
        let head = "\(prefix)/worker/"
        guard name.hasPrefix(head) else { return nil }
        let rest = name.dropFirst(head.count)
        guard let slash = rest.firstIndex(of: "/"), rest.index(after: slash) < rest.endIndex else { return nil }
        return String(rest[rest.index(after: slash)...])
    }

    /// True when `key` is a reply list of this deployment: workers push to no other key a job names.
    public func isReplyKey(_ key: String) -> Bool {
        key.hasPrefix("\(prefix):reply:") && key.count > prefix.count + 7
    }
}

/// The four work queues, their bulk lanes, and the quarantine.
public enum QueueName: String, Sendable, CaseIterable, Codable {
    case tier1, tier2, tier3, fallback
    /// Jobs taken back from a worker that died holding them, held aside until a probation
    /// process runs each one alone (docs/RELIABILITY.md). Never a queue of a worker's own:
    /// a quarantined job is served as the queue it was recovered from (`Job.originQueue`).
    case quarantine
    /// The bulk lane of each work queue: jobs with `"priority": "bulk"` (batches, groups),
    /// which a worker serving the work queue takes only with what interactive jobs leave
    /// (docs/PROTOCOL.md, "Lanes").
    case tier1Bulk = "tier1_bulk", tier2Bulk = "tier2_bulk", tier3Bulk = "tier3_bulk", fallbackBulk = "fallback_bulk"

    /// The queues a worker may be told to serve (each brings its bulk lane).
    public static let workQueues: [QueueName] = [.tier1, .tier2, .tier3, .fallback]

    /// The tier whose provider serves this queue; the fallback queue is served by Claude (tier 3).
    public var servingTier: Tier {
        switch self {
        case .tier1, .tier1Bulk: return .tier1
        case .tier2, .tier2Bulk: return .tier2
        case .tier3, .tier3Bulk, .fallback, .fallbackBulk, .quarantine: return .claude
        }
    }

    /// The bulk lane of a work queue; nil for the quarantine and for bulk lanes themselves.
    public var bulkLane: QueueName? {
        switch self {
        case .tier1: return .tier1Bulk
        case .tier2: return .tier2Bulk
        case .tier3: return .tier3Bulk
        case .fallback: return .fallbackBulk
        default: return nil
        }
    }

    public var isBulk: Bool {
        switch self {
        case .tier1Bulk, .tier2Bulk, .tier3Bulk, .fallbackBulk: return true
        default: return false
        }
    }

    /// The Claude fallback queue, in either lane.
    public var isFallback: Bool { self == .fallback || self == .fallbackBulk }

    /// This work queue in the lane of `priority`.
    public func lane(_ priority: JobPriority) -> QueueName {
        priority == .bulk ? (bulkLane ?? self) : self
    }
}

/// Which lane a job waits in: `interactive` (the default: chat, agents' steps) or `bulk`
/// (batches and groups, served with what interactive jobs leave).
public enum JobPriority: String, Sendable, Codable, CaseIterable {
    case interactive, bulk
}
