/// The classifier's rules and the rollout, from `[routing]` in `worker.toml`.
///
/// Keywords match anywhere in the lower-cased text; patterns are regular expressions matched
/// at the start of the lower-cased last user message, as in the report's `re.match`.
public struct RoutingSettings: Sendable, Equatable {
    /// Estimated prompt tokens above which the small model cannot take the job (Qwen3-4B: 32K).
    public var contextLimitTokens = 32_000
    public var complexKeywords: [String] = [
        // The report's (Italian) keywords…
        "architettura", "strategia", "design system", "security", "sicurezza", "refactoring completo", "migration", "migrazione",
        // …and their English equivalents.
        "architecture", "strategy", "full refactor", "complete refactoring", "refactor the whole", "threat model",
    ]
    public var simplePatterns: [String] = [
        // The report's patterns…
        #"^leggi\s+\S+\.md"#, #"^summary\s+di"#, #"^git\s+commit"#, #"^formatta\s+"#, #"^traduci\s+"#,
        // …and English ones.
        #"^read\s+\S+\.md"#, #"^summar(y|ize|ise)\b"#, #"^write\s+a\s+git\s+commit"#, #"^format\s+"#, #"^translate\s+"#,
        #"^riassumi\b"#,
    ]
    /// Before the POC is validated the default tier is Claude (3); after, the small model (1).
    public var pocValidated = true
    /// Share (0–100) of the classifier's tier-1 decisions that stay on tier 1; the rest go to
    /// tier 3 as the control group (`rollout_control_group`).
    public var tier1Percentage = 100.0
    /// The same for tier 2.
    public var tier2Percentage = 100.0
    /// Per task type signals, maps and thresholds, from `[calibration]` (written by `cervella
    /// calibrate --write`); the `calibration` field of `cervella:config` replaces it live.
    public var calibration = CalibrationTable()
    /// How long a gateway job's answer can be rated (`POST /api/feedback`): its gate record's
    /// TTL, about 0.5 KB of Redis per gateway job. 0 keeps none (feedback is then refused).
    public var feedbackWindowSeconds = 86_400
    /// Deadline-aware routing: a small-tier job whose estimated queue wait (depth over the
    /// recent drain rate) exceeds this share of its timeout goes straight to Claude (reason
    /// `tier1_backlog`), leaving the rest of its time for the call. 0 turns it off. Read by
    /// gateways, which keep the estimate fresh.
    public var backlogDeadlineShare = 0.5
    /// The outcomes stream's cap (entries, approximate: `XADD MAXLEN ~`).
    public var outcomesMaxLength = 100_000

    public init() {}

    /// The report's rollout phases as presets: POC (all Claude), MVP, production, optimised.
    public enum Phase: String, Sendable, CaseIterable {
        case poc, mvp, production, optimised

        /// (poc_validated, tier-1 %, tier-2 %, tier 2 enabled)
        public var values: (pocValidated: Bool, tier1: Double, tier2: Double, tier2Enabled: Bool) {
            switch self {
            case .poc: return (false, 0, 0, false)
            case .mvp: return (true, 40, 0, false)
            case .production: return (true, 60, 20, true)
            case .optimised: return (true, 70, 20, true)
            }
        }
    }
}
