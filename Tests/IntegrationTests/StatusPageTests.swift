import CervellaTestSupport
import CurlHTTP
import Foundation
import JobProtocol
import Testing

/// Issue 16, item 4: the status page and `GET /api/status` against a real Redis, a worker and
/// the simulator. The page in a browser is `scripts/check-status-page`.
@Suite(.timeLimit(.minutes(3))) struct StatusPageTests {
    @Test func thePageNeedsNoKeyAndTheStatusNeedsOne() async throws {
        try await withTestPool { pool in
            let (gateway, client) = try await Hardening.start(pool)
            let page = try await client.send("GET", "/", key: nil, contentType: nil)
            #expect(page.status == 200)
            #expect(page.headers.first { $0.name.lowercased() == "content-type" }?.value == "text/html; charset=utf-8")
            #expect(client.text(page).contains("<title>Cervella status</title>"))
            let missing = try await client.send("GET", "/api/status", key: nil, contentType: nil)
            #expect(missing.status == 401)
            #expect(client.errorCode(missing) == "missing_api_key")
            #expect(try await client.send("GET", "/api/status", key: "not-a-key", contentType: nil).status == 401)
            #expect(try await client.send("GET", "/api/status", key: Hardening.adminKey, contentType: nil).status == 200)
            await gateway.stop()
            client.http.shutdown()
        }
    }

    @Test func theStatusShowsARequestThatWentThroughWithoutEndpointsOrKeys() async throws {
        try await withTestPool { pool in
            let (gateway, client) = try await Hardening.start(pool)
            let chat = try await client.send("POST", "/api/chat", json: #"{"message":"Summarize the status memo."}"#)
            #expect(chat.status == 200)
            try await pool.settleStats()
            var status: [String: Any] = [:]
            var text = ""
            let counted = try await eventually(timeout: .seconds(15)) {
                let response = try await client.send("GET", "/api/status", contentType: nil)
                text = client.text(response)
                status = client.object(response)
                let workers = status["workers"] as? [String: Any]
                return response.status == 200 && (status["requests_24h"] as? [String: Any])?["tier_1"] as? Int == 1
                    && workers?["alive"] as? Int == 1
            }
            #expect(counted, "status: \(text)")
            #expect((status["tier_distribution"] as? [String: Any])?["tier_1"] as? Double == 1)
            let latency = (status["latency_percentiles_ms"] as? [String: [String: Any]])?["tier_1"] ?? [:]
            for name in ["p50", "p90", "p95", "p99"] { #expect(latency[name] is Int, "\(name): \(latency)") }
            #expect((status["cost_today_usd"] as? Double ?? 0) > 0)
            #expect(status["cost_month_projection_usd"] is Double)
            #expect(status["error_rate"] as? Double == 0)
            #expect(status["fallback_reasons"] is [String: Int])
            #expect((status["fallback_rate"] as? [String: Any])?["tier_1"] as? Double == 0)
            #expect(status["cache_hits_24h"] as? Int == 0)
            let workers = status["workers"] as? [String: Any] ?? [:]
            #expect(workers["concurrency"] as? Int == pool.settings.worker.concurrency)
            #expect((workers["queues_served"] as? [String])?.contains("tier1") == true)
            let queues = status["queues"] as? [String: Int] ?? [:]
            #expect(Set(queues.keys) == Set(QueueName.allCases.map(\.rawValue)))
            let tier1 = (status["tiers"] as? [String: [String: Any]])?["1"] ?? [:]
            #expect(tier1["enabled"] as? Bool == true)
            #expect(tier1["model"] as? String == "qwen3-4b")
            #expect(tier1["live_worker"] as? Bool == true)
            #expect(["healthy", "unknown"].contains(tier1["health"] as? String ?? ""))
            #expect(tier1["switched_off_by"] is NSNull)
            // A user key learns nothing of where the models run, nor any key.
            for secret in [pool.simulator.baseURL, "127.0.0.1", "endpoints", "sk-ant", Hardening.adminKey] {
                #expect(!text.contains(secret), "the status holds \(secret)")
            }
            await gateway.stop()
            client.http.shutdown()
        }
    }

    @Test func aUserKeyCannotSwitchATierAndTheStatusShowsWhoDid() async throws {
        try await withTestPool { pool in
            let (gateway, client) = try await Hardening.start(pool)
            let refused = try await client.send("POST", "/api/admin/toggle-tier", json: #"{"tier":1,"enabled":false}"#)
            #expect(refused.status == 403)
            #expect(client.errorCode(refused) == "not_admin")
            let anonymous = try await client.send("POST", "/api/admin/toggle-tier", json: #"{"tier":1,"enabled":false}"#, key: nil)
            #expect(anonymous.status == 401)
            func tier1() async throws -> [String: Any] {
                let status = client.object(try await client.send("GET", "/api/status", contentType: nil))
                return (status["tiers"] as? [String: [String: Any]])?["1"] ?? [:]
            }
            #expect(try await tier1()["enabled"] as? Bool == true)
            let off = try await client.send("POST", "/api/admin/toggle-tier", json: #"{"tier":1,"enabled":false}"#, key: Hardening.adminKey)
            #expect(off.status == 200)
            let state = try await tier1()
            #expect(state["enabled"] as? Bool == false)
            #expect(state["switched_off_by"] as? String == "operator")
            await gateway.stop()
            client.http.shutdown()
        }
    }
}
