import CervellaTestSupport
import Foundation
import RedisClient
import Spawn
import Synchronization
import Testing

/// Issue 16, item 7: a connection given Sentinel addresses finds the primary through them and
/// follows a failover. Real processes: a primary, a replica and one Sentinel (quorum 1), all
/// redis-server (`--sentinel` for the Sentinel), on free loopback ports of this test's own.
@Suite(.timeLimit(.minutes(2))) struct SentinelFailoverTests {
    static let master = "cervella-test"

    final class Topology {
        var processes: [SpawnedProcess] = []
        var primary = 0, replica = 0, sentinel = 0
        let directory: String

        init() throws {
            directory = NSTemporaryDirectory() + "cervella-sentinel-\(UUID().uuidString.prefix(8))"
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        }

        deinit {
            for process in processes { process.signal(SIGKILL) }
            try? FileManager.default.removeItem(atPath: directory)
        }

        static func redisServer() throws -> String {
            let path = (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin").split(separator: ":")
                .map { "\($0)/redis-server" }.first { FileManager.default.isExecutableFile(atPath: $0) }
            guard let path else { throw TestSetupError("redis-server is not on PATH: run scripts/test, which installs it") }
            return path
        }

        func spawn(_ arguments: [String]) throws {
            processes.append(
                try SpawnedProcess(executable: try Self.redisServer(), arguments: arguments, environment: ProcessInfo.processInfo.environment))
        }

        func start() async throws {
            primary = try LoopbackPort.free()
            replica = try LoopbackPort.free()
            sentinel = try LoopbackPort.free()
            let server = ["--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--loglevel", "warning"]
            try spawn(["--port", String(primary)] + server)
            try spawn(["--port", String(replica), "--replicaof", "127.0.0.1", String(primary)] + server)
            let configuration = "\(directory)/sentinel.conf"
            try """
            port \(sentinel)
            bind 127.0.0.1
            dir \(directory)
            sentinel monitor \(SentinelFailoverTests.master) 127.0.0.1 \(primary) 1
            sentinel down-after-milliseconds \(SentinelFailoverTests.master) 2000
            sentinel failover-timeout \(SentinelFailoverTests.master) 10000

            """.write(toFile: configuration, atomically: true, encoding: .utf8)
            try spawn([configuration, "--sentinel", "--loglevel", "warning"])
            // The Sentinel must know the replica before it can fail over to it.
            let probe = RedisConnection(configuration: RedisConfiguration(port: sentinel), name: "probe")
            defer { probe.close() }
            try await eventually("the Sentinel to see the replica in sync") {
                let replicas = try? await probe.send("SENTINEL", "REPLICAS", RedisArgument(SentinelFailoverTests.master))
                return replicas?.array?.contains { entry in
                    let fields = entry.array?.compactMap(\.string) ?? []
                    return zip(fields, fields.dropFirst()).contains { $0 == "master-link-status" && $1 == "ok" }
                } ?? false
            }
        }

        /// A replica acknowledgement may take a while on a loaded machine (100 ms, the default,
        /// once did not suffice in CI): this test is about following the primary.
        var url: String { "redis-sentinel://127.0.0.1:\(sentinel)/0?replica_ack_timeout_ms=10000#\(SentinelFailoverTests.master)" }
    }

    static func eventually(_ what: String, within seconds: Int = 30, _ condition: () async throws -> Bool) async throws {
        let end = ContinuousClock.now + .seconds(seconds)
        while ContinuousClock.now < end {
            if try await condition() { return }
            try await Task.sleep(for: .milliseconds(100))
        }
        throw TestSetupError("timed out after \(seconds) s waiting for \(what)")
    }

    /// The port of the server a connection is using.
    static func port(of connection: RedisConnection) async throws -> Int? {
        let reply = try await connection.send("CONFIG", "GET", "port")
        return reply.array?.last?.string.flatMap(Int.init)
    }

    @Test func aConnectionFindsThePrimaryAndFollowsAFailover() async throws {
        let topology = try Topology()
        try await topology.start()
        let connection = RedisConnection(configuration: try RedisConfiguration(url: topology.url), name: "sentinel-test")
        defer { connection.close() }
        #expect(try await Self.port(of: connection) == topology.primary)
        // A replicated write comes back once the replica holds it.
        _ = try await connection.pipeline([RedisCommand("SET", "before", "1")], replicated: true)
        #expect(connection.traffic.replicationShortfalls == 0)

        // A subscriber made before the failover.
        let heard = HeardMessages()
        let subscriber = RedisSubscriber(
            configuration: try RedisConfiguration(url: topology.url), channel: "events", onMessage: { heard.add($0) })
        defer { subscriber.close() }
        try await Self.eventually("the subscriber to hear a message", within: 8) {
            try await connection.send("PUBLISH", "events", "before")
            return heard.count > 0
        }

        let sentinel = RedisConnection(configuration: RedisConfiguration(port: topology.sentinel), name: "sentinel-admin")
        defer { sentinel.close() }
        try await sentinel.send("SENTINEL", "FAILOVER", RedisArgument(Self.master))
        try await Self.eventually("the Sentinel to name the replica") {
            let named = try? await sentinel.send("SENTINEL", "GET-MASTER-ADDR-BY-NAME", RedisArgument(Self.master))
            return named?.array?.last?.string == String(topology.replica)
        }
        // The old primary still runs, and takes writes until the Sentinel turns it into a
        // replica (20 s here): writes made there meanwhile would be lost. The client hears the
        // switch on the Sentinel's +switch-master channel and reconnects to the new primary
        // before its next command, so within seconds every write lands there, and the write
        // made before the failover is there too.
        let switched = ContinuousClock.now
        try await Self.eventually("the connection to reach the new primary", within: 8) {
            (try? await Self.port(of: connection)) == topology.replica
        }
        let seconds = Double((ContinuousClock.now - switched).components.seconds)
        try await connection.send("SET", "after", "1")
        #expect(try await connection.send("GET", "before") == .bulk(Array("1".utf8)))
        #expect(seconds < 8)

        // The subscriber followed too: a message published on the new primary reaches it.
        let before = heard.count
        try await Self.eventually("the subscriber to hear a message published on the new primary", within: 8) {
            try await connection.send("PUBLISH", "events", "after")
            return heard.count > before
        }
    }

    final class HeardMessages: Sendable {
        private let messages = Mutex<[[UInt8]]>([])
        func add(_ message: [UInt8]) { messages.withLock { $0.append(message) } }
        var count: Int { messages.withLock { $0.count } }
    }

    @Test func noSentinelAnsweringIsAnErrorNamingTheMaster() async throws {
        let port = try LoopbackPort.free()
        let connection = RedisConnection(configuration: try RedisConfiguration(url: "redis-sentinel://127.0.0.1:\(port)/0#nowhere"), name: "t")
        defer { connection.close() }
        let error = await #expect(throws: RedisError.self) { try await connection.send("PING") }
        #expect(error?.code == .connectionFailed)
        #expect(error?.message.contains("no Sentinel named the primary of 'nowhere'") == true)
        #expect(error?.message.contains("127.0.0.1:\(port)") == true)
    }
}
