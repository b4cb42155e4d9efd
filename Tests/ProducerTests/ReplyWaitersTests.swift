import RedisClient
import Testing

@testable import Producer

/// The reply-wait connections: how many are kept, which is reused, and the timeouts that keep
/// a blocking pop from outliving its connection.
@Suite struct ReplyWaitersTests {
    @Test func theLastConnectionReturnedIsTheNextTaken() {
        var pool = IdlePool<Int>(limit: 3)
        var taken: [Int?] = [pool.take()]
        let kept = [pool.keep(1), pool.keep(2)]
        taken += [pool.take(), pool.take(), pool.take()]
        #expect(kept == [true, true])
        #expect(taken == [nil, 2, 1, nil])
    }

    @Test func atMostTheLimitIsKeptIdle() {
        var pool = IdlePool<Int>(limit: 2)
        let kept = [pool.keep(1), pool.keep(2), pool.keep(3)]
        #expect(kept == [true, true, false])
        #expect(pool.elements == [1, 2])
        _ = pool.take()
        let keptAfterTake = pool.keep(4)
        #expect(keptAfterTake)
        #expect(pool.elements == [1, 4])
    }

    @Test func closingDrainsEveryIdleConnection() {
        var pool = IdlePool<Int>(limit: 4)
        _ = pool.keep(1)
        _ = pool.keep(2)
        let drained = pool.drain()
        #expect(drained == [1, 2])
        #expect(pool.elements.isEmpty)
    }

    @Test func blockingPopsNeverBlockForEver() {
        // BLPOP's 0 means "for ever": the shortest wait is a millisecond.
        #expect(ReplyWaiters.blockTimeout(0) == "0.001")
        #expect(ReplyWaiters.blockTimeout(-3) == "0.001")
        #expect(ReplyWaiters.blockTimeout(2.5) == "2.500")
        #expect(ReplyWaiters.blockTimeout(0.0004) == "0.001")
    }

    @Test func pooledConnectionsOutwaitTheLongestPooledWait() throws {
        let waiters = ReplyWaiters(configuration: try RedisConfiguration(url: "redis://127.0.0.1:1/0"), maxWaitSeconds: 301)
        #expect(waiters.configuration.readTimeout == .seconds(306))
        #expect(waiters.servesFromPool(seconds: 301))
        #expect(!waiters.servesFromPool(seconds: 301.5))
    }
}
