import Foundation
import Synchronization

/// The simulator's Message Batches, in memory: each entry's outcome is decided when the batch
/// is created, and the clock decides when the batch is seen to end.
///
/// A real batch's entries are answered one by one over up to 24 hours; a test only needs the
/// wire to behave like it: `in_progress` with every entry `processing` until
/// `batchProcessingSeconds` have passed, then `ended` with the counts by outcome and the
/// results readable. A batch whose processing would outlast `batchExpirySeconds` ends at its
/// expiry with every entry not already `errored` `expired`, as Anthropic's do.
final class MessageBatchStore: Sendable {
    /// How one entry ends.
    enum Outcome: Sendable {
        case succeeded(JSONValue)
        /// The `error` object of an `errored` result (Anthropic's error response shape).
        case errored(JSONValue)
        case expired
        case canceled

        var name: String {
            switch self {
            case .succeeded: "succeeded"
            case .errored: "errored"
            case .expired: "expired"
            case .canceled: "canceled"
            }
        }
    }

    struct Entry: Sendable {
        var customID: String
        var outcome: Outcome
    }

    struct Batch: Sendable {
        var id: String
        var createdAt: Double
        var endsAt: Double
        var expiresAt: Double
        var cancelInitiatedAt: Double?
        var entries: [Entry]
    }

    /// The most batches kept; the oldest go first (the simulator is not an archive).
    static let maxBatches = 1_000

    private let batches = Mutex<[String: Batch]>([:])

    /// Adds a batch; its id is returned.
    func create(entries: [Entry], processingSeconds: Double, expirySeconds: Double, now: Double = Date().timeIntervalSince1970) -> Batch {
        let batch = Batch(
            id: "msgbatch_01" + AnthropicRoutes.randomBase62(22), createdAt: now, endsAt: now + processingSeconds,
            expiresAt: now + expirySeconds, cancelInitiatedAt: nil, entries: entries)
        batches.withLock { batches in
            if batches.count >= Self.maxBatches, let oldest = batches.values.min(by: { $0.createdAt < $1.createdAt }) {
                batches[oldest.id] = nil
            }
            batches[batch.id] = batch
        }
        return batch
    }

    func batch(_ id: String) -> Batch? { batches.withLock { $0[id] } }

    /// Every batch, newest first.
    var all: [Batch] { batches.withLock { Array($0.values) }.sorted { $0.createdAt > $1.createdAt } }

    /// Starts cancelling a batch that has not ended: its entries end `canceled`. Nil for an
    /// unknown id.
    func cancel(_ id: String, now: Double = Date().timeIntervalSince1970) -> Batch? {
        batches.withLock { batches in
            guard var batch = batches[id] else { return nil }
            if batch.cancelInitiatedAt == nil, Self.endedAt(batch, now: now) == nil {
                batch.cancelInitiatedAt = now
                batch.entries = batch.entries.map { entry in
                    if case .errored = entry.outcome { return entry }
                    return Entry(customID: entry.customID, outcome: .canceled)
                }
                batches[id] = batch
            }
            return batch
        }
    }

    /// When the batch ended, nil while it is processing.
    static func endedAt(_ batch: Batch, now: Double) -> Double? {
        if let cancelled = batch.cancelInitiatedAt { return cancelled }
        let end = min(batch.endsAt, batch.expiresAt)
        return now >= end ? end : nil
    }

    /// The entries as they read once the batch ended: unfinished ones expired at the expiry.
    static func results(_ batch: Batch) -> [Entry] {
        guard batch.cancelInitiatedAt == nil, batch.endsAt > batch.expiresAt else { return batch.entries }
        return batch.entries.map { entry in
            if case .errored = entry.outcome { return entry }
            return Entry(customID: entry.customID, outcome: .expired)
        }
    }

    /// The `message_batch` object Anthropic's API returns for a batch.
    static func json(_ batch: Batch, resultsBase: String, now: Double = Date().timeIntervalSince1970) -> JSONValue {
        let ended = endedAt(batch, now: now)
        var counts = ["processing": 0, "succeeded": 0, "errored": 0, "canceled": 0, "expired": 0]
        if ended == nil {
            counts["processing"] = batch.entries.count
        } else {
            for entry in results(batch) { counts[entry.outcome.name, default: 0] += 1 }
        }
        let status = ended == nil ? "in_progress" : "ended"
        return [
            "id": .string(batch.id), "type": "message_batch", "processing_status": .string(status),
            "request_counts": [
                "processing": .int(counts["processing"] ?? 0), "succeeded": .int(counts["succeeded"] ?? 0),
                "errored": .int(counts["errored"] ?? 0), "canceled": .int(counts["canceled"] ?? 0), "expired": .int(counts["expired"] ?? 0),
            ],
            "ended_at": .optional(ended.map(timestamp)), "created_at": .string(timestamp(batch.createdAt)),
            "expires_at": .string(timestamp(batch.expiresAt)), "archived_at": nil,
            "cancel_initiated_at": .optional(batch.cancelInitiatedAt.map(timestamp)),
            "results_url": .optional(ended == nil ? nil : "\(resultsBase)/v1/messages/batches/\(batch.id)/results"),
        ]
    }

    /// One line of a batch's results file.
    static func resultLine(_ entry: Entry) -> String {
        let result: JSONValue
        switch entry.outcome {
        case .succeeded(let message): result = ["type": "succeeded", "message": message]
        case .errored(let error): result = ["type": "errored", "error": error]
        case .expired: result = ["type": "expired"]
        case .canceled: result = ["type": "canceled"]
        }
        return JSONValue.object([("custom_id", .string(entry.customID)), ("result", result)]).serialized()
    }

    /// RFC 3339, as Anthropic writes times.
    static func timestamp(_ seconds: Double) -> String {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return formatter.string(from: Date(timeIntervalSince1970: seconds))
    }
}
