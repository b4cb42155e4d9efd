/// One of the pool's three tiers: 1 and 2 the self-hosted models (Qwen3-4B, DeepSeek-R1-Distill
/// by default), 3 Claude. On the wire (jobs, results, settings, the admin API) a tier is its
/// number; in the code it is this type, so that a tier 4 cannot be written.
///
/// Interpolated into a string it is its number (`"tier\(tier)"` is `tier1`), as the stats
/// fields, metric labels and log lines have always read.
public enum Tier: Int, Sendable, Hashable, CaseIterable, Comparable, Codable, CustomStringConvertible {
    case tier1 = 1
    case tier2 = 2
    case tier3 = 3

    /// The tier numbered `number`, or nil outside 1...3.
    public init?(_ number: Int) { self.init(rawValue: number) }

    public var number: Int { rawValue }

    /// Claude, the tier every other one falls back to.
    public static let claude = Tier.tier3

    /// Tiers 1 and 2: the ones whose answers may fall back to Claude.
    public var isSmall: Bool { self != .claude }

    /// The queue a job routed to this tier waits in.
    public var queue: QueueName {
        switch self {
        case .tier1: return .tier1
        case .tier2: return .tier2
        case .tier3: return .tier3
        }
    }

    public var description: String { String(rawValue) }

    public static func < (lhs: Tier, rhs: Tier) -> Bool { lhs.rawValue < rhs.rawValue }
}
