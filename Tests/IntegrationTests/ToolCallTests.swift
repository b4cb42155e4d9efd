import CervellaTestSupport
import CurlHTTP
import Foundation
import JobProtocol
import Testing

/// An agent's steps through the pool: OpenAI-shaped tools through the gateway, a worker per
/// tier, the simulator and a real Redis. The small model answers the call; a bad call goes to
/// Claude, whose answer comes back in the same shape, so the agent never notices the switch.
/// Serialized: the example agents start Python processes that import the openai and anthropic
/// packages, heavy on two cores next to the timing tests of other suites.
@Suite(.serialized, .timeLimit(.minutes(3))) struct ToolCallTests {
    static let tools =
        #"[{"type":"function","function":{"name":"weather","description":"Today's weather","parameters":{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}}}]"#

    static func firstStep(_ prompt: String) -> String {
        #"{"model":"qwen3-4b","messages":[{"role":"user","content":"\#(prompt)"}],"tools":\#(tools),"max_tokens":200}"#
    }

    static func call(_ body: [String: Any]) -> (call: [String: Any]?, finish: String?, message: [String: Any]) {
        let choice = (body["choices"] as? [[String: Any]])?.first ?? [:]
        let message = choice["message"] as? [String: Any] ?? [:]
        return ((message["tool_calls"] as? [[String: Any]])?.first, choice["finish_reason"] as? String, message)
    }

    @Test func theSmallModelCallsTheToolAndAnswersTheResult() async throws {
        try await withTestPool { pool in
            let (gateway, client) = try await GatewayTests().start(pool)
            let first = try await client.send("POST", "/v1/chat/completions", json: Self.firstStep("Weather in Paris?"))
            #expect(first.status == 200, "\(String(decoding: first.body, as: UTF8.self))")
            #expect(first.header("x-cervella-model") == "qwen3-4b")
            #expect(first.header("x-cervella-fallback") == "false")
            let (call, finish, message) = Self.call(client.object(first))
            #expect(finish == "tool_calls")
            #expect(message["content"] is NSNull)
            let id = try #require(call?["id"] as? String)
            let function = try #require(call?["function"] as? [String: Any])
            #expect(function["name"] as? String == "weather")
            let arguments = try #require(function["arguments"] as? String)
            #expect((try JSONSerialization.jsonObject(with: Data(arguments.utf8)) as? [String: String])?["city"] == "example")

            // The agent runs the tool and sends its result back: the model answers in text.
            let argumentsJSON = String(decoding: try JSONSerialization.data(withJSONObject: arguments, options: .fragmentsAllowed), as: UTF8.self)
            let second =
                #"{"model":"qwen3-4b","tools":\#(Self.tools),"messages":[{"role":"user","content":"Weather in Paris?"},{"role":"assistant","content":null,"tool_calls":[{"id":"\#(id)","type":"function","function":{"name":"weather","arguments":\#(argumentsJSON)}}]},{"role":"tool","tool_call_id":"\#(id)","content":"18 C and sunny"}]}"#
            let answer = try await client.send("POST", "/v1/chat/completions", json: second)
            #expect(answer.status == 200, "\(String(decoding: answer.body, as: UTF8.self))")
            let (noCall, stop, text) = Self.call(client.object(answer))
            #expect(noCall == nil)
            #expect(stop == "stop")
            #expect((text["content"] as? String)?.isEmpty == false)
            await gateway.stop()
            client.http.shutdown()
        }
    }

    @Test(arguments: [("badtool", "invalid_tool_call"), ("wrongargs", "schema_mismatch")])
    func aBadCallGoesToClaudeAndComesBackInTheSameShape(directive: String, reason: String) async throws {
        try await withTestPool { pool in
            let (gateway, client) = try await GatewayTests().start(pool)
            let response = try await client.send("POST", "/v1/chat/completions", json: Self.firstStep("Weather in Rome?\\n#sim openai \(directive)"))
            #expect(response.status == 200, "\(String(decoding: response.body, as: UTF8.self))")
            let (call, finish, _) = Self.call(client.object(response))
            #expect(finish == "tool_calls")
            let function = try #require(call?["function"] as? [String: Any])
            #expect(function["name"] as? String == "weather")
            #expect(response.header("x-cervella-fallback") == "true")
            #expect(response.header("x-cervella-fallback-reason") == reason)
            #expect(response.header("x-cervella-model") == "claude-sonnet-4-5")
            #expect((call?["id"] as? String)?.hasPrefix("toolu_") == true)
            let arguments = try #require(function["arguments"] as? String)
            #expect((try JSONSerialization.jsonObject(with: Data(arguments.utf8)) as? [String: String])?["city"] == "example")
            await gateway.stop()
            client.http.shutdown()
        }
    }

    @Test func toolsChangeTheCacheKey() async throws {
        try await withTestPool { pool in
            let (gateway, client) = try await GatewayTests().start(pool)
            let plain = #"{"model":"qwen3-4b","messages":[{"role":"user","content":"Weather in Oslo?"}],"max_tokens":200}"#
            let first = try await client.send("POST", "/v1/chat/completions", json: plain)
            #expect(first.status == 200)
            #expect(Self.call(client.object(first)).call == nil)
            let withTools = try await client.send("POST", "/v1/chat/completions", json: Self.firstStep("Weather in Oslo?"))
            #expect(withTools.header("x-cervella-cache-hit") == "false")
            #expect(Self.call(client.object(withTools)).call != nil)
            let again = try await client.send("POST", "/v1/chat/completions", json: Self.firstStep("Weather in Oslo?"))
            #expect(again.header("x-cervella-cache-hit") == "true")
            #expect(Self.call(client.object(again)).call?["id"] as? String == Self.call(client.object(withTools)).call?["id"] as? String)
            await gateway.stop()
            client.http.shutdown()
        }
    }

    static let examples = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent()  // IntegrationTests
        .deletingLastPathComponent()  // Tests
        .deletingLastPathComponent()  // repository root
        .appendingPathComponent("examples")

    /// The README's example agents, unchanged, against the gateway, a worker per tier, the
    /// simulator and Redis: the small model answers every step; with its tool calls broken
    /// (`#sim openai badtool`), Claude takes the calling steps over and the agent does not notice.
    @Test(arguments: ["agent_openai.py", "agent_anthropic.py"])
    func theExampleAgentsFinishTheirTaskThroughThePool(example: String) async throws {
        try await withTestPool { pool in
            let (gateway, client) = try await GatewayTests().start(pool)
            let path = Self.examples.appendingPathComponent(example).path
            func run(_ suffix: String) async throws -> String {
                let (status, output) = try await TestEnvironment.runPython(
                    "import runpy; runpy.run_path(\(String(reflecting: path)), run_name='__main__')",
                    environment: [
                        "CERVELLA_URL": gateway.baseURL, "CERVELLA_API_KEY": GatewayTests.userKey, "CERVELLA_MODEL": "qwen3-4b",
                        "CERVELLA_PROMPT_SUFFIX": suffix,
                    ], seconds: 60)
                #expect(status == 0, "python said: \(output)")
                return output
            }
            let small = try await run("")
            #expect(small.contains("step 1: called weather model=qwen3-4b fallback=false reason=None"), "\(small)")
            #expect(small.contains("step 2: called packing_list model=qwen3-4b fallback=false reason=None"), "\(small)")
            #expect(small.contains("step 3: answer model=qwen3-4b fallback=false"), "\(small)")
            #expect(small.contains("text=True"), "\(small)")

            let broken = try await run("\n#sim openai badtool")
            #expect(broken.contains("step 1: called weather model=claude-sonnet-4-5 fallback=true reason=invalid_tool_call"), "\(broken)")
            #expect(broken.contains("step 2: called packing_list model=claude-sonnet-4-5 fallback=true reason=invalid_tool_call"), "\(broken)")
            #expect(broken.contains("step 3: answer model=qwen3-4b fallback=false"), "\(broken)")
            await gateway.stop()
            client.http.shutdown()
        }
    }
}
