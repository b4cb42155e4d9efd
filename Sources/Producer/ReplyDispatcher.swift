import Foundation
import JobProtocol
import Logging
import RedisClient
import Synchronization

/// Delivers results to thousands of waiting HTTP requests over two Redis connections.
///
/// The reply list stays the durable mailbox. Workers PUBLISH the result itself on the reply
/// channel in the same atomic step that fills the list; one subscription hears every result,
/// and a request here waiting for it is answered at once, while the list is deleted in the
/// background (auto-pipelined on the shared command connection, off the request's path). A
/// message that carries only a job id (a worker of an earlier version) makes the dispatcher
/// LPOP the list instead. A message can be missed only while the subscription is down, so
/// every (re)subscription and every expiring wait re-checks the lists themselves.
public final class ReplyDispatcher: Sendable {
    private struct Waiter {
        var replyKey: String
        var deadline: ContinuousClock.Instant
        var continuation: CheckedContinuation<JobResult?, Never>?
        var early: JobResult?
    }

    private let commands: RedisConnection
    private let keys: KeySpace
    private let logger: Logger
    private let waiters = Mutex<[String: Waiter]>([:])
    private let subscriber: Mutex<RedisSubscriber?> = Mutex(nil)

    public init(commands: RedisConnection, keys: KeySpace, logger: Logger) {
        self.commands = commands
        self.keys = keys
        self.logger = logger
    }

    public var waiting: Int { waiters.withLock { $0.count } }

    /// What a message on the reply channel means for this gateway.
    enum Announcement: Equatable {
        /// The result itself, for a job waited on here (its reply list is to be deleted).
        case result(JobResult, replyKey: String)
        /// Only the id of a job waited on here (a worker of an earlier version): the result
        /// is to be fetched from the reply list.
        case jobID(String, replyKey: String)
        /// A job nobody here waits on, or a result that cannot be read.
        case ignored
    }

    /// Reads a reply-channel message; `replyKey` gives the reply list of a job waited on here,
    /// nil for any other.
    ///
    /// Results for other gateways' requests are skipped by their id, without being decoded.
    static func announcement(_ payload: [UInt8], replyKey: (String) -> String?) -> Announcement {
        if payload.first == UInt8(ascii: "{") {
            if let id = JobResult.peekID(payload), replyKey(id) == nil { return .ignored }
            guard let result = try? JobResult.decode(payload), let key = replyKey(result.id) else { return .ignored }
            return .result(result, replyKey: key)
        }
        let id = String(decoding: payload, as: UTF8.self)
        guard let key = replyKey(id) else { return .ignored }
        return .jobID(id, replyKey: key)
    }

    /// Starts listening; call before the first `register`.
    public func start() {
        let subscriber = RedisSubscriber(
            configuration: commands.configuration, channel: keys.replyEvents, name: "gateway-replies@\(keys.prefix)", logger: logger,
            onSubscribed: { [self] in Task { await self.sweep(expiredOnly: false) } },
            onMessage: { [self] payload in
                switch Self.announcement(payload, replyKey: { id in self.waiters.withLock { $0[id]?.replyKey } }) {
                case .result(let result, let replyKey):
                    self.deliver(id: result.id, result: result)
                    self.discard(replyKey)
                case .jobID(let id, let replyKey):
                    Task { await self.fetch(id: id, replyKey: replyKey) }
                case .ignored:
                    return
                }
            }
        )
        self.subscriber.withLock { $0 = subscriber }
    }

    public func stop() {
        subscriber.withLock {
            $0?.close(); $0 = nil
        }
        let pending = waiters.withLock { waiters in
            defer { waiters.removeAll() }; return waiters
        }
        for waiter in pending.values { waiter.continuation?.resume(returning: nil) }
    }

    /// Announces interest in a job's result *before* it is enqueued, so no reply is missed.
    public func register(_ job: Job, timeout: Duration) {
        let waiter = Waiter(replyKey: job.replyTo, deadline: .now + timeout, continuation: nil, early: nil)
        waiters.withLock { $0[job.id] = waiter }
    }

    public func cancel(_ jobID: String) {
        let waiter = waiters.withLock { $0.removeValue(forKey: jobID) }
        waiter?.continuation?.resume(returning: nil)
    }

    /// Waits for the result of a registered job; nil when its deadline passed first.
    public func wait(_ jobID: String) async -> JobResult? {
        await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                let ready: JobResult?? = waiters.withLock { waiters in
                    guard var waiter = waiters[jobID] else { return .some(nil) }
                    if let early = waiter.early {
                        waiters.removeValue(forKey: jobID)
                        return .some(early)
                    }
                    waiter.continuation = continuation
                    waiters[jobID] = waiter
                    return .none
                }
                if let ready { continuation.resume(returning: ready) }
            }
        } onCancel: {
            cancel(jobID)
        }
    }

    /// Expires waits whose deadline passed, after one last look at their reply lists.
    public func run() async {
        while !Task.isCancelled {
            try? await Task.sleep(for: .milliseconds(100))
            await sweep(expiredOnly: true)
        }
    }

    /// Reply lists whose result was delivered from the channel, deleted in batches: one
    /// UNLINK and one task per burst, not per reply.
    private let discarded = Mutex<(keys: [String], flushing: Bool)>(([], false))

    private func discard(_ key: String) {
        let startFlush = discarded.withLock { state -> Bool in
            state.keys.append(key)
            defer { state.flushing = true }
            return !state.flushing
        }
        guard startFlush else { return }
        Task {
            while true {
                let batch = discarded.withLock { state -> [String] in
                    defer { state.keys.removeAll(keepingCapacity: true) }
                    if state.keys.isEmpty { state.flushing = false }
                    return state.keys
                }
                if batch.isEmpty { return }
                _ = try? await commands.send(RedisCommand("UNLINK", arguments: batch.map { RedisArgument($0) }))
            }
        }
    }

    private func fetch(id: String, replyKey: String) async {
        guard let reply = try? await commands.send("LPOP", RedisArgument(replyKey)), let bytes = reply.bytes else { return }
        deliver(id: id, bytes: bytes)
    }

    private func deliver(id: String, bytes: [UInt8]) {
        let result =
            (try? JobResult.decode(bytes))
            ?? .failure(id: id, code: "bad_result", message: "the reply list held a result that is not valid JSON")
        deliver(id: id, result: result)
    }

    /// Hands a result to its waiter: at once when it waits, else kept until it does.
    func deliver(id: String, result: JobResult) {
        let continuation: CheckedContinuation<JobResult?, Never>? = waiters.withLock { waiters in
            guard var waiter = waiters[id] else { return nil }
            if let continuation = waiter.continuation {
                waiters.removeValue(forKey: id)
                return continuation
            }
            waiter.early = result
            waiters[id] = waiter
            return nil
        }
        continuation?.resume(returning: result)
    }

    /// Pipelined LPOP of every (or every expired) waiter's list: catches replies whose
    /// announcement was missed, then ends the expired waits.
    private func sweep(expiredOnly: Bool) async {
        let now = ContinuousClock.now
        let targets = waiters.withLock { waiters in
            waiters.filter { !expiredOnly || $0.value.deadline <= now }.map { ($0.key, $0.value.replyKey) }
        }
        guard !targets.isEmpty else { return }
        if let replies = try? await commands.pipeline(targets.map { RedisCommand("LPOP", RedisArgument($0.1)) }) {
            for ((id, _), reply) in zip(targets, replies) {
                if let bytes = reply.bytes { deliver(id: id, bytes: bytes) }
            }
        }
        guard expiredOnly else { return }
        for (id, _) in targets {
            let expired = waiters.withLock { waiters -> Waiter? in
                guard let waiter = waiters[id], waiter.deadline <= now, waiter.early == nil else { return nil }
                return waiters.removeValue(forKey: id)
            }
            expired?.continuation?.resume(returning: nil)
        }
    }
}
