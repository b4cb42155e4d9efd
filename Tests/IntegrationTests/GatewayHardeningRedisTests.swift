import CervellaTestSupport
import CurlHTTP
import Foundation
import RedisClient
import Spawn
import Testing

/// Issue 11, finding 9: with Redis frozen (SIGSTOP), /readyz answers within a second and
/// requests fail fast with 503; after SIGCONT everything recovers. The suite's shared Redis is
/// not frozen: this test starts its own redis-server.
@Suite(.timeLimit(.minutes(2))) struct GatewayHardeningRedisTests {
    /// A redis-server of this test's own on a free loopback port.
    struct PrivateRedis {
        let process: SpawnedProcess
        let url: String

        static func start() async throws -> PrivateRedis {
            let path = (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin").split(separator: ":")
                .map { "\($0)/redis-server" }.first { FileManager.default.isExecutableFile(atPath: $0) }
            guard let executable = path else { throw TestSetupError("redis-server is not on PATH: run scripts/test, which installs it") }
            let port = try LoopbackPort.free()
            let process = try SpawnedProcess(
                executable: executable,
                arguments: ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--loglevel", "warning"],
                environment: ProcessInfo.processInfo.environment
            )
            let url = "redis://127.0.0.1:\(port)/0"
            let probe = RedisConnection(configuration: try RedisConfiguration(url: url), name: "probe")
            defer { probe.close() }
            for _ in 0..<100 {
                if (try? await probe.send("PING"))?.string == "PONG" { return PrivateRedis(process: process, url: url) }
                try await Task.sleep(for: .milliseconds(50))
            }
            process.signal(SIGKILL)
            throw TestSetupError("the private redis-server did not start")
        }
    }

    @Test func aFrozenRedisGets503WithinBoundsAndTheGatewayRecovers() async throws {
        let redis = try await PrivateRedis.start()
        defer {
            redis.process.signal(SIGCONT)
            redis.process.signal(SIGKILL)
        }
        try await withTestPool(configure: { $0.redis.url = redis.url }) { pool in
            // With keys, a request's first Redis round trip is its admission check; without keys
            // (loopback only), it is the enqueue.
            let (keyed, client) = try await Hardening.start(pool) { $0.gateway.redisTimeoutMs = 1000 }
            let open = try await pool.startGateway { $0.gateway.redisTimeoutMs = 1000 }
            let keyless = Hardening.Client(http: client.http, base: open.baseURL)
            var ready = 0
            for _ in 0..<100 where ready != 200 {
                ready = try await client.send("GET", "/readyz").status
                if ready != 200 { try await Task.sleep(for: .milliseconds(100)) }
            }
            #expect(ready == 200)

            redis.process.signal(SIGSTOP)
            // Bounds: /readyz waits 500 ms for Redis and a request 1 s (redis_timeout_ms); the
            // margins are for a loaded 2-core machine running other suites at the same time (a
            // full CI run once took 3.6 s for /readyz). A gateway without the deadlines took 10 to
            // 19 s here.
            for gateway in [client, keyless] {
                var started = ContinuousClock.now
                let readiness = try await gateway.send("GET", "/readyz", key: nil)
                #expect(readiness.status == 503)
                #expect(Hardening.seconds(since: started) < 6, "/readyz took \(Hardening.seconds(since: started)) s")
                started = ContinuousClock.now
                let chat = try await gateway.send("POST", "/api/chat", json: #"{"message":"Summarize while frozen."}"#)
                #expect(chat.status == 503)
                #expect(gateway.errorCode(chat) == "redis_unavailable")
                #expect(chat.header("retry-after") != nil)
                #expect(Hardening.seconds(since: started) < 8, "/api/chat took \(Hardening.seconds(since: started)) s")
                started = ContinuousClock.now
                #expect(try await gateway.send("GET", "/api/jobs/some-id").status == 503)
                #expect(Hardening.seconds(since: started) < 8, "GET /api/jobs took \(Hardening.seconds(since: started)) s")
            }

            redis.process.signal(SIGCONT)
            var status = 0
            for _ in 0..<100 where status != 200 {
                status = try await client.send("POST", "/api/chat", json: #"{"message":"Summarize after the thaw."}"#).status
                if status != 200 { try await Task.sleep(for: .milliseconds(200)) }
            }
            #expect(status == 200)
            #expect(try await keyless.send("POST", "/api/chat", json: #"{"message":"Summarize after the thaw, openly."}"#, key: nil).status == 200)
            #expect(try await client.send("GET", "/readyz").status == 200)
            await keyed.stop()
            await open.stop()
            client.http.shutdown()
        }
    }
}
