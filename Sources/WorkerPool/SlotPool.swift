import Synchronization

/// Counts a worker's free job slots and hands them to waiting fetchers, highest priority first,
/// with the bulk lane's share.
///
/// Fetchers take a slot before they pop, so a worker never holds more jobs than it can run
/// (River: fetch `MaxWorkers - numJobsActive`). Priority 0 is served first, which is how the
/// fallback queue, listed first, gets the next free slot ahead of new work.
///
/// A fetcher whose queue looked empty (`idle`: it will block on it) is served after every
/// fetcher that has work, so that a worker serving many queues, most of them empty, gives its
/// slots to the jobs that exist rather than to pops that wait.
///
/// Bulk fetchers (the bulk lanes, docs/PROTOCOL.md "Lanes") are served after every interactive
/// one with work, with two limits: they never hold more than `bulkLimit` slots (the rest is kept for
/// interactive jobs, so that one finds a slot at once while a batch fills the worker), and
/// while both lanes wait, every `bulkEvery`-th slot freed goes to a bulk fetcher (so a steady
/// interactive load cannot starve a batch; 0: never).
final class SlotPool: Sendable {
    private struct Waiter {
        var priority: Int
        var bulk: Bool
        var idle: Bool
        var continuation: CheckedContinuation<Bool, Never>
    }

    private struct State {
        var free: Int
        var bulkInUse = 0
        /// Slots granted to interactive waiters since the last one granted to a bulk waiter.
        var grantsSinceBulk = 0
        var waiters: [Waiter] = []
        var closed = false
    }

    private let state: Mutex<State>
    let capacity: Int
    let bulkLimit: Int
    let bulkEvery: Int

    init(capacity: Int, bulkLimit: Int? = nil, bulkEvery: Int = 0) {
        self.capacity = capacity
        self.bulkLimit = max(1, min(capacity, bulkLimit ?? capacity))
        self.bulkEvery = max(0, bulkEvery)
        self.state = Mutex(State(free: capacity))
    }

    /// Waits for a slot; false once the pool is closed (shutdown), in which case nothing was taken.
    func acquire(priority: Int, bulk: Bool = false, idle: Bool = false) async -> Bool {
        await withCheckedContinuation { continuation in
            let immediate: Bool? = state.withLock { state in
                if state.closed { return false }
                if state.free > 0, !bulk || state.bulkInUse < bulkLimit {
                    state.free -= 1
                    if bulk { state.bulkInUse += 1 }
                    return true
                }
                state.waiters.append(Waiter(priority: priority, bulk: bulk, idle: idle, continuation: continuation))
                return nil
            }
            if let immediate { continuation.resume(returning: immediate) }
        }
    }

    /// Takes up to `limit` free slots without waiting; returns how many it took.
    func tryAcquire(upTo limit: Int, bulk: Bool = false) -> Int {
        guard limit > 0 else { return 0 }
        return state.withLock { state in
            guard !state.closed else { return 0 }
            let taken = min(limit, state.free, bulk ? max(0, bulkLimit - state.bulkInUse) : Int.max)
            state.free -= taken
            if bulk { state.bulkInUse += taken }
            return taken
        }
    }

    func release(_ count: Int, bulk: Bool = false) {
        for _ in 0..<max(0, count) { release(bulk: bulk) }
    }

    /// Gives back a slot taken by a fetcher of the bulk lane (`bulk`) or of an interactive one.
    func release(bulk: Bool = false) {
        let next: CheckedContinuation<Bool, Never>? = state.withLock { state in
            if bulk { state.bulkInUse = max(0, state.bulkInUse - 1) }
            state.free += 1
            guard !state.closed, let index = Self.next(in: state, bulkLimit: bulkLimit, bulkEvery: bulkEvery) else { return nil }
            let waiter = state.waiters.remove(at: index)
            state.free -= 1
            if waiter.bulk {
                state.bulkInUse += 1
                state.grantsSinceBulk = 0
            } else {
                state.grantsSinceBulk += 1
            }
            return waiter.continuation
        }
        next?.resume(returning: true)
    }

    /// The waiter a freed slot goes to: among fetchers with work, the highest-priority
    /// interactive one, except that a bulk one gets its turn after `bulkEvery - 1`
    /// interactive grants in a row (and bulk ones only below `bulkLimit`); then the idle ones,
    /// first come first served, so that every empty queue (a bulk lane too) is looked at in
    /// turn even when idle fetchers outnumber the slots.
    private static func next(in state: State, bulkLimit: Int, bulkEvery: Int) -> Int? {
        var interactive: Int?
        var bulk: Int?
        var firstIdle: Int?
        for (index, waiter) in state.waiters.enumerated() {
            if waiter.bulk && state.bulkInUse >= bulkLimit { continue }
            if waiter.idle {
                if firstIdle == nil { firstIdle = index }
            } else if waiter.bulk {
                if bulk.map({ state.waiters[$0].priority > waiter.priority }) ?? true { bulk = index }
            } else if interactive.map({ state.waiters[$0].priority > waiter.priority }) ?? true {
                interactive = index
            }
        }
        if let interactive {
            if let bulk, bulkEvery > 0, state.grantsSinceBulk >= bulkEvery - 1 { return bulk }
            return interactive
        }
        return bulk ?? firstIdle
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

    /// Slots held by bulk fetchers and their jobs.
    var bulkInUse: Int { state.withLock { $0.bulkInUse } }

    /// Fetchers waiting for a slot.
    var waiting: Int { state.withLock { $0.waiters.count } }
}
