import Foundation
import Hummingbird
import HummingbirdTesting
import Testing

@testable import ProviderSimulator

/// `POST /v1/messages` with `"stream": true`, as Anthropic's named events.
@Suite("Anthropic Messages streaming")
struct AnthropicStreamingTests {
    static let prompt = "Explain how a worker pool uses Redis lists"

    /// The event names of a complete single-block stream with `deltas` deltas.
    static func completeSequence(deltas: Int) -> [String] {
        ["message_start", "content_block_start", "ping"] + Array(repeating: "content_block_delta", count: deltas)
            + ["content_block_stop", "message_delta", "message_stop"]
    }

    @Test("a stream is Anthropic's event sequence, and its text deltas join to the non-streamed text")
    func eventSequence() async throws {
        try await Sim.withRouter { client in
            let extra: [String: Any] = ["system": "Be terse."]
            let plain = try Sim.json(try await Sim.messages(client, Sim.messagesBody(Self.prompt, extra: extra)))
            let plainUsage = try #require(plain["usage"] as? [String: Int])
            let response = try await Sim.messagesStream(client, Self.prompt, extra: extra)
            #expect(response.status == .ok)
            #expect(response.headers[.contentType] == "text/event-stream; charset=utf-8")
            #expect(response.headers[SimResponse.requestID]?.hasPrefix("req_") == true)
            let text = Sim.string(response)
            #expect(text.hasPrefix("event: message_start\ndata: {"))
            #expect(text.hasSuffix("event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n"))
            let events = Sim.events(text)
            let tokens = SimTokens.split(try Sim.text(plain))
            #expect(events.map(\.name) == Self.completeSequence(deltas: tokens.count))
            #expect(events.allSatisfy { $0.json?["type"] as? String == $0.name })

            let message = try #require(events[0].json?["message"] as? [String: Any])
            #expect(Set(message.keys) == ["id", "type", "role", "content", "model", "stop_reason", "stop_sequence", "usage"])
            #expect((message["id"] as? String)?.hasPrefix("msg_") == true)
            #expect(message["type"] as? String == "message" && message["role"] as? String == "assistant")
            #expect(message["model"] as? String == "claude-sonnet-4-5")
            #expect((message["content"] as? [Any])?.isEmpty == true)
            #expect(Sim.isNull(message, "stop_reason") && Sim.isNull(message, "stop_sequence"))
            let startUsage = try #require(message["usage"] as? [String: Int])
            #expect(startUsage["input_tokens"] == plainUsage["input_tokens"])
            #expect(startUsage["output_tokens"] == 1)

            #expect(events[1].json?["index"] as? Int == 0)
            #expect(events[1].json?["content_block"] as? [String: String] == ["type": "text", "text": ""])
            let deltas = events.filter { $0.name == "content_block_delta" }
            #expect(deltas.allSatisfy { $0.json?["index"] as? Int == 0 && ($0.json?["delta"] as? [String: Any])?["type"] as? String == "text_delta" })
            #expect(Sim.anthropicPieces(events) == tokens)
            #expect(Sim.anthropicPieces(events).joined() == (try Sim.text(plain)))

            #expect(events[events.count - 3].json?["index"] as? Int == 0)
            let messageDelta = try #require(events[events.count - 2].json)
            let delta = try #require(messageDelta["delta"] as? [String: Any])
            #expect(delta["stop_reason"] as? String == "end_turn" && Sim.isNull(delta, "stop_sequence"))
            #expect(messageDelta["usage"] as? [String: Int] == ["output_tokens": plainUsage["output_tokens"] ?? -1])
        }
    }

    @Test("a tool call streams a tool_use block whose partial_json pieces join to the non-streamed input")
    func toolUseStreaming() async throws {
        try await Sim.withRouter { client in
            let extra: [String: Any] = ["tools": ToolRouteTests.anthropicTools]
            let plain = try Sim.json(try await Sim.messages(client, Sim.messagesBody("Weather in Paris?", extra: extra)))
            let plainInput = try #require((plain["content"] as? [[String: Any]])?.first?["input"])
            let events = Sim.events(Sim.string(try await Sim.messagesStream(client, "Weather in Paris?", extra: extra)))
            let pieces = Sim.anthropicPieces(events)
            #expect(pieces.first == "")
            #expect(pieces.count > 2 && pieces.allSatisfy { $0.count <= StreamPlan.argumentPieceLength })
            #expect(events.map(\.name) == Self.completeSequence(deltas: pieces.count))

            let block = try #require(events[1].json?["content_block"] as? [String: Any])
            #expect(block["type"] as? String == "tool_use" && block["name"] as? String == "weather")
            #expect((block["id"] as? String)?.hasPrefix("toolu_") == true)
            #expect((block["input"] as? [String: Any])?.isEmpty == true)
            let deltaTypes = events.filter { $0.name == "content_block_delta" }.map { ($0.json?["delta"] as? [String: Any])?["type"] as? String }
            #expect(deltaTypes.allSatisfy { $0 == "input_json_delta" })
            let input = try JSONSerialization.jsonObject(with: Data(pieces.joined().utf8))
            #expect(try Sim.canonical(input) == Sim.canonical(plainInput))
            let delta = events[events.count - 2].json?["delta"] as? [String: Any]
            #expect(delta?["stop_reason"] as? String == "tool_use")
        }
    }

    @Test("max_tokens ends the stream with stop_reason max_tokens after that many deltas")
    func maxTokens() async throws {
        try await Sim.withRouter { client in
            let events = Sim.events(Sim.string(try await Sim.messages(client, Sim.messagesBody(Self.prompt, maxTokens: 3, extra: ["stream": true]))))
            #expect(events.map(\.name) == Self.completeSequence(deltas: 3))
            let messageDelta = try #require(events[events.count - 2].json)
            #expect((messageDelta["delta"] as? [String: Any])?["stop_reason"] as? String == "max_tokens")
            #expect(messageDelta["usage"] as? [String: Int] == ["output_tokens": 3])
        }
    }

    @Test("header and body checks and failures answer as before, not as a stream")
    func failuresAreNotStreamed() async throws {
        try await Sim.withRouter { client in
            var noKey = Sim.anthropicHeaders
            noKey[SimResponse.apiKey] = nil
            let unauthorized = try await Sim.messages(client, Sim.messagesBody("Hi", extra: ["stream": true]), headers: noKey)
            #expect(unauthorized.status == .unauthorized)
            let overloaded = try await Sim.messagesStream(client, "#sim status=529\nHi")
            #expect(overloaded.status.code == 529)
            #expect(try AnthropicRouteTests.errorType(overloaded) == "overloaded_error")
            #expect(overloaded.headers[SimResponse.requestID] != nil)
        }
    }
}
