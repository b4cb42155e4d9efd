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

    /// Who may call a route.
    enum Access {
        /// An API key (nobody, when the gateway has none and so listens on loopback only).
        case user
        /// An API key, or the admin key, which sees every key's jobs.
        case userOrAdmin
        case admin
        /// /metrics and /readyz: any key when `gateway.protect_probes` applies, else nobody.
        case probe
    }

    /// Who called, once authenticated.
    enum Caller: Equatable {
        /// No key was needed (loopback-only gateway, or an open probe).
        case anonymous
        /// An API key, known only by its digest from here on.
        case user(digest: String)
        case admin
    }

    /// Authentication, the failed-authentication budget of the client's address, the per-key
    /// rate limit, then the handler; Redis trouble becomes 503, never a crash or a hang.
    func guarded(
        _ request: Request, _ context: GatewayRequestContext, access: Access = .user,
        _ handler: (Request, GatewayRequestContext, Caller) async throws -> Response
    ) async -> Response {
        let started = ContinuousClock.now
        let response = await authorizeAndHandle(request, context, access: access, handler)
        // The route's pattern, not its path: /api/jobs/{id} stays one series.
        let route = context.endpointPath ?? "unmatched"
        Counter(label: "cervella_http_requests_total", dimensions: [("route", route), ("status", String(response.status.code))]).increment()
        Timer(label: "cervella_http_request_duration_seconds", dimensions: [("route", route)]).recordInterval(since: started)
        return response
    }

    private func authorizeAndHandle(
        _ request: Request, _ context: GatewayRequestContext, access: Access,
        _ handler: (Request, GatewayRequestContext, Caller) async throws -> Response
    ) async -> Response {
        do {
            let caller: Caller
            switch authenticate(request, access: access) {
            case .refused(let response, let wrongKey):
                guard wrongKey else { return response }
                return await countFailedAuthentication(from: context.clientAddress, refusal: response, probe: access == .probe)
            case .accepted(let accepted):
                caller = accepted
            }
            try await admit(caller, address: context.clientAddress, access: access)
            return try await handler(request, context, caller)
        } catch let refusal as Refusal {
            return refusal.response
        } catch let error as RedisError {
            logger.error("redis unavailable while serving a request", metadata: ["cervella.error": "\(error)"])
            return GatewayResponse.error(.serviceUnavailable, code: "redis_unavailable", message: "the queue store is unreachable; try again shortly", headers: [GatewayResponse.retryAfter: "2"])
        } catch {
            // The description of an unexpected error may hold anything; it goes to the log only.
            logger.error("unexpected error while serving a request", metadata: ["cervella.error": "\(error)"])
            return GatewayResponse.error(.internalServerError, code: "internal_error", message: "the gateway could not serve this request; its log says why")
        }
    }

    private enum Authentication {
        case accepted(Caller)
        /// `wrongKey`: a key was presented and is not valid here (it counts against the
        /// address's failure budget; a missing key does not, as it guesses nothing).
        case refused(Response, wrongKey: Bool)
    }

    private func authenticate(_ request: Request, access: Access) -> Authentication {
        let presented = request.headers[GatewayResponse.authorization].flatMap { value -> String? in
            value.lowercased().hasPrefix("bearer ") ? String(value.dropFirst(7)).trimmingCharacters(in: .whitespaces) : nil
        }
        let adminKey = settings.gateway.adminKey
        let isAdmin = presented.flatMap { key in adminKey.map { Self.constantTimeEquals(key, $0) } } ?? false
        let apiKeys = settings.gateway.apiKeys
        switch access {
        case .admin:
            guard adminKey != nil else {
                return .refused(GatewayResponse.error(.forbidden, code: "admin_disabled", message: "set CERVELLA_ADMIN_KEY to enable the admin API"), wrongKey: false)
            }
            guard presented != nil else {
                return .refused(GatewayResponse.error(.unauthorized, code: "missing_api_key", message: "send Authorization: Bearer <admin key>"), wrongKey: false)
            }
            guard isAdmin else {
                return .refused(GatewayResponse.error(.forbidden, code: "not_admin", message: "this key may not use the admin API"), wrongKey: true)
            }
            return .accepted(.admin)
        case .probe:
            guard settings.gateway.probesNeedKey(listeningOn: host), !(apiKeys.isEmpty && adminKey == nil) else { return .accepted(.anonymous) }
        case .user, .userOrAdmin:
            guard !apiKeys.isEmpty else { return .accepted(.anonymous) }
        }
        guard let presented else {
            return .refused(GatewayResponse.error(.unauthorized, code: "missing_api_key", message: "send Authorization: Bearer <API key>"), wrongKey: false)
        }
        if isAdmin && access != .user { return .accepted(.admin) }
        // Compare against every key, always, so timing says nothing about which one is close.
        var matched = false
        for key in apiKeys where Self.constantTimeEquals(presented, key) { matched = true }
        guard matched else {
            return .refused(GatewayResponse.error(.unauthorized, code: "invalid_api_key", message: "the API key is not valid"), wrongKey: true)
        }
        return .accepted(.user(digest: Self.keyDigest(presented)))
    }

    /// The digest that stands for an API key in Redis (rate limits, job owners): the key
    /// itself never leaves the process.
    static func keyDigest(_ key: String) -> String {
        String(SHA256.hex(Array(key.utf8)).prefix(16))
    }

    static func constantTimeEquals(_ a: String, _ b: String) -> Bool {
        let x = Array(a.utf8), y = Array(b.utf8)
        var difference = UInt8(truncatingIfNeeded: x.count ^ y.count)
        for index in 0..<max(x.count, y.count) {
            difference |= (index < x.count ? x[index] : 0) ^ (index < y.count ? y[index] : 0)
        }
        return difference == 0
    }

    /// Runs a Redis round trip of the request path under `gateway.redis_timeout_ms`.
    func withRedisDeadline<T: Sendable>(_ operation: @escaping @Sendable () async throws -> T) async throws -> T {
        try await RedisDeadline.run(.milliseconds(settings.gateway.redisTimeoutMs), operation)
    }
}

extension Timer {
    func recordInterval(since start: ContinuousClock.Instant) {
        let (seconds, attoseconds) = start.duration(to: .now).components
        recordNanoseconds(seconds * 1_000_000_000 + attoseconds / 1_000_000_000)
    }
}
