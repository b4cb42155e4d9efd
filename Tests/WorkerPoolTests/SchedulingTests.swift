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
