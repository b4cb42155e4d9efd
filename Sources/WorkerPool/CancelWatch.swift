import JobProtocol
import Logging
import RedisClient
import Synchronization

/// What this worker hears of cancelled jobs: producers SET `cancel:<id>` and PUBLISH the id
/// on `cancels` (a client that disconnected from a stream, `DELETE /api/jobs/<id>`,
/// `Producer.cancel`). A job running here when its id is announced is stopped at once (its
/// provider call aborted); ids heard recently are remembered, so a job popped just after is
/// not started. The flag key covers what a subscription cannot: a worker that was not
/// listening when the id was announced (`Worker.wasCancelled`).
final class CancelWatch: Sendable {
    private struct State {
        var running: [String: @Sendable () -> Void] = [:]
        var heard: Set<String> = []
        var heardOrder: [String] = []
    }

    /// Ids remembered; older ones are forgotten first (the flag key still holds them).
    static let memory = 10_000

    private let state = Mutex(State())
    private let subscriber = Mutex<RedisSubscriber?>(nil)

    func start(configuration: RedisConfiguration, keys: KeySpace, name: String, logger: Logger) {
        let subscriber = RedisSubscriber(
            configuration: configuration, channel: keys.cancelEvents, name: name, logger: logger,
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

    /// Records a cancelled id and stops its job if it runs here.
    func heard(_ id: String) {
        let action: (@Sendable () -> Void)? = state.withLock { state in
            if state.heard.insert(id).inserted {
                state.heardOrder.append(id)
                if state.heardOrder.count > Self.memory {
                    let old = state.heardOrder.removeFirst()
                    state.heard.remove(old)
                }
            }
            return state.running[id]
        }
        action?()
    }

    /// Whether the id was announced cancelled while this worker listened.
    func wasHeard(_ id: String) -> Bool {
        state.withLock { $0.heard.contains(id) }
    }

    /// Runs `body` with `onCancel` called if the job's cancellation is heard meanwhile (at
    /// once if it was heard already).
    func whileRunning<T>(_ id: String, onCancel: @escaping @Sendable () -> Void, _ body: () async -> T) async -> T {
        let already = state.withLock { state in
            state.running[id] = onCancel
            return state.heard.contains(id)
        }
        if already { onCancel() }
        defer { _ = state.withLock { $0.running.removeValue(forKey: id) } }
        return await body()
    }
}
