import JobProtocol

/// What a classifier decided: a tier and the reason, which travels with the job to its result.
public struct TierDecision: Sendable, Equatable {
    public var tier: Tier
    public var reason: String

    public init(tier: Tier, reason: String) {
        self.tier = tier
        self.reason = reason
    }
}

/// Chooses a tier for a request from its content.
///
/// One interface so that the rule set can be replaced, for example by the report's ML
/// classifier (option B), without touching the router's overrides and rollout.
public protocol Classifier: Sendable {
    func classify(_ messages: [ChatMessage]) -> TierDecision
}

/// The live flags the router obeys (file settings, overridden by `cervella:config`).
public struct RoutingFlags: Sendable, Equatable {
    public var tierEnabled: [Tier: Bool]
    public var tier1Percentage: Double
    public var tier2Percentage: Double
    public var pocValidated: Bool
    /// Small tiers outside their window (`TierWindow`) now: routed past as if switched off.
    public var outsideWindow: Set<Tier>

    public init(
        tierEnabled: [Tier: Bool], tier1Percentage: Double, tier2Percentage: Double, pocValidated: Bool, outsideWindow: Set<Tier> = []
    ) {
        self.outsideWindow = outsideWindow
        self.tierEnabled = tierEnabled
        self.tier1Percentage = tier1Percentage
        self.tier2Percentage = tier2Percentage
        self.pocValidated = pocValidated
    }

    public func isEnabled(_ tier: Tier) -> Bool { tierEnabled[tier] ?? true }

    /// Enabled and inside its window: a tier the router may choose.
    public func serves(_ tier: Tier) -> Bool { isEnabled(tier) && !outsideWindow.contains(tier) }
}
