import Foundation
import JobProtocol

/// A gateway job's answer as the gate saw it, kept in `cervella:gate:<id>` for the feedback
/// window so that the key that submitted the job can rate it (`POST /api/feedback`), and the
/// rating becomes a labelled outcome with the answer's confidence features.
///
/// `features` is there only when the small model's answer was the one returned: a rating of a
/// Claude answer is counted, but says nothing about the small model's confidence.
public struct GateRecord: Sendable, Equatable {
    public var owner: String
    /// The tier and model whose answer the user got.
    public var tier: Int
    public var model: String
    public var taskType: String
    public var confidence: Double?
    public var features: ConfidenceFeatures?
    public var costUSD: Double?

    public init(
        owner: String, tier: Int, model: String, taskType: String, confidence: Double?, features: ConfidenceFeatures?, costUSD: Double? = nil
    ) {
        self.owner = owner
        self.tier = tier
        self.model = model
        self.taskType = taskType
        self.confidence = confidence
        self.features = features
        self.costUSD = costUSD
    }

    public func json() -> [UInt8] {
        var w = JSONWriter(capacity: 384)
        w.object { w in
            w.key("owner")
            w.string(owner)
            w.key("tier")
            w.int(tier)
            w.key("model")
            w.string(model)
            w.key("task_type")
            w.string(taskType)
            w.key("confidence")
            w.double(confidence)
            w.key("cost_usd")
            w.double(costUSD)
            if let features {
                w.key("features")
                features.write(to: &w)
            }
        }
        return w.bytes
    }

    /// Nil for anything that is not a record this code wrote.
    public static func parse(_ bytes: [UInt8]) -> GateRecord? {
        guard bytes.count <= 16_384, let value = JSONValue.read(bytes), case .object(let o) = value,
            let owner = o["owner"]?.stringValue, let tier = o["tier"]?.intValue, (1...3).contains(tier), let model = o["model"]?.stringValue,
            let taskType = o["task_type"]?.stringValue
        else { return nil }
        let confidence = o["confidence"]?.doubleValue.flatMap { $0.isFinite && (0...1).contains($0) ? $0 : nil }
        let cost = o["cost_usd"]?.doubleValue.flatMap { $0.isFinite && $0 >= 0 && $0 < 1e6 ? $0 : nil }
        var features: ConfidenceFeatures?
        if let raw = o["features"] {
            guard let parsed = try? LabelledOutcome.parseFeatures(raw) else { return nil }
            features = parsed
        }
        return GateRecord(owner: owner, tier: tier, model: model, taskType: taskType, confidence: confidence, features: features, costUSD: cost)
    }

    /// The labelled outcome a rating makes of this record; nil when the answer was not the
    /// small model's (nothing to learn about its confidence).
    public func outcome(jobID: String, good: Bool, score: Int?, comment: String?, at: Double) -> LabelledOutcome? {
        guard let features, tier == 1 || tier == 2 else { return nil }
        return LabelledOutcome(
            id: jobID, source: .feedback, at: at, tier: tier, model: model, taskType: taskType, features: features, confidence: confidence,
            good: good, score: score, smallCostUSD: costUSD, comment: comment)
    }
}
