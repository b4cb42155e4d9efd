import Synchronization

/// Counts a worker's free job slots and hands them to waiting fetchers, highest priority first.
///
/// Fetchers take a slot before they pop, so a worker never holds more jobs than it can run
/// (River: fetch `MaxWorkers - numJobsActive`). Priority 0 is served first, which is how the
/// fallback queue, listed first, gets the next free slot ahead of new work.
final class SlotPool: Sendable {
    private struct Waiter {
        var priority: Int
        var continuation: CheckedContinuation<Bool, Never>
    }

    private struct State {
        var free: Int
        var waiters: [Waiter] = []
        var closed = false
    }

    private let state: Mutex<State>
    let capacity: Int

    init(capacity: Int) {
        self.capacity = capacity
        self.state = Mutex(State(free: capacity))
    }

    /// Waits for a slot; false once the pool is closed (shutdown), in which case nothing was taken.
    func acquire(priority: Int) async -> Bool {
        await withCheckedContinuation { continuation in
            let immediate: Bool? = state.withLock { state in
                if state.closed { return false }
                if state.free > 0 {
                    state.free -= 1
                    return true
                }
                state.waiters.append(Waiter(priority: priority, continuation: continuation))
                return nil
            }
            if let immediate { continuation.resume(returning: immediate) }
        }
    }

    /// Takes up to `limit` free slots without waiting; returns how many it took.
    func tryAcquire(upTo limit: Int) -> Int {
        guard limit > 0 else { return 0 }
        return state.withLock { state in
            guard !state.closed else { return 0 }
            let taken = min(limit, state.free)
            state.free -= taken
            return taken
        }
    }

    func release(_ count: Int) {
        for _ in 0..<count { release() }
    }

    func release() {
        let next: CheckedContinuation<Bool, Never>? = state.withLock { state in
            if !state.closed, let index = state.waiters.indices.min(by: { state.waiters[$0].priority < state.waiters[$1].priority }) {
                return state.waiters.remove(at: index).continuation
            }
            state.free += 1
            return nil
        }
        next?.resume(returning: true)
    }

    /// Wakes every waiter with false; later acquires fail at once.
    func close() {
        let waiters = state.withLock { state in
            state.closed = true
            defer { state.waiters.removeAll() }
            return state.waiters
        }
        for waiter in waiters { waiter.continuation.resume(returning: false) }
    }
}
