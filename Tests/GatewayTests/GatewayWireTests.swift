import Foundation
import Hummingbird
import JobProtocol
import Testing

@testable import Gateway

/// The request bodies as clients send them, and what the gateway makes of them.
@Suite struct GatewayWireTests {
    func decode<T: Decodable>(_ type: T.Type, _ json: String) throws -> T {
        try JSONDecoder().decode(type, from: Data(json.utf8))
    }

    @Test func chatRequestsReadTheReportsSnakeCaseFields() throws {
        let chat = try decode(
            ChatRequest.self,
            #"{"message":"hi","context":{"system":"be brief"},"tier_hint":"simple","force_model":"claude","enable_fallback":false,"stream":false}"#)
        #expect(chat.message == "hi")
        #expect(chat.context == ["system": .string("be brief")])
        #expect(chat.tierHint == "simple")
        #expect(chat.forceModel == "claude")
        #expect(chat.enableFallback == false)
        #expect(chat.stream == false)
        #expect(throws: DecodingError.self) { try decode(ChatRequest.self, #"{"context":{}}"#) }
    }

    @Test func completionRequestsTakeOneStopOrMany() throws {
        let one = try decode(
            CompletionRequest.self, #"{"messages":[{"role":"user","content":"hi"}],"stop":"END","max_completion_tokens":5,"top_p":0.5}"#)
        #expect(one.stop?.list == ["END"])
        #expect(one.maxCompletionTokens == 5)
        #expect(one.topP == 0.5)
        let many = try decode(CompletionRequest.self, #"{"messages":[],"stop":["a","b"],"max_tokens":7,"n":1,"model":"auto"}"#)
        #expect(many.stop?.list == ["a", "b"])
        #expect(many.maxTokens == 7)
        #expect(many.n == 1)
        #expect(many.model == "auto")
        #expect(throws: DecodingError.self) { try decode(CompletionRequest.self, #"{"messages":[],"stop":5}"#) }
    }

    @Test func asyncJobRequestsReadEveryDocumentedField() throws {
        let job = try decode(
            AsyncJobRequest.self,
            #"{"message":"m","tier_hint":"complex","force_model":"x","enable_fallback":true,"cache":false,"max_tokens":9,"temperature":0.1,"timeout_seconds":30,"metadata":{"k":1}}"#
        )
        #expect(job.message == "m")
        #expect(job.tierHint == "complex")
        #expect(job.cache == false)
        #expect(job.maxTokens == 9)
        #expect(job.timeoutSeconds == 30)
        #expect(job.metadata == ["k": .integer(1)])
        let toggle = try decode(ToggleTierRequest.self, #"{"tier":2,"enabled":false}"#)
        #expect(toggle.tier == 2 && toggle.enabled == false)
    }

    @Test func contextBecomesOneSystemPromptAndOneContextMessage() {
        #expect(GatewayServer.contextMessages(nil).isEmpty)
        #expect(GatewayServer.contextMessages([:]).isEmpty)
        let messages = GatewayServer.contextMessages(["system": .string("be brief"), "user": .string("ann"), "a/b": .integer(1)])
        #expect(
            messages == [
                ChatMessage(role: "system", content: "be brief"),
                ChatMessage(role: "system", content: #"Context: {"a/b":1,"user":"ann"}"#),
            ])
    }

    @Test func onlyJSONBodiesAreRead() {
        for accepted in [nil, "", "application/json", "Application/JSON; charset=utf-8", "application/vnd.api+json"] as [String?] {
            #expect(throws: Never.self, "\(String(describing: accepted))") { try GatewayServer.checkContentType(accepted) }
        }
        for refused in ["text/plain", "application/x-www-form-urlencoded", "application/jsonx", "multipart/form-data; boundary=x"] {
            #expect(throws: GatewayServer.Refusal.self, "\(refused)") { try GatewayServer.checkContentType(refused) }
        }
    }

    @Test func theFormContentTypeIsToldHowToFixCurl() async throws {
        do {
            try GatewayServer.checkContentType("application/x-www-form-urlencoded")
            Issue.record("a form body was accepted")
        } catch let refusal as GatewayServer.Refusal {
            let served = try await Served.response(refusal.response)
            #expect(served.status == .unsupportedMediaType)
            #expect(String(buffer: served.body).contains("-H 'Content-Type: application/json'"))
        }
    }

    @Test func fieldPathsAreWrittenAsTheMessagesWriteThem() {
        struct Key: CodingKey {
            var stringValue: String
            var intValue: Int?
            init(stringValue: String) { self.stringValue = stringValue }
            init(intValue: Int) {
                self.stringValue = String(intValue)
                self.intValue = intValue
            }
        }
        let path: [any CodingKey] = [Key(stringValue: "messages"), Key(intValue: 1), Key(stringValue: "content"), Key(intValue: 0)]
        #expect(GatewayServer.fieldPath(path) == "messages[1].content[0]")
    }

    @Test func numbersOutOfRangeAreNamed() {
        let tooBig = GatewayServer.numberProblem(in: Data(#"{"max_tokens": 1e30}"#.utf8))
        #expect(tooBig?.hasPrefix("field 'max_tokens' must be a whole number within its range, got ") == true)
        #expect(GatewayServer.numberProblem(in: Data(#"{"max_tokens": 5}"#.utf8)) == nil)
        let huge = GatewayServer.numberProblem(in: Data(#"{"temperature": 1e999}"#.utf8))
        #expect(huge?.contains("'temperature'") == true)
        #expect(huge?.contains("1e999") == true)
    }

    @Test func resultHeadersDescribeTheRoute() {
        let metadata = ResultMetadata(
            modelUsed: "qwen3-4b", tier: 1, latencyMs: 342, queueMs: 3, confidence: 0.92, costUSD: 0.0008, tokensInput: 75, tokensOutput: 210,
            fallback: true, fallbackReason: "low_confidence_0.55", tierDecisionReason: "simple_task_pattern_matched", worker: "w", timestamp: "t"
        )
        let headers = GatewayServer.cervellaHeaders(metadata)
        func value(_ name: String) -> String? { HTTPFields.Element.Name(name).flatMap { headers[$0] } }
        #expect(value("x-cervella-tier") == "1")
        #expect(value("x-cervella-model") == "qwen3-4b")
        #expect(value("x-cervella-reason") == "simple_task_pattern_matched")
        #expect(value("x-cervella-fallback") == "true")
        #expect(value("x-cervella-fallback-reason") == "low_confidence_0.55")
        #expect(value("x-cervella-cache-hit") == "false")
        #expect(value("x-cervella-cost-usd") == "0.000800")
        #expect(value("x-cervella-latency-ms") == "342")
        #expect(value("x-cervella-confidence") == "0.920")
    }

    /// The response bodies are written field by field (not by JSONEncoder): each must read back
    /// as the same values, whatever the answer's text holds.
    static let awkward = "line one\nsaid \"hi\" \\ tab\t bell\u{7} é 🚀"

    @Test(arguments: [
        ResultMetadata(
            modelUsed: "qwen3-4b", tier: 1, latencyMs: 342, queueMs: 3, confidence: 0.92, costUSD: 0.0008, tokensInput: 75, tokensOutput: 210,
            tierDecisionReason: "simple_task_pattern_matched", worker: "w-1", timestamp: "2026-11-30T14:00:00Z"),
        ResultMetadata(
            modelUsed: "claude-sonnet-4-5", tier: 3, latencyMs: 0, queueMs: 0, confidence: nil, costUSD: 1e-7, tokensInput: 0, tokensOutput: Int.max,
            fallback: true, fallbackReason: "low_confidence_0.55", originalModel: "qwen3-4b", originalConfidence: 0.55,
            tierDecisionReason: awkward, cacheHit: true, worker: awkward, timestamp: "t", reasoningChars: 12, fallbackSuppressed: "budget"),
    ])
    func chatResponsesReadBackAsTheResult(metadata: ResultMetadata) throws {
        struct ChatResponse: Decodable {
            var response: String
            var metadata: ResultMetadata
        }
        let decoded = try JSONDecoder().decode(ChatResponse.self, from: Data(GatewayServer.chatBody(Self.awkward, metadata: metadata)))
        #expect(decoded.response == Self.awkward)
        #expect(decoded.metadata == metadata)
    }

    @Test func completionsHaveOpenAIsShape() throws {
        let metadata = ResultMetadata(
            modelUsed: "qwen3-4b", tier: 1, latencyMs: 342, queueMs: 3, confidence: 0.92, costUSD: 0.0008, tokensInput: 75, tokensOutput: 210,
            tierDecisionReason: "simple_task_pattern_matched", worker: "w", timestamp: "t")
        let body = GatewayServer.completionBody(id: "chatcmpl-abc", created: 1_790_000_000, content: Self.awkward, metadata: metadata)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(body)) as? [String: Any])
        #expect(object["id"] as? String == "chatcmpl-abc")
        #expect(object["object"] as? String == "chat.completion")
        #expect(object["created"] as? Int == 1_790_000_000)
        #expect(object["model"] as? String == "qwen3-4b")
        let choices = try #require(object["choices"] as? [[String: Any]])
        #expect(choices.count == 1)
        #expect(choices[0]["index"] as? Int == 0)
        #expect(choices[0]["finish_reason"] as? String == "stop")
        #expect(choices[0]["logprobs"] is NSNull)
        #expect(choices[0]["message"] as? [String: String] == ["role": "assistant", "content": Self.awkward])
        #expect(object["usage"] as? [String: Int] == ["prompt_tokens": 75, "completion_tokens": 210, "total_tokens": 285])
    }

    @Test func errorBodiesReadBack() throws {
        let object = try #require(
            try JSONSerialization.jsonObject(with: Data(GatewayResponse.errorBody(.tooManyRequests, code: "rate_limited", message: Self.awkward)))
                as? [String: [String: String]])
        #expect(object == ["error": ["code": "rate_limited", "message": Self.awkward, "type": "rate_limit_error"]])
    }

    @Test func fieldListsReadAsEnglish() {
        #expect(FieldCheck.list(["a"]) == "'a'")
        #expect(FieldCheck.list(["a", "b"]) == "'a' and 'b'")
        #expect(FieldCheck.list(["a", "b", "c"]) == "'a', 'b' and 'c'")
        let many = (0..<12).map { "f\($0)" }
        #expect(FieldCheck.list(many) == "'f0', 'f1', 'f2', 'f3', 'f4', 'f5', 'f6', 'f7', 'f8', 'f9' and 2 more")
        #expect(FieldCheck.list([String(repeating: "x", count: 500)]) == "'\(String(repeating: "x", count: 64))'")
    }
}
