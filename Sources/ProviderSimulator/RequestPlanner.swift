import Hummingbird
import ServiceLifecycle

/// Decides, for one generation request, what the simulator does before writing a body:
/// how long it waits, whether it hangs, and whether it fails.
///
/// Both wire formats share this logic so that `#sim` directives and the configured
/// latency and error rate behave identically on `/v1/chat/completions` and
/// `/v1/messages`. Directives win over configuration: `latency_ms` replaces default
/// latency plus jitter, and a directive that chooses the outcome (status, hang, empty,
/// evasive, garbage, short) is never replaced by a randomly injected error.
struct RequestPlanner: Sendable {
    /// What to answer once the wait is over.
    enum Outcome: Sendable, Equatable {
        /// A normal 200 answer (possibly empty, evasive or short, per directives).
        case answer
        /// A 200 whose body is not JSON.
        case garbage
        /// An error status in the endpoint's error shape; `injected` marks the error-rate draws.
        case failure(status: Int, injected: Bool)
    }

    /// How long `#sim hang` waits before giving up; long enough that any client times out first.
    static let hangDuration: Duration = .seconds(3600)

    let configuration: SimulatorConfiguration
    let random: SeededRandom

    /// Waits as configured or directed, then returns the outcome. `injectedStatus` is the
    /// status an error-rate failure uses on this endpoint (503 for vLLM, 529 for Anthropic).
    ///
    /// Sleeping uses `Task.sleep`, so a slow or hanging request holds no thread and other
    /// requests proceed. A hang ends early when the server shuts down gracefully or the
    /// handling task is cancelled; it then throws `CancellationError`.
    func plan(_ directives: SimDirectives, injectedStatus: Int) async throws -> Outcome {
        if directives.hang {
            try await cancelWhenGracefulShutdown {
                try await Task.sleep(for: Self.hangDuration)
            }
            throw CancellationError()
        }
        let delay = directives.latencyMs ?? (max(configuration.defaultLatencyMs, 0) + random.nextInt(upTo: configuration.jitterMs))
        if delay > 0 {
            try await Task.sleep(for: .milliseconds(delay))
        }
        if let status = directives.status {
            return .failure(status: status, injected: false)
        }
        let rate = configuration.clampedErrorRate
        if !directives.decidesOutcome && rate > 0 && random.nextUnit() < rate {
            return .failure(status: injectedStatus, injected: true)
        }
        return directives.garbage ? .garbage : .answer
    }
}
