import Foundation
import Logging
import Synchronization

/// The health of one tier's endpoints (primary GPU host, backups): a circuit breaker per
/// endpoint, shared by every call of that tier's provider.
///
/// A host that failed `failureThreshold` times in a row (connection refused or broken,
/// 5xx, timeout) is skipped for `coolDown`, so requests stop paying a connect error or a
/// timeout before reaching the backup. After the cool-down one trial call goes through:
/// success closes the circuit, failure opens it again. A 4xx or a 429 never counts: the
/// host answered, and another host would say the same (429s are the retry policy's
/// business).
///
/// Active probing (`probe(http:timeout:)`) is on for the OpenAI kind, whose vLLM and
/// llama.cpp servers answer `GET /health`, and off for the Anthropic kind, whose API has
/// no health route; there only real calls move the breaker.
public final class EndpointHealth: Sendable {
    /// Consecutive failures that open an endpoint's circuit.
    public let failureThreshold: Int
    /// How long an open circuit skips its endpoint before letting a trial call through.
    public let coolDown: Duration
    /// Whether `probe(http:timeout:)` sends `GET <base>/health`; when false it does nothing.
    public let activeProbing: Bool

    let logger: Logger
    private let circuits: Mutex<[EndpointCircuit]>
    /// The time the breakers and 429 pauses run on; tests inject one they move by hand.
    private let clock: @Sendable () -> ContinuousClock.Instant

    /// - Parameters:
    ///   - endpoints: the tier's base URLs, primary first (the order `snapshot()` keeps).
    ///     An endpoint first seen in a call is added at the end.
    ///   - failureThreshold: consecutive failures that open a circuit; at least 1.
    ///   - coolDown: how long an open circuit is skipped; negative values count as zero.
    ///   - activeProbing: whether `probe(http:timeout:)` checks `/health` (OpenAI kind: yes;
    ///     Anthropic kind: no).
    ///   - clock: the current instant; the real clock unless a test moves time by hand.
    public init(
        endpoints: [String],
        failureThreshold: Int = 3,
        coolDown: Duration = .seconds(10),
        activeProbing: Bool = true,
        logger: Logger = Logger(label: "cervella.providers.health"),
        clock: @escaping @Sendable () -> ContinuousClock.Instant = { ContinuousClock.now }
    ) {
        self.clock = clock
        self.failureThreshold = max(failureThreshold, 1)
        self.coolDown = max(coolDown, .zero)
        self.activeProbing = activeProbing
        self.logger = logger
        var unique: [String] = []
        for endpoint in endpoints where !unique.contains(endpoint) { unique.append(endpoint) }
        self.circuits = Mutex(unique.map(EndpointCircuit.init(endpoint:)))
    }

    /// The base URLs this instance tracks, primary first.
    public var endpoints: [String] { circuits.withLock { $0.map(\.endpoint) } }

    /// The report's model health: `down` when every endpoint's circuit is open (or
    /// half-open, waiting for a trial to succeed); `degraded` when some are, or when an
    /// endpoint's last call failed (the primary has started failing, or a backup is not
    /// there to take over); `healthy` otherwise.
    public func modelHealth() -> ModelHealth {
        let circuits = circuits.withLock { $0 }
        guard circuits.contains(where: \.isClosed) else { return .down }
        if circuits.contains(where: { !$0.isClosed || $0.consecutiveFailures > 0 }) { return .degraded }
        return .healthy
    }

    /// Every endpoint's breaker, primary first, for stats and the admin API.
    public func snapshot() -> [EndpointStatus] {
        let now = clock()
        return circuits.withLock { $0 }.map { circuit in
            EndpointStatus(
                endpoint: Self.displayURL(circuit.endpoint), state: circuit.reportedState(now: now),
                consecutiveFailures: circuit.consecutiveFailures, lastError: circuit.lastError,
                lastSuccess: circuit.lastSuccess, lastFailure: circuit.lastFailure
            )
        }
    }

    /// Whether a call may use `endpoint` now, and as what; nil to skip it.
    func admit(_ endpoint: String) -> EndpointCircuit.Admission? {
        let now = clock()
        let (admission, transition) = circuits.withLock { circuits in
            circuits[Self.index(of: endpoint, in: &circuits)].admit(now: now)
        }
        if let transition { log(transition, endpoint) }
        return admission
    }

    /// How long `endpoint` stays paused by a 429, or nil when it is not paused.
    func pauseRemaining(_ endpoint: String) -> Duration? {
        let now = clock()
        return circuits.withLock { circuits in
            let circuit = circuits[Self.index(of: endpoint, in: &circuits)]
            guard circuit.isPaused(now: now), let until = circuit.pausedUntil else { return nil }
            return now.duration(to: until)
        }
    }

    /// Records what a call or probe to `endpoint` showed.
    func record(_ outcome: EndpointCircuit.Outcome, for endpoint: String, admission: EndpointCircuit.Admission) {
        let (now, date) = (clock(), Date())
        let outcome = outcome.redacted
        let (threshold, coolDown) = (failureThreshold, self.coolDown)
        let transition = circuits.withLock { circuits in
            circuits[Self.index(of: endpoint, in: &circuits)].record(
                outcome, admission: admission, now: now, date: date, failureThreshold: threshold, coolDown: coolDown
            )
        }
        if let transition { log(transition, endpoint) }
    }

    private func log(_ transition: EndpointCircuit.Transition, _ endpoint: String) {
        logger.debug(
            "endpoint circuit \(transition.rawValue)",
            metadata: [
                "cervella.endpoint": "\(ProviderTransport.host(endpoint))",
                "cervella.circuit.cool_down": "\(coolDown)",
            ])
    }

    private static func index(of endpoint: String, in circuits: inout [EndpointCircuit]) -> Int {
        if let index = circuits.firstIndex(where: { $0.endpoint == endpoint }) { return index }
        circuits.append(EndpointCircuit(endpoint: endpoint))
        return circuits.count - 1
    }

    /// The base URL without user, password, query or fragment, which may carry credentials.
    static func displayURL(_ endpoint: String) -> String {
        guard var components = URLComponents(string: endpoint), components.host != nil else { return endpoint }
        components.user = nil
        components.password = nil
        components.query = nil
        components.fragment = nil
        return components.string ?? endpoint
    }

    /// `message` with API-key-looking words and `secrets` replaced, cut to 300 characters.
    ///
    /// Error bodies are the server's text: OpenAI-style servers echo part of a wrong key
    /// ("Incorrect API key provided: sk-abc…"), and a snapshot ends up in stats and logs.
    static func redact(_ message: String, secrets: [String] = []) -> String {
        var text = message
        for secret in secrets where secret.count >= 4 {
            text = text.replacingOccurrences(of: secret, with: "[redacted]")
        }
        text = text.replacing(#/(sk-|sk_|key-)[A-Za-z0-9_\-*.]{4,}/#, with: "[redacted]")
        text = text.replacing(#/(?i)bearer\s+\S+/#, with: "Bearer [redacted]")
        return String(text.prefix(300))
    }
}

extension EndpointCircuit.Outcome {
    var redacted: Self {
        if case .failure(let message) = self { return .failure(EndpointHealth.redact(message)) }
        return self
    }
}

/// One endpoint's breaker as stats show it.
/// An endpoint's circuit breaker as reports show it (the names are the ones written to the
/// `health` hash and shown by `cervella admin stats`).
public enum CircuitState: String, Sendable, Equatable {
    case closed
    case open
    /// Open, with its cool-down over: the next call is its trial.
    case halfOpen = "half_open"
}

/// A tier's model health across its endpoints (`EndpointHealth.modelHealth()`).
public enum ModelHealth: String, Sendable, Equatable {
    case healthy, degraded, down
}

public struct EndpointStatus: Sendable, Equatable, CustomStringConvertible {
    /// The base URL, without any user, password or query.
    public var endpoint: String
    public var state: CircuitState
    public var consecutiveFailures: Int
    /// The last failure's message, with anything that looks like a key removed.
    public var lastError: String?
    public var lastSuccess: Date?
    public var lastFailure: Date?

    public init(
        endpoint: String, state: CircuitState, consecutiveFailures: Int, lastError: String? = nil, lastSuccess: Date? = nil, lastFailure: Date? = nil
    ) {
        self.endpoint = endpoint
        self.state = state
        self.consecutiveFailures = consecutiveFailures
        self.lastError = lastError
        self.lastSuccess = lastSuccess
        self.lastFailure = lastFailure
    }

    public var description: String {
        "\(endpoint) \(state.rawValue) failures=\(consecutiveFailures)\(lastError.map { " last_error=\($0)" } ?? "")"
    }
}
