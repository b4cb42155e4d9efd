import ControlPlane
import Foundation
import JobProtocol
import Logging
import RedisClient
import Routing
import Settings

/// Puts chat jobs on the queues and collects their results: the Swift side of docs/PROTOCOL.md.
///
/// Enqueueing is one round trip: a script looks the job's cache key up and, on a miss, pushes
/// the job, atomically, so a cache hit never touches a queue or a worker. Waiting is a second
/// round trip, a BLPOP on the job's reply list.
public struct Producer: Sendable {
    public let settings: CervellaSettings
    public let keys: KeySpace
    let connection: RedisConnection
    let waiters: ReplyWaiters
    private let router: Router
    private let flags: @Sendable () -> LiveFlags
    /// The time routing reads tier windows at (tests pass their own clock).
    private let clock: @Sendable () -> Date
    /// Each small tier's queue wait, for deadline-aware routing; nil routes without it.
    private let backlog: BacklogWatch?

    /// The outcome of `enqueue`: queued for a worker, or already answered from the cache.
    public enum Enqueued: Sendable, Equatable {
        case queued
        case cached(JobResult)
        /// The queue already holds `maxQueueLength` jobs: back-pressure, try again later.
        case full
    }

    static let enqueueScript = RedisScript(
        """
        -- KEYS[1] queue, KEYS[2] cache key or '', KEYS[3] flight key or '', KEYS[4] the hour's
        -- stats hash; ARGV[1] job JSON, ARGV[2] max queue length (0: none), ARGV[3] job id,
        -- ARGV[4] follower entry, ARGV[5] flight TTL (seconds), ARGV[6] most followers, ARGV[7]
        -- and ARGV[8] Claude's input and output price (USD per million tokens), ARGV[9] the
        -- stats hash's retention (seconds)
        if KEYS[2] ~= '' then
          local hit = redis.call('GET', KEYS[2])
          if hit then
            -- Counted as a worker counts the hits it finds: the hit, and what Claude would have cost.
            redis.call('HINCRBY', KEYS[4], 'cache_hits', 1)
            -- The metadata's token counts, read without decoding the whole result: inside a JSON
            -- string (the answer) a quote is escaped, so only the metadata's own keys match.
            local input = tonumber(string.match(hit, '"tokens_input":(%d+)')) or 0
            local output = tonumber(string.match(hit, '"tokens_output":(%d+)')) or 0
            local saved = (input * tonumber(ARGV[7]) + output * tonumber(ARGV[8])) / 1000000
            if saved > 0 and saved < 1000000 then
              redis.call('HINCRBYFLOAT', KEYS[4], 'claude_equivalent_usd', string.format('%.9f', saved))
              redis.call('HINCRBYFLOAT', KEYS[4], 'cache_saved_usd', string.format('%.9f', saved))
            end
            redis.call('EXPIRE', KEYS[4], ARGV[9])
            return hit
          end
        end
        if KEYS[3] ~= '' then
          local leader = redis.call('GET', KEYS[3])
          if leader and leader ~= ARGV[3] then
            local followers = KEYS[3] .. ':followers'
            if redis.call('LLEN', followers) < tonumber(ARGV[6]) then
              redis.call('RPUSH', followers, ARGV[4])
              if redis.call('TTL', followers) < tonumber(ARGV[5]) then redis.call('EXPIRE', followers, ARGV[5]) end
              return 1
            end
          end
        end
        local limit = tonumber(ARGV[2])
        if limit > 0 and redis.call('LLEN', KEYS[1]) >= limit then return 0 end
        redis.call('LPUSH', KEYS[1], ARGV[1])
        if KEYS[3] ~= '' then redis.call('SET', KEYS[3], ARGV[3], 'NX', 'EX', ARGV[5]) end
        return false
        """)

    /// `flags` gives the live switches at each call (a `LiveConfigWatcher`'s `current`, or
    /// the file settings); `classifier` replaces the report's rules when given.
    ///
    /// `backlog`, when given (and kept fresh by its owner), sends a small-tier job to Claude when
    /// its queue would make it miss its deadline; `clock` is the time tier windows are read at.
    public init(
        settings: CervellaSettings, connection: RedisConnection,
        flags: (@Sendable () -> LiveFlags)? = nil, classifier: (any Classifier)? = nil, backlog: BacklogWatch? = nil,
        clock: @escaping @Sendable () -> Date = { Date() }
    ) {
        let fileFlags = LiveFlags(settings: settings)
        let flags = flags ?? { fileFlags }
        self.flags = flags
        self.clock = clock
        self.backlog = backlog
        self.router = Router(
            settings: settings,
            classifier: classifier
                ?? RuleClassifier(settings: settings.routing, defaultTier: settings.producer.defaultTierValue, pocValidated: { flags().pocValidated })
        )
        self.settings = settings
        self.keys = KeySpace(prefix: settings.redis.keyPrefix)
        self.connection = connection
        self.waiters = ReplyWaiters(
            configuration: connection.configuration,
            maxWaitSeconds: max(settings.producer.jobTimeoutSeconds, 300) + 1
        )
    }

    /// Closes the idle reply-waiting connections (the command connection is the caller's).
    public func close() { waiters.close() }

    /// Builds a job with a fresh id and deadline, routed by `route(...)` unless `route` is given.
    public func makeJob(
        messages: [ChatMessage], params: GenerationParameters = .init(), tierHint: String = "auto",
        forceModel: String? = nil, enableFallback: Bool = true, cache: Bool = true,
        timeoutSeconds: Double? = nil, route: Route? = nil, metadata: [String: JSONValue] = [:], stream: Bool = false,
        priority: JobPriority = .interactive
    ) throws(Router.UnknownModel) -> Job {
        let id = Self.newJobID()
        let now = Date().timeIntervalSince1970
        let timeout = timeoutSeconds ?? settings.producer.jobTimeoutSeconds
        var decided: Route
        if let route { decided = route } else { decided = try self.route(jobID: id, messages: messages, tierHint: tierHint, forceModel: forceModel) }
        if route == nil, let rerouted = backlogRoute(decided, priority: priority, timeoutSeconds: timeout) { decided = rerouted }
        return Job(
            id: id, replyTo: keys.reply(id), createdAt: now,
            deadlineAt: now + timeout,
            messages: messages, params: params, tierHint: tierHint, forceModel: forceModel,
            enableFallback: enableFallback, cache: cache && settings.cache.enabled,
            route: decided, metadata: metadata, stream: stream, priority: priority
        )
    }

    /// The routing decision under the current live flags: overrides, classifier, rollout,
    /// disabled tiers.
    public func route(jobID: String, messages: [ChatMessage], tierHint: String, forceModel: String?) throws(Router.UnknownModel) -> Route {
        let live = flags()
        let now = clock()
        let routing = RoutingFlags(
            tierEnabled: live.tierEnabled, tier1Percentage: live.tier1Percentage, tier2Percentage: live.tier2Percentage,
            pocValidated: live.pocValidated, outsideWindow: Set(Tier.allCases.filter { !live.isInWindow($0, at: now) }))
        return try router.route(jobID: jobID, messages: messages, tierHint: tierHint, forceModel: forceModel, flags: routing)
    }

    /// Deadline-aware routing: a small-tier job whose queue wait (`BacklogWatch`) would take
    /// more than `routing.backlog_deadline_share` of its time goes straight to Claude, reason
    /// `tier<N>_backlog`; a `force_model` choice stays where it was sent.
    func backlogRoute(_ route: Route, priority: JobPriority, timeoutSeconds: Double) -> Route? {
        let share = settings.routing.backlogDeadlineShare
        guard share > 0, route.reason != "manual_override", let tier = Tier(route.tier), tier.isSmall,
            let wait = backlog?.estimate(tier)?.waitSeconds(priority: priority), wait > timeoutSeconds * share
        else { return nil }
        BacklogWatch.counted(tier)
        return Route(tier: Tier.claude.number, model: settings.tier(.claude).model, reason: "tier\(tier)_backlog")
    }

    /// Looks the cache up and, on a miss, pushes the job to its tier's queue; one round trip.
    public func enqueue(_ job: Job, maxQueueLength: Int = 0) async throws -> Enqueued {
        let call = try Self.enqueueCall(
            for: job, keys: keys, maxQueueLength: maxQueueLength, singleFlight: SingleFlight.isEligible(job, settings: settings),
            claude: settings.tier(.claude))
        let reply = try await connection.evaluate(Self.enqueueScript, keys: call.keys, arguments: call.arguments, replicated: true)
        return Self.enqueued(reply, job: call.job)
    }

    /// The enqueue script's keys (the tier's queue, the cache key or `''`) and arguments (the
    /// job's JSON, the queue cap), and the job as pushed: marked `cache_checked` when the
    /// script looks the cache up, so that the worker need not look again.
    ///
    /// With `singleFlight`, the job's flight key and its follower entry too (`SingleFlight`).
    /// A cache hit is counted in the hour's statistics by the same script (`claude` prices it).
    static func enqueueCall(
        for job: Job, keys: KeySpace, maxQueueLength: Int, singleFlight: Bool = false, claude: TierSettings = .defaults(tier: .claude),
        now: Double = Date().timeIntervalSince1970
    ) throws -> (job: Job, keys: [RedisArgument], arguments: [RedisArgument]) {
        let queue = try queue(of: job)
        let digest = job.cache ? CacheKey.digest(for: job) : nil
        var job = job
        job.cacheChecked = job.cache
        let json = job.jsonBytes()
        let queueKey = keys.queue(queue)
        let flight = singleFlight ? digest.map(keys.flight) : nil
        return (
            job,
            [
                RedisArgument(queueKey), RedisArgument(digest.map(keys.cache) ?? ""), RedisArgument(flight ?? ""),
                RedisArgument(keys.stats(hour: HourlyStats.hourKey(Date(timeIntervalSince1970: now)))),
            ],
            [
                RedisArgument(bytes: json), RedisArgument(maxQueueLength), RedisArgument(job.id),
                RedisArgument(bytes: flight == nil ? [] : SingleFlight.followerEntry(job, queueKey: queueKey, jobJSON: json)),
                RedisArgument(SingleFlight.ttlSeconds(job, now: now)), RedisArgument(SingleFlight.maxFollowers),
                RedisArgument(String(claude.inputUSDPerMillionTokens)), RedisArgument(String(claude.outputUSDPerMillionTokens)),
                RedisArgument(HourlyStats.retentionSeconds),
            ]
        )
    }

    /// What the enqueue script's answer means: 0 the queue is full, 1 it follows an identical
    /// job in flight, a cached result's bytes a cache hit, nothing (nil) queued.
    static func enqueued(_ reply: RedisValue, job: Job) -> Enqueued {
        if case .integer(let code) = reply {
            // 1: it follows an identical job in flight; its answer comes to its reply key all the same.
            return code == 0 ? .full : .queued
        }
        guard let bytes = reply.bytes else { return .queued }
        return .cached(JobResult.fromCache(bytes, for: job, worker: "producer"))
    }

    /// Waits on the job's reply list until its deadline (plus a little grace for the commit).
    public func waitForResult(_ job: Job) async throws -> JobResult {
        let remaining = max(0.1, (job.deadlineAt ?? Date().timeIntervalSince1970 + 60) - Date().timeIntervalSince1970 + 1)
        let reply = try await waiters.pop(job.replyTo, seconds: remaining)
        return Self.result(ofPop: reply, job: job, waitedSeconds: remaining)
    }

    /// The result in a BLPOP reply (`[list, element]`); without one, `deadline_exceeded` naming
    /// the queue that should have served the job; an element that is not a result, `bad_result`.
    static func result(ofPop reply: RedisValue, job: Job, waitedSeconds: Double) -> JobResult {
        guard let pair = reply.array, pair.count == 2, let bytes = pair[1].bytes else {
            return .failure(
                id: job.id, code: "deadline_exceeded",
                message:
                    "no result within \(Int(saturating: waitedSeconds)) s; is a worker serving queue '\(job.route.map { "tier\($0.tier)" } ?? "?")'? Start one with: cervella worker"
            )
        }
        do {
            return try JobResult.decode(bytes)
        } catch {
            return .failure(id: job.id, code: "bad_result", message: "the reply list held a result that is not valid JSON: \(error)")
        }
    }

    /// Enqueue, then wait: the whole round trip of one request.
    public func submit(_ job: Job) async throws -> JobResult {
        switch try await enqueue(job) {
        case .cached(let result): return result
        case .queued: return try await waitForResult(job)
        case .full: return .failure(id: job.id, code: "queue_full", message: "the queue is full; try again later")
        }
    }

    /// Cancels a job: a worker that has not started it answers `cancelled` without calling a
    /// model, and one that is answering it stops the call (a stream stops at once). The flag
    /// lives as long as the job could still be waiting (`redis.reply_ttl_seconds` past its
    /// deadline at most a day away); the announcement reaches the workers running now.
    public func cancel(_ jobID: String) async throws {
        let longest = max(settings.producer.jobTimeoutSeconds, settings.gateway.requestTimeoutSeconds)
        let ttl = max(settings.redis.replyTTLSeconds, Int(saturating: longest) + 60)
        _ = try await connection.pipeline(Self.cancelCommands(jobID, keys: keys, ttlSeconds: ttl))
    }

    static func cancelCommands(_ jobID: String, keys: KeySpace, ttlSeconds: Int) -> [RedisCommand] {
        [
            RedisCommand("SET", RedisArgument(keys.cancelled(jobID)), "1", "EX", RedisArgument(ttlSeconds)),
            RedisCommand("PUBLISH", RedisArgument(keys.cancelEvents), RedisArgument(jobID)),
        ]
    }

    /// A sortable, collision-resistant id: milliseconds since the epoch plus 64 random bits.
    public static func newJobID() -> String {
        let millis = UInt64(Date().timeIntervalSince1970 * 1000)
        let random = UInt64.random(in: 0...UInt64.max)
        return String(millis, radix: 36) + "-" + String(random, radix: 36)
    }
}
