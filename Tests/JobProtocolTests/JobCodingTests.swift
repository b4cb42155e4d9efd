import Foundation
import JobProtocol
import Testing

@Suite struct JobCodingTests {
    static let designFieldNames: Set<String> = [
        "v", "id", "reply_to", "created_at", "deadline_at", "attempt", "messages", "params", "tier_hint",
        "force_model", "enable_fallback", "cache", "route", "fallback_from", "metadata",
    ]

    static func minimalJob() -> Job {
        Job(
            id: "j1", replyTo: "cervella:reply:j1", createdAt: 1_767_225_600.5, deadlineAt: nil,
            messages: [ChatMessage(role: "user", content: "ciao")])
    }

    static func object(_ data: Data) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
    }

    @Test func encodedJobUsesExactlyTheDesignFieldNames() throws {
        let object = try Self.object(try JSONEncoder().encode(Self.minimalJob()))
        #expect(Set(object.keys) == Self.designFieldNames)
    }

    @Test func absentOptionalsAreWrittenAsExplicitNulls() throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let data = try encoder.encode(Self.minimalJob())
        let text = String(decoding: data, as: UTF8.self)
        #expect(text.contains(#""force_model":null"#))
        #expect(text.contains(#""fallback_from":null"#))
        #expect(text.contains(#""route":null"#))
        #expect(text.contains(#""deadline_at":null"#))
        let object = try Self.object(data)
        #expect(object["force_model"] is NSNull)
        #expect(object["fallback_from"] is NSNull)
    }

    @Test func encodedJobCarriesVersionOneAndTheDefaults() throws {
        let object = try Self.object(try JSONEncoder().encode(Self.minimalJob()))
        #expect(object["v"] as? Int == 1)
        #expect(object["attempt"] as? Int == 0)
        #expect(object["tier_hint"] as? String == "auto")
        #expect(object["enable_fallback"] as? Bool == true)
        #expect(object["cache"] as? Bool == true)
        #expect((object["metadata"] as? [String: Any])?.isEmpty == true)
        #expect((object["params"] as? [String: Any])?.isEmpty == true)
        #expect(object["created_at"] as? Double == 1_767_225_600.5)
    }

    @Test func nestedFieldsUseSnakeCaseNames() throws {
        var job = Self.minimalJob()
        job.params = GenerationParameters(maxTokens: 5, temperature: 0.1, topP: 0.9, stop: ["END"], expectedFormat: "json")
        job.route = Route(tier: 1, model: "qwen3-4b", reason: "simple_task_pattern_matched")
        job.fallbackFrom = FallbackOrigin(
            tier: 1, model: "qwen3-4b", reason: "low_confidence_0.55", confidence: 0.55, latencyMs: 420, costUSD: 0.0003)
        let object = try Self.object(try JSONEncoder().encode(job))
        let params = try #require(object["params"] as? [String: Any])
        #expect(Set(params.keys) == ["max_tokens", "temperature", "top_p", "stop", "expected_format"])
        let route = try #require(object["route"] as? [String: Any])
        #expect(Set(route.keys) == ["tier", "model", "reason"])
        let origin = try #require(object["fallback_from"] as? [String: Any])
        #expect(origin["latency_ms"] as? Int == 420)
        #expect(origin["confidence"] as? Double == 0.55)
        #expect(origin["reason"] as? String == "low_confidence_0.55")
        #expect(origin["cost_usd"] as? Double == 0.0003)
    }

    @Test func fullyPopulatedJobSurvivesARoundTrip() throws {
        let job = Job(
            id: "job-9", replyTo: "cervella:reply:job-9", createdAt: 1_767_225_600.123, deadlineAt: 1_767_225_630.123,
            attempt: 2,
            messages: [
                ChatMessage(role: "system", content: "Rispondi in italiano."),
                ChatMessage(
                    role: "user",
                    content: .parts([
                        .object(["type": .string("text"), "text": .string("Cosa c'è qui?")]),
                        .object(["type": .string("image_url"), "image_url": .object(["url": .string("https://x/y.png")])]),
                    ])),
            ],
            params: GenerationParameters(maxTokens: 1000, temperature: 0.7, topP: 0.95, stop: ["\n\n"], expectedFormat: "markdown"),
            tierHint: "medium", forceModel: "claude-sonnet-4-5", enableFallback: false, cache: false,
            route: Route(tier: 3, model: "claude-sonnet-4-5", reason: "multimodal_required"),
            fallbackFrom: FallbackOrigin(tier: 1, model: "qwen3-4b", reason: "empty_response", confidence: nil, latencyMs: 12),
            metadata: [
                "batch": .string("b1"), "n": .integer(1000), "ratio": .number(0.25), "ok": .bool(true),
                "none": .null, "list": .array([.integer(1), .string("a")]),
            ]
        )
        let decoded = try JSONDecoder().decode(Job.self, from: try JSONEncoder().encode(job))
        #expect(decoded == job)
    }

    @Test func metadataPassesThroughWithoutTurningNumbersIntoBooleansOrIntegersIntoFractions() throws {
        let payload =
            #"{"v":1,"id":"m","messages":[{"role":"user","content":"x"}],"metadata":{"n":1000,"one":1,"flag":true,"pi":3.5,"nested":{"a":[true,null,"s"]}}}"#
        let job = try JSONDecoder().decode(Job.self, from: Data(payload.utf8))
        #expect(job.metadata["n"] == .integer(1000))
        #expect(job.metadata["one"] == .integer(1))
        #expect(job.metadata["flag"] == .bool(true))
        #expect(job.metadata["pi"] == .number(3.5))
        #expect(job.metadata["nested"] == .object(["a": .array([.bool(true), .null, .string("s")])]))

        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let text = String(decoding: try encoder.encode(job), as: UTF8.self)
        #expect(text.contains(#""n":1000"#))
        #expect(!text.contains("1000.0"))
        #expect(text.contains(#""one":1,"#) || text.contains(#""one":1}"#))
        #expect(text.contains(#""flag":true"#))
    }

    /// PROTOCOL.md: `metadata` is "free-form, passed through untouched". Python producers put
    /// 64-bit ids there (database keys, snowflake ids); they must come back as written when the
    /// worker re-encodes the job (fallback queue, dead letters).
    @Test func largeIntegersInMetadataPassThroughUntouched() throws {
        let payload = #"{"v":1,"id":"m","messages":[{"role":"user","content":"x"}],"metadata":{"row":1234567890123456789,"big":9007199254740993}}"#
        let job = try JSONDecoder().decode(Job.self, from: Data(payload.utf8))
        let text = String(decoding: try JSONEncoder().encode(job), as: UTF8.self)
        #expect(text.contains("1234567890123456789"), "\(text)")
        #expect(text.contains("9007199254740993"), "\(text)")
    }

    @Test func theDocumentedJobExampleDecodes() throws {
        let blocks = try ProtocolDocument.jsonBlocks()
        let example = try #require(blocks.first, "docs/PROTOCOL.md has no ```json block")
        let job = try JSONDecoder().decode(Job.self, from: Data(example.utf8))
        #expect(job.v == 1)
        #expect(job.id == "<unique>")
        #expect(job.createdAt == 1_767_225_600.123)
        #expect(job.deadlineAt == 1_767_225_630.123)
        #expect(job.messages.map(\.role) == ["system", "user"])
        #expect(job.params == GenerationParameters(maxTokens: 1000, temperature: 0.7))
        #expect(job.forceModel == nil)
        #expect(job.route == Route(tier: 1, model: "qwen3-4b", reason: "simple_task_pattern_matched"))
        #expect(job.fallbackFrom == nil)
        #expect(job.metadata.isEmpty)
    }

    @Test func theDocumentedAgentStepDecodesAndItsResultToo() throws {
        let blocks = try ProtocolDocument.jsonBlocks()
        let step = try #require(blocks.first { $0.contains("tool_call_id") }, "docs/PROTOCOL.md has no agent step example")
        let job = try JSONDecoder().decode(Job.self, from: Data(step.utf8))
        #expect(Job(json: Array(step.utf8)) == job, "the fast reader and the reference disagree")
        #expect(job.messages.map(\.role) == ["user", "assistant", "tool"])
        #expect(job.messages[1].content == nil)
        #expect(job.messages[1].toolCalls == [ToolCall(id: "call_1", name: "weather", arguments: #"{"city":"Paris"}"#)])
        #expect(job.messages[2].toolCallID == "call_1")
        #expect(job.params.tools?.count == 1)
        #expect(job.params.toolChoice == .string("auto"))
        #expect(job.params.parallelToolCalls == false)
        #expect(job.params.seed == 7)

        let resultBlock = try #require(blocks.first { $0.contains(#""finish_reason":"tool_calls""#) }, "no agent result example")
        let result = try JobResult.decode(Array(resultBlock.utf8))
        #expect(result == (try JSONDecoder().decode(JobResult.self, from: Data(resultBlock.utf8))))
        #expect(result.toolCalls?.first?.name == "weather")
        #expect(result.finishReason == "tool_calls")
        #expect(result.response == "")
    }

    /// What `json.dumps(job)` writes for the docs' Python example: spaces after separators,
    /// non-ASCII escaped as \uXXXX (ensure_ascii), floats with many digits, None as null.
    @Test func aJobWrittenByPythonJsonDumpsDecodes() throws {
        let payload = """
            {"v": 1, "id": "9f1c2e7a4b5d4c3e8a6b7c8d9e0f1a2b", "reply_to": "cervella:reply:9f1c2e7a4b5d4c3e8a6b7c8d9e0f1a2b", \
            "created_at": 1767225600.1234567, "deadline_at": 1767225630.1234567, "attempt": 0, \
            "messages": [{"role": "user", "content": "Riassumi: il caff\\u00e8 \\u00e8 pronto."}], \
            "params": {"max_tokens": 200, "temperature": 0.2}, "tier_hint": "auto", "force_model": null, \
            "enable_fallback": true, "cache": true, "route": {"tier": 1, "model": "qwen3-4b", "reason": "python_producer"}, \
            "fallback_from": null, "metadata": {}}
            """
        let result = JobDecoding.decode(Array(payload.utf8), keys: KeySpace())
        let job = try result.get()
        #expect(job.id == "9f1c2e7a4b5d4c3e8a6b7c8d9e0f1a2b")
        #expect(job.replyTo == "cervella:reply:9f1c2e7a4b5d4c3e8a6b7c8d9e0f1a2b")
        #expect(job.messages.first?.text == "Riassumi: il caffè è pronto.")
        #expect(abs(job.createdAt - 1_767_225_600.1234567) < 1e-6)
        #expect(job.params.maxTokens == 200)
        #expect(job.params.temperature == 0.2)
        #expect(job.route?.reason == "python_producer")
    }

    @Test func integerTimestampsDecodeAsSeconds() throws {
        let payload = #"{"v":1,"id":"t","created_at":1767225600,"deadline_at":1767225630,"messages":[{"role":"user","content":"x"}]}"#
        let job = try JSONDecoder().decode(Job.self, from: Data(payload.utf8))
        #expect(job.createdAt == 1_767_225_600)
        #expect(job.deadlineAt == 1_767_225_630)
    }

    @Test func missingOptionalFieldsTakeTheirDocumentedDefaults() throws {
        let before = Date().timeIntervalSince1970
        let payload = #"{"v":1,"id":"lenient","messages":[{"role":"user","content":"hi"}]}"#
        let job = try JSONDecoder().decode(Job.self, from: Data(payload.utf8))
        let after = Date().timeIntervalSince1970
        #expect(job.attempt == 0)
        #expect(job.params == GenerationParameters())
        #expect(job.tierHint == "auto")
        #expect(job.cache == true)
        #expect(job.enableFallback == true)
        #expect(job.metadata.isEmpty)
        #expect(job.forceModel == nil)
        #expect(job.route == nil)
        #expect(job.fallbackFrom == nil)
        #expect(job.deadlineAt == nil)
        #expect(job.replyTo == "")
        #expect(job.createdAt >= before && job.createdAt <= after, "created_at defaults to the time of decoding")
    }

    @Test func explicitNullsDecodeLikeMissingFields() throws {
        let payload =
            #"{"v":1,"id":"n","reply_to":null,"deadline_at":null,"params":null,"tier_hint":null,"force_model":null,"route":null,"fallback_from":null,"metadata":null,"messages":[{"role":"user","content":"hi"}]}"#
        let job = try JSONDecoder().decode(Job.self, from: Data(payload.utf8))
        #expect(job.params == GenerationParameters())
        #expect(job.tierHint == "auto")
        #expect(job.metadata.isEmpty)
        #expect(job.route == nil)
    }
}

/// The fast writer must say exactly what the Codable conformances say.
@Suite struct JSONWriterTests {
    static func sampleJobs() -> [Job] {
        var plain = Job(
            id: "j1", replyTo: "cervella:reply:j1", createdAt: 1_764_243_456.125, deadlineAt: nil,
            messages: [ChatMessage(role: "user", content: "Hi \"there\"\n\tback\\slash \u{1} é 日本 / 😀")])
        plain.metadata = [
            "n": .integer(9_007_199_254_740_993), "x": .number(0.1), "w": .integer(1000), "d": .number(-2.5e-7),
            "nested": .object(["a": .array([.null, .bool(true), .string("s")])]),
        ]
        var full = plain
        full.deadlineAt = 1_764_243_516.5
        full.attempt = 2
        full.messages.append(
            ChatMessage(
                role: "user",
                content: .parts([.object(["type": .string("text"), "text": .string("part")]), .object(["type": .string("image_url")])])))
        full.params = GenerationParameters(maxTokens: 64, temperature: 0.7, topP: 0.9, stop: ["\n\n", "END"], expectedFormat: "json")
        full.tierHint = "simple"
        full.forceModel = "qwen3-4b"
        full.enableFallback = false
        full.cache = false
        full.route = Route(tier: 1, model: "qwen3-4b", reason: "simple_task_pattern_matched")
        full.fallbackFrom = FallbackOrigin(
            tier: 1, model: "qwen3-4b", reason: "low_confidence_0.41", confidence: 0.41, latencyMs: 812, costUSD: 0.0003)
        full.recoveries = [Recovery(worker: "host:12", at: 1_764_243_460, queue: "tier1")]
        full.cacheChecked = true
        full.group = "g-1"
        full.priority = .bulk
        var partialOrigin = full
        partialOrigin.fallbackFrom = FallbackOrigin(tier: 2, model: "deepseek-r1", reason: "error_http_5xx", confidence: nil, latencyMs: nil)
        return [plain, full, partialOrigin]
    }

    @Test func jobBytesDecodeToTheSameJob() throws {
        for job in Self.sampleJobs() {
            let decoded = try JSONDecoder().decode(Job.self, from: Data(job.jsonBytes()))
            #expect(decoded == job)
            let viaCodable = try JSONDecoder().decode(Job.self, from: JSONEncoder().encode(job))
            #expect(viaCodable == decoded)
        }
    }

    @Test func resultBytesDecodeToTheSameResult() throws {
        var metadata = ResultMetadata(
            modelUsed: "qwen3-4b", tier: 1, latencyMs: 120, queueMs: 3, confidence: 0.953, costUSD: 0.000123456,
            tokensInput: 12, tokensOutput: 40, fallback: false, fallbackReason: nil, originalModel: nil, originalConfidence: nil,
            tierDecisionReason: "queue_tier1", cacheHit: false, worker: "host:1", timestamp: "2026-11-27T12:00:00Z"
        )
        var results = [JobResult.success(id: "a", response: "Answer with \"quotes\"\nand lines", metadata: metadata)]
        metadata.confidence = nil
        metadata.fallback = true
        metadata.fallbackReason = "low_confidence_0.50"
        metadata.originalModel = "qwen3-4b"
        metadata.originalConfidence = 0.5
        metadata.reasoningChars = 420
        metadata.fallbackSuppressed = "empty_response"
        results.append(.success(id: "b", response: "", metadata: metadata))
        results.append(.failure(id: "c", code: "deadline_exceeded", message: "too late \u{7}"))
        for result in results {
            let decoded = try JSONDecoder().decode(JobResult.self, from: Data(result.jsonBytes()))
            #expect(decoded == result)
            #expect(try JSONDecoder().decode(JobResult.self, from: JSONEncoder().encode(result)) == decoded)
        }
    }

    @Test func nonFiniteNumbersBecomeNull() throws {
        var writer = JSONWriter()
        writer.array([1.5, .nan, .infinity]) { $0.double($1) }
        #expect(String(decoding: writer.bytes, as: UTF8.self) == "[1.5,null,null]")
    }
}
