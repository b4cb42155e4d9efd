import Foundation
import JobProtocol
import Logging
import RedisClient
import Synchronization

/// What this worker hears of cancelled jobs: producers SET `cancel:<id>` and PUBLISH the id
/// on `cancels` (a client that disconnected from a stream, `DELETE /api/jobs/<id>`,
/// `Producer.cancel`). A job running here when its id is announced is stopped at once (its
/// provider call aborted); ids heard recently are remembered, so a job popped just after is
/// not started. The flag key covers what a subscription cannot: a worker that was not
/// listening when the id was announced: a job created less than `skew` (1 s) after this worker's
/// subscription began (or while it is down) is looked up in Redis before it starts; a later
/// one's cancellation, announced after the job existed, was heard. That spares the round trip
/// for every job of a worker that keeps listening (with a Redis read per job, the instant
/// provider's throughput fell 14 %).
final class CancelWatch: Sendable {
    private struct State {
        /// The stop actions of the jobs running here, by job id and by group id (several
        /// children of one group may run here at once).
        var running: [String: [Int: @Sendable () -> Void]] = [:]
        var nextToken = 0
        var heard: Set<String> = []
        /// Heard ids, oldest first from `oldest` on (a queue without O(n) removals).
        var heardOrder: [String] = []
        var oldest = 0
        /// Unix time the current subscription began; nil while there is none.
        var listeningSince: Double?
    }

    /// How far a producer's clock may run ahead of a worker's (`created_at` is the producer's):
    /// hosts kept by NTP agree within milliseconds, and job deadlines already rely on it.
    static let skew = 1.0

    /// Ids remembered; older ones are forgotten first (the flag key still holds them).
    static let memory = 10_000

    private let state = Mutex(State())
    private let subscriber = Mutex<RedisSubscriber?>(nil)

    func start(configuration: RedisConfiguration, keys: KeySpace, name: String, logger: Logger) {
        let subscriber = RedisSubscriber(
            configuration: configuration, channel: keys.cancelEvents, name: name, logger: logger,
            onSubscribed: { [self] in state.withLock { $0.listeningSince = Date().timeIntervalSince1970 } },
            onLost: { [self] in state.withLock { $0.listeningSince = nil } },
            onMessage: { [self] payload in
                // Ids are short; anything longer is not one of ours.
                guard payload.count <= JobLimits.maxIDLength else { return }
                self.heard(String(decoding: payload, as: UTF8.self))
            })
        self.subscriber.withLock { $0 = subscriber }
    }

    func stop() {
        subscriber.withLock {
            $0?.close()
            $0 = nil
        }
    }

    /// Records a cancelled job or group id and stops its jobs that run here.
    func heard(_ id: String) {
        let actions: [@Sendable () -> Void] = state.withLock { state in
            if state.heard.insert(id).inserted {
                state.heardOrder.append(id)
                if state.heardOrder.count - state.oldest > Self.memory {
                    state.heard.remove(state.heardOrder[state.oldest])
                    state.oldest += 1
                    if state.oldest >= Self.memory {
                        state.heardOrder.removeFirst(state.oldest)
                        state.oldest = 0
                    }
                }
            }
            return state.running[id].map { Array($0.values) } ?? []
        }
        for action in actions { action() }
    }

    /// Whether one of the ids (a job's, its group's) was announced cancelled while this
    /// worker listened.
    func wasHeard(_ ids: [String]) -> Bool {
        state.withLock { state in ids.contains { state.heard.contains($0) } }
    }

    /// Whether this worker has listened since before a job created at `createdAt` could have
    /// been cancelled, so that `wasHeard` is the whole answer.
    func vouches(forJobCreatedAt createdAt: Double) -> Bool {
        state.withLock { state in state.listeningSince.map { createdAt > $0 + Self.skew } ?? false }
    }

    /// Runs `body` with `onCancel` called if the cancellation of one of `ids` (the job's, its
    /// group's) is heard meanwhile (at once if it was heard already).
    func whileRunning<T>(_ ids: [String], onCancel: @escaping @Sendable () -> Void, _ body: () async -> T) async -> T {
        let (token, already) = state.withLock { state in
            let token = state.nextToken
            state.nextToken &+= 1
            for id in ids { state.running[id, default: [:]][token] = onCancel }
            return (token, ids.contains { state.heard.contains($0) })
        }
        if already { onCancel() }
        defer {
            state.withLock { state in
                for id in ids {
                    state.running[id]?[token] = nil
                    if state.running[id]?.isEmpty == true { state.running[id] = nil }
                }
            }
        }
        return await body()
    }
}
