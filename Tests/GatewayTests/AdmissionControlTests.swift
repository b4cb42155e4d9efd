import Hummingbird
import JobProtocol
import Logging
import RedisClient
import Synchronization
import Testing

@testable import Gateway

/// The failed-authentication budget and the rate limit, with Redis replaced by scripted
/// answers: which counters a request touches, and what each answer means for the client.
@Suite struct AdmissionControlTests {
    /// Records each script call and answers with the next scripted reply.
    final class ScriptedRedis: Sendable {
        struct Call: Equatable {
            var script: String
            var keys: [String]
            var arguments: [String]
        }

        private let state: Mutex<(calls: [Call], replies: [Result<RedisValue, RedisError>])>
        let delay: Duration

        init(_ replies: [Result<RedisValue, RedisError>], delay: Duration = .zero) {
            state = Mutex(([], replies))
            self.delay = delay
        }

        var calls: [Call] { state.withLock { $0.calls } }

        func evaluate(_ script: RedisScript, _ keys: [RedisArgument], _ arguments: [RedisArgument]) async throws -> RedisValue {
            let text = { (argument: RedisArgument) in String(decoding: argument.bytes, as: UTF8.self) }
            let reply = state.withLock { state in
                state.calls.append(Call(script: script.source, keys: keys.map(text), arguments: arguments.map(text)))
                return state.replies.isEmpty ? .success(.null) : state.replies.removeFirst()
            }
            if delay > .zero { try await Task.sleep(for: delay) }
            return try reply.get()
        }
    }

    /// 135 s after the epoch: minute window 2, 45 s left in it.
    static let now = 135

    static let logger = {
        var logger = Logger(label: "admission-test")
        logger.logLevel = .critical
        return logger
    }()

    func admission(_ redis: ScriptedRedis, failures: Int = 30, rateLimit: Int = 600) -> AdmissionControl {
        AdmissionControl(
            keys: KeySpace(prefix: "t"), authFailuresPerMinute: failures, rateLimitPerMinute: rateLimit, redisTimeout: .seconds(5),
            logger: Self.logger, now: { Self.now }, evaluate: { try await redis.evaluate($0, $1, $2) }
        )
    }

    func refusal(_ operation: () async throws -> Void) async -> Response? {
        do {
            try await operation()
            return nil
        } catch let refusal as GatewayServer.Refusal {
            return refusal.response
        } catch {
            Issue.record("unexpected error \(error)")
            return nil
        }
    }

    @Test func anAPIKeyIsCountedPerMinuteTogetherWithItsAddressBudget() async throws {
        let redis = ScriptedRedis([.success(.integer(7))])
        try await admission(redis).admit(.user(digest: "abc"), address: "10.0.0.9", access: .user)
        let digest = AdmissionControl.addressDigest("10.0.0.9")
        #expect(
            redis.calls == [
                .init(script: AdmissionControl.admissionScript.source, keys: ["t:authfail:\(digest):2", "t:ratelimit:abc:2"], arguments: ["30"])
            ])
    }

    @Test func nothingIsCountedWhenNeitherBudgetApplies() async throws {
        let redis = ScriptedRedis([])
        try await admission(redis).admit(.anonymous, address: "10.0.0.9", access: .user)
        try await admission(redis, failures: 0, rateLimit: 0).admit(.user(digest: "abc"), address: "10.0.0.9", access: .user)
        try await admission(redis, failures: 0).admit(.admin, address: "10.0.0.9", access: .admin)
        #expect(redis.calls.isEmpty)
    }

    @Test func theAdminKeyAndProbesAreNotRateLimited() async throws {
        let redis = ScriptedRedis([.success(.integer(0)), .success(.integer(0))])
        try await admission(redis).admit(.admin, address: "10.0.0.9", access: .admin)
        try await admission(redis).admit(.user(digest: "abc"), address: "10.0.0.9", access: .probe)
        #expect(redis.calls.map { $0.keys[1] } == ["", ""])
    }

    @Test func pastTheRateLimitIs429WithTheSecondsLeftInTheMinute() async {
        let redis = ScriptedRedis([.success(.integer(11))])
        let response = await refusal { try await admission(redis, rateLimit: 10).admit(.user(digest: "abc"), address: "a", access: .user) }
        #expect(response?.status == .tooManyRequests)
        #expect(response?.headers[GatewayResponse.retryAfter] == "45")
        let atTheLimit = ScriptedRedis([.success(.integer(10))])
        #expect(await refusal { try await admission(atTheLimit, rateLimit: 10).admit(.user(digest: "abc"), address: "a", access: .user) } == nil)
    }

    @Test func anAddressPastItsFailureBudgetIsRefusedEvenWithAValidKey() async {
        for access in [RouteAccess.user, .admin, .probe] {
            let redis = ScriptedRedis([.success(.integer(-1))])
            let response = await refusal { try await admission(redis).admit(.user(digest: "abc"), address: "a", access: access) }
            #expect(response?.status == .tooManyRequests)
            #expect(response?.headers[GatewayResponse.retryAfter] == "45")
        }
    }

    @Test func redisTroubleOnAnAPIRouteIsThrownForA503() async {
        let redis = ScriptedRedis([.failure(RedisError(.connectionLost, "gone"))])
        await #expect(throws: RedisError.self) {
            try await admission(redis).admit(.user(digest: "abc"), address: "a", access: .user)
        }
    }

    @Test func aProbeWithAValidKeyGoesThroughWhenRedisIsSlowOrDown() async throws {
        let slow = ScriptedRedis([.success(.integer(-1))], delay: .seconds(3))
        try await admission(slow).admit(.user(digest: "abc"), address: "a", access: .probe)
        let down = ScriptedRedis([.failure(RedisError(.connectionLost, "gone"))])
        try await admission(down).admit(.user(digest: "abc"), address: "a", access: .probe)
    }

    @Test func aWrongKeyKeepsItsRefusalUntilTheBudgetIsSpent() async {
        let original = GatewayResponse.error(.unauthorized, code: "invalid_api_key", message: "the API key is not valid")
        let within = ScriptedRedis([.success(.integer(30))])
        #expect(await admission(within).countFailedAuthentication(from: "a", refusal: original, probe: false).status == .unauthorized)
        let digest = AdmissionControl.addressDigest("a")
        #expect(within.calls == [.init(script: AdmissionControl.rateLimitScript.source, keys: ["t:authfail:\(digest):2"], arguments: [])])

        let past = ScriptedRedis([.success(.integer(31))])
        let response = await admission(past).countFailedAuthentication(from: "a", refusal: original, probe: false)
        #expect(response.status == .tooManyRequests)
        #expect(response.headers[GatewayResponse.retryAfter] == "45")
    }

    @Test func aWrongKeyIsStillRefusedWhenRedisCannotCountIt() async {
        let original = GatewayResponse.error(.unauthorized, code: "invalid_api_key", message: "the API key is not valid")
        let down = ScriptedRedis([.failure(RedisError(.connectionLost, "gone"))])
        #expect(await admission(down).countFailedAuthentication(from: "a", refusal: original, probe: false).status == .unauthorized)
        let off = ScriptedRedis([.success(.integer(99))])
        #expect(await admission(off, failures: 0).countFailedAuthentication(from: "a", refusal: original, probe: false).status == .unauthorized)
        #expect(off.calls.isEmpty)
    }

    @Test func theScriptsAnswerDecidesTheVerdict() {
        #expect(AdmissionControl.verdict(count: nil, rateLimit: 1, countsRequests: true) == .admitted)
        #expect(AdmissionControl.verdict(count: -1, rateLimit: 1, countsRequests: false) == .tooManyFailures)
        #expect(AdmissionControl.verdict(count: 2, rateLimit: 1, countsRequests: true) == .rateLimited)
        #expect(AdmissionControl.verdict(count: 2, rateLimit: 1, countsRequests: false) == .admitted)
        #expect(AdmissionControl.verdict(count: 1, rateLimit: 1, countsRequests: true) == .admitted)
    }

    @Test func addressesReachRedisOnlyAsDigests() {
        let digest = AdmissionControl.addressDigest("192.168.1.20")
        #expect(digest.count == 16)
        #expect(!digest.contains("192"))
        #expect(KeySpace(prefix: "p").authFailures(digest, window: 7) == "p:authfail:\(digest):7")
    }
}
