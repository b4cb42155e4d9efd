import ControlPlane
import Foundation
import JobProtocol
import Logging
import Metrics
import Producer
import Providers
import RedisClient
import Settings
import Synchronization

/// Sends the bulk fallbacks that can wait as Claude Message Batches, at half the price, and
/// commits their results (docs/ROUTING.md, "Message Batches").
///
/// Workers park qualifying `fallback_bulk` jobs in `mbatch:pending` (`Worker.parkForMessageBatch`).
/// Every worker runs this loop, but only the holder of `mbatch:lease` works a pass: it sends
/// the pending jobs as a batch once the oldest has waited `collect_seconds` (or a full batch
/// is waiting), polls open batches every `poll_interval_seconds`, and once one ended reads its
/// results and commits each through the normal commit (done guard, reply, PUBLISH, group
/// record, cache). Entries that end `errored`, `expired` or `canceled`, entries with no result,
/// and entries whose deadline comes within `rescue_seconds` go to the interactive `fallback`
/// lane for a Messages call of their own: a lane batching never takes from, so no job is
/// batched twice. Everything lives in Redis, so when the lease holder dies, the next one
/// carries on where it stopped (docs/RELIABILITY.md, "Message Batches").
struct MessageBatcher: Sendable {
    let writer: CommitWriter
    let client: MessageBatchClient
    /// The Claude model the entries ask for (tier 3's).
    let model: String
    let flags: @Sendable () -> LiveFlags

    var keys: KeySpace { writer.keys }
    var settings: CervellaSettings { writer.settings }
    var connection: RedisConnection { writer.connection }
    var logger: Logger { writer.logger }
    var owner: String { writer.owner }

    /// The most payload bytes staged in one batch, under the API's 256 MB body limit (a job's
    /// Messages body is about its payload's size).
    static let maxBatchPayloadBytes = 128 << 20

    /// The pause between passes: short enough for the collect time and the poll interval.
    var tick: Duration {
        let batches = settings.messageBatches
        return .milliseconds(Int(1000 * min(5, max(0.1, min(batches.pollIntervalSeconds, max(0.1, batches.collectSeconds / 2))))))
    }

    /// The lease outlives three passes; a long pass renews it between results.
    var leaseMilliseconds: Int { max(2_000, 3 * tick.wholeMilliseconds) }

    /// A staged batch older than this lost its worker during the create call.
    var stagedTimeoutSeconds: Double { Double(client.timeout.wholeMilliseconds + leaseMilliseconds) / 1000 + 5 }

    func run() async {
        var lastPoll = 0.0
        await repeatEvery(tick) {
            guard await holdLease() else { return }
            await submitIfDue()
            let now = Date().timeIntervalSince1970
            if now - lastPoll >= settings.messageBatches.pollIntervalSeconds {
                lastPoll = now
                await pollOpenBatches()
            }
        }
    }

    /// Takes or renews the lease; false when another worker holds it.
    func holdLease() async -> Bool {
        let reply = try? await connection.evaluate(
            MessageBatchScripts.lease, keys: [RedisArgument(keys.messageBatchLease)],
            arguments: [RedisArgument(owner), RedisArgument(leaseMilliseconds)])
        return reply?.integer == 1
    }

    // MARK: Submitting

    /// Sends the pending jobs as one batch when a full batch waits or the oldest has waited
    /// `collect_seconds`.
    func submitIfDue(now: Double = Date().timeIntervalSince1970) async {
        let batches = settings.messageBatches
        guard
            let state = try? await connection.pipeline([
                RedisCommand("LLEN", RedisArgument(keys.messageBatchPending)), RedisCommand("GET", RedisArgument(keys.messageBatchPendingSince)),
            ]), state.count == 2
        else { return }
        let pending = state[0].integer ?? 0
        Gauge(label: "cervella_message_batch_pending").record(pending)
        guard pending > 0 else { return }
        let since = state[1].string.flatMap(Double.init).flatMap { $0.isFinite ? $0 : nil } ?? 0
        guard pending >= batches.maxBatchSize || now - since >= batches.collectSeconds else { return }
        await submit(now: now)
    }

    /// Stages up to `max_batch_size` pending jobs, sends them, and records the batch's id.
    private func submit(now: Double) async {
        let handle = "staged-\(UUID().uuidString.lowercased())"
        let stagedKey = keys.messageBatchEntries(handle)
        let record = Self.record(["state": "staged", "at": now, "owner": owner])
        guard
            let staged = try? await connection.evaluate(
                MessageBatchScripts.stage,
                keys: [
                    RedisArgument(keys.messageBatchPending), RedisArgument(keys.messageBatchPendingSince), RedisArgument(keys.messageBatchOpen),
                    RedisArgument(stagedKey),
                ],
                arguments: [
                    RedisArgument(settings.messageBatches.maxBatchSize), RedisArgument(Self.maxBatchPayloadBytes), RedisArgument(handle),
                    RedisArgument(record), RedisArgument(String(format: "%.3f", now)),
                ], replicated: true
            ).array, !staged.isEmpty
        else { return }
        var entries: [(customID: String, params: [UInt8])] = []
        var earliestDeadline = Double.infinity
        for pair in stride(from: 0, to: staged.count - 1, by: 2) {
            guard let customID = staged[pair].string, let payload = staged[pair + 1].bytes else { continue }
            guard case .success(let job) = JobDecoding.decode(payload, keys: keys),
                let params = try? MessageBatchClient.params(model: model, request: Self.request(for: job, settings: settings, now: now))
            else {
                // The Messages call of its own answers it (or says why it cannot be answered).
                await rescue(customID, from: stagedKey, outcome: "unsendable")
                continue
            }
            if let deadline = job.deadlineAt { earliestDeadline = min(earliestDeadline, deadline) }
            entries.append((customID, params.body))
        }
        guard !entries.isEmpty else {
            _ = try? await connection.evaluate(
                MessageBatchScripts.close, keys: [RedisArgument(keys.messageBatchOpen), RedisArgument(stagedKey)], arguments: [RedisArgument(handle)])
            return
        }
        let batch: MessageBatchClient.Batch
        do throws(ProviderError) {
            batch = try await client.create(entries)
        } catch {
            await giveUp(handle: handle, stagedKey: stagedKey, error: error, entries: entries.map(\.customID))
            return
        }
        Counter(label: "cervella_message_batches_submitted_total").increment()
        Counter(label: "cervella_message_batch_entries_total", dimensions: [("outcome", "submitted")]).increment(by: entries.count)
        var fields: [String: Any] = ["state": "submitted", "batch": batch.id, "at": now, "owner": owner, "entries": entries.count]
        if earliestDeadline.isFinite { fields["earliest_deadline"] = earliestDeadline }
        let opened = try? await connection.evaluate(
            MessageBatchScripts.opened,
            keys: [RedisArgument(keys.messageBatchOpen), RedisArgument(stagedKey), RedisArgument(keys.messageBatchEntries(batch.id))],
            arguments: [RedisArgument(handle), RedisArgument(batch.id), RedisArgument(Self.record(fields))], replicated: true)
        if opened?.integer == 1 {
            logger.info("Message Batch submitted", metadata: ["cervella.message_batch": "\(batch.id)", "cervella.entries": "\(entries.count)"])
            return
        }
        // Given up while the call ran (this worker was paused past the staged timeout), or
        // Redis failed: the jobs went (or will go) back to pending, so this batch is an orphan.
        logger.warning(
            "Message Batch submitted after its jobs were given back; cancelling it (they will be sent again)",
            metadata: ["cervella.message_batch": "\(batch.id)"])
        _ = try? await client.cancel(batch.id)
    }

    /// A create call that failed: a refusal (4xx but 429) would refuse the same jobs again,
    /// so they get Messages calls of their own; anything else puts them back in pending, to
    /// be sent with the next batch.
    private func giveUp(handle: String, stagedKey: String, error: ProviderError, entries: [String]) async {
        let permanent = error.code == .http4xx || error.code == .unsupportedRequest || error.code == .contextLength
        logger.warning(
            permanent ? "Message Batch refused; its jobs get Messages calls of their own" : "Message Batch not sent; its jobs wait for the next one",
            metadata: ["cervella.error": "\(error.logDescription)", "cervella.entries": "\(entries.count)"])
        if permanent {
            for customID in entries { await rescue(customID, from: stagedKey, outcome: "refused") }
            _ = try? await connection.evaluate(
                MessageBatchScripts.close, keys: [RedisArgument(keys.messageBatchOpen), RedisArgument(stagedKey)], arguments: [RedisArgument(handle)])
        } else {
            await unstage(handle)
        }
    }

    private func unstage(_ handle: String) async {
        _ = try? await connection.evaluate(
            MessageBatchScripts.unstage,
            keys: [
                RedisArgument(keys.messageBatchOpen), RedisArgument(keys.messageBatchEntries(handle)), RedisArgument(keys.messageBatchPending),
                RedisArgument(keys.messageBatchPendingSince),
            ],
            arguments: [RedisArgument(handle), RedisArgument(String(format: "%.3f", Date().timeIntervalSince1970))], replicated: true)
    }

    // MARK: Polling

    /// One look at every open batch: stale staged ones are given back, entries near their
    /// deadline rescued, ended batches answered.
    func pollOpenBatches(now: Double = Date().timeIntervalSince1970) async {
        guard let open = try? await connection.send("HGETALL", RedisArgument(keys.messageBatchOpen)).array else { return }
        Gauge(label: "cervella_message_batch_open").record(open.count / 2)
        for pair in stride(from: 0, to: open.count - 1, by: 2) {
            guard let handle = open[pair].string, let record = open[pair + 1].bytes.flatMap({ JSONValue.read($0) }) else { continue }
            let at = record["at"]?.doubleValue ?? 0
            if record["state"]?.stringValue == "staged" {
                if now - at > stagedTimeoutSeconds {
                    logger.warning("a staged Message Batch lost its worker; its jobs go back to pending", metadata: ["cervella.handle": "\(handle)"])
                    await unstage(handle)
                }
                continue
            }
            if let earliest = record["earliest_deadline"]?.doubleValue, earliest - now <= settings.messageBatches.rescueSeconds {
                await rescueNearDeadline(handle, now: now)
            }
            await poll(handle, submittedAt: at)
        }
    }

    /// Retrieves one batch; reads and commits its results once it ended.
    private func poll(_ batchID: String, submittedAt: Double) async {
        let batch: MessageBatchClient.Batch
        do throws(ProviderError) {
            batch = try await client.retrieve(batchID)
        } catch {
            if error.status == 404 {
                logger.warning(
                    "a Message Batch is unknown to the API; its jobs get Messages calls of their own",
                    metadata: ["cervella.message_batch": "\(batchID)"])
                await rescueRemaining(batchID, outcome: "missing")
            } else {
                logger.notice("cannot retrieve a Message Batch; will retry", metadata: ["cervella.error": "\(error.logDescription)"])
            }
            return
        }
        guard batch.ended else { return }
        let entriesKey = keys.messageBatchEntries(batchID)
        let renewEvery = 200
        let seen = Counted()
        do throws(ProviderError) {
            try await client.results(batch) { result in
                if seen.next() % renewEvery == 0 { _ = await holdLease() }
                await handle(result, batchID: batchID, entriesKey: entriesKey, submittedAt: submittedAt)
                return true
            }
        } catch {
            logger.notice(
                "cannot read a Message Batch's results; will retry",
                metadata: ["cervella.error": "\(error.logDescription)", "cervella.message_batch": "\(batchID)"])
            return
        }
        // An entry the results did not name is answered by a call of its own.
        await rescueRemaining(batchID, outcome: "missing")
        logger.info("Message Batch answered", metadata: ["cervella.message_batch": "\(batchID)", "cervella.results": "\(seen.value)"])
    }

    private func handle(_ result: MessageBatchClient.Result, batchID: String, entriesKey: String, submittedAt: Double) async {
        switch result.outcome {
        case .succeeded(let message):
            guard let payload = try? await connection.send("HGET", RedisArgument(entriesKey), RedisArgument(result.customID)).bytes else {
                return  // answered already (a pass before this one), or rescued
            }
            await commit(payload, customID: result.customID, message: message, batchID: batchID, submittedAt: submittedAt)
        case .errored:
            await rescue(result.customID, from: entriesKey, outcome: "errored")
        case .expired:
            await rescue(result.customID, from: entriesKey, outcome: "expired")
        case .canceled:
            await rescue(result.customID, from: entriesKey, outcome: "canceled")
        }
    }

    /// Every entry still in the batch goes to a call of its own; then the batch is forgotten.
    private func rescueRemaining(_ batchID: String, outcome: String) async {
        let entriesKey = keys.messageBatchEntries(batchID)
        guard let left = try? await connection.send("HKEYS", RedisArgument(entriesKey)).array else { return }
        for customID in left.compactMap(\.string) { await rescue(customID, from: entriesKey, outcome: outcome) }
        _ = try? await connection.evaluate(
            MessageBatchScripts.close, keys: [RedisArgument(keys.messageBatchOpen), RedisArgument(entriesKey)], arguments: [RedisArgument(batchID)])
    }

    /// Entries whose deadline is within `rescue_seconds` leave the batch for a call of their own.
    private func rescueNearDeadline(_ batchID: String, now: Double) async {
        let entriesKey = keys.messageBatchEntries(batchID)
        guard let entries = try? await connection.send("HGETALL", RedisArgument(entriesKey)).array else { return }
        var earliest = Double.infinity
        for pair in stride(from: 0, to: entries.count - 1, by: 2) {
            guard let customID = entries[pair].string, let payload = entries[pair + 1].bytes else { continue }
            let deadline: Double? = if case .success(let job) = JobDecoding.decode(payload, keys: keys) { job.deadlineAt } else { now }
            guard let deadline else { continue }
            if deadline - now <= settings.messageBatches.rescueSeconds {
                await rescue(customID, from: entriesKey, outcome: "deadline")
            } else {
                earliest = min(earliest, deadline)
            }
        }
        // The record's earliest deadline moves on, so the next poll does not scan again.
        guard let record = try? await connection.send("HGET", RedisArgument(keys.messageBatchOpen), RedisArgument(batchID)).bytes,
            case .object(var fields)? = JSONValue.read(record)
        else { return }
        fields["earliest_deadline"] = earliest.isFinite ? .number(earliest) : nil
        var writer = JSONWriter()
        writer.value(.object(fields))
        _ = try? await connection.send("HSET", RedisArgument(keys.messageBatchOpen), RedisArgument(batchID), RedisArgument(bytes: writer.bytes))
    }

    /// Moves one entry to the interactive `fallback` lane for a Messages call of its own.
    private func rescue(_ customID: String, from entriesKey: String, outcome: String) async {
        let moved = try? await connection.evaluate(
            MessageBatchScripts.rescue, keys: [RedisArgument(entriesKey), RedisArgument(keys.queue(.fallback))],
            arguments: [RedisArgument(customID)], replicated: true)
        if moved?.integer == 1 {
            Counter(label: "cervella_message_batch_entries_total", dimensions: [("outcome", outcome)]).increment()
        }
    }

    // MARK: Committing

    /// Commits one succeeded entry through the normal commit: `JobDecision.conclude` at half
    /// the tier-3 price, the result marked `message_batch`, the entry taken out of its batch
    /// in the same script, and the hour's `message_batch_answers` and
    /// `message_batch_saved_usd` counted by the first finisher only.
    private func commit(_ payload: [UInt8], customID: String, message: JSONValue, batchID: String, submittedAt: Double) async {
        let entriesKey = keys.messageBatchEntries(batchID)
        let now = Date().timeIntervalSince1970
        guard case .success(let job) = JobDecoding.decode(payload, keys: keys) else {
            return await rescue(customID, from: entriesKey, outcome: "unreadable")
        }
        let request = Self.request(for: job, settings: settings, now: now)
        guard let forced = try? MessageBatchClient.params(model: model, request: request).forcedAnswer,
            let response = MessageBatchClient.response(message: message, model: model, forcedAnswer: forced, request: request)
        else {
            return await rescue(customID, from: entriesKey, outcome: "unreadable")
        }
        let halfPrice = Self.halfPrice(settings)
        let route = JobDecision.Route(fetchedFrom: .fallbackBulk, job: job)
        let cancelKeys = Worker.cancelIDs(job).map { RedisArgument(keys.cancelled($0)) }
        if let cancelled = try? await connection.send(RedisCommand("EXISTS", arguments: cancelKeys)).integer, cancelled > 0 {
            // Cancelled (or its group ended) while its batch ran: the answer is paid for, not given.
            let cost = halfPrice.tier(.claude).costUSD(inputTokens: response.tokensInput, outputTokens: response.tokensOutput)
            let result = JobResult.failure(
                id: job.id, code: "cancelled", message: "the job was cancelled (or its group was) while its Message Batch ran")
            var commit = JobCommit.reply(job, result, stats: [.cancelled(tier: .claude, costUSD: cost)])
            commit.budgetSettlement = BudgetSettlement(jobID: job.id, costUSD: cost)
            commit.flightKey = flightKey(job)
            await writer.write(
                commit, plan: batchPlan(commit, payload: payload, customID: customID, entriesKey: entriesKey, at: submittedAt), queue: .fallbackBulk)
            return
        }
        let call = JobDecision.Call(model: model, response: response, latencyMs: Int.milliseconds(fromSeconds: now - submittedAt))
        let context = JobDecision.Context(
            flags: flags(), cacheKey: job.cache && settings.cache.enabled ? keys.cache(CacheKey.digest(for: job)) : nil, worker: owner,
            poppedAt: submittedAt, now: now, timestamp: ResultMetadata.timestamp())
        var commit = JobDecision.conclude(job, route: route, call: call, settings: halfPrice, context: context)
        guard case .reply(let replyJob, var result, let cacheKey) = commit.outcome, result.ok else {
            return await rescue(customID, from: entriesKey, outcome: "unreadable")
        }
        result.metadata?.messageBatch = batchID
        commit.outcome = .reply(job: replyJob, result: result, cacheKey: cacheKey)
        commit.flightKey = flightKey(job)
        let full = settings.tier(.claude).costUSD(
            inputTokens: response.tokensInput, outputTokens: response.tokensOutput, cachedInputTokens: response.tokensCachedInput)
        let half = halfPrice.tier(.claude).costUSD(
            inputTokens: response.tokensInput, outputTokens: response.tokensOutput, cachedInputTokens: response.tokensCachedInput)
        // What Claude alone would have cost is the full price: the cost reports' saving then
        // includes the batch's half.
        commit.stats = commit.stats.map { (event: StatsEvent) -> StatsEvent in
            guard case .answered(let tier, let latencyMs, let confidence, let cost, _) = event else { return event }
            return .answered(tier: tier, latencyMs: latencyMs, confidence: confidence, costUSD: cost, claudeEquivalentUSD: full)
        }
        var plan = batchPlan(commit, payload: payload, customID: customID, entriesKey: entriesKey, at: submittedAt)
        plan.first += Self.savingCommands(keys: keys, savedUSD: full - half, now: Date(timeIntervalSince1970: now))
        await writer.write(commit, plan: plan, queue: .fallbackBulk)
        Counter(label: "cervella_message_batch_entries_total", dimensions: [("outcome", "succeeded")]).increment()
        FloatingPointCounter(label: "cervella_message_batch_saved_usd_total").increment(by: max(0, full - half))
    }

    /// The job's single-flight key when it may lead: its answer also answers its followers.
    private func flightKey(_ job: Job) -> String? {
        SingleFlight.isEligible(job, settings: settings) ? keys.flight(CacheKey.digest(for: job)) : nil
    }

    /// The commit's plan with the entry taken out of its batch in place of the LREM off a
    /// processing list (the job is in its batch's entries, not in a processing list).
    private func batchPlan(_ commit: JobCommit, payload: [UInt8], customID: String, entriesKey: String, at: Double) -> JobCommit.Plan {
        var plan = commit.plan(
            keys: keys, settings: settings, fetched: FetchedJob(queue: .fallbackBulk, payload: payload, poppedAt: at), worker: owner)
        let processing = RedisArgument(keys.processing(.fallbackBulk, worker: owner)).bytes
        plan.always.removeAll { $0.arguments.first == Array("LREM".utf8) && $0.arguments.dropFirst().first == processing }
        plan.always.append(RedisCommand("HDEL", RedisArgument(entriesKey), RedisArgument(customID)))
        return plan
    }

    /// The hour's batch counters, written with the reply by its first finisher.
    static func savingCommands(keys: KeySpace, savedUSD: Double, now: Date) -> [RedisCommand] {
        let key = RedisArgument(keys.stats(hour: HourlyStats.hourKey(now)))
        let saved = savedUSD.isFinite ? max(0, savedUSD) : 0
        return [
            RedisCommand("HINCRBY", key, "message_batch_answers", 1),
            RedisCommand("HINCRBYFLOAT", key, "message_batch_saved_usd", RedisArgument(String(format: "%.9f", saved))),
            RedisCommand("EXPIRE", key, RedisArgument(HourlyStats.retentionSeconds)),
        ]
    }

    /// The settings with tier 3's token prices halved: what a Message Batch answer costs.
    static func halfPrice(_ settings: CervellaSettings) -> CervellaSettings {
        var halved = settings
        var claude = settings.tier(.claude)
        claude.inputUSDPerMillionTokens /= 2
        claude.outputUSDPerMillionTokens /= 2
        claude.cachedInputUSDPerMillionTokens /= 2
        halved.tiers[.claude] = claude
        return halved
    }

    /// The Messages request of a bulk fallback, as a worker would send it (no deadline cut:
    /// the batch has its own time).
    static func request(for job: Job, settings: CervellaSettings, now: Double) -> ProviderRequest {
        var request = JobDecision.request(for: job, route: JobDecision.Route(fetchedFrom: .fallbackBulk, job: job), settings: settings, now: now)
        request.timeout = .milliseconds(settings.tier(.claude).timeoutMs)
        return request
    }

    static func record(_ fields: [String: Any]) -> String {
        let data = (try? JSONSerialization.data(withJSONObject: fields, options: [.sortedKeys])) ?? Data("{}".utf8)
        return String(decoding: data, as: UTF8.self)
    }
}

/// A counter a results callback can bump (the callback is `@Sendable`).
private final class Counted: Sendable {
    private let count = Mutex(0)
    /// The count before this call, then one more.
    func next() -> Int {
        count.withLock { value in
            defer { value += 1 }; return value
        }
    }
    var value: Int { count.withLock { $0 } }
}
