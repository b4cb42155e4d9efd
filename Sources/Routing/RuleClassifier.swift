import Foundation
import JobProtocol
import Settings

/// The report's rule-based classifier (3.1, option A), rules in the report's order.
///
/// 1. context over the small model's limit → tier 3 `long_context_exceeds_qwen3_limit`
/// 2. images or other non-text parts → tier 3 `multimodal_required`
/// 3. complex keywords → tier 3 `complex_keywords_detected`
/// 4. simple patterns at the start of the message → tier 1 `simple_task_pattern_matched`
/// 5. otherwise the default tier → `default_tier` (tier 1 once the POC is validated, else 3)
public struct RuleClassifier: Classifier {
    public let contextLimitTokens: Int
    public let complexKeywords: [String]
    private let simplePatterns: [NSRegularExpressionBox]
    private let pocValidated: @Sendable () -> Bool
    private let defaultTier: Tier

    /// `pocValidated` is read at each decision, so a live switch takes effect at once;
    /// `defaultTier` (the report's DEFAULT_TIER) applies once the POC is validated.
    public init(settings: RoutingSettings, defaultTier: Tier = .tier1, pocValidated: @escaping @Sendable () -> Bool) {
        self.defaultTier = defaultTier
        self.contextLimitTokens = settings.contextLimitTokens
        self.complexKeywords = settings.complexKeywords.map { $0.lowercased() }
        self.simplePatterns = settings.simplePatterns.compactMap { pattern in
            (try? NSRegularExpression(pattern: pattern, options: [.caseInsensitive])).map(NSRegularExpressionBox.init)
        }
        self.pocValidated = pocValidated
    }

    public func classify(_ messages: [ChatMessage]) -> TierDecision {
        if TokenEstimator.estimate(messages) > contextLimitTokens {
            return TierDecision(tier: .claude, reason: "long_context_exceeds_qwen3_limit")
        }
        if messages.contains(where: \.hasNonTextParts) {
            return TierDecision(tier: .claude, reason: "multimodal_required")
        }
        let lastUser = (messages.last { $0.role == "user" }?.text ?? "").lowercased()
        if complexKeywords.contains(where: { lastUser.contains($0) }) {
            return TierDecision(tier: .claude, reason: "complex_keywords_detected")
        }
        let trimmed = lastUser.trimmedWhitespace
        let range = NSRange(trimmed.startIndex..., in: trimmed)
        if simplePatterns.contains(where: { $0.regex.firstMatch(in: trimmed, options: [.anchored], range: range) != nil }) {
            return TierDecision(tier: .tier1, reason: "simple_task_pattern_matched")
        }
        return TierDecision(tier: pocValidated() ? defaultTier : .claude, reason: "default_tier")
    }
}

/// NSRegularExpression is immutable and thread-safe once built, but not marked Sendable.
struct NSRegularExpressionBox: @unchecked Sendable {
    let regex: NSRegularExpression
}
