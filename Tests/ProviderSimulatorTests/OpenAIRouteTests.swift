import Foundation
import Hummingbird
import HummingbirdTesting
import Testing

@testable import ProviderSimulator

/// `POST /v1/chat/completions` and `GET /v1/models` in vLLM's wire shape.
@Suite("OpenAI-compatible endpoint")
struct OpenAIRouteTests {
    @Test("a completion has vLLM's exact shape, explicit nulls and coherent usage")
    func shape() async throws {
        try await Sim.withRouter { client in
            let prompt = "What is Redis and why would a worker pool use it?"
            let response = try await Sim.chat(client, Sim.chatBody(prompt, model: "my-model", extra: ["temperature": 0.7, "frobnicate": [1, 2]]))
            #expect(response.status == .ok)
            #expect(response.headers[.contentType] == "application/json")
            let body = try Sim.json(response)
            #expect(Set(body.keys) == ["id", "object", "created", "model", "choices", "usage", "prompt_logprobs"])
            #expect((body["id"] as? String)?.hasPrefix("chatcmpl-") == true)
            #expect(body["object"] as? String == "chat.completion")
            #expect(body["model"] as? String == "my-model")
            #expect(abs((body["created"] as? Int ?? 0) - Int(Date().timeIntervalSince1970)) < 60)
            #expect(Sim.isNull(body, "prompt_logprobs"))
            let choice = try #require(Sim.choice(body))
            #expect(choice["index"] as? Int == 0)
            #expect(choice["finish_reason"] as? String == "stop")
            #expect(Sim.isNull(choice, "stop_reason"))
            #expect(Sim.isNull(choice, "logprobs"))
            let message = try #require(choice["message"] as? [String: Any])
            #expect(message["role"] as? String == "assistant")
            #expect(Sim.isNull(message, "reasoning_content"))
            #expect((message["tool_calls"] as? [Any])?.isEmpty == true)
            let content = try Sim.content(body)
            #expect(content.count >= 120)
            #expect(content.lowercased().contains("redis"))
            let usage = try #require(body["usage"] as? [String: Any])
            #expect(usage["prompt_tokens"] as? Int == (prompt.count + 3) / 4)
            #expect(usage["completion_tokens"] as? Int == SimTokens.split(content).count)
            #expect(usage["total_tokens"] as? Int == (prompt.count + 3) / 4 + SimTokens.split(content).count)
            #expect(Sim.isNull(usage, "prompt_tokens_details"))
        }
    }

    @Test("logprobs: one entry per token, bytes, top alternatives, mean about -0.05")
    func logprobs() async throws {
        try await Sim.withRouter { client in
            let response = try await Sim.chat(client, Sim.chatBody("Explain FIFO queues", extra: ["logprobs": true, "top_logprobs": 3]))
            let body = try Sim.json(response)
            let content = try Sim.content(body)
            let entries = try #require((Sim.choice(body)?["logprobs"] as? [String: Any])?["content"] as? [[String: Any]])
            #expect(entries.count == (body["usage"] as? [String: Any])?["completion_tokens"] as? Int)
            #expect(entries.compactMap { $0["token"] as? String }.joined() == content)
            let values = entries.compactMap { $0["logprob"] as? Double }
            #expect(values.count == entries.count)
            #expect(abs(values.reduce(0, +) / Double(values.count) - (-0.05)) <= 0.01)
            #expect(values.allSatisfy { $0 <= 0 })
            for entry in entries {
                let token = try #require(entry["token"] as? String)
                #expect(entry["bytes"] as? [Int] == token.utf8.map { Int($0) })
                let top = try #require(entry["top_logprobs"] as? [[String: Any]])
                #expect(top.count == 3)
                #expect(top.contains { $0["token"] as? String == token })
                let topValues = top.compactMap { $0["logprob"] as? Double }
                #expect(topValues == topValues.sorted(by: >))
            }
        }
    }

    @Test("#sim logprob sets the mean of the returned logprobs", arguments: [-2.5, -0.3, -6.0])
    func logprobDirective(mean: Double) async throws {
        try await Sim.withRouter { client in
            let body = try Sim.json(try await Sim.chat(client, Sim.chatBody("#sim logprob=\(mean)\nWhat is a mutex?", extra: ["logprobs": true])))
            let entries = try #require((Sim.choice(body)?["logprobs"] as? [String: Any])?["content"] as? [[String: Any]])
            let values = entries.compactMap { $0["logprob"] as? Double }
            #expect(!values.isEmpty)
            #expect(abs(values.reduce(0, +) / Double(values.count) - mean) <= 0.01)
            #expect(entries.allSatisfy { ($0["top_logprobs"] as? [Any])?.isEmpty == true })
            #expect(!(try Sim.content(body)).contains("#sim"))
        }
    }

    @Test("max_tokens truncates the answer and reports finish_reason length")
    func maxTokens() async throws {
        try await Sim.withRouter { client in
            let full = try await Sim.chatContent(client, "Explain consistent hashing")
            let body = try Sim.json(try await Sim.chat(client, Sim.chatBody("Explain consistent hashing", extra: ["max_tokens": 5])))
            #expect(Sim.choice(body)?["finish_reason"] as? String == "length")
            #expect(try Sim.content(body) == SimTokens.split(full).prefix(5).joined())
            #expect((body["usage"] as? [String: Any])?["completion_tokens"] as? Int == 5)
            let roomy = try Sim.json(try await Sim.chat(client, Sim.chatBody("Explain consistent hashing", extra: ["max_tokens": 4096])))
            #expect(Sim.choice(roomy)?["finish_reason"] as? String == "stop")
        }
    }

    @Test(
        "bad requests get vLLM's 400 error shape",
        arguments: [
            #"{"model":"qwen3-4b"}"#, #"{"model":"qwen3-4b","messages":[{"role":"user","content":"x"}"#,
            #"{"messages":"nope"}"#, #"{"messages":[{"role":"user","content":"x"}],"max_tokens":0}"#,
        ])
    func badRequests(raw: String) async throws {
        try await Sim.withRouter { client in
            let response = try await Sim.chat(client, ByteBuffer(string: raw))
            #expect(response.status == .badRequest)
            let body = try Sim.json(response)
            #expect(body["object"] as? String == "error")
            #expect(body["type"] as? String == "BadRequestError")
            #expect(body["code"] as? Int == 400)
            #expect(Sim.isNull(body, "param"))
            #expect(!(body["message"] as? String ?? "").isEmpty)
        }
    }

    @Test(
        "#sim status answers in the error shape; 429 carries retry-after",
        arguments: [
            (503, "ServiceUnavailableError"), (429, "RateLimitError"), (500, "InternalServerError"), (404, "NotFoundError"),
        ])
    func statusDirective(status: Int, type: String) async throws {
        try await Sim.withRouter { client in
            let response = try await Sim.chat(client, Sim.chatBody("#sim status=\(status)\nHello"))
            #expect(response.status.code == status)
            let body = try Sim.json(response)
            #expect(body["type"] as? String == type)
            #expect(body["code"] as? Int == status)
            #expect(response.headers[SimResponse.retryAfter] == (status == 429 ? "1" : nil))
        }
    }

    @Test("#sim empty, short, evasive, garbage and think change the body")
    func contentDirectives() async throws {
        try await Sim.withRouter { client in
            let empty = try Sim.json(try await Sim.chat(client, Sim.chatBody("#sim empty\nHello", extra: ["logprobs": true])))
            #expect(try Sim.content(empty) == "")
            #expect((empty["usage"] as? [String: Any])?["completion_tokens"] as? Int == 0)
            #expect(((Sim.choice(empty)?["logprobs"] as? [String: Any])?["content"] as? [Any])?.isEmpty == true)
            #expect(try await Sim.chatContent(client, "#sim short\nWhat is Redis?").count < 20)
            #expect(try await Sim.chatContent(client, "#sim evasive\nWhat is Redis?").hasPrefix("I'm not sure, maybe"))
            #expect(try await Sim.chatContent(client, "#sim evasive\nChe cos'è una coda di Redis?").hasPrefix("Non sono sicuro, forse"))
            let garbage = try await Sim.chat(client, Sim.chatBody("#sim garbage\nHello"))
            #expect(garbage.status == .ok)
            #expect(garbage.headers[.contentType]?.hasPrefix("text/html") == true)
            #expect((try? JSONSerialization.jsonObject(with: Data(garbage.body.readableBytesView))) == nil)
            let plain = try await Sim.chatContent(client, "What is Redis?")
            let thinking = try await Sim.chatContent(client, "#sim think\nWhat is Redis?")
            #expect(thinking.hasPrefix("<think>\n"))
            #expect(thinking.hasSuffix("</think>\n\n" + plain))
        }
    }

    @Test("same prompt, same answer; directives only count in the last user message")
    func determinismAndScope() async throws {
        let first = try await Sim.withRouter { client in try await Sim.chatContent(client, "Explain vector clocks") }
        let second = try await Sim.withRouter(Sim.make()) { client in try await Sim.chatContent(client, "Explain vector clocks") }
        #expect(first == second)
        try await Sim.withRouter { client in
            #expect(try await Sim.chatContent(client, "#sim latency_ms=1\nExplain vector clocks") == first)
            let history: [[String: Any]] = [
                ["role": "system", "content": "You are helpful."],
                ["role": "user", "content": "#sim status=503\nold question"],
                ["role": "assistant", "content": "old answer"],
            ]
            let response = try await Sim.chat(client, Sim.chatBody("Explain vector clocks", history: history))
            #expect(response.status == .ok)
            #expect(try Sim.content(Sim.json(response)) == first)
        }
    }

    @Test("content given as an array of text parts is read")
    func contentParts() async throws {
        try await Sim.withRouter { client in
            let body = Sim.body([
                "model": "m", "messages": [["role": "user", "content": [["type": "text", "text": "#sim short"], ["type": "text", "text": "Hi"]]]],
            ])
            let response = try await Sim.chat(client, body)
            #expect(try Sim.content(Sim.json(response)).count < 20)
        }
    }

    @Test("GET /v1/models lists the simulated models in OpenAI's list shape")
    func models() async throws {
        try await Sim.withRouter { client in
            let response = try await client.execute(uri: "/v1/models", method: .get)
            #expect(response.status == .ok)
            let body = try Sim.json(response)
            #expect(body["object"] as? String == "list")
            let data = try #require(body["data"] as? [[String: Any]])
            #expect(data.compactMap { $0["id"] as? String } == ["qwen3-4b", "deepseek-r1", "claude-sonnet-4-5"])
            #expect(data.allSatisfy { $0["object"] as? String == "model" && $0["owned_by"] as? String == "vllm" && $0["created"] is Int })
        }
    }
}
