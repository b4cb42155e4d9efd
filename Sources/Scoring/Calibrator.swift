import Foundation
import JobProtocol
import Settings

/// `cervella calibrate`: from labelled outcomes to a calibration table, with the figures that
/// say whether to trust it (docs/ROUTING.md, "Calibration").
///
/// Per tier, one group for all its outcomes (`<tier>/*`) and one per task type with at least
/// `minSamples` outcomes. In each group: the signal that best tells good answers from bad
/// (AUROC), an isotonic map from it to "the probability that the answer is good", and the
/// threshold for the target. Outcomes are split into a fitting part and a held-out part by a
/// hash of their id, so the figures reported for the held-out part are those of the table
/// that is applied.
public struct Calibrator: Sendable {
    public enum Target: Sendable, Equatable {
        /// The share of each task type's requests to send to Claude.
        case fallbackRate(Double)
        /// The share of always-Claude's good answers to keep, as cheaply as possible.
        case quality(Double)
    }

    public var target: Target
    /// Share of outcomes kept out of fitting to measure the table on.
    public var holdoutShare = 0.3
    /// Outcomes a task type needs for an entry of its own; fewer use the tier's `*` entry.
    public var minSamples = 50
    /// The signals each tier may use (its `confidence_method`); all when a tier is missing.
    public var allowedSignals: [Int: [ConfidenceSignal]] = [:]
    /// Costs of one request when an outcome does not say (tier 1's GPU share, Claude's tokens).
    public var defaultSmallCostUSD = 0.0003
    public var defaultClaudeCostUSD = 0.0051

    public init(target: Target) {
        self.target = target
    }

    /// The signals a tier's `confidence_method` lets the gate read: `auto` any of them (the
    /// calibrated best), `logprobs` the token-probability ones, `heuristic` the heuristic; none
    /// for `self_eval` and `none`, which calibration leaves alone.
    public static func signals(for method: TierSettings.ConfidenceMethod) -> [ConfidenceSignal] {
        switch method {
        case .auto: return ConfidenceSignal.allCases
        case .logprobs: return ConfidenceSignal.allCases.filter { $0.needsLogprobs && $0 != .combined }
        case .heuristic: return [.heuristic]
        case .selfEval, .none: return []
        }
    }

    /// One group's fit and figures.
    public struct Group: Sendable {
        public var key: String
        public var samples: Int
        public var fitted: Int
        public var heldOut: Int
        /// Share of good small-model answers in the group.
        public var goodRate: Double
        /// AUROC of every signal the group could use, on the fitting part.
        public var auroc: [ConfidenceSignal: Double]
        public var entry: CalibrationTable.Entry
        /// ECE of the confidence as the gate saw it (the outcome's `confidence`, else the
        /// uncalibrated `combined` or heuristic), and of the calibrated signal; on the
        /// held-out part (the fitting part when nothing is held out).
        public var eceBefore: Double
        public var eceAfter: Double
        /// Fallback rate on the fitting part (expected) and on the held-out part (realised).
        public var expectedFallbackRate: Double
        public var heldOutFallbackRate: Double?
        /// Share of good answers with the gate, and with every request on Claude.
        public var quality: Double
        public var claudeQuality: Double
        /// Cost saved against sending every request to Claude, as a share.
        public var saving: Double
    }

    public struct Report: Sendable {
        public var groups: [Group]
        public var table: CalibrationTable
        /// Groups left out, with why.
        public var skipped: [String: String]
        public var outcomes: Int
    }

    public func fit(_ outcomes: [LabelledOutcome]) -> Report {
        var groups: [Group] = []
        var skipped: [String: String] = [:]
        var table = CalibrationTable()
        let byTier = Dictionary(grouping: outcomes.filter { $0.tier == 1 || $0.tier == 2 }, by: \.tier)
        for tier in byTier.keys.sorted() {
            let tierOutcomes = byTier[tier]!
            let allowed = allowedSignals[tier] ?? ConfidenceSignal.allCases
            if allowed.isEmpty {
                skipped["\(tier)/*"] = "tier \(tier)'s confidence_method is not calibrated (self_eval or none)"
                continue
            }
            var keyed: [(String, [LabelledOutcome])] = [("\(tier)/*", tierOutcomes)]
            let byType = Dictionary(grouping: tierOutcomes, by: \.taskType)
            for type in byType.keys.sorted() where type != "*" {
                if byType[type]!.count >= minSamples {
                    keyed.append(("\(tier)/\(type)", byType[type]!))
                } else {
                    skipped["\(tier)/\(type)"] = "\(byType[type]!.count) outcomes, under \(minSamples): the tier's * entry serves it"
                }
            }
            for (key, members) in keyed {
                switch fitGroup(key: key, members, allowed: allowed) {
                case .success(let group):
                    groups.append(group)
                    table.entries[key] = group.entry
                case .failure(let reason):
                    skipped[key] = reason.description
                }
            }
        }
        for outcome in outcomes where outcome.tier == 3 {
            skipped["3/*"] = "tier 3 (Claude) has no gate to calibrate; \(outcome.model) outcomes are ignored"
            break
        }
        return Report(groups: groups, table: table, skipped: skipped, outcomes: outcomes.count)
    }

    struct Skip: Error, CustomStringConvertible {
        var description: String
    }

    func fitGroup(key: String, _ members: [LabelledOutcome], allowed: [ConfidenceSignal]) -> Result<Group, Skip> {
        guard members.count >= 2 else { return .failure(Skip(description: "\(members.count) outcome: too few to fit")) }
        var fitting: [LabelledOutcome] = []
        var held: [LabelledOutcome] = []
        for (index, outcome) in members.enumerated() {
            if isHeldOut(outcome, index: index) { held.append(outcome) } else { fitting.append(outcome) }
        }
        if fitting.count < 2 { (fitting, held) = (members, []) }

        // The signals every fitting outcome has (logprob signals need logprobs on all of them).
        let usable = allowed.filter { signal in fitting.allSatisfy { $0.features.value(signal) != nil } }
        guard !usable.isEmpty else {
            return .failure(Skip(description: "the allowed signals need token logprobs and some outcomes have none"))
        }
        let good = fitting.map(\.good)
        var aurocs: [ConfidenceSignal: Double] = [:]
        for signal in usable {
            aurocs[signal] = CalibrationMath.auroc(scores: fitting.map { $0.features.value(signal)! }, good: good)
        }
        // The best separator; without both classes, the gate's default reading.
        let signal =
            usable.max { (aurocs[$0] ?? -1) < (aurocs[$1] ?? -1) || ((aurocs[$0] ?? -1) == (aurocs[$1] ?? -1) && rank($0) > rank($1)) }!
        let raw = fitting.map { $0.features.value(signal)! }
        let map = CalibrationMath.isotonicMap(raw: raw, good: good)
        var entry = CalibrationTable.Entry(signal: signal, threshold: 0, map: map)
        var claudeQuality = 0.0
        switch target {
        case .fallbackRate(let rate):
            entry.threshold = CalibrationMath.threshold(fallbackRate: rate, raw: raw)
            entry.targetFallbackRate = rate
        case .quality(let share):
            entry.threshold = CalibrationMath.threshold(qualityShare: share, raw: raw, good: good, claudeGood: fitting.map(\.claudeGood)).threshold
        }
        // Nine decimals, as worker.toml keeps it.
        entry.threshold = (entry.threshold * 1e9).rounded() / 1e9
        // Figures on the held-out part when there is one that has the signal.
        let measured = held.filter { $0.features.value(signal) != nil }
        let sample = measured.isEmpty ? fitting : measured
        let sampleRaw = sample.map { $0.features.value(signal)! }
        let sampleGood = sample.map(\.good)
        let before = sample.map { $0.confidence ?? $0.features.value(.combined) ?? $0.features.heuristic }
        let routed = CalibrationMath.threshold(qualityShare: 0, raw: sampleRaw, good: sampleGood, claudeGood: sample.map(\.claudeGood))
        claudeQuality = routed.claudeQuality
        let knownClaude = sample.compactMap(\.claudeGood)
        let claudeRate = knownClaude.isEmpty ? 1 : Double(knownClaude.filter { $0 }.count) / Double(knownClaude.count)
        var quality = 0.0
        var smallCost = 0.0
        var claudeCost = 0.0
        var fallbackCount = 0
        for (outcome, value) in zip(sample, sampleRaw) {
            let claude = outcome.claudeCostUSD ?? defaultClaudeCostUSD
            claudeCost += claude
            smallCost += outcome.smallCostUSD ?? defaultSmallCostUSD
            if value < entry.threshold {
                fallbackCount += 1
                smallCost += claude
                quality += outcome.claudeGood.map { $0 ? 1 : 0 } ?? claudeRate
            } else {
                quality += outcome.good ? 1 : 0
            }
        }
        let n = Double(sample.count)
        let expected = Double(raw.filter { $0 < entry.threshold }.count) / Double(raw.count)
        return .success(
            Group(
                key: key, samples: members.count, fitted: fitting.count, heldOut: measured.count,
                goodRate: Double(members.filter(\.good).count) / Double(members.count), auroc: aurocs, entry: entry,
                eceBefore: CalibrationMath.expectedCalibrationError(probabilities: before, good: sampleGood),
                eceAfter: CalibrationMath.expectedCalibrationError(probabilities: sampleRaw.map(entry.calibrated), good: sampleGood),
                expectedFallbackRate: expected, heldOutFallbackRate: measured.isEmpty ? nil : Double(fallbackCount) / n, quality: quality / n,
                claudeQuality: claudeQuality, saving: claudeCost > 0 ? 1 - smallCost / claudeCost : 0))
    }

    /// Ties between signals go to the simpler reading: the enum's order.
    private func rank(_ signal: ConfidenceSignal) -> Int { ConfidenceSignal.allCases.firstIndex(of: signal) ?? 0 }

    /// Whether an outcome is in the held-out part: FNV-1a of its id and position, so the split is
    /// the same from run to run and does not follow the file's order.
    func isHeldOut(_ outcome: LabelledOutcome, index: Int) -> Bool {
        guard holdoutShare > 0 else { return false }
        return Double(StableHash.of("\(outcome.id)#\(index)") % 10_000) < holdoutShare * 10_000
    }
}
