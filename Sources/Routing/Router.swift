import JobProtocol
import Settings

/// Decides a job's route: overrides first, then the classifier, then the rollout and the
/// tier switches. Every decision carries its reason.
///
/// Priority: `force_model` (`manual_override`), then `tier_hint` (`tier_hint_simple` …), then
/// the classifier. Only classifier decisions take part in the rollout: an explicit choice is
/// never silently moved to a control group. A disabled tier is never chosen, nor one outside
/// its window; its requests go to the next tier up, and the reason says so
/// (`default_tier_tier1_disabled`, `default_tier_tier1_outside_window`).
public struct Router: Sendable {
    public let classifier: any Classifier
    private let models: [Tier: String]
    private let aliases: [String: Tier]

    public struct UnknownModel: Error, Sendable, Equatable, CustomStringConvertible {
        public var model: String
        public var known: [String]
        public var description: String { "unknown model '\(model)'; use one of: \(known.joined(separator: ", "))" }
    }

    public init(settings: CervellaSettings, classifier: any Classifier) {
        self.classifier = classifier
        var models: [Tier: String] = [:]
        var aliases: [String: Tier] = [:]
        for tier in Tier.allCases {
            models[tier] = settings.tier(tier).model
            aliases[settings.tier(tier).model.lowercased()] = tier
        }
        // The report's own model names work too.
        for (name, tier) in [
            ("qwen3-4b", Tier.tier1), ("qwen3", .tier1), ("deepseek-r1", .tier2), ("claude-sonnet-4.5", .tier3), ("claude-sonnet-4-5", .tier3),
            ("claude", .tier3),
        ] where aliases[name] == nil {
            aliases[name] = tier
        }
        self.models = models
        self.aliases = aliases
    }

    public func route(jobID: String, messages: [ChatMessage], tierHint: String, forceModel: String?, flags: RoutingFlags) throws(UnknownModel)
        -> Route
    {
        var decision: TierDecision
        var fromClassifier = false
        if let forceModel, !forceModel.isEmpty, forceModel != "auto" {
            guard let tier = aliases[forceModel.lowercased()] else {
                throw UnknownModel(model: forceModel, known: aliases.keys.sorted())
            }
            decision = TierDecision(tier: tier, reason: "manual_override")
        } else if let tier = Self.hintTiers[tierHint.lowercased()] {
            decision = TierDecision(tier: tier, reason: "tier_hint_\(tierHint.lowercased())")
        } else {
            decision = classifier.classify(messages)
            fromClassifier = true
        }

        if fromClassifier, decision.tier.isSmall {
            let percentage = decision.tier == .tier1 ? flags.tier1Percentage : flags.tier2Percentage
            if RolloutDraw.bucket(jobID) >= percentage {
                decision = TierDecision(tier: .claude, reason: "rollout_control_group")
            }
        }
        if decision.tier.isSmall && !flags.serves(decision.tier) {
            let next = Tier.allCases.first { $0 > decision.tier && ($0 == .claude || flags.serves($0)) } ?? .claude
            let why = flags.isEnabled(decision.tier) ? "outside_window" : "disabled"
            decision = TierDecision(tier: next, reason: "\(decision.reason)_tier\(decision.tier)_\(why)")
        }
        return Route(tier: decision.tier.number, model: models[decision.tier] ?? "", reason: decision.reason)
    }

    static let hintTiers: [String: Tier] = ["simple": .tier1, "medium": .tier2, "complex": .tier3]
}

/// A sticky draw in [0, 100) per request id: the same id always lands in the same group, so a
/// retried job is not moved between the small model and the control group.
public enum RolloutDraw {
    public static func bucket(_ id: String) -> Double {
        Double(StableHash.of(id) % 10_000) / 100
    }
}
