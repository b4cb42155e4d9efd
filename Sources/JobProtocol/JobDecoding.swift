import Foundation

/// Turns a queue element into a `Job`, or into an error that says what is wrong with it.
public enum JobDecoding {
    /// Why a payload is not a usable job; `replyTo` is set when a reply key could still be read,
    /// so that the producer gets an error result instead of waiting for its deadline.
    public struct Failure: Error, Sendable, Equatable {
        public var reason: String
        public var jobID: String?
        public var replyTo: String?
        /// The job group it names, so that the group counts it as failed.
        public var group: String?

        public init(reason: String, jobID: String?, replyTo: String?, group: String? = nil) {
            self.reason = reason
            self.jobID = jobID
            self.replyTo = replyTo
            self.group = group
        }
    }

    public static func decode(_ payload: [UInt8], keys: KeySpace) -> Result<Job, Failure> {
        // One reading of the identity serves every failure and the reference decoder, so no two
        // paths can disagree about which job a payload is. The fast reader needs none: it
        // refuses repeated keys, so the id it reads is the only one. Read on demand, as it
        // scans the whole payload.
        var identityRead: Identity?
        func identity() -> Identity {
            if let identityRead { return identityRead }
            let read = Identity(payload, keys: keys)
            identityRead = read
            return read
        }
        func failure(_ reason: String) -> Result<Job, Failure> {
            .failure(Failure(reason: reason, jobID: identity().id, replyTo: identity().replyTo, group: identity().group))
        }
        guard payload.count <= JobLimits.maxPayloadBytes else {
            return failure("payload is \(payload.count) bytes; a job may have at most \(JobLimits.maxPayloadBytes)")
        }
        guard String(validating: payload, as: UTF8.self) != nil else {
            return .failure(Failure(reason: "payload is not valid UTF-8", jobID: nil, replyTo: nil))
        }
        var job: Job
        do {
            if let fast = Job(json: payload) {
                job = fast
            } else {
                if let problem = identity().problem { return failure(problem) }
                job = try JSONDecoder().decode(Job.self, from: Data(payload))
            }
        } catch let error as DecodingError {
            if let number = JSONValue.outOfRangeNumber(payload) {
                return failure("field '\(number.path)' holds \(number.literal), a number out of range for JSON")
            }
            if let field = nonIntegerField(payload) {
                return failure("field '\(field)' must be a whole number within 64 bits")
            }
            return failure(describe(error))
        } catch {
            return failure("payload is not JSON: \(error)")
        }
        if job.id.isEmpty || job.id.utf8.count > JobLimits.maxIDLength {
            return .failure(Failure(reason: "field 'id' must be a string of 1 to 200 bytes", jobID: nil, replyTo: nil))
        }
        if job.v != Job.version {
            return failure("unsupported job version v=\(job.v); this worker reads v=\(Job.version)")
        }
        if job.replyTo.isEmpty { job.replyTo = keys.reply(job.id) }
        guard keys.isReplyKey(job.replyTo) else {
            return failure("field 'reply_to' must be a key under '\(keys.prefix):reply:'")
        }
        if job.messages.isEmpty {
            return failure("field 'messages' is empty; a job needs at least one message")
        }
        if let problem = JobLimits.violation(in: job) { return failure(problem) }
        return .success(job)
    }

    /// A payload's `id` and reply key, read from its top level alone (see
    /// `JSONValue.topLevelStrings`), whatever the rest holds.
    struct Identity {
        var id: String?
        var replyTo: String?
        var group: String?
        /// Set when the identity itself is unusable (missing, repeated, too long).
        var problem: String?

        init(_ payload: [UInt8], keys: KeySpace) {
            let found = JSONValue.topLevelStrings(payload, wanted: ["id", "reply_to", "group"])
            if let groups = found["group"], groups.count == 1, let group = groups[0], !group.isEmpty,
                group.utf8.count <= JobLimits.maxIDLength, !group.contains(":")
            {
                self.group = group
            }
            let ids = found["id"] ?? []
            let replies = found["reply_to"] ?? []
            if ids.count > 1 || replies.count > 1 {
                problem = "field '\(ids.count > 1 ? "id" : "reply_to")' appears more than once; a job names one"
                return
            }
            guard let first = ids.first else {
                problem = nil  // decoding reports the missing field in its own words
                return
            }
            guard let id = first, !id.isEmpty, id.utf8.count <= 200 else {
                problem = "field 'id' must be a string of 1 to 200 bytes"
                return
            }
            self.id = id
            switch replies.first {
            case nil, .some(nil): replyTo = keys.reply(id)
            case .some(let key?): replyTo = key.isEmpty ? keys.reply(id) : (keys.isReplyKey(key) ? key : nil)
            }
        }
    }

    /// JSONDecoder refuses `"attempt": 1e300` or `2^63` as a whole document ("not valid JSON");
    /// this names the integer field that holds such a number.
    private static func nonIntegerField(_ payload: [UInt8]) -> String? {
        guard case .object(let root)? = JSONValue.parse(payload) else { return nil }
        func isBadInteger(_ value: JSONValue?) -> Bool {
            if case .number? = value { return true }
            return false
        }
        for key in ["v", "attempt"] where isBadInteger(root[key]) { return key }
        for (parent, key) in [("params", "max_tokens"), ("route", "tier"), ("fallback_from", "tier"), ("fallback_from", "latency_ms")] {
            if case .object(let fields)? = root[parent], isBadInteger(fields[key]) { return "\(parent).\(key)" }
        }
        return nil
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
