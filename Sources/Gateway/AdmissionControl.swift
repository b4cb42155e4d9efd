import Foundation
import Hummingbird
import JobProtocol
import Logging
import RedisClient
import Settings

extension KeySpace {
    /// Failed authentications from one client address (a digest of it) in one minute window.
    /// Declared here rather than in JobProtocol: only gateways read or write it.
    func authFailures(_ addressDigest: String, window: Int) -> String { "\(prefix):authfail:\(addressDigest):\(window)" }
}

/// The per-minute budgets counted in Redis, so that they hold across gateway instances: the
/// failed authentications of a client address, and the requests of an API key.
///
/// An address past its failure budget is refused whatever it sends, a correct key included,
/// until the minute ends: otherwise a guess that happens to be right would stand out by its
/// answer (fail2ban's choice).
struct AdmissionControl: Sendable {
    /// Runs a script; the gateway's command connection, or a count in memory in tests.
    typealias Evaluate = @Sendable (RedisScript, [RedisArgument], [RedisArgument]) async throws -> RedisValue

    let keys: KeySpace
    /// `gateway.auth_failures_per_minute` (0: not counted).
    let authFailuresPerMinute: Int
    /// `gateway.rate_limit_per_minute` (0: no limit).
    let rateLimitPerMinute: Int
    /// `gateway.redis_timeout_ms`, the wait for a count on an API route.
    let redisTimeout: Duration
    let logger: Logger
    /// Seconds since the epoch: the minute windows and `Retry-After` come from it.
    let now: @Sendable () -> Int
    let evaluate: Evaluate

    init(
        keys: KeySpace, authFailuresPerMinute: Int, rateLimitPerMinute: Int, redisTimeout: Duration, logger: Logger,
        now: @escaping @Sendable () -> Int = { Int(Date().timeIntervalSince1970) }, evaluate: @escaping Evaluate
    ) {
        self.keys = keys
        self.authFailuresPerMinute = authFailuresPerMinute
        self.rateLimitPerMinute = rateLimitPerMinute
        self.redisTimeout = redisTimeout
        self.logger = logger
        self.now = now
        self.evaluate = evaluate
    }

    init(settings: CervellaSettings, connection: RedisConnection, logger: Logger) {
        self.init(
            keys: KeySpace(prefix: settings.redis.keyPrefix), authFailuresPerMinute: settings.gateway.authFailuresPerMinute,
            rateLimitPerMinute: settings.gateway.rateLimitPerMinute, redisTimeout: .milliseconds(settings.gateway.redisTimeoutMs), logger: logger,
            evaluate: { script, keys, arguments in try await connection.evaluate(script, keys: keys, arguments: arguments) }
        )
    }

    /// A counter in a one-minute window: the failure count of a wrong key's address.
    static let rateLimitScript = RedisScript(
        """
        local n = redis.call('INCR', KEYS[1])
        if n == 1 then redis.call('EXPIRE', KEYS[1], 61) end
        return n
        """)

    /// One round trip for an authenticated request: -1 when its address has spent its
    /// failed-authentication budget, else the key's request count this minute (0: not counted).
    static let admissionScript = RedisScript(
        """
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

    /// What the admission script's answer means for the request.
    enum Verdict: Equatable {
        case admitted
        /// The address spent its failed-authentication budget this minute.
        case tooManyFailures
        /// The key sent more than `rate_limit_per_minute` requests this minute.
        case rateLimited
    }

    /// `count` is the script's answer (nil: Redis had none, and the request goes through);
    /// `countsRequests`: the key's requests were counted (an API key on an API route).
    static func verdict(count: Int?, rateLimit: Int, countsRequests: Bool) -> Verdict {
        guard let count else { return .admitted }
        if count < 0 { return .tooManyFailures }
        if count > rateLimit && countsRequests { return .rateLimited }
        return .admitted
    }

    /// The failed-authentication budget of the address (every authenticated caller), then the
    /// per-key rate limit (API keys on the API routes), in one round trip.
    ///
    /// Throws `GatewayServer.Refusal` (429) past a budget, `RedisError` when Redis does not
    /// answer in time on an API route; a probe with a valid key goes through instead.
    func admit(_ caller: Caller, address: String, access: RouteAccess) async throws {
        let budget = authFailuresPerMinute
        let limit = rateLimitPerMinute
        let checksAddress = budget > 0 && caller != .anonymous
        var rateKey: String?
        if case .user(let digest) = caller, limit > 0, access != .probe { rateKey = digest }
        guard checksAddress || rateKey != nil else { return }
        let now = self.now()
        let window = now / 60
        let retry = String(60 - now % 60)
        let keys = [
            RedisArgument(checksAddress ? self.keys.authFailures(Self.addressDigest(address), window: window) : ""),
            RedisArgument(rateKey.map { self.keys.rateLimit($0, window: window) } ?? ""),
        ]
        let evaluate = self.evaluate
        let operation: @Sendable () async throws -> RedisValue = { try await evaluate(Self.admissionScript, keys, [RedisArgument(budget)]) }
        let count: Int?
        if access == .probe {
            // A valid key on a probe fails open when Redis is slow (see probeAdmissionBudget).
            count = try? await RedisDeadline.run(Self.probeAdmissionBudget, operation).integer
        } else {
            count = try await RedisDeadline.run(redisTimeout, operation).integer
        }
        switch Self.verdict(count: count, rateLimit: limit, countsRequests: rateKey != nil) {
        case .admitted:
            return
        case .tooManyFailures:
            throw GatewayServer.Refusal(response: Self.tooManyFailures(retry: retry))
        case .rateLimited:
            throw GatewayServer.Refusal(
                response: GatewayResponse.error(
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
        let budget = authFailuresPerMinute
        guard budget > 0 else { return refusal }
        let now = self.now()
        let key = RedisArgument(keys.authFailures(Self.addressDigest(address), window: now / 60))
        let evaluate = self.evaluate
        let increment: @Sendable () async throws -> RedisValue = { try await evaluate(Self.rateLimitScript, [key], []) }
        let limit: Duration = probe ? Self.probeAdmissionBudget : redisTimeout
        guard let count = try? await RedisDeadline.run(limit, increment).integer else { return refusal }
        guard count > budget else { return refusal }
        if count == budget + 1 {
            logger.warning(
                "client address over its failed-authentication budget; refusing it until the minute ends",
                metadata: [
                    "cervella.client.address_digest": "\(Self.addressDigest(address))", "cervella.auth_failures_per_minute": "\(budget)",
                ])
        }
        return Self.tooManyFailures(retry: String(60 - now % 60))
    }

    static func tooManyFailures(retry: String) -> Response {
        GatewayResponse.error(
            .tooManyRequests, code: "too_many_auth_failures",
            message:
                "too many failed authentications from this address this minute; every request from it is refused for \(retry) s, then send a valid key",
            headers: [GatewayResponse.retryAfter: retry]
        )
    }

    /// Client addresses reach Redis (and the log) only as digests.
    static func addressDigest(_ address: String) -> String {
        String(SHA256.hex(Array(address.utf8)).prefix(16))
    }
}
