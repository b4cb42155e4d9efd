import JobProtocol
import Providers
import Scoring
import Settings
import Synchronization

/// What the code around a provider call tells its stream's sink, and what the sink tells it
/// back: a cancellation heard, the early escalation taken, the tokens seen.
final class CallControl: Sendable {
    private struct State {
        var cancelled = false
        var escalation: Double?
        var tokens = 0
    }

    private let state = Mutex(State())

    func cancel() { state.withLock { $0.cancelled = true } }
    var isCancelled: Bool { state.withLock { $0.cancelled } }
    /// The running confidence at which the call was stopped to escalate.
    var escalation: Double? { state.withLock { $0.escalation } }
    var tokens: Int { state.withLock { $0.tokens } }

    func count(_ tokens: Int) { state.withLock { $0.tokens = $0.tokens.addingReportingOverflow(max(0, tokens)).partialValue } }
    func escalate(at score: Double) { state.withLock { $0.escalation = score } }
}

/// One streamed job's way out: its relay, the tier's mode, and whether the running confidence
/// may stop the call early.
struct StreamSession: Sendable {
    let relay: StreamRelay
    let mode: TierSettings.StreamMode
    /// Early escalation is on: a `verified` small tier whose job may fall back.
    let mayEscalate: Bool
    let scorer: ConfidenceScorer
    let threshold: Double
    let margin: Double
    let minTokens: Int

    /// The sink of one attempt: in `live` mode it relays each delta; in `verified` mode it
    /// relays nothing, and stops the call when the running confidence is clearly low.
    func sink(control: CallControl) -> StreamSink {
        let running = RunningBox(RunningConfidence(scorer: scorer))
        return { delta in
            control.count(delta.tokens)
            if control.isCancelled { return .stop }
            switch mode {
            case .live:
                await relay.send(delta)
                return .proceed
            case .verified:
                guard mayEscalate else { return .proceed }
                let score: Double? = running.state.withLock { running in
                    running.add(text: delta.text, logprobs: delta.logprobs, tokens: delta.tokens, toolCalls: !delta.toolCalls.isEmpty)
                    return running.escalation(threshold: threshold, margin: margin, minTokens: minTokens)
                }
                guard let score else { return .proceed }
                control.escalate(at: score)
                return .stop
            }
        }
    }
}

/// A sink's running confidence, shared by its calls.
final class RunningBox: Sendable {
    let state: Mutex<RunningConfidence>
    init(_ value: RunningConfidence) { state = Mutex(value) }
}

extension Worker {
    /// Opens a streamed job's session: starts writing the `start` entry that tells the client
    /// which tier answers and how (the provider call need not wait for it; the session's
    /// relay orders what follows after it).
    func streamSession(for job: Job, route: JobDecision.Route, provider: any ChatProvider) -> StreamSession {
        let tier = settings.tier(route.tier)
        let relay = StreamRelay(connection: commands, key: keys.stream(job.id), ttlSeconds: settings.redis.replyTTLSeconds)
        let session = StreamSession(
            relay: relay, mode: tier.streamMode,
            mayEscalate: tier.streamMode == .verified && route.smallTier && live.current.fallbackEnabled && job.enableFallback,
            scorer: ConfidenceScorer(method: tier.confidenceMethod, aggregate: tier.logprobAggregate), threshold: tier.confidenceThreshold,
            margin: tier.earlyEscalationMargin, minTokens: tier.earlyEscalationTokens)
        relay.start(tier: route.tier, model: provider.model, mode: tier.streamMode.rawValue)
        return session
    }
}
