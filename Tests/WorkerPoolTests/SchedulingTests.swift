import Providers
import Testing

@testable import WorkerPool

/// The worker's slots, its in-flight count and its retry schedule, without Redis.
@Suite struct SchedulingTests {
    @Test func slotsGoToTheHighestPriorityWaiterFirst() async {
        let pool = SlotPool(capacity: 1)
        #expect(await pool.acquire(priority: 0))
        let order = OrderLog()
        let low = Task { if await pool.acquire(priority: 5) { await order.append(5) } }
        try? await Task.sleep(for: .milliseconds(50))
        let high = Task { if await pool.acquire(priority: 0) { await order.append(0) } }
        try? await Task.sleep(for: .milliseconds(50))
        pool.release()
        await high.value
        pool.release()
        await low.value
        #expect(await order.entries == [0, 5])
    }

    /// Waits until `count` fetchers wait on `pool`.
    static func waiters(_ pool: SlotPool, _ count: Int) async {
        while pool.waiting < count { try? await Task.sleep(for: .milliseconds(5)) }
    }

    @Test func bulkFetchersNeverTakeTheSlotsKeptForInteractiveJobs() async {
        let pool = SlotPool(capacity: 10, bulkLimit: 9)
        #expect(pool.tryAcquire(upTo: 64, bulk: true) == 9, "one slot of ten is kept for interactive jobs")
        #expect(pool.tryAcquire(upTo: 1, bulk: true) == 0)
        let bulk = Task { await pool.acquire(priority: 1, bulk: true) }
        await Self.waiters(pool, 1)
        // The free slot is there for an interactive job at once.
        #expect(await pool.acquire(priority: 0))
        pool.release()
        #expect(pool.waiting == 1, "a freed interactive slot does not go past the bulk limit")
        pool.release(bulk: true)
        #expect(await bulk.value, "a freed bulk slot goes to the waiting bulk fetcher")
        #expect(pool.bulkInUse == 9)
    }

    @Test func interactiveWaitersComeFirstButEveryTenthFreedSlotGoesToBulk() async {
        let pool = SlotPool(capacity: 2, bulkLimit: 2, bulkEvery: 10)
        #expect(pool.tryAcquire(upTo: 2) == 2)
        let grants = OrderLog()
        // One bulk fetcher and a steady queue of interactive ones, all waiting.
        let bulk = Task { if await pool.acquire(priority: 1, bulk: true) { await grants.append(1) } }
        await Self.waiters(pool, 1)
        var interactive: [Task<Void, Never>] = []
        for _ in 0..<12 {
            interactive.append(Task { if await pool.acquire(priority: 0) { await grants.append(0) } })
        }
        await Self.waiters(pool, 13)
        for granted in 1...10 {
            pool.release()
            while await grants.entries.count < granted { try? await Task.sleep(for: .milliseconds(5)) }
        }
        #expect(await grants.entries == Array(repeating: 0, count: 9) + [1], "nine interactive grants, then the bulk fetcher's turn")
        pool.close()
        await bulk.value
        for task in interactive { await task.value }
    }

    @Test func aFetcherThatWouldBlockOnAnEmptyQueueWaitsBehindOnesWithWork() async {
        let pool = SlotPool(capacity: 1)
        #expect(await pool.acquire(priority: 0))
        let grants = OrderLog()
        let idle = Task { if await pool.acquire(priority: 0, idle: true) { await grants.append(0) } }
        await Self.waiters(pool, 1)
        let bulk = Task { if await pool.acquire(priority: 5, bulk: true) { await grants.append(5) } }
        await Self.waiters(pool, 2)
        pool.release()
        await bulk.value
        pool.release(bulk: true)
        await idle.value
        #expect(await grants.entries == [5, 0], "a bulk fetcher with jobs goes before an interactive one with none")
    }

    @Test func idleFetchersTakeTurnsWhateverTheirLane() async {
        // More idle interactive fetchers than slots must not shut an idle bulk one out: it is
        // the one whose lane may have just been filled.
        let pool = SlotPool(capacity: 1)
        #expect(await pool.acquire(priority: 0))
        let grants = OrderLog()
        let bulk = Task { if await pool.acquire(priority: 5, bulk: true, idle: true) { await grants.append(5) } }
        await Self.waiters(pool, 1)
        let interactive = Task { if await pool.acquire(priority: 0, idle: true) { await grants.append(0) } }
        await Self.waiters(pool, 2)
        pool.release()
        await bulk.value
        pool.release(bulk: true)
        await interactive.value
        #expect(await grants.entries == [5, 0], "the bulk fetcher waited first")
    }

    @Test func aClosedPoolRefusesAndWakesWaiters() async {
        let pool = SlotPool(capacity: 1)
        #expect(pool.tryAcquire(upTo: 5) == 1)
        let waiter = Task { await pool.acquire(priority: 0) }
        try? await Task.sleep(for: .milliseconds(50))
        pool.close()
        #expect(await waiter.value == false)
        #expect(await pool.acquire(priority: 0) == false)
        #expect(pool.tryAcquire(upTo: 1) == 0)
    }

    @Test func theDrainWaitEndsWhenTheLastJobEnds() async {
        let counter = InFlightCounter()
        counter.increment()
        counter.increment()
        let waiter = Task { await counter.waitUntilIdle(timeout: .seconds(30)) }
        counter.decrement()
        counter.decrement()
        #expect(await waiter.value == true)
        #expect(await counter.waitUntilIdle(timeout: .seconds(30)) == true)
    }

    @Test func theDrainWaitGivesUpAtItsTimeout() async {
        let counter = InFlightCounter()
        counter.increment()
        #expect(await counter.waitUntilIdle(timeout: .milliseconds(50)) == false)
        #expect(counter.value == 1)
    }

    @Test func retryDelaysAreJitteredUnderACeilingAndHonourRetryAfter() {
        let policy = RetryPolicy()
        let error = ProviderError(.http5xx, "x")
        #expect(policy.delay(after: 1, error: error, random: 1) == .milliseconds(100))
        #expect(policy.delay(after: 3, error: error, random: 1) == .milliseconds(400))
        #expect(policy.delay(after: 30, error: error, random: 1) == .seconds(2))
        #expect(policy.delay(after: 2, error: error, random: 0) == .zero)
        let limited = ProviderError(.rateLimited, "x", retryAfter: .seconds(1))
        #expect(policy.delay(after: 1, error: limited, random: 0.5) == .seconds(1))
        #expect(RetryPolicy.isTransient(error))
        #expect(!RetryPolicy.isTransient(ProviderError(.http4xx, "x")))
        #expect(!RetryPolicy.isTransient(ProviderError(.timeout, "x")))
    }
}

actor OrderLog {
    var entries: [Int] = []
    func append(_ value: Int) { entries.append(value) }
}

/// `RetryPolicy.run`: what is retried, and that the budget bounds it.
@Suite struct RetryRunTests {
    static let answer = ProviderResponse(text: "ok", tokensInput: 1, tokensOutput: 1, model: "m")

    final class Calls: @unchecked Sendable {
        var count = 0
    }

    @Test func aTransientFailureIsRetriedAndTheAnswerReturned() async throws {
        let calls = Calls()
        let policy = RetryPolicy(maxAttempts: 3, baseDelay: .milliseconds(1), maxDelay: .milliseconds(2))
        let response = try await policy.run(budget: .seconds(30)) { (_: Duration) async throws(ProviderError) -> ProviderResponse in
            calls.count += 1
            if calls.count < 3 { throw ProviderError(.http5xx, "busy") }
            return Self.answer
        }
        #expect(response == Self.answer)
        #expect(calls.count == 3)
    }

    @Test func aClientErrorIsNotRetriedAndNoAttemptPassesTheLimit() async {
        let calls = Calls()
        let policy = RetryPolicy(maxAttempts: 3, baseDelay: .milliseconds(1), maxDelay: .milliseconds(2))
        await #expect(throws: ProviderError.self) {
            try await policy.run(budget: .seconds(30)) { (_: Duration) async throws(ProviderError) -> ProviderResponse in
                calls.count += 1
                throw ProviderError(.http4xx, "bad request")
            }
        }
        #expect(calls.count == 1)
        calls.count = 0
        await #expect(throws: ProviderError.self) {
            try await policy.run(budget: .seconds(30)) { (_: Duration) async throws(ProviderError) -> ProviderResponse in
                calls.count += 1
                throw ProviderError(.connection, "refused")
            }
        }
        #expect(calls.count == 3)
    }

    @Test func noRetryWhenTheWaitWouldLeaveNoUsefulBudget() async {
        let calls = Calls()
        // A Retry-After longer than the whole budget: the error is final at once.
        let policy = RetryPolicy()
        await #expect(throws: ProviderError.self) {
            try await policy.run(budget: .milliseconds(500)) { (timeout: Duration) async throws(ProviderError) -> ProviderResponse in
                calls.count += 1
                #expect(timeout <= .milliseconds(500))
                throw ProviderError(.rateLimited, "slow down", retryAfter: .seconds(5))
            }
        }
        #expect(calls.count == 1)
    }
}
