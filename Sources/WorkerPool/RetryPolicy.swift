import Providers

/// Retries transient provider failures with exponential backoff and full jitter, inside a
/// time budget (the fallback timeout for tiers 1–2, the job's deadline for Claude).
///
/// Transient: connection errors, 5xx, 429. A 429's `Retry-After` is honoured as the least
/// wait. Not retried: 4xx (the request itself is wrong), bad responses, and timeouts (the
/// budget is spent). After the last attempt the fallback policy decides, as before.
struct RetryPolicy: Sendable {
    var maxAttempts = 3
    var baseDelay: Duration = .milliseconds(100)
    var maxDelay: Duration = .seconds(2)

    static func isTransient(_ error: ProviderError) -> Bool {
        error.code == .connection || error.code == .http5xx || error.code == .rateLimited
    }

    /// The wait before attempt `attempt + 1` (attempt counts from 1): uniform in
    /// [0, min(maxDelay, base·2^(attempt-1))], never shorter than a `Retry-After`.
    func delay(after attempt: Int, error: ProviderError, random: Double = Double.random(in: 0...1)) -> Duration {
        let ceiling = min(maxDelay, baseDelay * (1 << min(attempt - 1, 16)))
        let jittered = ceiling * random
        if let retryAfter = error.retryAfter { return max(retryAfter, jittered) }
        return jittered
    }

    /// Runs `call` with the remaining budget as its timeout, retrying transient failures
    /// while the budget allows the wait plus a useful attempt.
    func run(
        budget: Duration, clock: ContinuousClock = ContinuousClock(), canRetry: () -> Bool = { true },
        onRetry: (Int, ProviderError, Duration) -> Void = { _, _, _ in },
        _ call: (Duration) async throws(ProviderError) -> ProviderResponse
    ) async throws(ProviderError) -> ProviderResponse {
        let deadline = clock.now + budget
        var attempt = 1
        while true {
            do {
                return try await call(max(.milliseconds(1), clock.now.duration(to: deadline)))
            } catch {
                guard Self.isTransient(error), attempt < maxAttempts, !Task.isCancelled, canRetry() else { throw error }
                let wait = delay(after: attempt, error: error)
                // Retry only if, after the wait, a tenth of the budget (at least 200 ms) is left.
                let usefulAttempt = max(.milliseconds(200), budget / 10)
                guard clock.now + wait + usefulAttempt <= deadline else { throw error }
                onRetry(attempt, error, wait)
                do { try await Task.sleep(for: wait) } catch { throw ProviderError(.connection, "cancelled while waiting to retry") }
                attempt += 1
            }
        }
    }
}
