import Foundation
import JobProtocol
import RedisClient

/// How a job group ends (docs/PROTOCOL.md, "Job groups").
public struct GroupSpec: Sendable, Equatable {
    public enum Wait: Sendable, Equatable {
        /// Every child ends.
        case all
        /// `n` children succeed; the rest are cancelled.
        case firstN(Int)
    }

    public enum OnFailure: String, Sendable, Equatable {
        /// The first failed child ends the group (`group_failed`) and cancels the rest.
        case failFast = "fail_fast"
        /// Failed children are counted; the group goes on.
        case `continue`
    }

    public var wait: Wait
    public var onFailure: OnFailure
    /// The lane of every child: `bulk` by default, so that a group does not slow interactive
    /// chat down (docs/PROTOCOL.md, "Lanes").
    public var priority: JobPriority

    public init(wait: Wait = .all, onFailure: OnFailure = .continue, priority: JobPriority = .bulk) {
        self.wait = wait
        self.onFailure = onFailure
        self.priority = priority
    }

    /// `all` or `first_n`.
    public var waitName: String {
        if case .firstN = wait { return "first_n" }
        return "all"
    }

    /// The `n` of `first_n`; the number of children for `all`.
    func n(children: Int) -> Int {
        if case .firstN(let n) = wait { return n }
        return children
    }
}

/// A group of jobs submitted together, whose result a coordinator waits for on one key.
public struct JobGroup: Sendable {
    public let id: String
    /// `<prefix>:reply:<group-id>`: the group's result, like a job's.
    public let replyTo: String
    public let createdAt: Double
    /// Every child's deadline too.
    public let deadlineAt: Double
    public let spec: GroupSpec
    /// In order; each names the group (`Job.group`) and has the group's deadline.
    public let children: [Job]
}

/// A group's state: its result once done (the JSON on its reply list), or its progress.
public struct GroupReport: Sendable, Equatable {
    public var id: String
    /// `open` or `done`.
    public var state: String
    /// Set once done: whether the group's wait was met (`all`: every child ended, and none
    /// failed under `fail_fast`; `first_n`: n succeeded).
    public var ok: Bool?
    public var error: ResultError?
    /// Why it ended: `all_ended`, `first_n_reached`, `first_n_unreachable`, `child_failed`,
    /// `cancelled`, or `deadline_exceeded` when the coordinator stopped waiting.
    public var reason: String?
    public var total: Int
    public var succeeded: Int
    public var failed: Int
    public var cancelled: Int
    /// Children not ended (for a done group: those its completion cancelled).
    public var pending: Int
    public var wait: String
    public var n: Int
    public var onFailure: String
    /// The ended children's results, in the group's order.
    public var results: [JobResult]
    /// Children the group's completion cancelled before they ended.
    public var cancelledChildren: [String]
}

/// What `cancelGroup` did.
public enum GroupCancellation: Sendable, Equatable {
    case unknown
    case alreadyEnded
    case cancelled
}

extension Producer {
    /// Builds a group of `children` (made by `makeJob`): each is marked as the group's and
    /// given its deadline. Throws `GroupError` for an empty or oversized group or an `n` out of
    /// range.
    public func makeGroup(_ children: [Job], spec: GroupSpec = .init(), timeoutSeconds: Double? = nil) throws(GroupError) -> JobGroup {
        guard (1...JobLimits.maxGroupChildren).contains(children.count) else {
            throw GroupError("a group has 1 to \(JobLimits.maxGroupChildren) children (got \(children.count))")
        }
        if case .firstN(let n) = spec.wait, !(1...children.count).contains(n) {
            throw GroupError("first_n needs n between 1 and the number of children (\(children.count)); got \(n)")
        }
        if Set(children.map(\.id)).count != children.count { throw GroupError("two children have the same id") }
        let id = Self.newJobID()
        let now = Date().timeIntervalSince1970
        let deadline = now + (timeoutSeconds ?? settings.producer.jobTimeoutSeconds)
        let members = children.map { child in
            var child = child
            child.group = id
            child.deadlineAt = deadline
            child.priority = spec.priority
            return child
        }
        return JobGroup(id: id, replyTo: keys.reply(id), createdAt: now, deadlineAt: deadline, spec: spec, children: members)
    }

    /// Creates the group and enqueues every child in one script: all or none. `owner` is kept
    /// with the group (the gateway's API key digest), for `groupStatus` to report.
    public func submitGroup(_ group: JobGroup, owner: String = "1") async throws {
        let call = try Self.submitGroupArguments(group, keys: keys, replyTTLSeconds: settings.redis.replyTTLSeconds, owner: owner)
        _ = try await connection.evaluate(GroupScripts.submit, keys: [], arguments: call, replicated: true)
    }

    static func submitGroupArguments(_ group: JobGroup, keys: KeySpace, replyTTLSeconds: Int, owner: String) throws -> [RedisArgument] {
        let now = Date().timeIntervalSince1970
        // Deadlines are bounded (a day at most from the gateway, JobLimits' years otherwise).
        let ttl = max(1, Int(saturating: group.deadlineAt - now)) + replyTTLSeconds + 60
        let fields: [(String, String)] = [
            ("id", group.id), ("total", String(group.children.count)), ("wait", group.spec.waitName),
            ("n", String(group.spec.n(children: group.children.count))), ("on_failure", group.spec.onFailure.rawValue),
            ("created_at", String(group.createdAt)), ("deadline_at", String(group.deadlineAt)), ("reply_to", group.replyTo),
            ("reply_ttl", String(replyTTLSeconds)), ("cancel_key", keys.cancelled(group.id)), ("cancels", keys.cancelEvents),
            ("replies", keys.replyEvents), ("owner", owner),
        ]
        var arguments: [RedisArgument] = [RedisArgument(keys.group(group.id)), RedisArgument(ttl), RedisArgument(fields.count)]
        for (name, value) in fields { arguments += [RedisArgument(name), RedisArgument(value)] }
        arguments.append(RedisArgument(group.children.count))
        for child in group.children {
            arguments += [RedisArgument(keys.queue(try Self.queue(of: child))), RedisArgument(child.id), RedisArgument(bytes: child.jsonBytes())]
        }
        return arguments
    }

    /// Waits for the group's result until its deadline (plus a little grace); without one, its
    /// progress with `ok: false` and `deadline_exceeded`.
    public func awaitGroup(_ group: JobGroup) async throws -> GroupReport {
        let remaining = max(0.1, group.deadlineAt - Date().timeIntervalSince1970 + 2)
        let reply = try await waiters.pop(group.replyTo, seconds: remaining)
        if let pair = reply.array, pair.count == 2, let bytes = pair[1].bytes, let report = GroupReport(json: bytes) {
            return report
        }
        var report =
            try await groupStatus(group.id)
            ?? GroupReport(
                id: group.id, state: "open", total: group.children.count, succeeded: 0, failed: 0, cancelled: 0, pending: group.children.count,
                wait: group.spec.waitName, n: group.spec.n(children: group.children.count), onFailure: group.spec.onFailure.rawValue,
                results: [], cancelledChildren: [])
        report.ok = false
        report.reason = report.reason ?? "deadline_exceeded"
        report.error = report.error ?? ResultError(code: "deadline_exceeded", message: "the group had not ended by its deadline")
        return report
    }

    /// Cancels a group: children still queued are answered `cancelled` without a provider
    /// call, children running stop their calls, and the group's result (`cancelled`) is
    /// written at once.
    public func cancelGroup(_ id: String) async throws -> GroupCancellation {
        let reply = try await connection.evaluate(GroupScripts.cancel, keys: [], arguments: [RedisArgument(keys.group(id))])
        switch reply.integer {
        case 2: return .cancelled
        case 1: return .alreadyEnded
        default: return .unknown
        }
    }

    /// The group's progress (or result), and the owner it was submitted with; nil when unknown
    /// or expired.
    public func groupStatus(_ id: String) async throws -> GroupReport? {
        try await groupStatusWithOwner(id)?.report
    }

    public func groupStatusWithOwner(_ id: String) async throws -> (report: GroupReport, owner: String)? {
        let base = keys.group(id)
        let replies = try await connection.pipeline([
            RedisCommand("HGETALL", RedisArgument(base)), RedisCommand("LRANGE", RedisArgument(base + ":children"), 0, -1),
            RedisCommand("HGETALL", RedisArgument(base + ":results")), RedisCommand("SCARD", RedisArgument(base + ":succeeded")),
            RedisCommand("SCARD", RedisArgument(base + ":failed")), RedisCommand("SCARD", RedisArgument(base + ":cancelled")),
            RedisCommand("LINDEX", RedisArgument(keys.reply(id)), 0),
        ])
        let meta = replies[0].hashFields
        guard !meta.isEmpty, let total = meta["total"].flatMap({ Int($0) }) else { return nil }
        let owner = meta["owner"] ?? "1"
        // A done group's own result says which children its completion cancelled.
        if let bytes = replies[6].bytes, var report = GroupReport(json: bytes) {
            report.succeeded = replies[3].integer ?? report.succeeded
            report.failed = replies[4].integer ?? report.failed
            report.cancelled = replies[5].integer ?? report.cancelled
            return (report, owner)
        }
        var stored: [String: [UInt8]] = [:]
        if let list = replies[2].array {
            for index in stride(from: 0, to: list.count - 1, by: 2) {
                if let child = list[index].string, let bytes = list[index + 1].bytes { stored[child] = bytes }
            }
        }
        let children = (replies[1].array ?? []).compactMap(\.string)
        let results = children.compactMap { stored[$0].flatMap { try? JobResult.decode($0) } }
        let report = GroupReport(
            id: id, state: meta["state"] ?? "open", ok: meta["ok"].map { $0 == "1" }, reason: meta["reason"], total: total,
            succeeded: replies[3].integer ?? 0, failed: replies[4].integer ?? 0, cancelled: replies[5].integer ?? 0,
            pending: max(0, total - results.count), wait: meta["wait"] ?? "all", n: meta["n"].flatMap { Int($0) } ?? total,
            onFailure: meta["on_failure"] ?? "continue", results: results, cancelledChildren: [])
        return (report, owner)
    }

    /// The queue a job goes to: its route's tier's (Claude's without a route), in its lane.
    static func queue(of job: Job) throws -> QueueName {
        let number = job.route?.tier ?? Tier.claude.number
        guard let queue = Tier(number)?.queue else {
            throw RedisError(.serverError, "route tier \(number) has no queue")
        }
        return queue.lane(job.priority)
    }
}

/// A group that cannot be built, with what to change.
public struct GroupError: Error, Sendable, Equatable, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

extension GroupReport {
    /// The group's result as written by its completion (`GroupScripts.library`).
    public init?(json bytes: [UInt8]) {
        guard case .object(let root)? = JSONValue.parse(bytes), case .string(let id)? = root["id"], case .bool(let ok)? = root["ok"],
            case .object(let group)? = root["group"]
        else { return nil }
        func int(_ key: String) -> Int {
            if case .number(let value)? = group[key] { return Int(exactly: value) ?? 0 }
            if case .integer(let value)? = group[key] { return Int(value) }
            return 0
        }
        func string(_ key: String) -> String? {
            if case .string(let value)? = group[key] { return value }
            return nil
        }
        var error: ResultError?
        if case .object(let fields)? = root["error"], case .string(let code)? = fields["code"] {
            var message = ""
            if case .string(let text)? = fields["message"] { message = text }
            error = ResultError(code: code, message: message)
        }
        var results: [JobResult] = []
        if case .array(let list)? = root["results"] {
            for element in list {
                var writer = JSONWriter()
                writer.value(element)
                if let result = try? JobResult.decode(writer.bytes) { results.append(result) }
            }
        }
        var cancelledChildren: [String] = []
        if case .array(let list)? = root["cancelled_children"] {
            for case .string(let child) in list { cancelledChildren.append(child) }
        }
        self.init(
            id: id, state: string("state") ?? "done", ok: ok, error: error, reason: string("reason"), total: int("total"),
            succeeded: int("succeeded"), failed: int("failed"), cancelled: int("cancelled"), pending: int("pending"),
            wait: string("wait") ?? "all", n: int("n"), onFailure: string("on_failure") ?? "continue", results: results,
            cancelledChildren: cancelledChildren)
    }
}
