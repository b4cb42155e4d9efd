import Foundation
import Hummingbird
import HummingbirdTesting
import Testing

@testable import ProviderSimulator

/// The simulator's Message Batches endpoints check what Anthropic's check.
@Suite struct MessageBatchRouteTests {
    static func create(_ client: any TestClientProtocol, _ requests: [[String: Any]], headers: HTTPFields = Sim.anthropicHeaders) async throws
        -> TestResponse
    {
        try await client.execute(uri: "/v1/messages/batches", method: .post, headers: headers, body: Sim.body(["requests": requests]))
    }

    static func entry(_ id: String, _ prompt: String) -> [String: Any] {
        ["custom_id": id, "params": ["model": "claude-sonnet-4-5", "max_tokens": 100, "messages": [["role": "user", "content": prompt]]]]
    }

    @Test func aCreatedBatchIsAMessageBatchObject() async throws {
        try await Sim.withRouter { client in
            let response = try await Self.create(client, [Self.entry("a", "One."), Self.entry("b", "Two.")])
            #expect(response.status == .ok)
            let body = try #require(try JSONSerialization.jsonObject(with: Data(buffer: response.body)) as? [String: Any])
            #expect(body["type"] as? String == "message_batch")
            #expect((body["id"] as? String)?.hasPrefix("msgbatch_") == true)
            #expect(body["processing_status"] as? String == "in_progress")
            let counts = try #require(body["request_counts"] as? [String: Int])
            #expect(counts == ["processing": 2, "succeeded": 0, "errored": 0, "canceled": 0, "expired": 0])
            #expect(body["results_url"] is NSNull && body["ended_at"] is NSNull && body["expires_at"] is String)
        }
    }

    @Test func badBatchesAreRefused() async throws {
        try await Sim.withRouter { client in
            #expect(try await Self.create(client, []).status == .badRequest)
            #expect(try await Self.create(client, [Self.entry("has space", "One.")]).status == .badRequest)
            #expect(try await Self.create(client, [Self.entry(String(repeating: "x", count: 65), "One.")]).status == .badRequest)
            #expect(try await Self.create(client, [Self.entry("a", "One."), Self.entry("a", "Two.")]).status == .badRequest)
            var keyless = Sim.anthropicHeaders
            keyless[SimResponse.apiKey] = nil
            #expect(try await Self.create(client, [Self.entry("a", "One.")], headers: keyless).status == .unauthorized)
            let missing = try await client.execute(uri: "/v1/messages/batches/msgbatch_01nope", method: .get, headers: Sim.anthropicHeaders)
            #expect(missing.status == .notFound)
        }
    }

    @Test func resultsComeOnceTheBatchEndedWithEveryEntry() async throws {
        var configuration = SimulatorConfiguration(port: 0)
        configuration.batchProcessingSeconds = 0
        try await Sim.withRouter(Sim.make(configuration)) { client in
            let requests = (1...30).map { Self.entry("e\($0)", "Summarize \($0).") } + [Self.entry("x", "Gone.\n#sim batch=expired")]
            let created = try await Self.create(client, requests)
            let body = try #require(try JSONSerialization.jsonObject(with: Data(buffer: created.body)) as? [String: Any])
            let id = try #require(body["id"] as? String)
            let results = try await client.execute(uri: "/v1/messages/batches/\(id)/results", method: .get, headers: Sim.anthropicHeaders)
            #expect(results.status == .ok)
            let lines = String(buffer: results.body).split(separator: "\n").map {
                try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
            }
            #expect(lines.count == 31)
            let ids = lines.compactMap { $0?["custom_id"] as? String }
            #expect(Set(ids).count == 31)
            let expired = lines.first { $0?["custom_id"] as? String == "x" }
            #expect((expired??["result"] as? [String: Any])?["type"] as? String == "expired")
            let answered = lines.first { $0?["custom_id"] as? String == "e1" }
            let message = (answered??["result"] as? [String: Any])?["message"] as? [String: Any]
            #expect(message?["type"] as? String == "message")
        }
    }
}
