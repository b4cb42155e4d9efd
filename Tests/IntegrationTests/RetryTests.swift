import CervellaTestSupport
import Foundation
import JobProtocol
import Providers
import Testing

@testable import WorkerPool

/// Transient provider failures are retried with backoff before the fallback policy decides.
@Suite(.timeLimit(.minutes(2))) struct RetryTests {
    @Test func backoffIsFullJitterUnderACapAndHonoursRetryAfter() {
        let policy = RetryPolicy(maxAttempts: 5, baseDelay: .milliseconds(100), maxDelay: .seconds(1))
        let error = ProviderError(.http5xx, "503")
        #expect(policy.delay(after: 1, error: error, random: 1) == .milliseconds(100))
        #expect(policy.delay(after: 3, error: error, random: 1) == .milliseconds(400))
        #expect(policy.delay(after: 10, error: error, random: 1) == .seconds(1))
        #expect(policy.delay(after: 3, error: error, random: 0) == .zero)
        let limited = ProviderError(.rateLimited, "429", status: 429, retryAfter: .seconds(3))
        #expect(policy.delay(after: 1, error: limited, random: 0.5) == .seconds(3))
        #expect(RetryPolicy.isTransient(ProviderError(.connection, "refused")))
        #expect(!RetryPolicy.isTransient(ProviderError(.http4xx, "400")))
        #expect(!RetryPolicy.isTransient(ProviderError(.timeout, "slow")))
    }

    @Test func transientErrorsAreRetriedThenFallBack() async throws {
        try await withTestPool { pool in
            let result = try await pool.ask("Explain retries.\n#sim openai status=503", cache: false)
            #expect(result.metadata?.fallbackReason == "error_http_5xx")
            // Three attempts on the small model, then one Claude call.
            #expect(pool.simulator.stats.count("/v1/chat/completions") == 3)
            #expect(pool.simulator.stats.count("/v1/messages") == 1)
        }
    }

    @Test func clientErrorsAreNotRetried() async throws {
        try await withTestPool { pool in
            let result = try await pool.ask("Explain retries.\n#sim openai status=400", cache: false)
            #expect(result.metadata?.fallbackReason == "error_http_4xx")
            #expect(pool.simulator.stats.count("/v1/chat/completions") == 1)
        }
    }

    @Test func rateLimitedCallsWaitForRetryAfter() async throws {
        try await withTestPool { pool in
            let started = Date()
            let result = try await pool.ask("Explain rate limits.\n#sim openai status=429", cache: false)
            let elapsed = Date().timeIntervalSince(started)
            #expect(result.metadata?.fallbackReason == "error_rate_limited")
            #expect(pool.simulator.stats.count("/v1/chat/completions") == 3)
            // The simulator's 429 says Retry-After: 1; two waits of at least a second each.
            #expect(elapsed >= 2)
        }
    }
}
