import ControlPlane
import JobProtocol
import Settings

extension JobDecision {
    /// The commit that ends a job after its provider call (`concludeCall`), with what the call
    /// spent, by model, added to its statistics for the cost report.
    ///
    /// Kept apart from the verdict so that every way `concludeCall` ends a call (an answer, a
    /// fallback, a cancel, and any added later) is priced by model from the one place where the
    /// pool-wide cost is already counted: its `.answered`, `.fellBack` or `.cancelled` event.
    static func conclude(_ job: Job, route: Route, call: Call, settings: CervellaSettings, context: Context) -> JobCommit {
        var commit = concludeCall(job, route: route, call: call, settings: settings, context: context)
        commit.stats += spend(of: commit.stats, route: route, call: call)
        return commit
    }

    /// One `.spent` for each event of `events` that counts the call's cost, with the model that
    /// served it and, for a delivered answer, its tokens.
    static func spend(of events: [StatsEvent], route: Route, call: Call) -> [StatsEvent] {
        events.compactMap { event in
            let tier: Tier
            let cost: Double
            let outcome: CallSpend.Outcome
            switch event {
            case .answered(let answeredTier, _, _, let answerCost, _):
                (tier, cost, outcome) = (answeredTier, answerCost, .answered)
            case .fellBack(let fellBackTier, _, _, let attemptCost):
                (tier, cost, outcome) = (fellBackTier, attemptCost, .discarded)
            case .cancelled(let cancelledTier, let callCost):
                (tier, cost, outcome) = (cancelledTier, callCost, .cancelled)
            default:
                return nil
            }
            let answered = outcome == .answered
            return .spent(
                CallSpend(
                    tier: tier, model: call.model, outcome: outcome, fallbackHop: route.queue.isFallback,
                    inputTokens: answered ? call.response?.tokensInput ?? 0 : 0, outputTokens: answered ? call.response?.tokensOutput ?? 0 : 0,
                    costUSD: cost))
        }
    }
}
