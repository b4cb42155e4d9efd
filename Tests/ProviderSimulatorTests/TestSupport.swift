import Foundation
import Hummingbird
import HummingbirdTesting
import Logging

@testable import ProviderSimulator

/// Helpers shared by the simulator's tests: building a simulator, sending requests in
/// either wire format, and reading JSON bodies without a schema (the tests check the
/// raw shape, including explicit nulls, which a Codable model would hide).
enum Sim {
    /// A simulator on a free port with the given behaviour.
    static func make(_ configuration: SimulatorConfiguration = .init(port: 0)) -> ProviderSimulator {
        var logger = Logger(label: "sim-test")
        logger.logLevel = .critical
        return ProviderSimulator(configuration: configuration, logger: logger)
    }

    /// Runs `body` against `simulator` through HummingbirdTesting's router framework.
    static func withRouter<T: Sendable>(
        _ simulator: ProviderSimulator = make(),
        _ body: @escaping @Sendable (any TestClientProtocol) async throws -> T
    ) async throws -> T {
        try await simulator.buildApplication().test(.router) { client in try await body(client) }
    }

    /// Serialises a JSON object literal into a request body.
    static func body(_ object: [String: Any]) -> ByteBuffer {
        let data = try! JSONSerialization.data(withJSONObject: object)
        return ByteBuffer(bytes: data)
    }

    /// A chat completions body with one user message (after optional earlier messages).
    static func chatBody(_ prompt: String, model: String = "qwen3-4b", extra: [String: Any] = [:], history: [[String: Any]] = []) -> ByteBuffer {
        var object: [String: Any] = ["model": model, "messages": history + [["role": "user", "content": prompt]]]
        object.merge(extra) { _, new in new }
        return body(object)
    }

    /// A Messages API body with one user message.
    static func messagesBody(_ prompt: String, model: String = "claude-sonnet-4-5", maxTokens: Int? = 1024, extra: [String: Any] = [:]) -> ByteBuffer
    {
        var object: [String: Any] = ["model": model, "messages": [["role": "user", "content": prompt]]]
        if let maxTokens { object["max_tokens"] = maxTokens }
        object.merge(extra) { _, new in new }
        return body(object)
    }

    /// The headers a well-behaved Anthropic client sends.
    static var anthropicHeaders: HTTPFields {
        var fields = HTTPFields()
        fields[SimResponse.apiKey] = "test-key"
        fields[SimResponse.anthropicVersion] = "2023-06-01"
        fields[.contentType] = "application/json"
        return fields
    }

    /// POSTs a chat completion.
    static func chat(_ client: any TestClientProtocol, _ body: ByteBuffer) async throws -> TestResponse {
        try await client.execute(uri: "/v1/chat/completions", method: .post, headers: [.contentType: "application/json"], body: body)
    }

    /// POSTs a chat completion for `prompt` and returns the answer text (asserting 200 by throwing otherwise).
    static func chatContent(_ client: any TestClientProtocol, _ prompt: String, extra: [String: Any] = [:]) async throws -> String {
        let response = try await chat(client, chatBody(prompt, extra: extra))
        guard response.status == .ok else { throw SimTestError.unexpectedStatus(response.status.code) }
        return try content(json(response))
    }

    /// POSTs a Messages request.
    static func messages(_ client: any TestClientProtocol, _ body: ByteBuffer, headers: HTTPFields = anthropicHeaders) async throws -> TestResponse {
        try await client.execute(uri: "/v1/messages", method: .post, headers: headers, body: body)
    }

    /// Parses a response body as a JSON object.
    static func json(_ response: TestResponse) throws -> [String: Any] {
        let object = try JSONSerialization.jsonObject(with: Data(response.body.readableBytesView))
        guard let dictionary = object as? [String: Any] else { throw SimTestError.notAnObject }
        return dictionary
    }

    /// `choices[0].message.content` of a chat completion body.
    static func content(_ body: [String: Any]) throws -> String {
        guard let text = (choice(body)?["message"] as? [String: Any])?["content"] as? String else {
            throw SimTestError.missing("choices[0].message.content")
        }
        return text
    }

    /// `choices[0]` of a chat completion body.
    static func choice(_ body: [String: Any]) -> [String: Any]? {
        (body["choices"] as? [[String: Any]])?.first
    }

    /// `content[0].text` of a Messages body.
    static func text(_ body: [String: Any]) throws -> String {
        guard let text = (body["content"] as? [[String: Any]])?.first?["text"] as? String else {
            throw SimTestError.missing("content[0].text")
        }
        return text
    }

    /// Whether `dictionary[key]` is present and JSON `null`.
    static func isNull(_ dictionary: [String: Any]?, _ key: String) -> Bool {
        dictionary?[key] is NSNull
    }

    /// The body as text.
    static func string(_ response: TestResponse) -> String {
        String(buffer: response.body)
    }
}

enum SimTestError: Error {
    case unexpectedStatus(Int)
    case notAnObject
    case missing(String)
}
