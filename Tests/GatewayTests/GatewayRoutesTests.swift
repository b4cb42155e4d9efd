import Foundation
import Hummingbird
import HummingbirdTesting
import Logging
import Settings
import Testing

@testable import Gateway

/// The gateway's real route table in process, against a Redis address where nothing listens:
/// what needs no Redis (authentication, open and protected probes, /v1/models) answers as it
/// does in production, and what needs it fails the documented way.
@Suite struct GatewayRoutesTests {
    static func settings(_ configure: (inout CervellaSettings) -> Void = { _ in }) -> CervellaSettings {
        var settings = CervellaSettings()
        settings.redis.url = "redis://127.0.0.1:1/0"
        settings.gateway.apiKeys = ["alpha-key"]
        settings.gateway.adminKey = "root-key"
        settings.gateway.authFailuresPerMinute = 0
        settings.gateway.rateLimitPerMinute = 0
        settings.gateway.redisTimeoutMs = 300
        configure(&settings)
        return settings
    }

    /// Runs `body` against a gateway's routes through HummingbirdTesting's router framework.
    static func withGateway(
        _ settings: CervellaSettings, host: String? = nil,
        _ body: @escaping @Sendable (any TestClientProtocol) async throws -> Void
    ) async throws {
        var logger = Logger(label: "gateway-test")
        logger.logLevel = .critical
        let server = try GatewayServer(settings: settings, host: host, logger: logger)
        defer {
            server.commands.close()
            server.producer.close()
        }
        let router = Router(context: GatewayRequestContext.self)
        server.addRoutes(to: router)
        try await Application(router: router, logger: logger).test(.router) { (client) async throws in try await body(client) }
    }

    static func bearer(_ key: String) -> HTTPFields { [.authorization: "Bearer \(key)"] }

    /// The `error` object of a JSON error body.
    static func error(_ response: TestResponse) -> [String: String] {
        let object = try? JSONSerialization.jsonObject(with: Data(response.body.readableBytesView)) as? [String: Any]
        return (object?["error"] as? [String: String]) ?? [:]
    }

    @Test func healthzIsAlwaysOpen() async throws {
        try await Self.withGateway(Self.settings { $0.gateway.protectProbes = true }) { (client) async throws in
            let response = try await client.execute(uri: "/healthz", method: .get)
            #expect(response.status == .ok)
            #expect(String(buffer: response.body) == #"{"status":"ok"}"#)
        }
    }

    @Test func theAPINeedsAKeyAndSaysHowToSendIt() async throws {
        try await Self.withGateway(Self.settings()) { (client) async throws in
            let missing = try await client.execute(uri: "/v1/models", method: .get)
            #expect(missing.status == .unauthorized)
            #expect(missing.headers[.contentType] == "application/json")
            #expect(
                Self.error(missing) == ["code": "missing_api_key", "message": "send Authorization: Bearer <API key>", "type": "authentication_error"])

            let wrong = try await client.execute(uri: "/v1/models", method: .get, headers: Self.bearer("nope"))
            #expect(wrong.status == .unauthorized)
            #expect(Self.error(wrong)["code"] == "invalid_api_key")

            let valid = try await client.execute(uri: "/v1/models", method: .get, headers: Self.bearer("alpha-key"))
            #expect(valid.status == .ok)
            let models = try JSONSerialization.jsonObject(with: Data(valid.body.readableBytesView)) as? [String: Any]
            let ids = (models?["data"] as? [[String: Any]])?.compactMap { $0["id"] as? String }
            #expect(ids?.first == "auto")
            #expect(ids?.count == 4)
        }
    }

    @Test func theAdminAPIAnswers403ToAnAPIKey() async throws {
        try await Self.withGateway(Self.settings()) { (client) async throws in
            let response = try await client.execute(uri: "/api/admin/stats", method: .get, headers: Self.bearer("alpha-key"))
            #expect(response.status == .forbidden)
            #expect(Self.error(response) == ["code": "not_admin", "message": "this key may not use the admin API", "type": "permission_error"])
        }
        try await Self.withGateway(Self.settings { $0.gateway.adminKey = nil }) { (client) async throws in
            let response = try await client.execute(uri: "/api/admin/config", method: .get, headers: Self.bearer("root-key"))
            #expect(response.status == .forbidden)
            #expect(Self.error(response)["code"] == "admin_disabled")
        }
    }

    @Test func probesAreOpenOnLoopbackAndProtectedWhenAsked() async throws {
        try await Self.withGateway(Self.settings()) { (client) async throws in
            #expect(try await client.execute(uri: "/metrics", method: .get).status == .ok)
        }
        try await Self.withGateway(Self.settings { $0.gateway.protectProbes = true }) { (client) async throws in
            let missing = try await client.execute(uri: "/metrics", method: .get)
            #expect(missing.status == .unauthorized)
            #expect(Self.error(missing)["code"] == "missing_api_key")
            #expect(try await client.execute(uri: "/metrics", method: .get, headers: Self.bearer("alpha-key")).status == .ok)
            #expect(try await client.execute(uri: "/metrics", method: .get, headers: Self.bearer("root-key")).status == .ok)
        }
        // Beyond loopback, "auto" protects them.
        try await Self.withGateway(Self.settings(), host: "0.0.0.0") { (client) async throws in
            #expect(try await client.execute(uri: "/metrics", method: .get).status == .unauthorized)
        }
    }

    @Test func aGatewayWithoutKeysIsOpenToItsLocalClients() async throws {
        try await Self.withGateway(
            Self.settings {
                $0.gateway.apiKeys = []; $0.gateway.adminKey = nil
            }
        ) { (client) async throws in
            #expect(try await client.execute(uri: "/v1/models", method: .get).status == .ok)
            #expect(try await client.execute(uri: "/metrics", method: .get).status == .ok)
        }
    }

    @Test func unreachableRedisIs503WithRetryAfterOnTheAPI() async throws {
        try await Self.withGateway(Self.settings { $0.gateway.rateLimitPerMinute = 600 }) { (client) async throws in
            let response = try await client.execute(uri: "/v1/models", method: .get, headers: Self.bearer("alpha-key"))
            #expect(response.status == .serviceUnavailable)
            #expect(response.headers[GatewayResponse.retryAfter] == "2")
            #expect(Self.error(response)["code"] == "redis_unavailable")
        }
    }

    @Test func aWrongKeyIsStill401WhenRedisCannotCountTheFailure() async throws {
        try await Self.withGateway(Self.settings { $0.gateway.authFailuresPerMinute = 30 }) { (client) async throws in
            let response = try await client.execute(uri: "/v1/models", method: .get, headers: Self.bearer("nope"))
            #expect(response.status == .unauthorized)
            #expect(Self.error(response)["code"] == "invalid_api_key")
        }
    }

    @Test func handlerRefusalsBecomeJSONErrors() async throws {
        try await Self.withGateway(Self.settings()) { (client) async throws in
            let form = try await client.execute(
                uri: "/api/chat", method: .post, headers: [.authorization: "Bearer alpha-key", .contentType: "application/x-www-form-urlencoded"],
                body: ByteBuffer(string: "message=hi")
            )
            #expect(form.status == .unsupportedMediaType)
            #expect(Self.error(form)["code"] == "unsupported_media_type")

            let invalid = try await client.execute(
                uri: "/api/chat", method: .post, headers: Self.bearer("alpha-key"),
                body: ByteBuffer(string: #"{"message": "hi", "tier_hint": "huge"}"#)
            )
            #expect(invalid.status == .badRequest)
            #expect(
                Self.error(invalid) == [
                    "code": "invalid_request", "message": "tier_hint must be auto, simple, medium or complex", "type": "invalid_request_error",
                ])
        }
    }

    @Test func anUnknownRouteIs404() async throws {
        try await Self.withGateway(Self.settings()) { (client) async throws in
            #expect(try await client.execute(uri: "/api/nothing", method: .get, headers: Self.bearer("alpha-key")).status == .notFound)
        }
    }

    /// A field the pool cannot honour is refused by name before anything is enqueued (this
    /// gateway has no Redis: a request that got as far as the queue would be 503).
    @Test func unhonouredFieldsAre400NamingThem() async throws {
        try await Self.withGateway(Self.settings()) { (client) async throws in
            let honoured =
                "'max_completion_tokens', 'max_tokens', 'messages', 'model', 'n', 'parallel_tool_calls', 'response_format', 'seed', 'stop', 'stream', 'stream_options', 'temperature', 'tool_choice', 'tools' and 'top_p'"
            let cases: [(uri: String, body: String, message: String)] = [
                (
                    "/v1/chat/completions",
                    #"{"model":"auto","messages":[{"role":"user","content":"hi"}],"logit_bias":{"1":2}}"#,
                    "unsupported field 'logit_bias': this route honours \(honoured); remove it"
                ),
                (
                    "/v1/chat/completions",
                    #"{"messages":[{"role":"user","content":"hi"}],"user":"u-1","logit_bias":{"1":2}}"#,
                    "unsupported fields 'logit_bias' and 'user': this route honours \(honoured); remove them"
                ),
                (
                    "/v1/chat/completions",
                    #"{"messages":[{"role":"user","content":"hi"},{"role":"assistant","content":"","name":"bot"}]}"#,
                    "messages[1]: unsupported field 'name': a message may hold 'content', 'role', 'tool_call_id' and 'tool_calls'"
                ),
                (
                    "/api/jobs", #"{"message":"hi","params":{"max_tokens":5}}"#,
                    "unsupported field 'params': this route honours 'cache', 'context', 'enable_fallback', 'force_model', 'max_tokens', 'message', 'messages', 'metadata', 'parallel_tool_calls', 'priority', 'response_format', 'seed', 'stream', 'temperature', 'tier_hint', 'timeout_seconds', 'tool_choice' and 'tools'; remove it"
                ),
                (
                    "/api/chat", #"{"message":"hi","session":"s-1"}"#,
                    "unsupported field 'session': this route honours 'context', 'enable_fallback', 'force_model', 'message', 'stream' and 'tier_hint'; remove it"
                ),
            ]
            for (uri, body, message) in cases {
                let response = try await client.execute(uri: uri, method: .post, headers: Self.bearer("alpha-key"), body: ByteBuffer(string: body))
                #expect(response.status == .badRequest, "\(uri) \(body)")
                #expect(Self.error(response) == ["code": "unsupported_parameter", "message": message, "type": "invalid_request_error"])
            }
        }
    }

    /// What clients send by default that asks for nothing passes: null for any field, and the
    /// neutral value of a field the pool cannot honour. The request then reaches Redis (503 here).
    @Test func nullsAndNeutralValuesPass() async throws {
        try await Self.withGateway(Self.settings()) { (client) async throws in
            let body =
                #"{"messages":[{"role":"user","content":"hi","name":null}],"user":null,"frequency_penalty":0,"presence_penalty":0.0,"logprobs":false}"#
            let response = try await client.execute(
                uri: "/v1/chat/completions", method: .post, headers: Self.bearer("alpha-key"), body: ByteBuffer(string: body))
            #expect(response.status == .serviceUnavailable)
            #expect(Self.error(response)["code"] == "redis_unavailable")
            let penalty = try await client.execute(
                uri: "/v1/chat/completions", method: .post, headers: Self.bearer("alpha-key"),
                body: ByteBuffer(string: #"{"messages":[{"role":"user","content":"hi"}],"presence_penalty":0.5}"#))
            #expect(Self.error(penalty)["code"] == "unsupported_parameter")
        }
    }

    /// `/v1/messages` takes the key as `x-api-key` (Anthropic's SDK) and answers errors in
    /// Anthropic's shape; the other routes keep Cervella's.
    @Test func theMessagesRouteSpeaksAnthropicsErrors() async throws {
        try await Self.withGateway(Self.settings()) { (client) async throws in
            let body = ByteBuffer(string: #"{"model":"auto","max_tokens":5,"messages":[{"role":"user","content":"hi"}],"top_k":5}"#)
            let refused = try await client.execute(uri: "/v1/messages", method: .post, headers: [GatewayResponse.apiKey: "alpha-key"], body: body)
            #expect(refused.status == .badRequest)
            let object = try JSONSerialization.jsonObject(with: Data(refused.body.readableBytesView)) as? [String: Any]
            #expect(object?["type"] as? String == "error")
            let error = object?["error"] as? [String: String]
            #expect(error?["type"] == "invalid_request_error")
            #expect(error?["message"]?.hasPrefix("unsupported field 'top_k'") == true)

            let wrongKey = try await client.execute(uri: "/v1/messages", method: .post, headers: [GatewayResponse.apiKey: "nope"], body: body)
            #expect(wrongKey.status == .unauthorized)
            #expect(
                (try JSONSerialization.jsonObject(with: Data(wrongKey.body.readableBytesView)) as? [String: Any])?["type"] as? String == "error")

            let beta = try await client.execute(
                uri: "/v1/messages", method: .post,
                headers: [GatewayResponse.apiKey: "alpha-key", GatewayServer.anthropicBeta: "prompt-caching-2024-07-31"],
                body: body)
            #expect(beta.status == .badRequest)

            // The same key as x-api-key on an OpenAI route: Cervella's error shape.
            let other = try await client.execute(
                uri: "/v1/chat/completions", method: .post, headers: [GatewayResponse.apiKey: "alpha-key"],
                body: ByteBuffer(string: #"{"messages":[{"role":"user","content":"hi"}],"top_k":5}"#))
            #expect(Self.error(other)["code"] == "unsupported_parameter")
        }
    }
}
