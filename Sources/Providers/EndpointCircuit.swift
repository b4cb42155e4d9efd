import Foundation

/// One endpoint's circuit breaker: a value-type state machine that `EndpointHealth` keeps
/// behind its lock.
///
/// Every method is synchronous and takes the current time, so the lock is held for a few
/// comparisons only; what to log is returned as a `Transition` and done after unlocking.
struct EndpointCircuit: Sendable {
    enum State: Equatable, Sendable {
        /// Normal: every call goes through.
        case closed
        /// Failing: calls skip this endpoint until the cool-down ends.
        case open(until: ContinuousClock.Instant)
        /// The cool-down ended: one trial call may go through; its outcome decides.
        case halfOpen(trialInFlight: Bool)
    }

    /// How a call got to use the endpoint, which decides what a neutral outcome releases.
    enum Admission: Sendable, Equatable {
        /// The circuit was closed.
        case regular
        /// The one call a half-open circuit lets through.
        case trial
        /// Every circuit was open and the call went through anyway, or a health probe.
        case bypass
    }

    /// What one call or probe showed about the endpoint.
    enum Outcome: Sendable, Equatable {
        /// The host answered (any 2xx): it is up.
        case success
        /// Connection refused or broken, 5xx, timeout: counts toward opening the circuit.
        case failure(String)
        /// Says nothing about the host (4xx, a cancelled call): changes no counter.
        case neutral
        /// 429: the host is up but wants fewer calls; pause it for `Duration` (its Retry-After).
        case rateLimited(Duration)
    }

    /// A change worth a log line.
    enum Transition: String, Sendable {
        case opened, halfOpened = "half_opened", closed, reopened
    }

    let endpoint: String
    private(set) var state: State = .closed
    private(set) var consecutiveFailures = 0
    private(set) var lastSuccess: Date?
    private(set) var lastFailure: Date?
    private(set) var lastError: String?
    /// Set by a 429: no call goes to the endpoint before this instant, not even a last-resort
    /// one, so a rate-limited host is not hammered by every concurrent request.
    private(set) var pausedUntil: ContinuousClock.Instant?

    init(endpoint: String) {
        self.endpoint = endpoint
    }

    /// Whether a call may use the endpoint now, and as what; nil to skip it.
    ///
    /// The first call after the cool-down becomes the half-open trial; calls arriving while
    /// the trial is in flight skip the endpoint, so a host that is still down costs one
    /// call per cool-down, not one per concurrent request.
    mutating func admit(now: ContinuousClock.Instant) -> (admission: Admission?, transition: Transition?) {
        if isPaused(now: now) { return (nil, nil) }
        switch state {
        case .closed:
            return (.regular, nil)
        case .open(let until) where now < until:
            return (nil, nil)
        case .open:
            state = .halfOpen(trialInFlight: true)
            return (.trial, .halfOpened)
        case .halfOpen(trialInFlight: false):
            state = .halfOpen(trialInFlight: true)
            return (.trial, nil)
        case .halfOpen(trialInFlight: true):
            return (nil, nil)
        }
    }

    /// Applies one call's or probe's outcome.
    mutating func record(
        _ outcome: Outcome, admission: Admission, now: ContinuousClock.Instant, date: Date,
        failureThreshold: Int, coolDown: Duration
    ) -> Transition? {
        switch outcome {
        case .success:
            consecutiveFailures = 0
            lastSuccess = date
            guard state != .closed else { return nil }
            state = .closed
            return .closed
        case .failure(let message):
            consecutiveFailures += 1
            lastFailure = date
            lastError = message
            switch state {
            case .closed:
                guard consecutiveFailures >= failureThreshold else { return nil }
                state = .open(until: now + coolDown)
                return .opened
            case .halfOpen:
                state = .open(until: now + coolDown)
                return .reopened
            case .open:
                // A last-resort call or a probe failed again: the host is still down, so
                // the cool-down starts over.
                state = .open(until: now + coolDown)
                return nil
            }
        case .rateLimited(let pause):
            pausedUntil = max(pausedUntil ?? now, now + pause)
            if admission == .trial, state == .halfOpen(trialInFlight: true) {
                state = .halfOpen(trialInFlight: false)
            }
            return nil
        case .neutral:
            // A trial that proved nothing (a 4xx, a cancelled call) hands the trial to the
            // next call instead of leaving the endpoint skipped for good.
            if admission == .trial, state == .halfOpen(trialInFlight: true) {
                state = .halfOpen(trialInFlight: false)
            }
            return nil
        }
    }

    func isPaused(now: ContinuousClock.Instant) -> Bool {
        pausedUntil.map { now < $0 } ?? false
    }

    /// The state as a report shows it: an open circuit whose cool-down has ended is
    /// half-open, since the next call will be its trial.
    func reportedState(now: ContinuousClock.Instant) -> CircuitState {
        switch state {
        case .closed: return .closed
        case .open(let until): return now < until ? .open : .halfOpen
        case .halfOpen: return .halfOpen
        }
    }

    var isClosed: Bool { state == .closed }
}
