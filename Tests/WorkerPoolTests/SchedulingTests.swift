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
