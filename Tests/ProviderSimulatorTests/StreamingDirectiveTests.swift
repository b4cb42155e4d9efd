import Foundation
import Hummingbird
import HummingbirdTesting
import Testing

@testable import ProviderSimulator

/// The streaming directives (`token_ms`, `cut`, `midstream_error`) in both wire formats, and
/// the stream counters that let a test prove an abort reached the provider.
@Suite("Streaming directives and stream counters")
struct StreamingDirectiveTests {
    static let prompt = "Explain backpressure in a job queue"

    @Test("token_ms paces every token; latency_ms stays the wait before the first byte")
    func tokenPacing() async throws {
        let clock = ContinuousClock()
        try await Sim.withRouter { client in
            let start = clock.now
            let openAI = Sim.events(Sim.string(try await Sim.chatStream(client, "#sim token_ms=30\n" + Self.prompt)))
            let openAIElapsed = clock.now - start
            let openAITokens = Sim.contentPieces(openAI).count
            #expect(openAITokens > 5)
            #expect(openAIElapsed >= .milliseconds(30 * openAITokens))
            #expect(openAI.last?.data == "[DONE]")

            let later = clock.now
            let anthropic = Sim.events(Sim.string(try await Sim.messagesStream(client, "#sim latency_ms=200 token_ms=20\n" + Self.prompt)))
            let anthropicTokens = Sim.anthropicPieces(anthropic).count
            #expect(clock.now - later >= .milliseconds(200 + 20 * anthropicTokens))
            #expect(anthropic.last?.name == "message_stop")
        }
    }

    @Test("cut ends the body after about half the tokens, without any end marker")
    func cut() async throws {
        try await Sim.withRouter { client in
            let full = SimTokens.split(try await Sim.chatContent(client, Self.prompt))
            let half = Array(full.prefix((full.count + 1) / 2))

            let openAIText = Sim.string(
                try await Sim.chatStream(client, "#sim cut\n" + Self.prompt, extra: ["stream_options": ["include_usage": true]]))
            let openAI = Sim.events(openAIText)
            #expect(Sim.contentPieces(openAI) == half)
            #expect(!openAIText.contains("[DONE]") && !openAIText.contains("finish_reason\":\"") && !openAIText.contains("\"usage\":"))
            #expect(openAIText.hasSuffix("\n\n"))

            let anthropic = Sim.events(Sim.string(try await Sim.messagesStream(client, "#sim cut\n" + Self.prompt)))
            #expect(Sim.anthropicPieces(anthropic) == half)
            #expect(
                anthropic.map(\.name) == ["message_start", "content_block_start", "ping"] + Array(repeating: "content_block_delta", count: half.count)
            )
        }
    }

    @Test("midstream_error: some content, then the format's in-stream error, then the end")
    func midstreamError() async throws {
        try await Sim.withRouter { client in
            let full = SimTokens.split(try await Sim.chatContent(client, Self.prompt))
            let half = Array(full.prefix((full.count + 1) / 2))

            let openAI = Sim.events(Sim.string(try await Sim.chatStream(client, "#sim midstream_error cut\n" + Self.prompt)))
            #expect(Sim.contentPieces(openAI) == half)
            #expect(openAI.last?.data == "[DONE]")
            let error = try #require(openAI[openAI.count - 2].json?["error"] as? [String: Any])
            #expect(error["type"] as? String == "InternalServerError" && error["code"] as? Int == 500)
            #expect(error["message"] as? String == "Internal server error" && Sim.isNull(error, "param"))
            #expect(Sim.chunks(openAI).allSatisfy { Sim.isNull(Sim.streamChoice($0), "finish_reason") })

            let response = try await Sim.messagesStream(client, "#sim midstream_error\n" + Self.prompt)
            #expect(response.status == .ok)
            let anthropic = Sim.events(Sim.string(response))
            #expect(Sim.anthropicPieces(anthropic) == half)
            #expect(anthropic.last?.name == "error")
            #expect(anthropic.last?.data == #"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#)
            #expect(!anthropic.contains { $0.name == "message_stop" || $0.name == "message_delta" })
        }
    }

    @Test("scope words keep working: `#sim anthropic cut` breaks only the Anthropic stream")
    func scopedStreamingDirectives() async throws {
        try await Sim.withRouter { client in
            let prompt = Self.prompt + "\n#sim anthropic cut\n#sim openai token_ms=1"
            let openAI = Sim.events(Sim.string(try await Sim.chatStream(client, prompt)))
            let anthropic = Sim.events(Sim.string(try await Sim.messagesStream(client, prompt)))
            #expect(openAI.last?.data == "[DONE]")
            #expect(anthropic.last?.name == "content_block_delta")
        }
    }

    @Test("a non-streaming request ignores the streaming directives, including for the error rate")
    func nonStreamingRequestsIgnoreThem() async throws {
        try await Sim.withRouter { client in
            let plain = try await Sim.chatContent(client, Self.prompt)
            #expect(try await Sim.chatContent(client, "#sim cut midstream_error token_ms=1\n" + Self.prompt) == plain)
            let message = try Sim.json(try await Sim.messages(client, Sim.messagesBody("#sim cut midstream_error\n" + Self.prompt)))
            #expect(try Sim.text(message) == plain && message["stop_reason"] as? String == "end_turn")
        }
        try await Sim.withRouter(Sim.make(.init(port: 0, errorRate: 1))) { client in
            #expect(try await Sim.chat(client, Sim.chatBody("#sim cut\nHello")).status == .serviceUnavailable)
            let stream = try await Sim.chatStream(client, "#sim cut\nHello")
            #expect(stream.status == .ok && stream.headers[.contentType]?.hasPrefix("text/event-stream") == true)
        }
    }

    @Test("finished and cut streams are counted as started, not cancelled; /sim/stats shows both keys")
    func streamCounters() async throws {
        let simulator = Sim.make()
        try await Sim.withRouter(simulator) { client in
            _ = try await Sim.chatStream(client, Self.prompt)
            _ = try await Sim.messagesStream(client, "#sim cut\n" + Self.prompt)
            _ = try await Sim.chatContent(client, Self.prompt)
            #expect(simulator.stats.startedStreams == 2 && simulator.stats.cancelledStreams == 0)
            #expect(simulator.stats.total == 3)
            let served = try Sim.json(try await client.execute(uri: "/sim/stats", method: .get))
            #expect(served["streams"] as? Int == 2 && served["cancelled"] as? Int == 0 && served["total"] as? Int == 3)
            _ = try await client.execute(uri: "/sim/reset", method: .post)
            #expect(simulator.stats.startedStreams == 0)
        }
    }

    @Test(
        "a client that hangs up mid-stream is counted as a cancelled stream",
        arguments: [SimulatorStats.chatCompletions, SimulatorStats.messages])
    func disconnectIsCounted(endpoint: String) async throws {
        let simulator = Sim.make()
        try await simulator.buildApplication().test(.live) { client in
            let port = try #require(client.port)
            let prompt = "#sim token_ms=50\n" + Self.prompt
            let isOpenAI = endpoint == SimulatorStats.chatCompletions
            let body = isOpenAI ? Sim.chatBody(prompt, extra: ["stream": true]) : Sim.messagesBody(prompt, extra: ["stream": true])
            var headers = ["Content-Type": "application/json"]
            if isOpenAI == false {
                headers["x-api-key"] = "test-key"
                headers["anthropic-version"] = "2023-06-01"
            }
            // The first event is written before the first 50 ms pause; hang up right after it.
            let received = try await RawHTTPClient.postAndHangUp(
                port: port, path: endpoint, headers: headers, body: Data(body.readableBytesView),
                after: isOpenAI ? "data: " : "event: message_start")
            #expect(received.hasPrefix("HTTP/1.1 200"))
            #expect(try await Sim.eventually { simulator.stats.cancelledStreams == 1 })
            #expect(simulator.stats.startedStreams == 1)
            #expect(simulator.stats.count(endpoint) == 1)
        }
    }
}
