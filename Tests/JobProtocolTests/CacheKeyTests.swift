import Foundation
import JobProtocol
import Testing

@Suite struct CacheKeyTests {
    /// A fully populated job; variations below change one field at a time.
    static func baseJob() -> Job {
        Job(
            id: "job-1", replyTo: "cervella:reply:job-1", createdAt: 1_767_225_600.123, deadlineAt: 1_767_225_630.123,
            attempt: 0,
            messages: [ChatMessage(role: "system", content: "Be brief."), ChatMessage(role: "user", content: "Summarize: Redis lists.")],
            params: GenerationParameters(maxTokens: 200, temperature: 0.2),
            tierHint: "auto", forceModel: nil, enableFallback: true, cache: true,
            route: Route(tier: 1, model: "qwen3-4b", reason: "simple_task_pattern_matched"),
            fallbackFrom: nil, metadata: ["batch": .string("b-7")]
        )
    }

    static let baseKey = CacheKey.digest(for: baseJob())

    @Test func keyIsSixtyFourLowercaseHexCharacters() {
        #expect(Self.baseKey.count == 64)
        #expect(Self.baseKey.allSatisfy { "0123456789abcdef".contains($0) })
    }

    @Test func keyIsStableAcrossCalls() {
        #expect(CacheKey.digest(for: Self.baseJob()) == CacheKey.digest(for: Self.baseJob()))
    }

    /// The canonical form is documented as JSON with sorted keys and no spaces; the expected
    /// digest is `sha256sum` of that JSON written by hand, so any change to the canonical form
    /// (which would orphan every cached entry and split producers from workers) fails here.
    @Test func keyIsSHA256OfSortedCompactJSONOfTheIdentity() {
        let job = Job(
            id: "anything", replyTo: "cervella:reply:anything", createdAt: 1, deadlineAt: nil,
            messages: [ChatMessage(role: "user", content: "Summarize: a/b")],
            params: GenerationParameters(maxTokens: 10, temperature: 0.7),
            route: Route(tier: 1, model: "qwen3-4b", reason: "r")
        )
        // {"messages":[{"content":"Summarize: a/b","role":"user"}],"model":"qwen3-4b","params":{"max_tokens":10,"temperature":0.7},"tier_hint":"auto"}
        #expect(CacheKey.digest(for: job) == "ece1ad6731f9e3ed44927d8a975825f1ef1b8a6c2440bdb381facfc8ed2db5d9")
    }

    @Test func jobWithoutRouteOrParamsHashesWithEmptyModelAndEmptyParams() {
        let job = Job(id: "x", replyTo: "cervella:reply:x", createdAt: 0, deadlineAt: nil, messages: [ChatMessage(role: "user", content: "ciao")])
        // {"messages":[{"content":"ciao","role":"user"}],"model":"","params":{},"tier_hint":"auto"}
        #expect(CacheKey.digest(for: job) == "92409ff2474c3265adfb7884673cbe7587ac5d07c3c125b1a3bbdf4a0afff587")
    }

    static let irrelevantChanges: [(String, @Sendable (inout Job) -> Void)] = [
        ("id", { $0.id = "job-2" }),
        ("reply_to", { $0.replyTo = "cervella:reply:job-2" }),
        ("created_at", { $0.createdAt += 3600 }),
        ("deadline_at", { $0.deadlineAt = nil }),
        ("attempt", { $0.attempt = 3 }),
        ("metadata", { $0.metadata = ["batch": .string("b-8"), "n": .number(1)] }),
        ("enable_fallback", { $0.enableFallback = false }),
        ("cache", { $0.cache = false }),
        ("route.reason", { $0.route?.reason = "python_producer" }),
        ("route.tier", { $0.route?.tier = 3 }),
        (
            "fallback_from",
            { $0.fallbackFrom = FallbackOrigin(tier: 1, model: "qwen3-4b", reason: "low_confidence_0.55", confidence: 0.55, latencyMs: 300) }
        ),
    ]

    @Test(arguments: irrelevantChanges.map(\.0))
    func fieldsThatCannotChangeTheAnswerDoNotChangeTheKey(field: String) throws {
        let change = try #require(Self.irrelevantChanges.first { $0.0 == field }?.1)
        var job = Self.baseJob()
        change(&job)
        #expect(CacheKey.digest(for: job) == Self.baseKey)
    }

    static let relevantChanges: [(String, @Sendable (inout Job) -> Void)] = [
        ("message text", { $0.messages[1] = ChatMessage(role: "user", content: "Summarize: Redis sets.") }),
        ("message role", { $0.messages[0] = ChatMessage(role: "user", content: "Be brief.") }),
        ("message added", { $0.messages.append(ChatMessage(role: "user", content: "Again.")) }),
        ("message order", { $0.messages.reverse() }),
        ("params.max_tokens", { $0.params.maxTokens = 201 }),
        ("params.temperature", { $0.params.temperature = 0.3 }),
        ("params.top_p", { $0.params.topP = 0.9 }),
        ("params.stop", { $0.params.stop = ["\n"] }),
        ("params.expected_format", { $0.params.expectedFormat = "json" }),
        ("force_model", { $0.forceModel = "claude-sonnet-4-5" }),
        ("route.model", { $0.route?.model = "deepseek-r1" }),
        ("route removed", { $0.route = nil }),
        ("tier_hint", { $0.tierHint = "complex" }),
        ("params.tools", { $0.params.tools = [Self.weatherTool] }),
        ("params.tools, another schema", { $0.params.tools = [Self.weatherTool(required: ["city", "days"])] }),
        ("params.tool_choice", { $0.params.toolChoice = .string("required") }),
        ("params.response_format", { $0.params.responseFormat = .object(["type": .string("json_object")]) }),
        ("params.parallel_tool_calls", { $0.params.parallelToolCalls = false }),
        ("params.seed", { $0.params.seed = 7 }),
        ("message name", { $0.messages[1].name = "alice" }),
        (
            "assistant tool_calls",
            {
                $0.messages.append(
                    ChatMessage(role: "assistant", content: nil, toolCalls: [ToolCall(id: "call_1", name: "weather", arguments: "{}")]))
            }
        ),
        ("tool_call_id", { $0.messages.append(ChatMessage(role: "tool", content: .text("18 C"), toolCallID: "call_1")) }),
    ]

    static let weatherTool = weatherTool(required: ["city"])

    static func weatherTool(required: [String]) -> JSONValue {
        .object([
            "type": .string("function"),
            "function": .object([
                "name": .string("weather"),
                "parameters": .object([
                    "type": .string("object"), "properties": .object(["city": .object(["type": .string("string")])]),
                    "required": .array(required.map { .string($0) }),
                ]),
            ]),
        ])
    }

    /// Tool results that answer different calls are different conversations.
    @Test func toolResultsForDifferentCallsDoNotShareAKey() {
        func job(callID: String, arguments: String) -> Job {
            var job = Self.baseJob()
            job.params.tools = [Self.weatherTool]
            job.messages += [
                ChatMessage(role: "assistant", content: nil, toolCalls: [ToolCall(id: callID, name: "weather", arguments: arguments)]),
                ChatMessage(role: "tool", content: .text("18 C"), toolCallID: callID),
            ]
            return job
        }
        let base = CacheKey.digest(for: job(callID: "call_1", arguments: #"{"city":"Paris"}"#))
        #expect(base != CacheKey.digest(for: job(callID: "call_2", arguments: #"{"city":"Paris"}"#)))
        #expect(base != CacheKey.digest(for: job(callID: "call_1", arguments: #"{"city":"Rome"}"#)))
        #expect(base == CacheKey.digest(for: job(callID: "call_1", arguments: #"{"city":"Paris"}"#)))
    }

    @Test(arguments: relevantChanges.map(\.0))
    func fieldsThatCanChangeTheAnswerChangeTheKey(field: String) throws {
        let change = try #require(Self.relevantChanges.first { $0.0 == field }?.1)
        var job = Self.baseJob()
        change(&job)
        #expect(CacheKey.digest(for: job) != Self.baseKey)
    }

    @Test func forceModelAndRoutedModelOfTheSameNameShareAKey() {
        var forced = Self.baseJob()
        forced.route = nil
        forced.forceModel = "qwen3-4b"
        #expect(CacheKey.digest(for: forced) == Self.baseKey)
    }

    @Test func forceModelTakesPrecedenceOverRoutedModel() {
        var job = Self.baseJob()
        job.forceModel = "claude-sonnet-4-5"
        var other = Self.baseJob()
        other.route = Route(tier: 3, model: "claude-sonnet-4-5", reason: "x")
        #expect(CacheKey.digest(for: job) == CacheKey.digest(for: other))
    }

    /// The producer computes the key from the job it built; the worker from the job it decoded.
    @Test func keyOfADecodedJobMatchesTheKeyOfTheJobThatWasEncoded() throws {
        let data = try JSONEncoder().encode(Self.baseJob())
        let decoded = try JSONDecoder().decode(Job.self, from: data)
        #expect(CacheKey.digest(for: decoded) == Self.baseKey)
    }

    @Test func keyOrderAndWhitespaceOfTheIncomingJSONDoNotMatter() throws {
        let compact = #"{"v":1,"id":"a","messages":[{"role":"user","content":"hi"}],"params":{"temperature":0.5,"max_tokens":9}}"#
        let spaced = #"{ "params": { "max_tokens": 9, "temperature": 0.5 }, "messages": [ { "content": "hi", "role": "user" } ], "id": "b", "v": 1 }"#
        let first = try JSONDecoder().decode(Job.self, from: Data(compact.utf8))
        let second = try JSONDecoder().decode(Job.self, from: Data(spaced.utf8))
        #expect(CacheKey.digest(for: first) == CacheKey.digest(for: second))
    }
}
