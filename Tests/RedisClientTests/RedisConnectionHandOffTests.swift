import Foundation
import RedisClient
import Synchronization
import Testing

/// The paths the inbox chooses between: a caller writing to an idle connection itself, a
/// write the socket does not take whole, the loop's pipeline, and the subscriber.
@Suite struct RedisConnectionHandOffTests {
    let prefix = "cvtest:handoff:\(UUID().uuidString):"

    @Test func aCommandLargerThanTheSocketBufferIsFinishedByTheLoop() async throws {
        let connection = RedisConnection(configuration: try RedisConnectionTests.configuration())
        defer { connection.close() }
        // Idle connection: the caller writes first, and 8 MiB is more than a socket buffer
        // takes at once, so the loop must write the rest before reading the reply.
        let big = (0..<(8 << 20)).map { UInt8(truncatingIfNeeded: $0 &* 31) }
        try await connection.send("SET", RedisArgument(prefix + "big"), RedisArgument(bytes: big))
        #expect(try await connection.send("GET", RedisArgument(prefix + "big")).bytes == big)
        #expect(try await connection.send("DEL", RedisArgument(prefix + "big")).integer == 1)
    }

    @Test func idleAndBusyPathsKeepEveryCallersReplies() async throws {
        let connection = RedisConnection(configuration: try RedisConnectionTests.configuration())
        defer { connection.close() }
        let key = RedisArgument(prefix + "echo")
        for round in 0..<20 {
            // Bursts (queued behind the loop) alternate with single calls (written by the caller).
            try await withThrowingTaskGroup(of: Void.self) { group in
                for index in 0..<(round % 2 == 0 ? 1 : 50) {
                    group.addTask {
                        let text = "\(round)-\(index)"
                        let replies = try await connection.pipeline([RedisCommand("ECHO", RedisArgument(text)), RedisCommand("INCR", key)])
                        #expect(replies[0].string == text)
                        #expect(replies[1].integer != nil)
                    }
                }
                try await group.waitForAll()
            }
        }
        #expect(try await connection.send("GET", key).integer == 10 + 10 * 50)
    }

    @Test func aReplyLateBeyondTheReadTimeoutFailsAsConnectionLost() async throws {
        var configuration = try RedisConnectionTests.configuration()
        configuration.readTimeout = .milliseconds(300)
        let connection = RedisConnection(configuration: configuration)
        defer { connection.close() }
        _ = try await connection.send("PING")
        let started = ContinuousClock.now
        let error = await #expect(throws: RedisError.self) {
            // The server would answer nil after 30 s; only the client's read timeout throws.
            try await connection.send("BLPOP", RedisArgument(prefix + "never"), "30")
        }
        let waited = ContinuousClock.now - started
        #expect(error?.code == .connectionLost)
        // Far below the server's 30 s, with room for a loaded machine running the whole suite.
        #expect(waited >= .milliseconds(250) && waited < .seconds(20))
        // The connection reconnects for the next command.
        #expect(try await connection.send("PING") == .status("PONG"))
    }

    @Test func anIdleConnectionNoticesTheServerClosingIt() async throws {
        let connection = RedisConnection(configuration: try RedisConnectionTests.configuration(), name: "idle-kill-\(UUID().uuidString.prefix(8))")
        defer { connection.close() }
        let id = try await connection.send("CLIENT", "ID").integer!
        let killer = RedisConnection(configuration: try RedisConnectionTests.configuration())
        defer { killer.close() }
        try await killer.send("CLIENT", "KILL", "ID", RedisArgument(id))
        try await Task.sleep(for: .milliseconds(200))
        // The loop saw the socket close while parked, so this reconnects instead of failing.
        #expect(try await connection.send("PING") == .status("PONG"))
        #expect(try await connection.send("CLIENT", "ID").integer != id)
    }

    @Test func closeAnswersQueuedCommandsAndRefusesLaterOnes() async throws {
        let connection = RedisConnection(configuration: try RedisConnectionTests.configuration())
        let key = RedisArgument(prefix + "closing")
        async let first = connection.send("INCR", key)
        async let second = connection.send("INCR", key)
        let replies = try await [first, second].compactMap(\.integer).sorted()
        connection.close()
        #expect(replies == [1, 2])
        let error = await #expect(throws: RedisError.self) { try await connection.send("PING") }
        #expect(error?.code == .shutdown)
    }

    @Test func subscriberDeliversMessagesAndStopsOnClose() async throws {
        let configuration = try RedisConnectionTests.configuration()
        let channel = prefix + "channel"
        let received = Mutex<[String]>([])
        let (subscribed, subscribedContinuation) = AsyncStream.makeStream(of: Void.self)
        let subscriber = RedisSubscriber(
            configuration: configuration, channel: channel, name: "handoff-test",
            onSubscribed: { subscribedContinuation.yield() },
            onMessage: { payload in received.withLock { $0.append(String(decoding: payload, as: UTF8.self)) } }
        )
        for await _ in subscribed { break }
        let publisher = RedisConnection(configuration: configuration)
        defer { publisher.close() }
        for index in 0..<5 { try await publisher.send("PUBLISH", RedisArgument(channel), RedisArgument("m\(index)")) }
        for _ in 0..<100 where received.withLock({ $0.count }) < 5 { try await Task.sleep(for: .milliseconds(20)) }
        #expect(received.withLock { $0 } == ["m0", "m1", "m2", "m3", "m4"])
        subscriber.close()
        // PUBLISH returns how many subscribers heard it: none, once the close took effect.
        var listeners = 1
        for _ in 0..<100 {
            listeners = try await publisher.send("PUBLISH", RedisArgument(channel), "after").integer ?? -1
            if listeners == 0 { break }
            try await Task.sleep(for: .milliseconds(20))
        }
        #expect(listeners == 0)
    }
}
