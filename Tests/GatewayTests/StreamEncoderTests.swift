import Foundation
import JobProtocol
import Producer
import RedisClient
import Testing

@testable import Gateway

/// What a streaming response sends for each entry of a job's stream, in each API's shape.
@Suite struct StreamEncoderTests {
    static let metadata = ResultMetadata(
        modelUsed: "qwen3-4b", tier: 1, latencyMs: 12, queueMs: 1, confidence: 0.9, costUSD: 0.0003, tokensInput: 7, tokensOutput: 3,
        tierDecisionReason: "test", worker: "w", timestamp: "2026-11-30T00:00:00Z")

    static func result(_ text: String, toolCalls: [ToolCall]? = nil, finish: String = "stop") -> JobResult {
        .success(id: "j", response: text, metadata: metadata, toolCalls: toolCalls, finishReason: finish)
    }

    /// The `data:` payloads (and event names) of a response body.
    static func events(_ bytes: [UInt8]) -> [(name: String?, data: String)] {
        String(decoding: bytes, as: UTF8.self).components(separatedBy: "\n\n").compactMap { block in
            var name: String?
            var data: String?
            for line in block.split(separator: "\n") {
                if line.hasPrefix("event: ") { name = String(line.dropFirst(7)) }
                if line.hasPrefix("data: ") { data = String(line.dropFirst(6)) }
            }
            return data.map { (name, $0) }
        }
    }

    static func json(_ text: String) -> [String: Any] {
        (try? JSONSerialization.jsonObject(with: Data(text.utf8))) as? [String: Any] ?? [:]
    }

    static func run<E: StreamEncoder>(_ encoder: E, _ entries: [StreamEntry.Kind]) -> [UInt8] {
        var forwarder = StreamForwarder(encoder: encoder)
        var bytes: [UInt8] = []
        for (index, kind) in entries.enumerated() {
            let step = forwarder.handle(StreamEntry(id: "1-\(index)", kind: kind))
            bytes += step.bytes
            if step.done { break }
        }
        return bytes
    }

    @Test func openAIChunksCarryTheRoleFirstThenDeltasThenTheFinishReasonAndDone() {
        let bytes = Self.run(
            OpenAIChunkEncoder(id: "chatcmpl-j", created: 1, includeUsage: true),
            [
                .start(tier: 1, model: "qwen3-4b", mode: "live"), .delta(text: "Hel", toolCalls: []), .delta(text: "lo", toolCalls: []),
                .end(Self.result("Hello")),
            ])
        let events = Self.events(bytes)
        #expect(events.last?.data == "[DONE]")
        let chunks = events.dropLast().map { Self.json($0.data) }
        let deltas = chunks.compactMap { (($0["choices"] as? [[String: Any]])?.first?["delta"] as? [String: Any]) }
        #expect(deltas.first?["role"] as? String == "assistant")
        #expect(deltas.compactMap { $0["content"] as? String }.joined() == "Hello")
        #expect(Set(chunks.compactMap { $0["id"] as? String }) == ["chatcmpl-j"])
        let finish = chunks.compactMap { ($0["choices"] as? [[String: Any]])?.first?["finish_reason"] as? String }
        #expect(finish == ["stop"])
        // include_usage: a last chunk with no choices and the usage; the others carry null.
        let usage = chunks.last?["usage"] as? [String: Any]
        #expect((chunks.last?["choices"] as? [Any])?.isEmpty == true)
        #expect(usage?["total_tokens"] as? Int == 10)
        #expect(chunks.dropLast().allSatisfy { $0["usage"] is NSNull })
    }

    @Test func aVerifiedAnswerIsReleasedWholeFromTheEnd() {
        let bytes = Self.run(
            ChatEventEncoder(id: "j"), [.start(tier: 1, model: "qwen3-4b", mode: "verified"), .end(Self.result("The whole answer."))])
        let events = Self.events(bytes)
        #expect(events.map(\.name) == ["start", "delta", "metadata"])
        #expect(Self.json(events[1].data)["text"] as? String == "The whole answer.")
        let metadata = Self.json(events[2].data)
        #expect(metadata["response"] as? String == "The whole answer.")
        #expect((metadata["metadata"] as? [String: Any])?["model_used"] as? String == "qwen3-4b")
    }

    @Test func whatTheDeltasMissedIsSentBeforeTheEnd() {
        // The worker's write of " world" was lost: the end entry still completes the answer.
        let bytes = Self.run(
            ChatEventEncoder(id: "j"),
            [.start(tier: 3, model: "claude", mode: "live"), .delta(text: "Hello", toolCalls: []), .end(Self.result("Hello world"))])
        let texts = Self.events(bytes).filter { $0.name == "delta" }.compactMap { Self.json($0.data)["text"] as? String }
        #expect(texts == ["Hello", " world"])
    }

    @Test func aSecondAttemptAfterReleasedTextIsAnError() {
        let bytes = Self.run(
            ChatEventEncoder(id: "j"),
            [
                .start(tier: 1, model: "m", mode: "live"), .delta(text: "Half an", toolCalls: []), .start(tier: 1, model: "m", mode: "live"),
                .delta(text: "again", toolCalls: []),
            ])
        let events = Self.events(bytes)
        #expect(events.last?.name == "error")
        #expect((Self.json(events.last!.data)["error"] as? [String: Any])?["code"] as? String == "stream_interrupted")
        #expect(!events.contains { $0.data.contains("again") })
    }

    @Test func aFallbackBeforeAnyTextIsSeamless() {
        let bytes = Self.run(
            OpenAIChunkEncoder(id: "c", created: 1, includeUsage: false),
            [
                .start(tier: 1, model: "qwen3-4b", mode: "verified"), .start(tier: 3, model: "claude", mode: "live"),
                .delta(text: "Hi", toolCalls: []),
                .end(Self.result("Hi")),
            ])
        let events = Self.events(bytes)
        #expect(!events.contains { $0.data.contains("error") })
        #expect(events.last?.data == "[DONE]")
    }

    @Test func aFailedJobEndsWithAnErrorInEachShape() {
        let failure = JobResult.failure(id: "j", code: "error_http_5xx", message: "secret provider text")
        let openAI = Self.events(
            Self.run(OpenAIChunkEncoder(id: "c", created: 1, includeUsage: false), [.start(tier: 3, model: "m", mode: "live"), .end(failure)]))
        #expect((Self.json(openAI.last!.data)["error"] as? [String: Any])?["code"] as? String == "error_http_5xx")
        #expect(!openAI.contains { $0.data == "[DONE]" })
        let anthropic = Self.events(Self.run(AnthropicEventEncoder(id: "j"), [.start(tier: 3, model: "m", mode: "live"), .end(failure)]))
        #expect(anthropic.last?.name == "error")
        #expect((Self.json(anthropic.last!.data)["error"] as? [String: Any])?["type"] as? String == "api_error")
        // The worker's own message, which may quote the provider, never reaches the client.
        #expect(!(openAI + anthropic).contains { $0.data.contains("secret") })
    }

    @Test func anthropicEventsFollowTheMessagesStreamOrder() {
        let call = ToolCall(id: "toolu_1", name: "weather", arguments: "{\"city\":\"Rome\"}")
        let bytes = Self.run(
            AnthropicEventEncoder(id: "j"),
            [
                .start(tier: 3, model: "claude", mode: "live"), .delta(text: "Let me check.", toolCalls: []),
                .delta(text: "", toolCalls: [.init(index: 0, id: "toolu_1", name: "weather", arguments: "")]),
                .delta(text: "", toolCalls: [.init(index: 0, arguments: "{\"city\":")]),
                .delta(text: "", toolCalls: [.init(index: 0, arguments: "\"Rome\"}")]),
                .end(Self.result("Let me check.", toolCalls: [call], finish: "tool_calls")),
            ])
        let events = Self.events(bytes)
        #expect(
            events.map { $0.name ?? "" } == [
                "message_start", "content_block_start", "content_block_delta", "content_block_stop", "content_block_start", "content_block_delta",
                "content_block_delta", "content_block_stop", "message_delta", "message_stop",
            ])
        let toolStart = Self.json(events[4].data)["content_block"] as? [String: Any]
        #expect(toolStart?["type"] as? String == "tool_use")
        #expect(toolStart?["id"] as? String == "toolu_1")
        let partial = events.compactMap { (Self.json($0.data)["delta"] as? [String: Any])?["partial_json"] as? String }.joined()
        #expect(partial == "{\"city\":\"Rome\"}")
        #expect((Self.json(events[8].data)["delta"] as? [String: Any])?["stop_reason"] as? String == "tool_use")
    }

    @Test func toolCallsOfAVerifiedAnswerAreSentWholeAsOpenAIDeltas() {
        let call = ToolCall(id: "call_1", name: "weather", arguments: "{\"city\":\"Rome\"}")
        let bytes = Self.run(
            OpenAIChunkEncoder(id: "c", created: 1, includeUsage: false),
            [.start(tier: 1, model: "m", mode: "verified"), .end(Self.result("", toolCalls: [call], finish: "tool_calls"))])
        let chunks = Self.events(bytes).dropLast().map { Self.json($0.data) }
        let calls = chunks.compactMap {
            ((($0["choices"] as? [[String: Any]])?.first?["delta"] as? [String: Any])?["tool_calls"] as? [[String: Any]])
        }
        #expect(calls.count == 1)
        #expect(calls.first?.first?["id"] as? String == "call_1")
        #expect((calls.first?.first?["function"] as? [String: Any])?["arguments"] as? String == "{\"city\":\"Rome\"}")
    }

    @Test func streamEntriesParseFromRedisReplies() {
        let value = RedisValue.array([
            .bulk(Array("5-1".utf8)),
            .array([.bulk(Array("kind".utf8)), .bulk(Array("delta".utf8)), .bulk(Array("text".utf8)), .bulk(Array("hi".utf8))]),
        ])
        #expect(StreamEntry.parse(value) == StreamEntry(id: "5-1", kind: .delta(text: "hi", toolCalls: [])))
        #expect(StreamEntry.isEntryID("1735000000000-3"))
        #expect(StreamEntry.isEntryID("0"))
        #expect(!StreamEntry.isEntryID("1-2-3"))
        #expect(!StreamEntry.isEntryID("$"))
        #expect(!StreamEntry.isEntryID("99999999999999999999999-0"))
    }
}
