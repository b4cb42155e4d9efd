import Foundation
import Hummingbird
import HummingbirdTesting
import Testing

@testable import ProviderSimulator

/// `POST /v1/messages` in Anthropic's wire shape, including its header checks.
@Suite("Anthropic Messages endpoint")
struct AnthropicRouteTests {
    /// Asserts Anthropic's error envelope and returns `error.type`.
    static func errorType(_ response: TestResponse) throws -> String? {
        let body = try Sim.json(response)
        #expect(body["type"] as? String == "error")
        let error = try #require(body["error"] as? [String: Any])
        #expect(!(error["message"] as? String ?? "").isEmpty)
        return error["type"] as? String
    }

    @Test("a message has Anthropic's shape, usage and a request-id header")
    func shape() async throws {
        try await Sim.withRouter { client in
            let system = "You are terse."
            let prompt = "What is a Redis list?"
            let response = try await Sim.messages(client, Sim.messagesBody(prompt, extra: ["system": system, "temperature": 0.2]))
            #expect(response.status == .ok)
            #expect(response.headers[SimResponse.requestID]?.hasPrefix("req_") == true)
            let body = try Sim.json(response)
            #expect(Set(body.keys) == ["id", "type", "role", "model", "content", "stop_reason", "stop_sequence", "usage"])
            #expect((body["id"] as? String)?.hasPrefix("msg_") == true)
            #expect(body["type"] as? String == "message")
            #expect(body["role"] as? String == "assistant")
            #expect(body["model"] as? String == "claude-sonnet-4-5")
            #expect(body["stop_reason"] as? String == "end_turn")
            #expect(Sim.isNull(body, "stop_sequence"))
            let blocks = try #require(body["content"] as? [[String: Any]])
            #expect(blocks.count == 1 && blocks[0]["type"] as? String == "text")
            let text = try Sim.text(body)
            #expect(text.count >= 120 && text.lowercased().contains("redis"))
            let usage = try #require(body["usage"] as? [String: Any])
            #expect(usage["input_tokens"] as? Int == (system.count + prompt.count + 3) / 4)
            #expect(usage["output_tokens"] as? Int == SimTokens.split(text).count)
            #expect(usage["cache_creation_input_tokens"] as? Int == 0)
            #expect(usage["cache_read_input_tokens"] as? Int == 0)
        }
    }

    @Test("missing x-api-key is 401 authentication_error; missing anthropic-version is 400")
    func headers() async throws {
        try await Sim.withRouter { client in
            var noKey = Sim.anthropicHeaders
            noKey[SimResponse.apiKey] = nil
            let unauthorized = try await Sim.messages(client, Sim.messagesBody("Hi"), headers: noKey)
            #expect(unauthorized.status == .unauthorized)
            #expect(try Self.errorType(unauthorized) == "authentication_error")
            #expect(Sim.string(unauthorized) == #"{"type":"error","error":{"type":"authentication_error","message":"x-api-key header is required"}}"#)
            var emptyKey = Sim.anthropicHeaders
            emptyKey[SimResponse.apiKey] = ""
            #expect(try await Sim.messages(client, Sim.messagesBody("Hi"), headers: emptyKey).status == .unauthorized)
            var noVersion = Sim.anthropicHeaders
            noVersion[SimResponse.anthropicVersion] = nil
            let badRequest = try await Sim.messages(client, Sim.messagesBody("Hi"), headers: noVersion)
            #expect(badRequest.status == .badRequest)
            #expect(try Self.errorType(badRequest) == "invalid_request_error")
        }
    }

    @Test(
        "invalid bodies are 400 invalid_request_error",
        arguments: [
            #"{"model":"claude-sonnet-4-5","messages":[{"role":"user","content":"Hi"}]}"#,
            #"{"max_tokens":10,"messages":[{"role":"user","content":"Hi"}]}"#,
            #"{"model":"claude-sonnet-4-5","max_tokens":10}"#,
            #"{"model":"claude-sonnet-4-5","max_tokens":0,"messages":[{"role":"user","content":"Hi"}]}"#,
            #"{"model":"claude-sonnet-4-5","max_tokens":10,"messages":[{"role":"system","content":"Hi"}]}"#,
            #"not json"#,
        ])
    func invalidBodies(raw: String) async throws {
        try await Sim.withRouter { client in
            let response = try await Sim.messages(client, ByteBuffer(string: raw))
            #expect(response.status == .badRequest)
            #expect(try Self.errorType(response) == "invalid_request_error")
        }
    }

    @Test(
        "#sim status maps to Anthropic's error types",
        arguments: [
            (529, "overloaded_error"), (429, "rate_limit_error"), (500, "api_error"), (404, "not_found_error"), (503, "overloaded_error"),
        ])
    func statusDirective(status: Int, type: String) async throws {
        try await Sim.withRouter { client in
            let response = try await Sim.messages(client, Sim.messagesBody("#sim status=\(status)\nHello"))
            #expect(response.status.code == status)
            #expect(try Self.errorType(response) == type)
            #expect(response.headers[SimResponse.retryAfter] == (status == 429 ? "1" : nil))
            #expect(response.headers[SimResponse.requestID] != nil)
        }
    }

    @Test("max_tokens truncates with stop_reason max_tokens")
    func maxTokens() async throws {
        try await Sim.withRouter { client in
            let body = try Sim.json(try await Sim.messages(client, Sim.messagesBody("Explain Redis streams", maxTokens: 3)))
            #expect(body["stop_reason"] as? String == "max_tokens")
            #expect((body["usage"] as? [String: Any])?["output_tokens"] as? Int == 3)
            #expect(SimTokens.split(try Sim.text(body)).count == 3)
        }
    }

    @Test("content directives; think is ignored; block content and block system are read")
    func directives() async throws {
        try await Sim.withRouter { client in
            let empty = try Sim.json(try await Sim.messages(client, Sim.messagesBody("#sim empty\nHello")))
            #expect(try Sim.text(empty) == "")
            #expect((empty["usage"] as? [String: Any])?["output_tokens"] as? Int == 0)
            let short = try Sim.text(Sim.json(try await Sim.messages(client, Sim.messagesBody("#sim short\nHello"))))
            #expect(short.count < 20)
            let evasive = try Sim.text(Sim.json(try await Sim.messages(client, Sim.messagesBody("#sim evasive\nPerché il cielo è blu?"))))
            #expect(evasive.hasPrefix("Non sono sicuro, forse"))
            let plain = try Sim.text(Sim.json(try await Sim.messages(client, Sim.messagesBody("What is Redis?"))))
            let think = try Sim.text(Sim.json(try await Sim.messages(client, Sim.messagesBody("#sim think\nWhat is Redis?"))))
            #expect(think == plain && !think.contains("<think>"))
            let garbage = try await Sim.messages(client, Sim.messagesBody("#sim garbage\nHello"))
            #expect(garbage.status == .ok && garbage.headers[.contentType]?.hasPrefix("text/html") == true)
            let blocks = Sim.body([
                "model": "claude-haiku", "max_tokens": 50,
                "system": [["type": "text", "text": "Be brief."]],
                "messages": [["role": "user", "content": [["type": "text", "text": "#sim short\nWhat is Redis?"]]]],
            ])
            let blockBody = try Sim.json(try await Sim.messages(client, blocks))
            #expect(try Sim.text(blockBody).count < 20)
            #expect(blockBody["model"] as? String == "claude-haiku")
        }
    }

    @Test("both endpoints give the same answer to the same prompt")
    func sameAnswerBothFormats() async throws {
        try await Sim.withRouter { client in
            let openAI = try await Sim.chatContent(client, "Summarize: queues decouple producers from workers.")
            let anthropic = try Sim.text(
                Sim.json(try await Sim.messages(client, Sim.messagesBody("Summarize: queues decouple producers from workers."))))
            #expect(openAI == anthropic)
            #expect(openAI.hasPrefix("Summary: "))
        }
    }
}
