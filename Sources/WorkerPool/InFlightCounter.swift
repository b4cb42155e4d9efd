import Synchronization

/// The jobs a worker is processing, and a way to wait until there are none: the drain at
/// shutdown waits on this signal instead of polling the count.
final class InFlightCounter: Sendable {
    private struct State {
        var count = 0
        var waiters: [Int: CheckedContinuation<Void, Never>] = [:]
        var nextWaiter = 0
    }

    private let state = Mutex(State())

    var value: Int { state.withLock { $0.count } }

    func increment() {
        state.withLock { $0.count += 1 }
    }

    func decrement() {
        let woken: [CheckedContinuation<Void, Never>] = state.withLock { state in
            state.count -= 1
            guard state.count <= 0 else { return [] }
            defer { state.waiters.removeAll() }
            return Array(state.waiters.values)
        }
        for waiter in woken { waiter.resume() }
    }

    /// Returns once no job is in flight, or when `timeout` has passed; true when none is left.
    func waitUntilIdle(timeout: Duration) async -> Bool {
        await withTaskGroup(of: Bool.self) { group in
            group.addTask {
                await self.waitUntilIdle()
                return true
            }
            group.addTask {
                try? await Task.sleep(for: timeout)
                return false
            }
            let first = await group.next() ?? false
            group.cancelAll()
            return first || value == 0
        }
    }

    /// Waits for zero; a cancelled wait returns at once.
    private func waitUntilIdle() async {
        let id: Int = state.withLock { state in
            state.nextWaiter += 1
            return state.nextWaiter
        }
        await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                let resumeNow = state.withLock { state in
                    if state.count <= 0 || Task.isCancelled { return true }
                    state.waiters[id] = continuation
                    return false
                }
                if resumeNow { continuation.resume() }
            }
        } onCancel: {
            let waiter = state.withLock { $0.waiters.removeValue(forKey: id) }
            waiter?.resume()
        }
    }
}

/// Set once, when a worker begins to stop: the fetch loops and the commit writer read it, and
/// the drain timer waits on it (one waiter).
final class StopSignal: Sendable {
    private let state = Mutex(false)
    private let stream: AsyncStream<Void>
    private let continuation: AsyncStream<Void>.Continuation

    init() { (stream, continuation) = AsyncStream.makeStream(of: Void.self) }

    var isSet: Bool { state.withLock { $0 } }

    /// Sets the signal; true for the call that set it, false for later ones.
    func set() -> Bool {
        let first = state.withLock { set in
            defer { set = true }
            return !set
        }
        if first { continuation.finish() }
        return first
    }

    /// Returns once the signal is set, or when the waiting task is cancelled.
    func wait() async {
        for await _ in stream {}
    }
}
