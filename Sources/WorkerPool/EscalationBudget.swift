import ControlPlane
import Foundation
import JobProtocol
import Logging
import Metrics
import RedisClient
import Settings
import Synchronization

/// The escalation budget (docs/ROUTING.md, "Escalation budget"): caps on Claude spend for
/// fallbacks per UTC hour and per UTC day, pool-wide, that concurrent fallbacks cannot overshoot.
///
/// Before a fallback is pushed, its worker reserves the Claude call's most it can cost (the
/// prompt's estimated tokens and the whole `max_tokens` answer at Claude's price) in one script
/// that checks spend and reservations against the caps and adds the reservation only when it
/// fits: a check and a debit in one step, so 200 workers deciding at once cannot all pass the
/// check before any of them pays. The Claude hop's commit settles it: the reservation is
/// released and the call's real cost added to the spend (`GuardedCommit`, `budget_settle`).
///
/// Which fallbacks fit is graded. Errors, timeouts, empty answers and answers without the asked
/// structure (nothing usable to return) may use the cap and `fallback_error_overrun` past it,
/// the hard cap. A low-confidence answer may use `fallback_near_share` of the cap, and more the
/// lower its confidence: one at confidence 0 may use the whole cap. So near the cap the
/// fallbacks that matter most still escalate, and past it low-confidence answers are returned as
/// they are, `fallback_suppressed: "budget"`.
///
/// Amounts are integer micro-dollars in Redis. A worker that dies between its reservation and
/// its commit leaves the reservation standing until its hour's key expires: the budget errs
/// toward spending less.
final class EscalationBudget: Sendable {
    let connection: RedisConnection
    let keys: KeySpace
    let settings: CervellaSettings
    let logger: Logger
    /// The last state this worker saw, to log a change once.
    private let lastState = Mutex(State.under)

    enum State: Int, Sendable {
        case under = 0
        /// Past `fallback_near_share` of a cap: low-confidence answers are being held back.
        case near = 1
        /// At a cap: only errors still escalate, up to the hard cap.
        case over = 2
    }

    init(connection: RedisConnection, keys: KeySpace, settings: CervellaSettings, logger: Logger) {
        self.connection = connection
        self.keys = keys
        self.settings = settings
        self.logger = logger
    }

    /// True for fallbacks the budget governs: every one that follows a small model's attempt, not
    /// a tier switched off or outside its window (those jobs were never the small model's).
    static func counts(reason: String) -> Bool {
        !reason.hasSuffix("_disabled") && !reason.hasSuffix("_outside_window")
    }

    /// The share of a cap a fallback may bring the spend to: `1 + overrun` for one with
    /// nothing usable to return, `near … 1` for a low-confidence answer, the lower its
    /// confidence the higher.
    static func allowedShare(reason: String, confidence: Double?, threshold: Double, budget: CervellaSettings.Budget) -> Double {
        guard reason.hasPrefix("low_confidence"), reason != "low_confidence_early" else { return 1 + budget.fallbackErrorOverrun }
        let near = budget.fallbackNearShare
        guard let confidence, confidence.isFinite, threshold > 0 else { return near }
        let below = min(1, max(0, 1 - confidence / threshold))
        return near + (1 - near) * below
    }

    /// What a job's Claude call can cost at most: its prompt's estimated tokens and a whole
    /// `max_tokens` answer.
    static func reservationUSD(for job: Job, settings: CervellaSettings) -> Double {
        let claude = settings.tier(.claude)
        let output = job.params.maxTokens ?? claude.defaultMaxTokens
        return claude.costUSD(inputTokens: TokenEstimator.estimate(job.messages), outputTokens: max(0, output))
    }

    static func micros(_ usd: Double) -> Int { Int(saturating: (min(max(usd, 0), 1e9) * 1_000_000).rounded(.up)) }

    /// KEYS none (keys are the prefix's, built here: the budget is one deployment's).
    /// ARGV: prefix, job id, reservation µ$, hourly cap µ$, daily cap µ$, allowed share in
    /// millionths, hour stamp, day stamp. Returns {admitted 0/1, hour µ$ used, day µ$ used}.
    static let reserveScript = RedisScript(
        """
        local prefix, job = ARGV[1], ARGV[2]
        local amount, hourCap, dayCap, share = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6])
        local hour, day = ARGV[7], ARGV[8]
        local held = prefix .. ':budget:reservations'
        local function used(stamp)
          return tonumber(redis.call('GET', prefix .. ':budget:spent:' .. stamp) or '0')
            + tonumber(redis.call('GET', prefix .. ':budget:reserved:' .. stamp) or '0')
        end
        local hourUsed, dayUsed = used(hour), used(day)
        if redis.call('HEXISTS', held, job) == 1 then return {1, hourUsed, dayUsed} end
        if hourCap > 0 and (hourUsed + amount) * 1000000 > hourCap * share then return {0, hourUsed, dayUsed} end
        if dayCap > 0 and (dayUsed + amount) * 1000000 > dayCap * share then return {0, hourUsed, dayUsed} end
        redis.call('INCRBY', prefix .. ':budget:reserved:' .. hour, amount)
        redis.call('EXPIRE', prefix .. ':budget:reserved:' .. hour, 7200)
        redis.call('INCRBY', prefix .. ':budget:reserved:' .. day, amount)
        redis.call('EXPIRE', prefix .. ':budget:reserved:' .. day, 172800)
        redis.call('HSET', held, job, amount .. ' ' .. hour .. ' ' .. day)
        redis.call('EXPIRE', held, 172800)
        return {1, hourUsed + amount, dayUsed + amount}
        """)

    /// Reserves the fallback's Claude call against the caps; false when the budget holds it
    /// back. Without a cap, or when Redis cannot be asked (the commit will retry until it can),
    /// the fallback goes ahead.
    func reserve(_ next: Job, tier: Tier, flags: LiveFlags, now: Date = Date()) async -> Bool {
        guard flags.capsFallbacks, let origin = next.fallbackFrom, Self.counts(reason: origin.reason) else { return true }
        let share = Self.allowedShare(
            reason: origin.reason, confidence: origin.confidence, threshold: settings.tier(tier).confidenceThreshold, budget: settings.budget)
        let time = UTCTime(now)
        let reply: RedisValue
        do {
            reply = try await connection.evaluate(
                Self.reserveScript, keys: [],
                arguments: [
                    RedisArgument(keys.prefix), RedisArgument(next.id),
                    RedisArgument(Self.micros(Self.reservationUSD(for: next, settings: settings))),
                    RedisArgument(Self.micros(flags.fallbackHourlyUSD)), RedisArgument(Self.micros(flags.fallbackDailyUSD)),
                    RedisArgument(Int((share * 1_000_000).rounded())), RedisArgument(time.hourStamp), RedisArgument(time.dayStamp),
                ])
        } catch {
            logger.warning("cannot reserve the fallback against the escalation budget; it goes ahead", metadata: ["cervella.error": "\(error)"])
            return true
        }
        let values = reply.array ?? []
        let admitted = values.first?.integer == 1
        let hourUsed = values.count > 1 ? Double(values[1].integer ?? 0) / 1_000_000 : 0
        let dayUsed = values.count > 2 ? Double(values[2].integer ?? 0) / 1_000_000 : 0
        observe(hourUsed: hourUsed, dayUsed: dayUsed, flags: flags)
        if !admitted {
            Counter(label: "cervella_fallbacks_suppressed_total", dimensions: [("tier", "\(tier)"), ("reason", "budget")]).increment()
        }
        return admitted
    }

    /// Reads the spend and reservations of now's hour and day, for the gauges.
    func refresh(flags: LiveFlags, now: Date = Date()) async {
        guard flags.capsFallbacks else {
            observe(hourUsed: 0, dayUsed: 0, flags: flags)
            return
        }
        let time = UTCTime(now)
        var commands: [RedisCommand] = []
        for stamp in [time.hourStamp, time.dayStamp] {
            commands.append(RedisCommand("GET", RedisArgument(keys.budgetSpent(stamp))))
            commands.append(RedisCommand("GET", RedisArgument(keys.budgetReserved(stamp))))
        }
        guard let replies = try? await connection.pipeline(commands), replies.count == 4 else { return }
        let micros = replies.map { reply in min(1e15, max(0, reply.string.flatMap(Double.init) ?? 0)) }
        observe(hourUsed: (micros[0] + micros[1]) / 1_000_000, dayUsed: (micros[2] + micros[3]) / 1_000_000, flags: flags)
    }

    /// The budget's state from what is used of each cap: the gauges, and a log line when it changes.
    func observe(hourUsed: Double, dayUsed: Double, flags: LiveFlags) {
        var ratio = 0.0
        for (window, used, cap) in [("hour", hourUsed, flags.fallbackHourlyUSD), ("day", dayUsed, flags.fallbackDailyUSD)] {
            let share = cap > 0 ? used / cap : 0
            Gauge(label: "cervella_fallback_budget_used_ratio", dimensions: [("window", window)]).record(share)
            Gauge(label: "cervella_fallback_budget_spend_usd", dimensions: [("window", window)]).record(used)
            ratio = max(ratio, share)
        }
        let state: State = ratio >= 1 ? .over : ratio >= settings.budget.fallbackNearShare ? .near : .under
        Gauge(label: "cervella_fallback_budget_state").record(Double(state.rawValue))
        let previous = lastState.withLock { last in
            defer { last = state }
            return last
        }
        guard previous != state else { return }
        let metadata: Logger.Metadata = [
            "cervella.budget.hour_usd": "\(hourUsed)", "cervella.budget.day_usd": "\(dayUsed)",
            "cervella.budget.hourly_cap_usd": "\(flags.fallbackHourlyUSD)", "cervella.budget.daily_cap_usd": "\(flags.fallbackDailyUSD)",
        ]
        switch state {
        case .under: logger.notice("escalation budget: under its caps again; every fallback escalates", metadata: metadata)
        case .near: logger.warning("escalation budget near its cap: only errors and the lowest-confidence answers escalate", metadata: metadata)
        case .over:
            logger.error(
                "escalation budget exhausted: low-confidence answers are returned as they are (fallback_suppressed: budget); errors escalate up to the hard cap",
                metadata: metadata)
        }
    }

    /// Keeps the gauges true while no fallback asks (the hour turns, a cap changes).
    func run(interval: Duration, flags: @escaping @Sendable () -> LiveFlags) async {
        await repeatEvery(interval) { await refresh(flags: flags()) }
    }
}

/// A fallback hop's Claude call, settled against the escalation budget in its commit: the
/// job's reservation (if any) released, the call's cost added to the hour's and day's spend.
struct BudgetSettlement: Sendable, Equatable {
    var jobID: String
    var costUSD: Double
}
