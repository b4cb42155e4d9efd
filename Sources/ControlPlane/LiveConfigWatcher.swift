import Foundation
import JobProtocol
import Logging
import Metrics
import RedisClient
import Settings
import Synchronization

/// Keeps a process's view of the live flags fresh.
///
/// It re-reads the hash every `interval` (250 ms by default): one small command four times a
/// second per process, and a bound of well under a second between an operator's switch and
/// every producer and worker obeying it. Polling instead of subscribing keeps the bound even
/// when a pub/sub message is lost during a reconnect; the channel is there for other tools.
public final class LiveConfigWatcher: Sendable {
    private let base: LiveFlags
    private let store: LiveConfigStore
    private let interval: Duration
    private let logger: Logger
    private let state: Mutex<(flags: LiveFlags, lastProblems: [String])>

    public init(settings: CervellaSettings, connection: RedisConnection, interval: Duration = .milliseconds(250), logger: Logger) {
        self.base = LiveFlags(settings: settings)
        self.store = LiveConfigStore(connection: connection, keys: KeySpace(prefix: settings.redis.keyPrefix))
        self.interval = interval
        self.logger = logger
        self.state = Mutex((LiveFlags(settings: settings), []))
        Self.exportTargets(old: CalibrationTable(), new: settings.routing.calibration)
    }

    /// `cervella_fallback_target{tier,task_type}`: each calibration entry's target fallback
    /// rate, beside the gate's decisions, so a dashboard can draw the realised rate against it.
    /// An entry that is gone (or has no target) reads NaN.
    static func exportTargets(old: CalibrationTable, new: CalibrationTable) {
        for key in Set(old.entries.keys).union(new.entries.keys) {
            let parts = key.split(separator: "/", maxSplits: 1).map(String.init)
            guard parts.count == 2 else { continue }
            let target = new.entries[key]?.targetFallbackRate
            guard target != nil || old.entries[key]?.targetFallbackRate != nil else { continue }
            Gauge(label: "cervella_fallback_target", dimensions: [("tier", parts[0]), ("task_type", parts[1])]).record(target ?? .nan)
        }
    }

    public var current: LiveFlags { state.withLock { $0.flags } }

    /// Reads the hash once; keeps the last known flags when Redis cannot be reached.
    public func refresh() async {
        guard let hash = try? await store.read() else { return }
        let (flags, problems) = base.applying(hash)
        let (previous, previousProblems) = state.withLock { state in
            defer { state = (flags, problems) }
            return state
        }
        if previous.calibration != flags.calibration {
            Self.exportTargets(old: previous.calibration, new: flags.calibration)
            logger.notice("calibration changed", metadata: ["cervella.calibration_entries": "\(flags.calibration.entries.count)"])
        }
        if previous != flags {
            logger.notice(
                "live configuration changed",
                metadata: [
                    "cervella.tiers_enabled":
                        "\(flags.tierEnabled.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ","))",
                    "cervella.fallback_enabled": "\(flags.fallbackEnabled)",
                ])
        }
        if !problems.isEmpty, problems != previousProblems {
            logger.warning(
                "ignoring unreadable fields in the live configuration hash", metadata: ["cervella.problems": "\(problems.joined(separator: "; "))"])
        }
    }

    /// Refreshes until the task is cancelled.
    public func run() async {
        await repeatEvery(interval) { await refresh() }
    }
}
