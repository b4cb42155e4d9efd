import CervellaTestSupport
import CurlHTTP
import Foundation
import JobProtocol
import RedisClient
import Settings
import Testing

/// Streaming through the pool: gateway, Redis stream, worker, simulator and back, in each API's
/// shape, with the confidence gate (`verified`), without it (`live`), early escalation, and a
/// client that leaves.
@Suite(.timeLimit(.minutes(5))) struct StreamingTests {
    static let key = GatewayTests.userKey
    static var auth: [HTTPHeader] { [HTTPHeader(name: "authorization", value: "Bearer \(key)")] }

    /// The whole suite runs in parallel on two cores, and a paced stream needs many timely
    /// wake-ups: the small model's budget (the fallback timeout, 10 s by default) is raised so
    /// that a loaded machine cannot turn a test of streaming into a test of timeouts. Nothing
    /// here measures time; `cervella bench streaming` does.
    static func roomy(_ settings: inout CervellaSettings) {
        settings.fallback.timeoutMs = 120_000
        settings.gateway.requestTimeoutSeconds = 180
    }

    static func live(_ settings: inout CervellaSettings) {
        roomy(&settings)
        settings.tiers[.tier1]?.streamMode = .live
    }

    static func completion(_ prompt: String, model: String = "auto", extra: String = "") -> String {
        #"{"model":"\#(model)","stream":true,"messages":[{"role":"user","content":"\#(prompt)"}]\#(extra)}"#
    }

    /// The result the worker committed, read from the job's reply list.
    static func committed(_ pool: TestPool, id: String) async throws -> JobResult? {
        guard let bytes = try await pool.redis.send("LINDEX", RedisArgument(pool.keys.reply(id)), 0).bytes else { return nil }
        return try JobResult.decode(bytes)
    }

    @Test func aLiveSmallModelStreamsTokensAsTheyComeInOpenAIsShape() async throws {
        try await withTestPool(configure: Self.live) { pool in
            let (gateway, client) = try await GatewayTests().start(pool)
            let outcome = try await EventStreamReader.read(
                client.http, url: gateway.baseURL + "/v1/chat/completions",
                json: Self.completion("Explain what a message queue is.\\n#sim token_ms=50", extra: #","stream_options":{"include_usage":true}"#),
                headers: Self.auth, timeout: .seconds(150))
            #expect(outcome.status == 200)
            #expect(outcome.header("content-type") == "text/event-stream")
            let id = try #require(outcome.header("x-cervella-job-id"))
            #expect(outcome.events.last?.data == "[DONE]")
            let chunks = outcome.events.dropLast()
            #expect(chunks.allSatisfy { $0.json["id"] as? String == "chatcmpl-\(id)" })
            let contentChunks = chunks.filter { event in
                (((event.json["choices"] as? [[String: Any]])?.first?["delta"] as? [String: Any])?["content"] as? String).map { !$0.isEmpty } ?? false
            }
            #expect(contentChunks.count > 2, "the answer came in pieces, not whole")
            // Paced 50 ms apart by the simulator: the pieces reached the client as they were made,
            // not held for the end (a lower bound only: a loaded machine makes it longer).
            let first = try #require(contentChunks.first?.at), last = try #require(contentChunks.last?.at)
            #expect(last - first >= .milliseconds(50 * (contentChunks.count - 2)))
            #expect((chunks.last?.json["usage"] as? [String: Any])?["completion_tokens"] as? Int ?? 0 > 0)
            let result = try #require(try await Self.committed(pool, id: id))
            #expect(outcome.openAIText == result.response)
            #expect(result.metadata?.tier == 1)
            #expect(result.metadata?.confidenceGate == "off")
            await gateway.stop()
            client.http.shutdown()
        }
    }

    @Test func aVerifiedAnswerIsReleasedWholeOnceAccepted() async throws {
        try await withTestPool(configure: Self.roomy) { pool in
            let (gateway, client) = try await GatewayTests().start(pool)
            let outcome = try await EventStreamReader.read(
                client.http, url: gateway.baseURL + "/api/chat", json: #"{"message":"Explain what a message queue is.","stream":true}"#,
                headers: Self.auth, timeout: .seconds(150))
            #expect(outcome.status == 200)
            #expect(outcome.events.map(\.name) == ["start", "delta", "metadata"])
            let start = outcome.events[0].json
            #expect(start["mode"] as? String == "verified")
            #expect(start["tier"] as? Int == 1)
            let metadata = outcome.events[2].json
            let answer = try #require(metadata["response"] as? String)
            #expect(outcome.events[1].json["text"] as? String == answer)
            let fields = metadata["metadata"] as? [String: Any] ?? [:]
            #expect(fields["fallback"] as? Bool == false)
            #expect(fields["confidence_gate"] == nil)
            #expect(outcome.events.allSatisfy { $0.id != nil }, "each event carries its stream entry id")
            await gateway.stop()
            client.http.shutdown()
        }
    }

    @Test func aClearlyUnsureSmallModelIsStoppedEarlyAndClaudeStreams() async throws {
        try await withTestPool(configure: Self.roomy) { pool in
            let (gateway, client) = try await GatewayTests().start(pool)
            // 40 ms a token, unsure throughout: the whole small answer would take seconds.
            let outcome = try await EventStreamReader.read(
                client.http, url: gateway.baseURL + "/api/chat",
                json: #"{"message":"Explain what a message queue is, in detail.\n#sim openai logprob=-2.5 token_ms=40","stream":true}"#,
                headers: Self.auth, timeout: .seconds(150))
            let starts = outcome.events.filter { $0.name == "start" }.map(\.json)
            #expect(starts.map { $0["tier"] as? Int } == [1, 3])
            #expect(starts.map { $0["mode"] as? String } == ["verified", "live"])
            let metadata = (outcome.events.last?.json["metadata"] as? [String: Any]) ?? [:]
            #expect(metadata["fallback"] as? Bool == true)
            #expect(metadata["fallback_reason"] as? String == "low_confidence_early")
            #expect(metadata["model_used"] as? String == "claude-sonnet-4-5")
            #expect(await eventually { pool.simulator.stats.cancelledStreams >= 1 }, "the small model's call was aborted")
            await gateway.stop()
            client.http.shutdown()
        }
    }

    @Test func aClientThatLeavesCancelsItsJobAndTheProviderCall() async throws {
        try await withTestPool(configure: Self.roomy) { pool in
            let (gateway, client) = try await GatewayTests().start(pool)
            // Claude streams live; 100 ms a token keeps it going long after the client left.
            let outcome = try await EventStreamReader.read(
                client.http, url: gateway.baseURL + "/api/chat",
                json:
                    #"{"message":"Explain what a message queue is, in detail.\n#sim token_ms=100","force_model":"claude-sonnet-4-5","stream":true}"#,
                headers: Self.auth, timeout: .seconds(150), keepReading: { events in !events.contains { $0.name == "delta" } })
            #expect(outcome.hungUp)
            let id = try #require(outcome.events.first?.json["id"] as? String)
            #expect(await eventually(timeout: .seconds(15)) { pool.simulator.stats.cancelledStreams == 1 }, "the abort reached the provider")
            var result: JobResult?
            #expect(
                await eventually(timeout: .seconds(15)) {
                    result = try? await Self.committed(pool, id: id)
                    return result != nil
                })
            #expect(result?.error?.code == "cancelled")
            await gateway.stop()
            client.http.shutdown()
        }
    }

    @Test(arguments: [("cut", "error_bad_response"), ("midstream_error", "error_http_5xx")])
    func anUpstreamThatBreaksMidAnswerReachesTheClientAsAnError(directive: String, code: String) async throws {
        try await withTestPool(configure: Self.roomy) { pool in
            let (gateway, client) = try await GatewayTests().start(pool)
            let openAI = try await EventStreamReader.read(
                client.http, url: gateway.baseURL + "/v1/chat/completions",
                json: Self.completion("Tell me about rivers.\\n#sim \(directive)", model: "claude-sonnet-4-5"), headers: Self.auth,
                timeout: .seconds(150))
            #expect(openAI.status == 200)
            #expect(!openAI.openAIText.isEmpty, "part of the answer came first")
            #expect(!openAI.events.contains { $0.data == "[DONE]" }, "never a clean end")
            #expect((openAI.events.last?.json["error"] as? [String: Any])?["code"] as? String == code)
            let anthropic = try await EventStreamReader.read(
                client.http, url: gateway.baseURL + "/v1/messages",
                json:
                    #"{"model":"claude-sonnet-4-5","max_tokens":300,"stream":true,"messages":[{"role":"user","content":"Tell me about lakes.\n#sim \#(directive)"}]}"#,
                headers: Self.auth, timeout: .seconds(150))
            #expect(anthropic.events.first?.name == "message_start")
            #expect(anthropic.events.last?.name == "error")
            #expect(!anthropic.events.contains { $0.name == "message_stop" })
            await gateway.stop()
            client.http.shutdown()
        }
    }

    @Test func aStreamResumesAfterLastEventID() async throws {
        try await withTestPool(configure: Self.roomy) { pool in
            let (gateway, client) = try await GatewayTests().start(pool)
            let whole = try await EventStreamReader.read(
                client.http, url: gateway.baseURL + "/api/chat",
                json: #"{"message":"Explain what a message queue is.\n#sim token_ms=10","force_model":"claude-sonnet-4-5","stream":true}"#,
                headers: Self.auth, timeout: .seconds(150))
            let id = try #require(whole.events.first?.json["id"] as? String)
            let deltas = whole.events.filter { $0.name == "delta" }
            #expect(deltas.count > 4)
            let cut = deltas[2]
            let resumed = try await EventStreamReader.read(
                client.http, url: gateway.baseURL + "/api/jobs/\(id)/stream",
                headers: Self.auth + [HTTPHeader(name: "last-event-id", value: try #require(cut.id))], timeout: .seconds(150))
            #expect(resumed.status == 200)
            let after = resumed.events.filter { $0.name == "delta" }.compactMap { $0.json["text"] as? String }
            let before = deltas.prefix(3).compactMap { $0.json["text"] as? String }
            let answer = (whole.events.last?.json["response"] as? String) ?? "-"
            #expect((before + after).joined() == answer)
            #expect(resumed.events.last?.name == "metadata")
            // Another key sees no such job.
            let other = try await EventStreamReader.read(
                client.http, url: gateway.baseURL + "/api/jobs/\(id)/stream", headers: [HTTPHeader(name: "authorization", value: "Bearer second-key")]
            )
            #expect(other.status == 404)
            await gateway.stop()
            client.http.shutdown()
        }
    }

    @Test func deleteCancelsARunningJob() async throws {
        try await withTestPool(configure: Self.roomy) { pool in
            let (gateway, client) = try await GatewayTests().start(pool)
            let submitted = try await client.send(
                "POST", "/api/jobs",
                json: #"{"message":"Explain queues at length.\n#sim token_ms=100","force_model":"claude-sonnet-4-5","stream":true}"#)
            #expect(submitted.status == 202)
            let id = try #require(client.object(submitted)["id"] as? String)
            #expect(client.object(submitted)["stream_url"] as? String == "/api/jobs/\(id)/stream")
            #expect(await eventually { pool.simulator.stats.startedStreams == 1 })
            let other = try await client.send("DELETE", "/api/jobs/\(id)", key: "second-key")
            #expect(other.status == 404, "only the job's own key may cancel it")
            let cancelled = try await client.send("DELETE", "/api/jobs/\(id)")
            #expect(cancelled.status == 202)
            #expect(await eventually(timeout: .seconds(15)) { pool.simulator.stats.cancelledStreams == 1 })
            let shown = try await eventually(timeout: .seconds(15)) {
                let body = client.object(try await client.send("GET", "/api/jobs/\(id)"))
                return (body["error"] as? [String: Any])?["code"] as? String == "cancelled"
            }
            #expect(shown)
            let again = try await client.send("DELETE", "/api/jobs/\(id)")
            #expect(again.status == 409)
            await gateway.stop()
            client.http.shutdown()
        }
    }

    @Test func aJobCancelledBeforeAWorkerTookItIsNeverSentToAModel() async throws {
        try await withTestPool(workers: 0) { pool in
            let job = try pool.job("Explain queues.")
            _ = try await pool.producer.enqueue(job)
            try await pool.producer.cancel(job.id)
            try await pool.startWorkers(1)
            let result = try await pool.producer.waitForResult(job)
            #expect(result.error?.code == "cancelled")
            #expect(pool.simulator.stats.total == 0)
        }
    }

    @Test func aCancellationHeardByAListeningWorkerStopsAJobItTakesLater() async throws {
        try await withTestPool(configure: Self.roomy) { pool in
            // The worker listens for cancellations; a job stamped after its subscription began
            // (here: in the future) is vouched for by what it heard, without a Redis read.
            #expect(
                try await eventually {
                    let reply = try await pool.redis.send("PUBSUB", "NUMSUB", RedisArgument(pool.keys.cancelEvents))
                    return (reply.array?.last?.integer ?? 0) >= 1
                })
            var job = try pool.job("Explain queues.")
            job.createdAt += 5
            job.deadlineAt = job.createdAt + 60
            try await pool.producer.cancel(job.id)
            // Gone from Redis, so only what the worker heard can stop the job.
            _ = try await pool.redis.send("DEL", RedisArgument(pool.keys.cancelled(job.id)))
            _ = try await pool.producer.enqueue(job)
            let result = try await pool.producer.waitForResult(job)
            #expect(result.error?.code == "cancelled")
            #expect(pool.simulator.stats.total == 0)
        }
    }

    @Test func manyOpenStreamsShareTwoRedisConnections() async throws {
        try await withTestPool(configure: {
            Self.roomy(&$0)
            $0.worker.concurrency = 64
        }) { pool in
            let (gateway, client) = try await GatewayTests().start(pool)
            let count = 40
            try await withThrowingTaskGroup(of: Int.self) { group in
                for index in 0..<count {
                    group.addTask {
                        let outcome = try await EventStreamReader.read(
                            client.http, url: gateway.baseURL + "/api/chat",
                            json: #"{"message":"Stream \#(index).\n#sim token_ms=40","force_model":"claude-sonnet-4-5","stream":true}"#,
                            headers: Self.auth, timeout: .seconds(150))
                        return outcome.events.last?.name == "metadata" ? 1 : 0
                    }
                }
                // While they stream: the gateway reads all of them over its two stream connections.
                // (A count, not a speed: a loaded run may take a while to open half of them.)
                #expect(await eventually(timeout: .seconds(60)) { pool.simulator.stats.startedStreams >= count / 2 })
                let clients = try await pool.redis.send("CLIENT", "LIST").string ?? ""
                let readers = clients.split(separator: "\n").filter { $0.contains("name=gateway-streams@\(pool.keys.prefix)") }
                #expect(readers.count == 2)
                var finished = 0
                for try await ok in group { finished += ok }
                #expect(finished == count)
            }
            await gateway.stop()
            client.http.shutdown()
        }
    }
}
