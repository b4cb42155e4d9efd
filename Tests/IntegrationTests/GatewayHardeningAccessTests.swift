import CervellaTestSupport
import CurlHTTP
import Foundation
import JobProtocol
import RedisClient
import Testing

/// Issue 11, findings 2, 6 and 10: whose jobs a key may read, how many wrong keys an address
/// may try, and who may read the probes.
@Suite(.timeLimit(.minutes(3))) struct GatewayHardeningAccessTests {
    @Test func anAsyncJobIsReadableOnlyByItsKeyAndTheAdmin() async throws {
        try await withTestPool { pool in
            let (gateway, client) = try await Hardening.start(pool)
            let accepted = try await client.send(
                "POST", "/api/jobs", json: #"{"message":"Summarize the owner's memo.\n#sim latency_ms=1500","cache":false}"#)
            #expect(accepted.status == 202)
            let id = try #require(client.object(accepted)["id"] as? String)
            // The marker holds a digest of the key, never the key.
            let marker = try await pool.redis.send("GET", RedisArgument(pool.keys.accepted(id))).string ?? ""
            #expect(marker.count == 16 && marker.allSatisfy(\.isHexDigit), "marker: \(marker)")
            #expect(!marker.contains(Hardening.userKey))

            // Pending: the owner sees 202, another key the body of an unknown id.
            #expect(try await client.send("GET", "/api/jobs/\(id)").status == 202)
            let stranger = try await client.send("GET", "/api/jobs/\(id)", key: Hardening.otherKey)
            #expect(stranger.status == 404)
            #expect(client.errorCode(stranger) == "job_not_found")
            #expect(client.errorMessage(stranger) == "no job \(id): unknown, or its result expired")

            var done = 0
            for _ in 0..<100 where done != 200 {
                try await Task.sleep(for: .milliseconds(100))
                done = try await client.send("GET", "/api/jobs/\(id)").status
            }
            #expect(done == 200)
            let strangerAfter = try await client.send("GET", "/api/jobs/\(id)", key: Hardening.otherKey)
            #expect(strangerAfter.status == 404)
            #expect(client.text(strangerAfter).contains("Summar") == false)
            let admin = try await client.send("GET", "/api/jobs/\(id)", key: Hardening.adminKey)
            #expect(admin.status == 200)
            #expect(client.object(admin)["ok"] as? Bool == true)
            await gateway.stop()
            client.http.shutdown()
        }
    }

    /// A reply list without an accepted marker (a synchronous request's) is not a job anyone
    /// may read through /api/jobs, except the admin.
    @Test func aReplyListWithoutTheCallersMarkerIs404() async throws {
        try await withTestPool(workers: 0) { pool in
            let (gateway, client) = try await Hardening.start(pool)
            let id = "sync-\(UUID().uuidString)"
            let result = JobResult.failure(id: id, code: "deadline_exceeded", message: "x")
            try await pool.redis.send("LPUSH", RedisArgument(pool.keys.reply(id)), RedisArgument(bytes: Array(try JSONEncoder().encode(result))))
            let user = try await client.send("GET", "/api/jobs/\(id)")
            #expect(user.status == 404)
            #expect(client.errorMessage(user) == "no job \(id): unknown, or its result expired")
            #expect(try await client.send("GET", "/api/jobs/\(id)", key: Hardening.adminKey).status == 200)
            // An accepted marker of another key, or of a keyless gateway ("1"), does not help either.
            try await pool.redis.send("SET", RedisArgument(pool.keys.accepted(id)), "1", "EX", 60)
            #expect(try await client.send("GET", "/api/jobs/\(id)").status == 404)
            await gateway.stop()
            client.http.shutdown()
        }
    }

    /// Without keys (loopback only) jobs stay readable as before.
    @Test func aGatewayWithoutKeysKeepsJobsReadable() async throws {
        try await withTestPool { pool in
            let gateway = try await pool.startGateway { $0.gateway.apiKeys = [] }
            let client = Hardening.Client(http: try HTTPClient(), base: gateway.baseURL)
            let accepted = try await client.send("POST", "/api/jobs", json: #"{"message":"Summarize the open memo.","cache":false}"#, key: nil)
            let id = try #require(client.object(accepted)["id"] as? String)
            #expect(try await pool.redis.send("GET", RedisArgument(pool.keys.accepted(id))).string == "1")
            var status = 0
            for _ in 0..<100 where status != 200 {
                try await Task.sleep(for: .milliseconds(100))
                status = try await client.send("GET", "/api/jobs/\(id)", key: nil).status
            }
            #expect(status == 200)
            await gateway.stop()
            client.http.shutdown()
        }
    }

    /// Past its failure budget an address is refused whatever it sends, a correct key included,
    /// on every gateway (the count is in Redis), until the minute ends.
    @Test func wrongKeysFromOneAddressAreCutOffOnEveryGateway() async throws {
        try await withTestPool { pool in
            let (first, client) = try await Hardening.start(pool) { $0.gateway.authFailuresPerMinute = 5 }
            let (second, _) = try await Hardening.start(pool) { $0.gateway.authFailuresPerMinute = 5 }
            let other = Hardening.Client(http: client.http, base: second.baseURL)
            // The budget counts per clock minute: start early in one.
            let secondOfMinute = Int(Date().timeIntervalSince1970) % 60
            if secondOfMinute > 45 { try await Task.sleep(for: .seconds(61 - secondOfMinute)) }
            for index in 0..<5 {
                let gateway = index.isMultiple(of: 2) ? client : other
                #expect(try await gateway.send("GET", "/v1/models", key: "guess-\(index)").status == 401)
            }
            let blocked = try await client.send("GET", "/v1/models", key: "guess-5")
            #expect(blocked.status == 429)
            #expect(client.errorCode(blocked) == "too_many_auth_failures")
            let retry = Int(blocked.header("retry-after") ?? "") ?? 0
            #expect((1...60).contains(retry))
            // A correct key from the same address is refused too, on the other gateway as well.
            let correct = try await other.send("GET", "/v1/models")
            #expect(correct.status == 429)
            #expect(try await client.send("POST", "/api/chat", json: #"{"message":"Summarize."}"#, key: Hardening.adminKey).status == 429)
            // The window's end (its keys expire) lets the address back in.
            let counters = try await pool.redis.send("KEYS", RedisArgument(pool.keys.prefix + ":authfail:*")).array ?? []
            #expect(counters.count >= 1)
            for key in counters { try await pool.redis.send("DEL", RedisArgument(bytes: key.bytes ?? [])) }
            #expect(try await other.send("GET", "/v1/models").status == 200)
            await first.stop()
            await second.stop()
            client.http.shutdown()
        }
    }

    @Test func probesNeedAKeyWhenProtectedAndNotOnLoopbackByDefault() async throws {
        try await withTestPool { pool in
            let (protected, client) = try await Hardening.start(pool) { $0.gateway.protectProbes = true }
            for path in ["/metrics", "/readyz"] {
                let anonymous = try await client.send("GET", path, key: nil)
                #expect(anonymous.status == 401, "\(path)")
                #expect(client.errorCode(anonymous) == "missing_api_key")
                #expect(try await client.send("GET", path, key: "wrong").status == 401, "\(path)")
                #expect(try await client.send("GET", path).status != 401, "\(path) with an API key")
                #expect(try await client.send("GET", path, key: Hardening.adminKey).status != 401, "\(path) with the admin key")
            }
            #expect(try await client.send("GET", "/metrics").status == 200)
            #expect(try await client.send("GET", "/healthz", key: nil).status == 200)

            // Default ("auto"): open on loopback, closed beyond it.
            let (loopback, _) = try await Hardening.start(pool)
            let open = Hardening.Client(http: client.http, base: loopback.baseURL)
            #expect(try await open.send("GET", "/metrics", key: nil).status == 200)
            let (everywhere, _) = try await Hardening.start(pool) { $0.gateway.host = "0.0.0.0" }
            let wide = Hardening.Client(http: client.http, base: everywhere.baseURL)
            #expect(try await wide.send("GET", "/metrics", key: nil).status == 401)
            #expect(try await wide.send("GET", "/readyz", key: nil).status == 401)
            #expect(try await wide.send("GET", "/metrics").status == 200)
            #expect(try await wide.send("GET", "/healthz", key: nil).status == 200)
            for gateway in [protected, loopback, everywhere] { await gateway.stop() }
            client.http.shutdown()
        }
    }
}
