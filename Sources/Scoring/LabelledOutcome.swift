import Foundation
import JobProtocol

/// "What the small model said, how sure it was, and whether it was right": one line of the
/// labelled-outcomes JSONL that `cervella poc`, the shadow sampler and user feedback write and
/// `cervella calibrate` reads (docs/ROUTING.md, "Labelled outcomes").
///
/// ```json
/// {"v":1,"id":"job-1","source":"shadow","at":1764582000.5,"tier":1,"model":"qwen3-4b",
///  "task_type":"simple_task_pattern_matched","confidence":0.82,
///  "features":{"tokens":41,"chars":180,"mean":0.91,"p25":0.8,"p10":0.45,"p05":0.3,"min":0.12,
///              "tail":0.33,"heuristic":1,"signals":[]},
///  "good":true,"score":4,"claude_good":true,"claude_score":5}
/// ```
/// A user's own evaluation imports as the same lines: `good` or `score` (1–5, good when ≥ 4) is
/// required, the rest is optional; a feature without logprobs leaves the token figures out.
public struct LabelledOutcome: Sendable, Equatable {
    public enum Source: String, Sendable, CaseIterable {
        case poc, shadow, feedback
        /// A user's own evaluation.
        case imported = "import"
    }

    public var id: String
    public var source: Source
    /// Unix seconds.
    public var at: Double
    public var tier: Int
    public var model: String
    /// The classifier's reason or the job's `metadata.task_type` tag.
    public var taskType: String
    public var features: ConfidenceFeatures
    /// The confidence the gate saw, when the outcome comes from a served job.
    public var confidence: Double?
    /// The small model's answer was good (a judge's score of 4 or 5, a thumbs up).
    public var good: Bool
    /// The judge's (or user's) 1–5 score, when there is one.
    public var score: Int?
    /// The same for Claude's answer to the same request, when known.
    public var claudeGood: Bool?
    public var claudeScore: Int?
    public var smallCostUSD: Double?
    public var claudeCostUSD: Double?
    /// A user's comment (feedback), at most `Self.maxComment` characters.
    public var comment: String?

    public init(
        id: String, source: Source, at: Double, tier: Int, model: String, taskType: String, features: ConfidenceFeatures,
        confidence: Double? = nil, good: Bool, score: Int? = nil, claudeGood: Bool? = nil, claudeScore: Int? = nil,
        smallCostUSD: Double? = nil, claudeCostUSD: Double? = nil, comment: String? = nil
    ) {
        self.id = id
        self.source = source
        self.at = at
        self.tier = tier
        self.model = model
        self.taskType = taskType
        self.features = features
        self.confidence = confidence
        self.good = good
        self.score = score
        self.claudeGood = claudeGood
        self.claudeScore = claudeScore
        self.smallCostUSD = smallCostUSD
        self.claudeCostUSD = claudeCostUSD
        self.comment = comment
    }

    /// A score of 4 or 5 is a pass, as in the report's POC rule.
    public static func isGood(score: Int) -> Bool { score >= 4 }

    public static let maxLineBytes = 65_536
    public static let maxComment = 2_000
    public static let maxName = 200
    /// Task types become metric labels and config keys: short and plain.
    public static let maxTaskType = 64

    // MARK: - JSON

    /// One JSONL line, without the newline.
    public func jsonLine() -> String {
        var writer = JSONWriter(capacity: 512)
        writer.object { w in
            w.key("v")
            w.int(1)
            w.key("id")
            w.string(id)
            w.key("source")
            w.string(source.rawValue)
            w.key("at")
            w.double(at)
            w.key("tier")
            w.int(tier)
            w.key("model")
            w.string(model)
            w.key("task_type")
            w.string(taskType)
            if let confidence {
                w.key("confidence")
                w.double(confidence)
            }
            w.key("features")
            features.write(to: &w)
            w.key("good")
            w.bool(good)
            // The optional fields, only when known.
            for (name, value) in [("score", score.map(Double.init)), ("claude_score", claudeScore.map(Double.init))] {
                if let value {
                    w.key(name)
                    w.int(Int(value))
                }
            }
            if let claudeGood {
                w.key("claude_good")
                w.bool(claudeGood)
            }
            for (name, value) in [("small_cost_usd", smallCostUSD), ("claude_cost_usd", claudeCostUSD)] {
                if let value {
                    w.key(name)
                    w.double(value)
                }
            }
            if let comment {
                w.key("comment")
                w.string(comment)
            }
        }
        return String(decoding: writer.bytes, as: UTF8.self)
    }

    /// Why a line is not a labelled outcome; the message names the field.
    public struct ParseError: Error, CustomStringConvertible, Equatable {
        public var description: String
        init(_ description: String) { self.description = description }
    }

    /// Parses and checks one line: every number in range, every string bounded.
    public static func parse(line: some StringProtocol) throws(ParseError) -> LabelledOutcome {
        let bytes = Array(line.utf8)
        guard bytes.count <= maxLineBytes else { throw ParseError("the line has \(bytes.count) bytes, over \(maxLineBytes)") }
        guard let value = JSONValue.read(bytes), case .object(let object) = value else { throw ParseError("not a JSON object") }
        return try parse(object)
    }

    static func parse(_ o: [String: JSONValue]) throws(ParseError) -> LabelledOutcome {
        if let v = o["v"], v.intValue != 1 { throw ParseError("v must be 1") }
        let id = try string(o, "id", max: maxName) ?? ""
        let source =
            try string(o, "source", max: 16).map { (raw: String) throws(ParseError) -> Source in
                guard let source = Source(rawValue: raw) else {
                    throw ParseError("source must be one of \(Source.allCases.map(\.rawValue).joined(separator: ", ")), not \(raw)")
                }
                return source
            } ?? .imported
        let at = try number(o, "at", in: 0...1e11) ?? 0
        let tier = try integer(o, "tier", in: 1...3) ?? 1
        let model = try string(o, "model", max: maxName) ?? ""
        let taskType = try string(o, "task_type", max: maxTaskType) ?? "*"
        guard !taskType.isEmpty, !taskType.contains("/") else { throw ParseError("task_type must be non-empty and without '/'") }
        let confidence = try number(o, "confidence", in: 0...1)
        let score = try integer(o, "score", in: 1...5)
        let good = try boolean(o, "good") ?? score.map(isGood(score:))
        guard let good else { throw ParseError("good (true/false) or score (1-5) is required") }
        let claudeScore = try integer(o, "claude_score", in: 1...5)
        let claudeGood = try boolean(o, "claude_good") ?? claudeScore.map(isGood(score:))
        let features = try parseFeatures(o["features"])
        return LabelledOutcome(
            id: id, source: source, at: at, tier: tier, model: model, taskType: taskType, features: features, confidence: confidence,
            good: good, score: score, claudeGood: claudeGood, claudeScore: claudeScore,
            smallCostUSD: try number(o, "small_cost_usd", in: 0...1e6), claudeCostUSD: try number(o, "claude_cost_usd", in: 0...1e6),
            comment: try string(o, "comment", max: maxComment))
    }

    static func parseFeatures(_ value: JSONValue?) throws(ParseError) -> ConfidenceFeatures {
        guard let value else { throw ParseError("features is required (at least heuristic, or the token figures)") }
        guard case .object(let f) = value else { throw ParseError("features must be an object") }
        let names = ["mean", "p25", "p10", "p05", "min", "tail"]
        var figures: [String: Double] = [:]
        for name in names {
            if let figure = try number(f, name, in: 0...1, prefix: "features.") { figures[name] = figure }
        }
        var probabilities: ConfidenceFeatures.TokenProbabilities?
        if !figures.isEmpty {
            guard let mean = figures["mean"] else { throw ParseError("features.mean is required with the other token figures") }
            // A user's evaluation may carry only the mean: the quantiles it lacks read as the mean.
            probabilities = .init(
                mean: mean, p25: figures["p25"] ?? mean, p10: figures["p10"] ?? mean, p05: figures["p05"] ?? mean, min: figures["min"] ?? mean,
                tail: figures["tail"] ?? mean)
        }
        let heuristic = try number(f, "heuristic", in: 0...1, prefix: "features.")
        guard probabilities != nil || heuristic != nil else { throw ParseError("features needs heuristic or mean") }
        var signals: [ConfidenceScorer.HeuristicSignal] = []
        if let raw = f["signals"] {
            guard case .array(let items) = raw, items.count <= ConfidenceScorer.HeuristicSignal.allCases.count else {
                throw ParseError("features.signals must be an array of signal names")
            }
            for item in items {
                guard let name = item.stringValue, let signal = ConfidenceScorer.HeuristicSignal(rawValue: name) else {
                    throw ParseError(
                        "features.signals holds an unknown signal; known: \(ConfidenceScorer.HeuristicSignal.allCases.map(\.rawValue).joined(separator: ", "))"
                    )
                }
                signals.append(signal)
            }
        }
        return ConfidenceFeatures(
            tokens: try integer(f, "tokens", in: 0...10_000_000, prefix: "features.") ?? 0,
            chars: try integer(f, "chars", in: 0...100_000_000, prefix: "features.") ?? 0, probabilities: probabilities,
            heuristic: heuristic ?? 1, signals: signals)
    }

    private static func string(_ o: [String: JSONValue], _ key: String, max: Int) throws(ParseError) -> String? {
        guard let value = o[key], value != .null else { return nil }
        guard let text = value.stringValue else { throw ParseError("\(key) must be a string") }
        guard text.count <= max else { throw ParseError("\(key) is over \(max) characters") }
        return text
    }

    private static func number(_ o: [String: JSONValue], _ key: String, in range: ClosedRange<Double>, prefix: String = "") throws(ParseError)
        -> Double?
    {
        guard let value = o[key], value != .null else { return nil }
        guard let number = value.doubleValue, number.isFinite, range.contains(number) else {
            throw ParseError("\(prefix)\(key) must be a number in \(range.lowerBound)...\(range.upperBound)")
        }
        return number
    }

    private static func integer(_ o: [String: JSONValue], _ key: String, in range: ClosedRange<Int>, prefix: String = "") throws(ParseError)
        -> Int?
    {
        guard let value = o[key], value != .null else { return nil }
        guard let number = value.doubleValue, number.isFinite, number.rounded() == number, Double(range.lowerBound) <= number,
            number <= Double(range.upperBound)
        else { throw ParseError("\(prefix)\(key) must be a whole number in \(range.lowerBound)...\(range.upperBound)") }
        return Int(number)
    }

    private static func boolean(_ o: [String: JSONValue], _ key: String) throws(ParseError) -> Bool? {
        guard let value = o[key], value != .null else { return nil }
        guard case .bool(let flag) = value else { throw ParseError("\(key) must be true or false") }
        return flag
    }
}
