import CervellaTestSupport
import CurlHTTP
import Foundation
import Testing

/// Issue 11, finding 5: what a provider said, and where it lives, never reaches a client.
@Suite(.timeLimit(.minutes(2))) struct GatewayHardeningErrorTests {
    static let prompt = "Confidential quarterly figures 7f3a9"

    /// The simulator answers 400 with its own error text ("Bad Request (simulated)"); the
    /// worker's result names the provider's address. The client gets the code and the table's
    /// message only, on every endpoint.
    @Test func providerAddressAndErrorTextNeverReachTheClient() async throws {
        try await withTestPool { pool in
            let (gateway, client) = try await Hardening.start(pool)
            let port = String(pool.simulator.port)
            func expectClean(_ response: HTTPResponse, _ what: String) {
                let text = client.text(response)
                for secret in ["127.0.0.1", port, Self.prompt, "simulated", "answered 400"] {
                    #expect(!text.contains(secret), "\(what) leaked '\(secret)': \(text)")
                }
            }
            let sync = try await client.send(
                "POST", "/api/chat", json: #"{"message":"\#(Self.prompt)\n#sim status=400","force_model":"qwen3-4b","enable_fallback":false}"#)
            #expect(sync.status == 502)
            #expect(client.errorCode(sync) == "error_http_4xx")
            #expect(client.errorMessage(sync) == "the model provider refused the request; check the messages and parameters")
            expectClean(sync, "/api/chat")

            // OpenAI's shape falls back to Claude, which the directive fails too.
            let openAI = try await client.send(
                "POST", "/v1/chat/completions",
                json: #"{"model":"qwen3-4b","messages":[{"role":"user","content":"\#(Self.prompt) again\n#sim status=400"}]}"#)
            #expect(openAI.status == 502)
            expectClean(openAI, "/v1/chat/completions")

            let accepted = try await client.send(
                "POST", "/api/jobs",
                json: #"{"message":"\#(Self.prompt) later\n#sim status=400","force_model":"qwen3-4b","enable_fallback":false,"cache":false}"#)
            let id = try #require(client.object(accepted)["id"] as? String)
            var result: HTTPResponse?
            for _ in 0..<100 {
                try await Task.sleep(for: .milliseconds(100))
                let status = try await client.send("GET", "/api/jobs/\(id)")
                if status.status == 200 { result = status; break }
            }
            let stored = try #require(result)
            #expect(client.object(stored)["ok"] as? Bool == false)
            #expect((client.object(stored)["error"] as? [String: Any])?["code"] as? String == "error_http_4xx")
            expectClean(stored, "GET /api/jobs/{id}")
            let admin = try await client.send("GET", "/api/jobs/\(id)", key: Hardening.adminKey)
            expectClean(admin, "GET /api/jobs/{id} as admin")
            await gateway.stop()
            client.http.shutdown()
        }
    }
}
