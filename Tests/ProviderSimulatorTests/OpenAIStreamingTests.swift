import Foundation
import Hummingbird
import HummingbirdTesting
import Testing

@testable import ProviderSimulator

/// `POST /v1/chat/completions` with `"stream": true`, in vLLM's chunk shapes.
@Suite("OpenAI-compatible streaming")
struct OpenAIStreamingTests {
    static let prompt = "Explain how a worker pool uses Redis lists"

    @Test("streamed deltas and logprobs equal the non-streamed answer, in vLLM's chunk shapes")
    func deltasEqualTheNonStreamedAnswer() async throws {
        try await Sim.withRouter { client in
            let extra: [String: Any] = ["logprobs": true, "top_logprobs": 2]
            let plain = try Sim.json(try await Sim.chat(client, Sim.chatBody(Self.prompt, model: "my-model", extra: extra)))
            let response = try await Sim.chat(
                client, Sim.chatBody(Self.prompt, model: "my-model", extra: extra.merging(["stream": true]) { _, new in new }))
            #expect(response.status == .ok)
            #expect(response.headers[.contentType] == "text/event-stream; charset=utf-8")
            let text = Sim.string(response)
            #expect(text.hasPrefix("data: {"))
            #expect(text.hasSuffix("\n\ndata: [DONE]\n\n"))
            let events = Sim.events(text)
            #expect(events.allSatisfy { $0.name == nil })
            #expect(events.last?.data == "[DONE]")
            let chunks = Sim.chunks(events)
            #expect(chunks.count == events.count - 1)

            let id = try #require(chunks.first?["id"] as? String)
            #expect(id.hasPrefix("chatcmpl-") && id != plain["id"] as? String)
            let created = try #require(chunks.first?["created"] as? Int)
            for chunk in chunks {
                #expect(Set(chunk.keys) == ["id", "object", "created", "model", "choices"])
                #expect(chunk["id"] as? String == id && chunk["created"] as? Int == created)
                #expect(chunk["object"] as? String == "chat.completion.chunk")
                #expect(chunk["model"] as? String == "my-model")
            }

            let role = try #require(Sim.streamChoice(chunks[0]))
            #expect(Set(role.keys) == ["index", "delta", "logprobs", "finish_reason"])
            #expect(role["delta"] as? [String: String] == ["role": "assistant", "content": ""])
            #expect(Sim.isNull(role, "logprobs") && Sim.isNull(role, "finish_reason"))

            let content = try Sim.content(plain)
            let tokenChunks = Array(chunks.dropFirst().dropLast())
            #expect(tokenChunks.compactMap { Sim.delta($0)?["content"] as? String } == SimTokens.split(content))
            #expect(Sim.contentPieces(events).joined() == content)
            for chunk in tokenChunks {
                let choice = try #require(Sim.streamChoice(chunk))
                #expect(Set(choice.keys) == ["index", "delta", "logprobs", "finish_reason", "token_ids"])
                #expect(Sim.isNull(choice, "finish_reason") && Sim.isNull(choice, "token_ids"))
                #expect(((choice["logprobs"] as? [String: Any])?["content"] as? [Any])?.count == 1)
            }
            let streamedEntries = tokenChunks.flatMap {
                ((Sim.streamChoice($0)?["logprobs"] as? [String: Any])?["content"] as? [[String: Any]]) ?? []
            }
            let plainEntries = try #require((Sim.choice(plain)?["logprobs"] as? [String: Any])?["content"] as? [[String: Any]])
            #expect(try Sim.canonical(streamedEntries) == Sim.canonical(plainEntries))

            let finish = try #require(chunks.last.flatMap(Sim.streamChoice))
            #expect(finish["finish_reason"] as? String == "stop")
            #expect(finish["delta"] as? [String: String] == ["content": ""])
            #expect(Sim.isNull(finish, "stop_reason") && Sim.isNull(finish, "logprobs"))
        }
    }

    @Test("include_usage adds a usage chunk with empty choices right before [DONE], and only then")
    func usageChunk() async throws {
        try await Sim.withRouter { client in
            let plainUsage = try #require(try Sim.json(try await Sim.chat(client, Sim.chatBody(Self.prompt)))["usage"] as? [String: Any])
            let events = Sim.events(Sim.string(try await Sim.chatStream(client, Self.prompt, extra: ["stream_options": ["include_usage": true]])))
            #expect(events.last?.data == "[DONE]")
            let chunks = Sim.chunks(events)
            let usageChunk = try #require(chunks.last)
            #expect(Set(usageChunk.keys) == ["id", "object", "created", "model", "choices", "usage"])
            #expect((usageChunk["choices"] as? [Any])?.isEmpty == true)
            let usage = try #require(usageChunk["usage"] as? [String: Int])
            #expect(Set(usage.keys) == ["prompt_tokens", "completion_tokens", "total_tokens"])
            for key in usage.keys { #expect(usage[key] == plainUsage[key] as? Int, "\(key)") }
            #expect(chunks.dropLast().allSatisfy { $0["usage"] == nil })
            #expect(Sim.streamChoice(chunks[chunks.count - 2])?["finish_reason"] as? String == "stop")

            let withoutUsage = Sim.chunks(
                Sim.events(Sim.string(try await Sim.chatStream(client, Self.prompt, extra: ["stream_options": ["include_usage": false]]))))
            #expect(withoutUsage.allSatisfy { $0["usage"] == nil && ($0["choices"] as? [Any])?.isEmpty == false })
        }
    }

    @Test("max_tokens: the last token's chunk carries finish_reason length, as vLLM sends it")
    func lengthRidesOnTheLastToken() async throws {
        try await Sim.withRouter { client in
            let full = try await Sim.chatContent(client, Self.prompt)
            let events = Sim.events(Sim.string(try await Sim.chatStream(client, Self.prompt, extra: ["max_tokens": 5])))
            let chunks = Sim.chunks(events)
            #expect(chunks.count == 6)
            #expect(Sim.contentPieces(events) == Array(SimTokens.split(full).prefix(5)))
            let last = try #require(chunks.last.flatMap(Sim.streamChoice))
            #expect(last["finish_reason"] as? String == "length")
            #expect((last["delta"] as? [String: Any])?["content"] as? String == SimTokens.split(full)[4])
            #expect(chunks.dropLast().allSatisfy { Sim.isNull(Sim.streamChoice($0), "finish_reason") })
            #expect(events.last?.data == "[DONE]")
        }
    }

    @Test("a tool call streams its name first, then argument pieces that join to the non-streamed arguments")
    func toolCallStreaming() async throws {
        try await Sim.withRouter { client in
            let extra: [String: Any] = ["tools": ToolRouteTests.openAITools]
            let plain = try Sim.json(try await Sim.chat(client, Sim.chatBody("Weather in Paris?", extra: extra)))
            let plainArguments = try #require((try ToolRouteTests.openAICall(plain).call?["function"] as? [String: Any])?["arguments"] as? String)
            let events = Sim.events(Sim.string(try await Sim.chatStream(client, "Weather in Paris?", extra: extra)))
            #expect(events.last?.data == "[DONE]")
            let chunks = Sim.chunks(events)
            #expect(Sim.delta(chunks[0]) as? [String: String] == ["role": "assistant", "content": ""])

            let opening = try #require((Sim.delta(chunks[1])?["tool_calls"] as? [[String: Any]])?.first)
            #expect(Set(opening.keys) == ["id", "type", "index", "function"])
            #expect((opening["id"] as? String)?.hasPrefix("chatcmpl-tool-") == true)
            #expect(opening["type"] as? String == "function" && opening["index"] as? Int == 0)
            #expect(opening["function"] as? [String: String] == ["name": "weather", "arguments": ""])

            let pieces = chunks.dropFirst(2).dropLast().map { chunk in
                (Sim.delta(chunk)?["tool_calls"] as? [[String: Any]])?.first
            }
            // Compact JSON is one simulated token, streamed in pieces of at most 8 characters.
            #expect(pieces.count == (plainArguments.count + StreamPlan.argumentPieceLength - 1) / StreamPlan.argumentPieceLength)
            #expect(pieces.allSatisfy { $0?["index"] as? Int == 0 && $0?["id"] == nil && $0?["type"] == nil })
            let arguments = pieces.compactMap { ($0?["function"] as? [String: String])?["arguments"] }
            #expect(arguments.count == pieces.count)
            #expect(arguments.joined() == plainArguments)
            #expect(chunks.allSatisfy { Sim.delta($0)?["content"] as? String ?? "" == "" })

            let finish = try #require(chunks.last.flatMap(Sim.streamChoice))
            #expect(finish["finish_reason"] as? String == "tool_calls")
            #expect((finish["delta"] as? [String: Any])?.isEmpty == true)
        }
    }

    @Test("\"stream\": false and an absent stream both answer one JSON body, as before")
    func streamFalseIsTheJSONAnswer() async throws {
        try await Sim.withRouter { client in
            let absent = try await Sim.chatContent(client, Self.prompt)
            let response = try await Sim.chat(client, Sim.chatBody(Self.prompt, extra: ["stream": false, "stream_options": ["include_usage": true]]))
            #expect(response.headers[.contentType] == "application/json")
            #expect(try Sim.content(Sim.json(response)) == absent)
        }
    }

    @Test("failures keep their non-streaming shape: a status directive is an error body, not a stream")
    func failuresAreNotStreamed() async throws {
        try await Sim.withRouter { client in
            let failed = try await Sim.chatStream(client, "#sim status=503\nHello")
            #expect(failed.status == .serviceUnavailable)
            #expect(try Sim.json(failed)["type"] as? String == "ServiceUnavailableError")
            let garbage = try await Sim.chatStream(client, "#sim garbage\nHello")
            #expect(garbage.headers[.contentType]?.hasPrefix("text/html") == true)
        }
    }
}
