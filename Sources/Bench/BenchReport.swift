import Foundation

/// One scenario's figures: each measured value beside the baseline it is compared with.
public struct ScenarioReport: Sendable, Encodable {
    public struct Row: Sendable, Encodable {
        public var metric: String
        public var value: Double
        public var unit: String
        /// What the value is compared with, measured in the same run.
        public var baselineName: String?
        public var baseline: Double?
        /// The target from docs/BENCHMARKS.md, written as text ("≥ 15000", "≤ 1 ms").
        public var target: String?
        /// Whether the target was met; nil when the row has no target.
        public var met: Bool?

        public var ratio: Double? {
            guard let baseline, baseline != 0 else { return nil }
            return value / baseline
        }

        enum CodingKeys: String, CodingKey { case metric, value, unit, baselineName = "baseline_name", baseline, ratio, target, met }

        public func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(metric, forKey: .metric)
            try container.encode(value, forKey: .value)
            try container.encode(unit, forKey: .unit)
            try container.encodeIfPresent(baselineName, forKey: .baselineName)
            try container.encodeIfPresent(baseline, forKey: .baseline)
            try container.encodeIfPresent(ratio, forKey: .ratio)
            try container.encodeIfPresent(target, forKey: .target)
            try container.encodeIfPresent(met, forKey: .met)
        }
    }

    public var scenario: String
    /// The scenario's parameters, as written on the command line.
    public var parameters: [String: String]
    public var rows: [Row] = []
    public var notes: [String] = []

    public init(scenario: String, parameters: [String: String]) {
        self.scenario = scenario
        self.parameters = parameters
    }

    mutating func add(_ metric: String, _ value: Double, _ unit: String, baseline: (String, Double)? = nil, target: String? = nil, met: Bool? = nil) {
        rows.append(Row(metric: metric, value: value, unit: unit, baselineName: baseline?.0, baseline: baseline?.1, target: target, met: met))
    }

    /// A plain-text table, one row per figure.
    public func table() -> String {
        var lines = ["== \(scenario) (\(parameters.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")))"]
        let header = ["metric", "value", "baseline (same run)", "ratio", "target", ""]
        var cells = [header]
        for row in rows {
            cells.append([
                row.metric,
                Self.format(row.value, row.unit),
                row.baseline.map { "\(Self.format($0, row.unit)) \(row.baselineName ?? "")" } ?? "-",
                row.ratio.map { Self.formatRatio($0) } ?? "-",
                row.target ?? "-",
                row.met.map { $0 ? "met" : "MISSED" } ?? "",
            ])
        }
        let widths = header.indices.map { column in cells.map { $0[column].count }.max() ?? 0 }
        for row in cells {
            lines.append(
                zip(row, widths).map { $0.padding(toLength: $1, withPad: " ", startingAt: 0) }.joined(separator: "  ").trimmingCharacters(
                    in: .whitespaces))
        }
        lines += notes.map { "  note: \($0)" }
        return lines.joined(separator: "\n")
    }

    static func format(_ value: Double, _ unit: String) -> String {
        switch unit {
        case "ms": return value < 10 ? String(format: "%.2f ms", value) : String(format: "%.1f ms", value)
        case "MB": return String(format: "%.1f MB", value)
        case "connections": return "\(Int(value.rounded())) \(unit)"
        case "": return String(format: "%.2f", value)
        default: return value >= 100 ? "\(Int(value.rounded())) \(unit)" : String(format: "%.2f \(unit)", value)
        }
    }

    static func formatRatio(_ ratio: Double) -> String {
        ratio >= 10 ? String(format: "%.0f×", ratio) : String(format: "%.2f×", ratio)
    }
}

public struct BenchRun: Sendable, Encodable {
    public var startedAt: String
    public var host: String
    public var cores: Int
    public var build: String
    public var redis: String
    public var scenarios: [ScenarioReport]

    enum CodingKeys: String, CodingKey { case startedAt = "started_at", host, cores, build, redis, scenarios }

    public init(startedAt: String, host: String, cores: Int, build: String, redis: String, scenarios: [ScenarioReport]) {
        self.startedAt = startedAt
        self.host = host
        self.cores = cores
        self.build = build
        self.redis = redis
        self.scenarios = scenarios
    }
}
