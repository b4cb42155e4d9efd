import CervellaTestSupport
import CurlHTTP
import Foundation
import JobProtocol
import RedisClient
import Testing

/// The HTTP gateway against a real Redis, real workers and the simulator.
@Suite(.timeLimit(.minutes(3))) struct GatewayTests {
    struct Client {
        let http: HTTPClient
        let base: String
        var key: String?

        func send(_ method: String, _ path: String, json: String? = nil, key: String? = nil, timeout: Duration = .seconds(30)) async throws
            -> HTTPResponse
        {
            var headers: [HTTPHeader] = [HTTPHeader(name: "content-type", value: "application/json")]
            if let bearer = key ?? self.key { headers.append(HTTPHeader(name: "authorization", value: "Bearer \(bearer)")) }
            return try await http.execute(
                HTTPRequest(method: method, url: base + path, headers: headers, body: json.map { Data($0.utf8) }, timeout: timeout))
        }

        func object(_ response: HTTPResponse) -> [String: Any] {
            (try? JSONSerialization.jsonObject(with: response.body) as? [String: Any]) ?? [:]
        }
    }

    static let userKey = "test-user-key"
    static let adminKey = "test-admin-key"

    func start(_ pool: TestPool, rateLimit: Int = 0) async throws -> (RunningGateway, Client) {
        let gateway = try await pool.startGateway { settings in
            settings.gateway.apiKeys = [Self.userKey, "second-key"]
            settings.gateway.adminKey = Self.adminKey
            settings.gateway.rateLimitPerMinute = rateLimit
            settings.gateway.requestBodyLimitBytes = 64 * 1024
        }
        return (
            gateway,
            Client(
                http: try HTTPClient(configuration: .init(maxConnectionsPerHost: 2500, maxTotalConnections: 2600)), base: gateway.baseURL,
                key: Self.userKey)
        )
    }

    @Test func apiChatAnswersInTheReportsShapeForEachTier() async throws {
        try await withTestPool(configure: { $0.tiers[.tier2]?.enabled = true }) { pool in
            let (gateway, client) = try await start(pool)
            for (hint, tier, model) in [("simple", 1, "qwen3-4b"), ("medium", 2, "deepseek-r1"), ("complex", 3, "claude-sonnet-4-5")] {
                let response = try await client.send("POST", "/api/chat", json: #"{"message":"Explain queues","tier_hint":"\#(hint)"}"#)
                #expect(response.status == 200)
                let body = client.object(response)
                #expect((body["response"] as? String)?.isEmpty == false)
                let metadata = body["metadata"] as? [String: Any] ?? [:]
                #expect(metadata["tier"] as? Int == tier)
                #expect(metadata["model_used"] as? String == model)
                #expect(metadata["tier_decision_reason"] as? String == "tier_hint_\(hint)")
                for field in [
                    "latency_ms", "confidence", "cost_usd", "fallback", "fallback_reason", "original_model", "original_confidence", "timestamp",
                ] {
                    #expect(metadata.keys.contains(field), "missing \(field)")
                }
            }
            // Streamed, the same request is an event stream (StreamingTests has the details).
            let streamed = try await client.send("POST", "/api/chat", json: #"{"message":"hi","stream":true}"#)
            #expect(streamed.status == 200)
            #expect(streamed.header("content-type") == "text/event-stream")
            #expect(String(decoding: streamed.body, as: UTF8.self).contains("event: metadata"))
            await gateway.stop()
            client.http.shutdown()
        }
    }

    @Test func openAIShapeCarriesCervellaHeadersAndFallsBack() async throws {
        try await withTestPool { pool in
            let (gateway, client) = try await start(pool)
            let response = try await client.send(
                "POST", "/v1/chat/completions",
                json: #"{"model":"auto","messages":[{"role":"user","content":"Will it rain?\n#sim openai evasive"}],"max_tokens":200}"#)
            #expect(response.status == 200)
            #expect(response.header("x-cervella-fallback") == "true")
            #expect(response.header("x-cervella-fallback-reason")?.hasPrefix("low_confidence_") == true)
            #expect(response.header("x-cervella-tier") == "3")
            let body = client.object(response)
            #expect(body["model"] as? String == "claude-sonnet-4-5")
            #expect(((body["choices"] as? [[String: Any]])?.first?["message"] as? [String: Any])?["content"] as? String != nil)
            #expect((body["usage"] as? [String: Any])?["total_tokens"] as? Int ?? 0 > 0)
            let unknown = try await client.send(
                "POST", "/v1/chat/completions", json: #"{"model":"gpt-9","messages":[{"role":"user","content":"x"}]}"#)
            #expect(unknown.status == 404)
            let models = client.object(try await client.send("GET", "/v1/models"))
            #expect((models["data"] as? [[String: Any]])?.compactMap { $0["id"] as? String }.contains("qwen3-4b") == true)
            await gateway.stop()
            client.http.shutdown()
        }
    }

    @Test func theOfficialOpenAIPackageWorksUnchanged() async throws {
        try await withTestPool { pool in
            let (gateway, client) = try await start(pool)
            let script = """
                import os, openai
                client = openai.OpenAI(base_url=os.environ["GATEWAY"] + "/v1", api_key=os.environ["KEY"])
                plain = client.chat.completions.create(model="auto", messages=[{"role": "user", "content": "Summarize: the gateway speaks OpenAI."}], max_tokens=100)
                print("plain", plain.model, plain.choices[0].message.content[:20].replace(" ", "_"), plain.usage.total_tokens)
                raw = client.chat.completions.with_raw_response.create(model="auto", messages=[{"role": "user", "content": "Is it safe?\\n#sim openai evasive"}])
                fell = raw.parse()
                print("fallback", fell.model, raw.headers.get("x-cervella-fallback"), raw.headers.get("x-cervella-fallback-reason"))
                try:
                    openai.OpenAI(base_url=os.environ["GATEWAY"] + "/v1", api_key="wrong").chat.completions.create(model="auto", messages=[{"role": "user", "content": "x"}])
                except openai.AuthenticationError:
                    print("auth refused")
                """
            let (status, text) = try await TestEnvironment.runPython(
                script, environment: ["GATEWAY": gateway.baseURL, "KEY": Self.userKey], seconds: 30)
            #expect(status == 0, "python said: \(text)")
            #expect(text.contains("plain qwen3-4b Summary:"))
            #expect(text.contains("fallback claude-sonnet-4-5 true low_confidence_"))
            #expect(text.contains("auth refused"))
            await gateway.stop()
            client.http.shutdown()
        }
    }

    @Test func asyncJobsArePendingThenDoneAndUnknownIdsAre404() async throws {
        try await withTestPool { pool in
            let (gateway, client) = try await start(pool)
            // A 3 s call: on a loaded two-core machine the GET right after the POST can come
            // later than 0.8 s (it once found the job done), never later than 3 s.
            let accepted = try await client.send(
                "POST", "/api/jobs", json: #"{"message":"Summarize the batch.\n#sim latency_ms=3000","cache":false}"#)
            #expect(accepted.status == 202)
            let id = try #require(client.object(accepted)["id"] as? String)
            #expect(try await client.send("GET", "/api/jobs/\(id)").status == 202)
            var done: HTTPResponse?
            for _ in 0..<150 {
                try await Task.sleep(for: .milliseconds(100))
                let status = try await client.send("GET", "/api/jobs/\(id)")
                if status.status == 200 { done = status; break }
            }
            let result = try #require(done)
            #expect(client.object(result)["ok"] as? Bool == true)
            #expect(client.object(result)["id"] as? String == id)
            #expect(try await client.send("GET", "/api/jobs/no-such-job").status == 404)
            await gateway.stop()
            client.http.shutdown()
        }
    }

    @Test func authenticationAndLimitsAreEnforced() async throws {
        try await withTestPool { pool in
            let (gateway, client) = try await start(pool)
            let chat = #"{"message":"Summarize this."}"#
            let missing = try await Client(http: client.http, base: client.base, key: nil).send("POST", "/api/chat", json: chat)
            #expect(missing.status == 401)
            #expect(client.object(missing)["error"] != nil)
            #expect(try await client.send("POST", "/api/chat", json: chat, key: "wrong").status == 401)
            #expect(try await client.send("POST", "/api/chat", json: chat, key: "second-key").status == 200)
            #expect(try await client.send("GET", "/api/admin/stats").status == 403)
            #expect(try await client.send("GET", "/api/admin/stats", key: Self.adminKey).status == 200)
            let huge = "{\"message\":\"" + String(repeating: "a", count: 70 * 1024) + "\"}"
            #expect(try await client.send("POST", "/api/chat", json: huge).status == 413)
            #expect(try await client.send("POST", "/api/chat", json: "{not json").status == 400)
            #expect(try await client.send("POST", "/api/chat", json: #"{"message":7}"#).status == 400)
            await gateway.stop()
            client.http.shutdown()
        }
    }

    @Test func adminEndpointsChangeRoutingLive() async throws {
        try await withTestPool { pool in
            let (gateway, client) = try await start(pool)
            let off = try await client.send("POST", "/api/admin/toggle-tier", json: #"{"tier":1,"enabled":false}"#, key: Self.adminKey)
            #expect(off.status == 200)
            let rerouted = client.object(try await client.send("POST", "/api/chat", json: #"{"message":"Summarize the memo."}"#))
            let metadata = rerouted["metadata"] as? [String: Any] ?? [:]
            #expect(metadata["tier"] as? Int == 3)
            #expect(metadata["tier_decision_reason"] as? String == "simple_task_pattern_matched_tier1_disabled")
            #expect(try await client.send("POST", "/api/admin/toggle-tier", json: #"{"tier":1,"enabled":true}"#, key: Self.adminKey).status == 200)
            // Workers see a switch within a second; until then they would still forward tier 1.
            #expect(await pool.workersSee { $0.isEnabled(.tier1) })
            let back = client.object(try await client.send("POST", "/api/chat", json: #"{"message":"Summarize the second memo."}"#))
            #expect((back["metadata"] as? [String: Any])?["tier"] as? Int == 1)
            let rollback = try await client.send("POST", "/api/admin/emergency-rollback", key: Self.adminKey)
            #expect(client.object(rollback)["status"] as? String == "rolled_back")
            let config = client.object(try await client.send("GET", "/api/admin/config", key: Self.adminKey))
            #expect(((config["tiers"] as? [String: Any])?["1"] as? [String: Any])?["enabled"] as? Bool == false)
            await gateway.stop()
            client.http.shutdown()
        }
    }

    /// Fixed-seed fuzzing of the request decoders: whatever the body, the answer is a result
    /// or a 4xx with a JSON error, never a 5xx or a crash, and the gateway keeps serving.
    /// CERVELLA_FUZZ_ITERATIONS raises the count.
    @Test func hostileBodiesGetClearErrorsNeverCrashes() async throws {
        try await withTestPool { pool in
            let (gateway, client) = try await start(pool)
            let iterations = min(5_000, (ProcessInfo.processInfo.environment["CERVELLA_FUZZ_ITERATIONS"].flatMap(Int.init) ?? 2_000) / 10)
            var state: UInt64 = 0x5EED
            func next() -> UInt64 {
                state &+= 0x9E37_79B9_7F4A_7C15
                var z = state
                z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
                z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
                return z ^ (z >> 31)
            }
            let seeds: [(String, [UInt8])] = [
                (
                    "/api/chat",
                    Array(
                        #"{"message":"Summarize x","tier_hint":"auto","force_model":null,"enable_fallback":true,"stream":false,"context":{"a":[1,2]}}"#
                            .utf8)
                ),
                (
                    "/v1/chat/completions",
                    Array(#"{"model":"auto","messages":[{"role":"user","content":"Summarize y"}],"max_tokens":50,"stop":["\n"],"n":1}"#.utf8)
                ),
                ("/api/jobs", Array(#"{"messages":[{"role":"user","content":"Summarize z"}],"timeout_seconds":10}"#.utf8)),
            ]
            let fragments: [[UInt8]] =
                ["{", "}", "[", "]", "\"", "null", "-1", "1e999", "\\u0000", "\\ud800", "\"stream\":true", "\"n\":5"].map { Array($0.utf8) } + [
                    [0xFF], [0xC3],
                ]
            var statuses: [Int: Int] = [:]
            for _ in 0..<iterations {
                let (path, seed) = seeds[Int(next() % UInt64(seeds.count))]
                var body = seed
                for _ in 0..<(1 + Int(next() % 3)) {
                    let position = body.isEmpty ? 0 : Int(next() % UInt64(body.count))
                    switch next() % 4 {
                    case 0 where !body.isEmpty: body.remove(at: position)
                    case 1: body.insert(contentsOf: fragments[Int(next() % UInt64(fragments.count))], at: position)
                    case 2 where !body.isEmpty: body[position] = UInt8(truncatingIfNeeded: next())
                    default: body = Array(body.prefix(position))
                    }
                }
                let response = try await client.http.execute(
                    HTTPRequest(
                        method: "POST", url: client.base + path,
                        headers: [
                            HTTPHeader(name: "authorization", value: "Bearer \(Self.userKey)"),
                            HTTPHeader(name: "content-type", value: "application/json"),
                        ],
                        body: Data(body), timeout: .seconds(30)
                    ))
                statuses[response.status, default: 0] += 1
                #expect(response.status < 500, "\(path) answered \(response.status) to \(String(decoding: body, as: UTF8.self))")
                if response.status >= 400 { #expect(client.object(response)["error"] != nil) }
            }
            #expect(statuses.keys.contains(400))
            // Still serving.
            #expect(try await client.send("POST", "/api/chat", json: #"{"message":"Summarize after the storm."}"#).status == 200)
            await gateway.stop()
            client.http.shutdown()
        }
    }

    @Test func aFullQueueAnswers503WithRetryAfterInsteadOfHanging() async throws {
        try await withTestPool(workers: 0) { pool in
            let gateway = try await pool.startGateway { settings in
                settings.gateway.apiKeys = [Self.userKey]
                settings.gateway.maxQueueLength = 2
                // No worker serves tier 1 here: deadline-aware routing would send the third job
                // to Claude's (empty) queue instead of refusing it.
                settings.routing.backlogDeadlineShare = 0
            }
            let client = Client(http: try HTTPClient(), base: gateway.baseURL, key: Self.userKey)
            for index in 0..<2 {
                #expect(try await client.send("POST", "/api/jobs", json: #"{"message":"Summarize backlog \#(index).","cache":false}"#).status == 202)
            }
            let full = try await client.send("POST", "/api/jobs", json: #"{"message":"Summarize one more.","cache":false}"#)
            #expect(full.status == 503)
            #expect(full.header("retry-after") == "1")
            let started = Date()
            let chat = try await client.send("POST", "/api/chat", json: #"{"message":"Summarize now."}"#)
            #expect(chat.status == 503)
            #expect(Date().timeIntervalSince(started) < 5)
            await gateway.stop()
            client.http.shutdown()
        }
    }

    @Test func rateLimitHoldsAcrossTwoGateways() async throws {
        try await withTestPool { pool in
            let (first, client) = try await start(pool, rateLimit: 5)
            let (second, _) = try await start(pool, rateLimit: 5)
            // The limit counts per clock minute: start early in one, and start again in the next
            // one if the eight requests still straddled two windows (a loaded machine).
            var statuses: [Int] = []
            for attempt in 0..<3 {
                // A retry starts in a fresh minute: the last one already counted some requests.
                let secondOfMinute = Int(Date().timeIntervalSince1970) % 60
                if secondOfMinute > 30 || attempt > 0 { try await Task.sleep(for: .seconds(61 - secondOfMinute)) }
                let minute = Int(Date().timeIntervalSince1970) / 60
                statuses = []
                for index in 0..<8 {
                    let base = index.isMultiple(of: 2) ? first.baseURL : second.baseURL
                    let response = try await Client(http: client.http, base: base, key: Self.userKey).send(
                        "POST", "/api/chat", json: #"{"message":"Summarize note \#(index) \#(minute)."}"#)
                    statuses.append(response.status)
                    if response.status == 429 { #expect(response.header("retry-after") != nil) }
                }
                if Int(Date().timeIntervalSince1970) / 60 == minute { break }
            }
            // Five per minute in total, whichever gateway counted them.
            #expect(statuses.filter { $0 == 200 }.count == 5)
            #expect(statuses.filter { $0 == 429 }.count == 3)
            await first.stop()
            await second.stop()
            client.http.shutdown()
        }
    }

    @Test func twoThousandWaitingRequestsUseAtMostSixteenRedisConnections() async throws {
        try await withTestPool(configure: { $0.worker.concurrency = 2100 }) { pool in
            let (gateway, client) = try await start(pool)
            let redis = pool.redis
            let mine = "@\(pool.keys.prefix) "
            let counter = Task {
                var peak = 0
                while !Task.isCancelled {
                    let list = (try? await redis.send("CLIENT", "LIST").string) ?? ""
                    peak = max(peak, list.split(separator: "\n").filter { $0.contains("name=gateway") && $0.contains(mine) }.count)
                    try? await Task.sleep(for: .milliseconds(200))
                }
                return peak
            }
            let results = try await withThrowingTaskGroup(of: Int.self) { group in
                for index in 0..<2000 {
                    group.addTask {
                        try await client.send(
                            "POST", "/api/chat", json: #"{"message":"Summarize item \#(index).\n#sim latency_ms=3000"}"#, timeout: .seconds(90)
                        ).status
                    }
                }
                return try await group.reduce(into: [Int]()) { $0.append($1) }
            }
            counter.cancel()
            let peak = await counter.value
            #expect(results.count == 2000)
            #expect(results.allSatisfy { $0 == 200 }, "statuses: \(Dictionary(grouping: results, by: { $0 }).mapValues(\.count))")
            #expect(peak >= 1)
            #expect(peak <= 16, "the gateway held \(peak) Redis connections")
            await gateway.stop()
            client.http.shutdown()
        }
    }
}
