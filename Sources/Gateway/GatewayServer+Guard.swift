import Foundation
import Hummingbird
import JobProtocol
import Metrics
import RedisClient

extension GatewayServer {
    /// Why a request was refused before its handler ran.
    struct Refusal: Error {
        var response: Response
    }

    static let rateLimitScript = RedisScript("""
    local n = redis.call('INCR', KEYS[1])
    if n == 1 then redis.call('EXPIRE', KEYS[1], 61) end
    return n
    """)

    /// Authentication, authorisation and the per-key rate limit, then the handler; Redis
    /// trouble becomes 503, never a crash or a hang.
    func guarded(
        _ request: Request, _ context: BasicRequestContext, admin: Bool = false,
        _ handler: (Request, BasicRequestContext) async throws -> Response
    ) async -> Response {
        let started = ContinuousClock.now
        let response = await authorizeAndHandle(request, context, admin: admin, handler)
        // The route's pattern, not its path: /api/jobs/{id} stays one series.
        let route = context.endpointPath ?? "unmatched"
        Counter(label: "cervella_http_requests_total", dimensions: [("route", route), ("status", String(response.status.code))]).increment()
        Timer(label: "cervella_http_request_duration_seconds", dimensions: [("route", route)]).recordInterval(since: started)
        return response
    }

    private func authorizeAndHandle(
        _ request: Request, _ context: BasicRequestContext, admin: Bool,
        _ handler: (Request, BasicRequestContext) async throws -> Response
    ) async -> Response {
        do {
            let key = try authenticate(request, admin: admin)
            if !admin, let key { try await enforceRateLimit(key) }
            return try await handler(request, context)
        } catch let refusal as Refusal {
            return refusal.response
        } catch let error as RedisError {
            logger.error("redis unavailable while serving a request", metadata: ["cervella.error": "\(error)"])
            return GatewayResponse.error(.serviceUnavailable, code: "redis_unavailable", message: "the queue store is unreachable; try again shortly", headers: [GatewayResponse.retryAfter: "2"])
        } catch {
            return GatewayResponse.error(.internalServerError, code: "internal_error", message: "\(error)")
        }
    }

    /// The bearer key of the request (nil when the gateway has no keys and so is loopback-only).
    private func authenticate(_ request: Request, admin: Bool) throws -> String? {
        let presented = request.headers[GatewayResponse.authorization].flatMap { value -> String? in
            value.lowercased().hasPrefix("bearer ") ? String(value.dropFirst(7)).trimmingCharacters(in: .whitespaces) : nil
        }
        if admin {
            guard let adminKey = settings.gateway.adminKey else {
                throw Refusal(response: GatewayResponse.error(.forbidden, code: "admin_disabled", message: "set CERVELLA_ADMIN_KEY to enable the admin API"))
            }
            guard let presented else {
                throw Refusal(response: GatewayResponse.error(.unauthorized, code: "missing_api_key", message: "send Authorization: Bearer <admin key>"))
            }
            guard Self.constantTimeEquals(presented, adminKey) else {
                throw Refusal(response: GatewayResponse.error(.forbidden, code: "not_admin", message: "this key may not use the admin API"))
            }
            return presented
        }
        guard !settings.gateway.apiKeys.isEmpty else { return nil }
        guard let presented else {
            throw Refusal(response: GatewayResponse.error(.unauthorized, code: "missing_api_key", message: "send Authorization: Bearer <API key>"))
        }
        // Compare against every key, always, so timing says nothing about which one is close.
        var matched = false
        for key in settings.gateway.apiKeys where Self.constantTimeEquals(presented, key) { matched = true }
        guard matched else {
            throw Refusal(response: GatewayResponse.error(.unauthorized, code: "invalid_api_key", message: "the API key is not valid"))
        }
        return presented
    }

    /// A fixed one-minute window per key, counted in Redis so that it holds across gateways.
    private func enforceRateLimit(_ key: String) async throws {
        let limit = settings.gateway.rateLimitPerMinute
        guard limit > 0 else { return }
        let now = Int(Date().timeIntervalSince1970)
        let window = now / 60
        // The key itself never reaches Redis, only a digest of it.
        let digest = String(SHA256.hex(Array(key.utf8)).prefix(16))
        let count = try await commands.evaluate(Self.rateLimitScript, keys: [RedisArgument(keys.rateLimit(digest, window: window))], arguments: [])
        if let count = count.integer, count > limit {
            let retry = 60 - now % 60
            throw Refusal(response: GatewayResponse.error(
                .tooManyRequests, code: "rate_limited", message: "more than \(limit) requests this minute for this key; retry in \(retry) s",
                headers: [GatewayResponse.retryAfter: String(retry)]
            ))
        }
    }

    static func constantTimeEquals(_ a: String, _ b: String) -> Bool {
        let x = Array(a.utf8), y = Array(b.utf8)
        var difference = UInt8(truncatingIfNeeded: x.count ^ y.count)
        for index in 0..<max(x.count, y.count) {
            difference |= (index < x.count ? x[index] : 0) ^ (index < y.count ? y[index] : 0)
        }
        return difference == 0
    }

    /// The body, or a 413 refusal past the configured limit.
    func body(_ request: Request, _ context: BasicRequestContext) async throws -> Data {
        do {
            let buffer = try await request.body.collect(upTo: settings.gateway.requestBodyLimitBytes)
            return Data(buffer.readableBytesView)
        } catch {
            throw Refusal(response: GatewayResponse.error(.contentTooLarge, code: "body_too_large", message: "the request body exceeds \(settings.gateway.requestBodyLimitBytes) bytes"))
        }
    }

    /// Decodes a JSON body, or a 400 refusal that says what is wrong.
    func decode<T: Decodable>(_ type: T.Type, from data: Data) throws -> T {
        do {
            return try JSONDecoder().decode(type, from: data)
        } catch let error as DecodingError {
            let message: String
            switch error {
            case .keyNotFound(let key, _): message = "missing required field '\(key.stringValue)'"
            case .typeMismatch(_, let context), .valueNotFound(_, let context):
                message = "field '\(context.codingPath.map(\.stringValue).joined(separator: "."))' has the wrong type"
            case .dataCorrupted: message = "the body is not valid JSON"
            @unknown default: message = "the body could not be decoded"
            }
            throw Refusal(response: GatewayResponse.error(.badRequest, code: "invalid_request", message: message))
        } catch {
            throw Refusal(response: GatewayResponse.error(.badRequest, code: "invalid_request", message: "the body could not be decoded"))
        }
    }
}

extension Timer {
    func recordInterval(since start: ContinuousClock.Instant) {
        let (seconds, attoseconds) = start.duration(to: .now).components
        recordNanoseconds(seconds * 1_000_000_000 + attoseconds / 1_000_000_000)
    }
}
