import Foundation
import JobProtocol
import Logging
import RedisClient
import Testing

@testable import Producer

/// How the reply channel's messages are read, and how results meet their waiting requests,
/// whichever comes first; no Redis (the dispatcher is never started).
@Suite(.timeLimit(.minutes(1))) struct ReplyDispatcherTests {
    static let waiting = ["j1": "t:reply:j1"]

    static func read(_ text: String) -> ReplyDispatcher.Announcement {
        ReplyDispatcher.announcement(Array(text.utf8)) { waiting[$0] }
    }

    @Test func aResultForAJobWaitedOnHereIsDeliveredFromTheMessage() {
        let result = JobResult.failure(id: "j1", code: "error_http_5xx", message: "m")
        #expect(ReplyDispatcher.announcement(result.jsonBytes()) { Self.waiting[$0] } == .result(result, replyKey: "t:reply:j1"))
    }

    @Test func resultsForOtherGatewaysAreIgnored() {
        let other = JobResult.failure(id: "elsewhere", code: "c", message: "m")
        #expect(ReplyDispatcher.announcement(other.jsonBytes()) { Self.waiting[$0] } == .ignored)
    }

    @Test func anUnreadableResultIsIgnored() {
        #expect(Self.read(#"{"v":1,"id":"j1","ok":"#) == .ignored)
        #expect(Self.read("{not json") == .ignored)
    }

    @Test func aBareIDAsksForTheReplyList() {
        #expect(Self.read("j1") == .jobID("j1", replyKey: "t:reply:j1"))
        #expect(Self.read("j2") == .ignored)
    }

    static func withDispatcher(_ body: (ReplyDispatcher) async throws -> Void) async throws {
        let connection = RedisConnection(configuration: try RedisConfiguration(url: "redis://127.0.0.1:1/0"))
        defer { connection.close() }
        try await body(ReplyDispatcher(commands: connection, keys: KeySpace(prefix: "t"), logger: Logger(label: "test")))
    }

    static func job(_ id: String) -> Job {
        Job(id: id, replyTo: "t:reply:\(id)", createdAt: 0, deadlineAt: nil, messages: [ChatMessage(role: "user", content: "hi")])
    }

    @Test func aResultThatArrivesBeforeTheWaitIsKeptForIt() async throws {
        try await Self.withDispatcher { dispatcher in
            dispatcher.register(Self.job("j1"), timeout: .seconds(60))
            let result = JobResult.failure(id: "j1", code: "c", message: "m")
            dispatcher.deliver(id: "j1", result: result)
            #expect(await dispatcher.wait("j1") == result)
            #expect(dispatcher.waiting == 0)
        }
    }

    @Test func aWaitingRequestIsAnsweredWhenItsResultArrives() async throws {
        try await Self.withDispatcher { dispatcher in
            dispatcher.register(Self.job("j1"), timeout: .seconds(60))
            let result = JobResult.failure(id: "j1", code: "c", message: "m")
            async let answered = dispatcher.wait("j1")
            // Whether the wait has parked yet or not, the result reaches it.
            dispatcher.deliver(id: "j1", result: result)
            #expect(await answered == result)
            #expect(dispatcher.waiting == 0)
        }
    }

    @Test func resultsForJobsNobodyWaitsOnAreDropped() async throws {
        try await Self.withDispatcher { dispatcher in
            dispatcher.deliver(id: "ghost", result: .failure(id: "ghost", code: "c", message: "m"))
            #expect(dispatcher.waiting == 0)
            #expect(await dispatcher.wait("ghost") == nil)
        }
    }

    @Test func cancellingOrStoppingEndsTheWaitWithoutAResult() async throws {
        try await Self.withDispatcher { dispatcher in
            dispatcher.register(Self.job("j1"), timeout: .seconds(60))
            dispatcher.register(Self.job("j2"), timeout: .seconds(60))
            #expect(dispatcher.waiting == 2)
            dispatcher.cancel("j1")
            #expect(await dispatcher.wait("j1") == nil)
            async let second = dispatcher.wait("j2")
            // stop() ends every wait, parked or about to park.
            dispatcher.stop()
            #expect(dispatcher.waiting == 0)
            #expect(await second == nil)
        }
    }
}
