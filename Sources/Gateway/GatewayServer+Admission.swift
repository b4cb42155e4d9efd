import Foundation
import Hummingbird
import JobProtocol
import RedisClient

extension KeySpace {
    /// Failed authentications from one client address (a digest of it) in one minute window.
    /// Declared here rather than in JobProtocol: only gateways read or write it.
    func authFailures(_ addressDigest: String, window: Int) -> String { "\(prefix):authfail:\(addressDigest):\(window)" }
}

extension GatewayServer {
    /// A counter in a one-minute window: the per-key rate limit and the failure count alike.
    static let rateLimitScript = RedisScript("""
    local n = redis.call('INCR', KEYS[1])
    if n == 1 then redis.call('EXPIRE', KEYS[1], 61) end
    return n
    """)

    /// One round trip for an authenticated request: -1 when its address has spent its
    /// failed-authentication budget, else the key's request count this minute (0: not counted).
    static let admissionScript = RedisScript("""
    -- KEYS[1] failure counter of the address or '', KEYS[2] request counter of the key or ''; ARGV[1] failure budget
    if KEYS[1] ~= '' then
      local failures = tonumber(redis.call('GET', KEYS[1]) or '0')
      if failures >= tonumber(ARGV[1]) then return -1 end
    end
    if KEYS[2] == '' then return 0 end
    local n = redis.call('INCR', KEYS[2])
    if n == 1 then redis.call('EXPIRE', KEYS[2], 61) end
    return n
    """)

    /// How long the probes wait for the admission check before letting a valid key through:
    /// /readyz must answer within a second whatever Redis does, and /metrics is most needed
    /// exactly when Redis is in trouble.
    static let probeAdmissionBudget = Duration.milliseconds(250)

    /// The failed-authentication budget of the address (every authenticated caller), then the
    /// per-key rate limit (API keys on the API routes); both counted in Redis, so that they
    /// hold across gateway instances.
    ///
    /// An address past its budget is refused whatever it sends, a correct key included, until
    /// the minute ends: otherwise a guess that happens to be right would stand out by its
    /// answer (fail2ban's choice).
    func admit(_ caller: Caller, address: String, access: Access) async throws {
        let budget = settings.gateway.authFailuresPerMinute
        let limit = settings.gateway.rateLimitPerMinute
        let checksAddress = budget > 0 && caller != .anonymous
        var rateKey: String?
        if case .user(let digest) = caller, limit > 0, access != .probe { rateKey = digest }
        guard checksAddress || rateKey != nil else { return }
        let now = Int(Date().timeIntervalSince1970)
        let window = now / 60
        let retry = String(60 - now % 60)
        let keys = [
            RedisArgument(checksAddress ? self.keys.authFailures(Self.addressDigest(address), window: window) : ""),
            RedisArgument(rateKey.map { self.keys.rateLimit($0, window: window) } ?? ""),
        ]
        let commands = self.commands
        let evaluate: @Sendable () async throws -> RedisValue = { try await commands.evaluate(Self.admissionScript, keys: keys, arguments: [RedisArgument(budget)]) }
        let count: Int?
        if access == .probe {
            // A valid key on a probe fails open when Redis is slow (see probeAdmissionBudget).
            count = try? await RedisDeadline.run(Self.probeAdmissionBudget, evaluate).integer
        } else {
            count = try await withRedisDeadline(evaluate).integer
        }
        guard let count else { return }
        if count < 0 { throw Refusal(response: Self.tooManyFailures(retry: retry)) }
        if count > limit && rateKey != nil {
            throw Refusal(response: GatewayResponse.error(
                .tooManyRequests, code: "rate_limited", message: "more than \(limit) requests this minute for this key; retry in \(retry) s",
                headers: [GatewayResponse.retryAfter: retry]
            ))
        }
    }

    /// Counts a wrong key against the address; past the budget the answer becomes 429.
    ///
    /// When Redis cannot count it, the refusal goes out as it was: a wrong key is refused
    /// either way, and a Redis outage must not turn every client's typo into a 503.
    func countFailedAuthentication(from address: String, refusal: Response, probe: Bool) async -> Response {
        let budget = settings.gateway.authFailuresPerMinute
        guard budget > 0 else { return refusal }
        let now = Int(Date().timeIntervalSince1970)
        let key = RedisArgument(keys.authFailures(Self.addressDigest(address), window: now / 60))
        let commands = self.commands
        let increment: @Sendable () async throws -> RedisValue = { try await commands.evaluate(Self.rateLimitScript, keys: [key], arguments: []) }
        let limit: Duration = probe ? Self.probeAdmissionBudget : .milliseconds(settings.gateway.redisTimeoutMs)
        guard let count = try? await RedisDeadline.run(limit, increment).integer else { return refusal }
        guard count > budget else { return refusal }
        if count == budget + 1 {
            logger.warning("client address over its failed-authentication budget; refusing it until the minute ends", metadata: [
                "cervella.client.address_digest": "\(Self.addressDigest(address))", "cervella.auth_failures_per_minute": "\(budget)",
            ])
        }
        return Self.tooManyFailures(retry: String(60 - now % 60))
    }

    static func tooManyFailures(retry: String) -> Response {
        GatewayResponse.error(
            .tooManyRequests, code: "too_many_auth_failures",
            message: "too many failed authentications from this address this minute; every request from it is refused for \(retry) s, then send a valid key",
            headers: [GatewayResponse.retryAfter: retry]
        )
    }

    /// Client addresses reach Redis (and the log) only as digests.
    static func addressDigest(_ address: String) -> String {
        String(SHA256.hex(Array(address.utf8)).prefix(16))
    }
}
