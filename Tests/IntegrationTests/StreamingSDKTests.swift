import CervellaTestSupport
import Foundation
import JobProtocol
import RedisClient
import Testing

/// The official `openai` and `anthropic` Python SDKs read whole streamed answers through the
/// gateway, from the small model and from a Claude fallback alike. Serialized: each test starts
/// a Python process that imports the SDKs, heavy on two cores.
@Suite(.serialized, .timeLimit(.minutes(6))) struct StreamingSDKTests {
    static let openAIScript = #"""
        import json, os, openai
        client = openai.OpenAI(base_url=os.environ["BASE"] + "/v1", api_key=os.environ["KEY"], max_retries=0)
        out = {}
        for name, prompt in [("small", "Explain what a message queue is."), ("fallback", "Explain what a worker pool is.\n#sim openai logprob=-2.5")]:
            stream = client.chat.completions.create(
                model="auto", messages=[{"role": "user", "content": prompt}], stream=True, stream_options={"include_usage": True})
            text, usage, finish, ids = "", None, None, set()
            for chunk in stream:
                ids.add(chunk.id)
                if chunk.usage:
                    usage = chunk.usage.completion_tokens
                for choice in chunk.choices:
                    text += choice.delta.content or ""
                    finish = choice.finish_reason or finish
            out[name] = {"text": text, "usage": usage, "finish": finish, "ids": sorted(ids)}
        print(json.dumps(out))
        """#

    static let anthropicScript = #"""
        import json, os, anthropic
        client = anthropic.Anthropic(base_url=os.environ["BASE"], api_key=os.environ["KEY"], max_retries=0)
        out = {}
        for name, prompt in [("small", "Explain what a message queue is."), ("fallback", "Explain what a worker pool is.\n#sim openai logprob=-2.5")]:
            with client.messages.stream(model="auto", max_tokens=400, messages=[{"role": "user", "content": prompt}]) as stream:
                text = "".join(stream.text_stream)
                final = stream.get_final_message()
            out[name] = {"text": text, "final": final.content[0].text, "stop": final.stop_reason, "id": final.id,
                         "output_tokens": final.usage.output_tokens}
        print(json.dumps(out))
        """#

    static func run(_ script: String, gateway: RunningGateway) async throws -> [String: [String: Any]] {
        let (status, output) = try await TestEnvironment.runPython(
            script, environment: ["BASE": gateway.baseURL, "KEY": GatewayTests.userKey], seconds: 170)
        #expect(status == 0, "python said: \(output)")
        let line = output.split(separator: "\n").last.map(String.init) ?? ""
        return (try? JSONSerialization.jsonObject(with: Data(line.utf8))) as? [String: [String: Any]] ?? [:]
    }

    static func committed(_ pool: TestPool, id: String) async throws -> JobResult {
        let bytes = try #require(try await pool.redis.send("LINDEX", RedisArgument(pool.keys.reply(id)), 0).bytes)
        return try JobResult.decode(bytes)
    }

    @Test func theOpenAISDKReadsWholeStreamsFromTheSmallModelAndAFallback() async throws {
        try await withTestPool(configure: StreamingTests.roomy) { pool in
            let (gateway, client) = try await GatewayTests().start(pool)
            let out = try await Self.run(Self.openAIScript, gateway: gateway)
            for (name, model, fallback) in [("small", "qwen3-4b", false), ("fallback", "claude-sonnet-4-5", true)] {
                let answer = try #require(out[name], "\(name)")
                let ids = answer["ids"] as? [String] ?? []
                #expect(ids.count == 1, "one id for the whole stream")
                let id = String(try #require(ids.first).dropFirst("chatcmpl-".count))
                let result = try await Self.committed(pool, id: id)
                #expect(answer["text"] as? String == result.response, "\(name)")
                #expect((answer["text"] as? String)?.isEmpty == false)
                #expect(answer["finish"] as? String == "stop")
                #expect(answer["usage"] as? Int == result.metadata?.tokensOutput)
                #expect(result.metadata?.modelUsed == model)
                #expect(result.metadata?.fallback == fallback)
            }
            await gateway.stop()
            client.http.shutdown()
        }
    }

    @Test func theAnthropicSDKsStreamHelperReadsWholeAnswers() async throws {
        try await withTestPool(configure: StreamingTests.roomy) { pool in
            let (gateway, client) = try await GatewayTests().start(pool)
            let out = try await Self.run(Self.anthropicScript, gateway: gateway)
            for (name, model) in [("small", "qwen3-4b"), ("fallback", "claude-sonnet-4-5")] {
                let answer = try #require(out[name], "\(name)")
                let id = String(try #require(answer["id"] as? String).dropFirst("msg_".count))
                let result = try await Self.committed(pool, id: id)
                #expect(answer["text"] as? String == result.response, "\(name)")
                #expect(answer["final"] as? String == result.response)
                #expect(answer["stop"] as? String == "end_turn")
                #expect(answer["output_tokens"] as? Int == result.metadata?.tokensOutput)
                #expect(result.metadata?.modelUsed == model)
            }
            await gateway.stop()
            client.http.shutdown()
        }
    }
}
