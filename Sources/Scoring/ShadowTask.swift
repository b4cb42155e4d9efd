import Foundation
import JobProtocol

/// A sampled small-model answer waiting to be shadowed: the conversation it answered, the
/// answer, and the labelled outcome it will become once Claude has judged it (`good` is filled
/// in then). Kept in `cervella:shadow` until a worker finds the small tier idle.
public struct ShadowTask: Codable, Sendable, Equatable {
    public var messages: [ChatMessage]
    public var answer: String
    public var expectedFormat: String?
    /// The outcome line, `good: false` until judged.
    public var outcome: String

    enum CodingKeys: String, CodingKey {
        case messages, answer, outcome
        case expectedFormat = "expected_format"
    }

    public init(messages: [ChatMessage], answer: String, expectedFormat: String?, outcome: LabelledOutcome) {
        self.messages = messages
        self.answer = answer
        self.expectedFormat = expectedFormat
        self.outcome = outcome.jsonLine()
    }

    public func json() -> [UInt8] { Array((try? JSONEncoder().encode(self)) ?? Data()) }

    /// Nil for anything that is not a task this code wrote, or whose outcome does not parse.
    public static func parse(_ bytes: [UInt8], maxBytes: Int) -> (task: ShadowTask, outcome: LabelledOutcome)? {
        guard bytes.count <= maxBytes * 2 + 65_536, let task = try? JSONDecoder().decode(ShadowTask.self, from: Data(bytes)),
            let outcome = try? LabelledOutcome.parse(line: task.outcome)
        else { return nil }
        return (task, outcome)
    }

    /// The conversation as the judge reads it: one block per message, its role and its text.
    public var transcript: String {
        messages.map { "[\($0.role)]\n\($0.text)" }.joined(separator: "\n\n")
    }

    /// Whether a job is sampled at `rate`: a hash of its id, so that a retried job is sampled
    /// the same way, and any share is exact over many ids.
    public static func isSampled(jobID: String, rate: Double) -> Bool {
        guard rate > 0 else { return false }
        guard rate < 1 else { return true }
        return Double(StableHash.of("shadow:\(jobID)") % 1_000_000) < rate * 1_000_000
    }
}
