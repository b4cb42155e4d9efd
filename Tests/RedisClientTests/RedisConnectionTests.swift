import Foundation
import RedisClient
import Testing

/// Tests against the real redis-server that scripts/test starts (CERVELLA_TEST_REDIS_URL).
@Suite struct RedisConnectionTests {
    static func configuration() throws -> RedisConfiguration {
        guard let url = ProcessInfo.processInfo.environment["CERVELLA_TEST_REDIS_URL"] else {
            Issue.record("CERVELLA_TEST_REDIS_URL is not set: run the suite with scripts/test, which starts redis-server")
            throw RedisError(.invalidURL, "no test Redis")
        }
        return try RedisConfiguration(url: url)
    }

    let prefix = "cvtest:redis:\(UUID().uuidString):"

    @Test func binarySafeValuesRoundTrip() async throws {
        let connection = RedisConnection(configuration: try Self.configuration())
        defer { connection.close() }
        let bytes: [UInt8] = [0, 1, 2, 0xFF, 0x0D, 0x0A, 0x24, 0x2A, 0]
        try await connection.send("SET", RedisArgument(prefix + "bin"), RedisArgument(bytes: bytes))
        let value = try await connection.send("GET", RedisArgument(prefix + "bin"))
        #expect(value.bytes == bytes)
        let missing = try await connection.send("GET", RedisArgument(prefix + "missing"))
        #expect(missing.isNull)
    }

    @Test func pipelineReturnsOneReplyPerCommandIncludingErrors() async throws {
        let connection = RedisConnection(configuration: try Self.configuration())
        defer { connection.close() }
        let key = RedisArgument(prefix + "list")
        let replies = try await connection.pipeline([
            RedisCommand("RPUSH", key, "a", "b", "c"),
            RedisCommand("LRANGE", key, 0, -1),
            RedisCommand("INCR", key),  // wrong type: an error reply, not a thrown error
            RedisCommand("LLEN", key),
        ])
        #expect(replies.count == 4)
        #expect(replies[0].integer == 3)
        #expect(replies[1].array?.compactMap(\.string) == ["a", "b", "c"])
        guard case .error(let message) = replies[2] else { Issue.record("expected an error reply"); return }
        #expect(message.hasPrefix("WRONGTYPE"))
        #expect(replies[3].integer == 3)
    }

    @Test func concurrentCallersShareTheConnection() async throws {
        let connection = RedisConnection(configuration: try Self.configuration())
        defer { connection.close() }
        let key = RedisArgument(prefix + "counter")
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<500 { group.addTask { try await connection.send("INCR", key) } }
            try await group.waitForAll()
        }
        #expect(try await connection.send("GET", key).integer == 500)
    }

    @Test func transactionIsAtomicAndReportsQueuedErrors() async throws {
        let connection = RedisConnection(configuration: try Self.configuration())
        defer { connection.close() }
        let key = RedisArgument(prefix + "tx")
        let results = try await connection.transaction([
            RedisCommand("LPUSH", key, "x"), RedisCommand("EXPIRE", key, 60), RedisCommand("LLEN", key),
        ])
        #expect(results.map(\.integer) == [1, 1, 1])
        await #expect(throws: RedisError.self) {
            _ = try await connection.transaction([RedisCommand("LPUSH", key, "y"), RedisCommand("NOSUCHCOMMAND")])
        }
        // EXECABORT discarded the whole block: "y" was never pushed.
        #expect(try await connection.send("LLEN", key).integer == 1)
    }

    @Test func errorRepliesAreThrownBySend() async throws {
        let connection = RedisConnection(configuration: try Self.configuration())
        defer { connection.close() }
        let error = await #expect(throws: RedisError.self) { try await connection.send("NOSUCHCOMMAND") }
        #expect(error?.code == .serverError)
    }

    @Test func scriptsAreLoadedOnFirstUseAndAfterAFlush() async throws {
        let connection = RedisConnection(configuration: try Self.configuration())
        defer { connection.close() }
        let script = RedisScript("return redis.call('INCRBY', KEYS[1], ARGV[1])")
        let key = RedisArgument(prefix + "script")
        #expect(try await connection.evaluate(script, keys: [key], arguments: [5]).integer == 5)
        try await connection.send("SCRIPT", "FLUSH")
        #expect(try await connection.evaluate(script, keys: [key], arguments: [2]).integer == 7)
    }

    @Test func reconnectsAfterTheServerDropsTheConnection() async throws {
        let connection = RedisConnection(configuration: try Self.configuration(), name: "reconnect-\(UUID().uuidString.prefix(8))")
        defer { connection.close() }
        let id = try await connection.send("CLIENT", "ID").integer!
        let killer = RedisConnection(configuration: try Self.configuration())
        defer { killer.close() }
        try await killer.send("CLIENT", "KILL", "ID", RedisArgument(id))
        // The first call may see the dropped socket; the connection then reconnects by itself.
        var reply: RedisValue?
        for _ in 0..<3 where reply == nil {
            reply = try? await connection.send("PING")
        }
        #expect(reply == .status("PONG"))
        #expect(try await connection.send("CLIENT", "ID").integer != id)
    }

    @Test func unreachableServerFailsWithAClearError() async throws {
        var configuration = RedisConfiguration(host: "127.0.0.1", port: 1)
        configuration.connectTimeout = .milliseconds(500)
        let connection = RedisConnection(configuration: configuration)
        defer { connection.close() }
        let error = await #expect(throws: RedisError.self) { try await connection.send("PING") }
        #expect(error?.code == .connectionFailed)
        #expect(error?.message.contains("127.0.0.1:1") == true)
    }

    @Test func authenticatesWithAnACLUserAndSelectsTheDatabase() async throws {
        let base = try Self.configuration()
        let admin = RedisConnection(configuration: base)
        defer { admin.close() }
        let user = "cvtest-\(UUID().uuidString.prefix(8))"
        try await admin.send("ACL", "SETUSER", RedisArgument(user), "on", ">s3cret:pw", "~*", "+@all")
        defer { Task { try? await admin.send("ACL", "DELUSER", RedisArgument(user)) } }

        let url = "redis://\(user):s3cret%3Apw@\(base.host):\(base.port)/3"
        let connection = RedisConnection(configuration: try RedisConfiguration(url: url))
        defer { connection.close() }
        #expect(try await connection.send("ACL", "WHOAMI").string == user)
        try await connection.send("SET", RedisArgument(prefix + "db3"), "here")
        let inDB3 = try await admin.pipeline([
            RedisCommand("SELECT", 3), RedisCommand("GET", RedisArgument(prefix + "db3")), RedisCommand("SELECT", 0),
        ])
        #expect(inDB3[1].string == "here")

        let wrong = RedisConnection(configuration: try RedisConfiguration(url: "redis://\(user):nope@\(base.host):\(base.port)/0"))
        defer { wrong.close() }
        let error = await #expect(throws: RedisError.self) { try await wrong.send("PING") }
        #expect(error?.code == .authenticationFailed)
    }
}

@Suite struct RedisConfigurationTests {
    @Test func parsesFullURLs() throws {
        let configuration = try RedisConfiguration(url: "redis://alice:p%40ss@cache.internal:6380/2")
        #expect(configuration.host == "cache.internal")
        #expect(configuration.port == 6380)
        #expect(configuration.username == "alice")
        #expect(configuration.password == "p@ss")
        #expect(configuration.database == 2)
        #expect(!configuration.redactedDescription.contains("p@ss"))
    }

    @Test func passwordOnlyURLUsesTheDefaultUser() throws {
        let configuration = try RedisConfiguration(url: "redis://:secret@localhost")
        #expect(configuration.username == nil)
        #expect(configuration.password == "secret")
        #expect(configuration.port == 6379)
        #expect(configuration.database == 0)
    }

    @Test func rejectsOtherSchemesAndBadDatabases() {
        #expect(throws: RedisError.self) { try RedisConfiguration(url: "http://localhost:6379") }
        #expect(throws: RedisError.self) { try RedisConfiguration(url: "redis://localhost:6379/abc") }
        #expect(throws: RedisError.self) { try RedisConfiguration(url: "rediss://localhost:6379") }
    }

    @Test func parsesSentinelURLs() throws {
        let configuration = try RedisConfiguration(
            url: "redis-sentinel://:p%40ss@s1.internal:26380,10.0.0.2,[fd00::3]:26381/2?sentinel_password=s%23cret&replica_ack_timeout_ms=250#pool")
        #expect(
            configuration.sentinels == [
                .init(host: "s1.internal", port: 26380), .init(host: "10.0.0.2", port: 26379), .init(host: "fd00::3", port: 26381),
            ])
        #expect(configuration.masterName == "pool")
        #expect(configuration.password == "p@ss")
        #expect(configuration.sentinelPassword == "s#cret")
        #expect(configuration.database == 2)
        #expect(configuration.replicaAcks == 1)  // the default behind Sentinel
        #expect(configuration.replicaAckTimeout == .milliseconds(250))
        #expect(!configuration.redactedDescription.contains("p@ss"))
        #expect(configuration.redactedDescription.contains("#pool"))
        #expect(try RedisConfiguration(url: "redis-sentinel://s1/0?replica_acks=0#pool").replicaAcks == 0)
        #expect(try RedisConfiguration(url: "redis://localhost:6379/0?replica_acks=2").replicaAcks == 2)
        #expect(try RedisConfiguration(url: "redis://localhost:6379/0").replicaAcks == 0)
    }

    @Test func refusesBadSentinelURLsAndUnknownOptionsByName() {
        func message(_ url: String) -> String {
            do {
                _ = try RedisConfiguration(url: url)
                return "accepted"
            } catch { return error.message }
        }
        #expect(message("redis-sentinel://s1:26379/0").contains("names no master"))
        #expect(message("redis-sentinel://s1:99999/0#m").contains("s1:99999"))
        #expect(message("redis-sentinel://s1,,s2/0#m").contains("not a Sentinel address"))
        #expect(message("redis-sentinel://s1/0?replica_acks=99#m").contains("replica_acks"))
        #expect(message("redis://localhost/0?replica_ack_timeout_ms=0").contains("replica_ack_timeout_ms"))
        #expect(message("redis://localhost/0?tls=true").contains("unknown option 'tls'"))
        // A sentinel password in the query never reaches an error message.
        #expect(!message("redis-sentinel://s1/0?sentinel_password=hunter2&x=1#m").contains("hunter2"))
        #expect(!message("redis-sentinel://:hunter2@s1/0?sentinel_password=hunter2").contains("hunter2"))
    }

    @Test func aCommandWithoutANameIsRefusedAndTheConnectionStaysUsable() async throws {
        let connection = RedisConnection(configuration: try RedisConnectionTests.configuration())
        defer { connection.close() }
        await #expect(throws: RedisError.self) { try await connection.pipeline([RedisCommand("PING"), RedisCommand([] as [[UInt8]])]) }
        #expect(try await connection.send("PING") == .status("PONG"))
    }
}
