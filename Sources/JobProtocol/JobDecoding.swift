import Foundation

/// Turns a queue element into a `Job`, or into an error that says what is wrong with it.
public enum JobDecoding {
    /// Why a payload is not a usable job; `replyTo` is set when a reply key could still be read,
    /// so that the producer gets an error result instead of waiting for its deadline.
    public struct Failure: Error, Sendable, Equatable {
        public var reason: String
        public var jobID: String?
        public var replyTo: String?
    }

    public static func decode(_ payload: [UInt8], keys: KeySpace) -> Result<Job, Failure> {
        let data = Data(payload)
        guard String(validating: payload, as: UTF8.self) != nil else {
            return .failure(Failure(reason: "payload is not valid UTF-8", jobID: nil, replyTo: nil))
        }
        // Only a payload that fails to decode needs its id and reply key read the slow way.
        var salvage: (id: String?, replyTo: String?) { salvageIdentity(data, keys: keys) }
        let job: Job
        do {
            job = try Job(json: payload) ?? JSONDecoder().decode(Job.self, from: data)
        } catch let error as DecodingError {
            return .failure(Failure(reason: describe(error), jobID: salvage.id, replyTo: salvage.replyTo))
        } catch {
            return .failure(Failure(reason: "payload is not JSON: \(error)", jobID: salvage.id, replyTo: salvage.replyTo))
        }
        var fixed = job
        if fixed.v != Job.version {
            return .failure(Failure(reason: "unsupported job version v=\(job.v); this worker reads v=\(Job.version)", jobID: job.id, replyTo: fixed.replyTo.isEmpty ? keys.reply(job.id) : (keys.isReplyKey(fixed.replyTo) ? fixed.replyTo : nil)))
        }
        if fixed.id.isEmpty || fixed.id.utf8.count > 200 {
            return .failure(Failure(reason: "field 'id' must be 1 to 200 bytes", jobID: nil, replyTo: nil))
        }
        if fixed.replyTo.isEmpty { fixed.replyTo = keys.reply(fixed.id) }
        guard keys.isReplyKey(fixed.replyTo) else {
            return .failure(Failure(reason: "field 'reply_to' must be a key under '\(keys.prefix):reply:'", jobID: job.id, replyTo: nil))
        }
        if fixed.messages.isEmpty {
            return .failure(Failure(reason: "field 'messages' is empty; a job needs at least one message", jobID: job.id, replyTo: fixed.replyTo))
        }
        return .success(fixed)
    }

    /// Reads `id` and `reply_to` from a payload that failed to decode as a whole.
    private static func salvageIdentity(_ data: Data, keys: KeySpace) -> (id: String?, replyTo: String?) {
        guard let object = try? JSONSerialization.jsonObject(with: data, options: [.fragmentsAllowed]) as? [String: Any] else {
            return (nil, nil)
        }
        let id = object["id"] as? String
        var replyTo = (object["reply_to"] as? String).flatMap { $0.isEmpty ? nil : $0 }
        if replyTo == nil, let id { replyTo = keys.reply(id) }
        if let candidate = replyTo, !keys.isReplyKey(candidate) { replyTo = nil }
        return (id, replyTo)
    }

    private static func describe(_ error: DecodingError) -> String {
        func path(_ context: DecodingError.Context) -> String {
            let joined = context.codingPath.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }.joined(separator: ".")
            return joined.isEmpty ? "the payload" : "field '\(joined)'"
        }
        switch error {
        case .keyNotFound(let key, let context):
            let parent = context.codingPath.isEmpty ? "" : " in \(path(context))"
            return "missing required field '\(key.stringValue)'\(parent)"
        case .typeMismatch(let type, let context):
            return "\(path(context)) has the wrong type (expected \(type))"
        case .valueNotFound(let type, let context):
            return "\(path(context)) is null (expected \(type))"
        case .dataCorrupted(let context):
            return context.codingPath.isEmpty ? "payload is not valid JSON" : "\(path(context)) is invalid: \(context.debugDescription)"
        @unknown default:
            return "payload could not be decoded"
        }
    }
}
