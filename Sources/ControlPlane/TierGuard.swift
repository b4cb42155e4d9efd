import Foundation
import JobProtocol
import Logging
import Metrics
import RedisClient
import Settings

/// The report's automatic rollback (6.1, "qwen3_endpoint down → emergency rollback"): when
/// every endpoint of a small tier has been down for `worker.auto_rollback_down_seconds`, as the
/// workers' health probes and circuit breakers see it (`cervella:health`), the pool turns the
/// tier off with the same live switch an operator uses, so its jobs go to Claude at once
/// instead of timing out first. When an endpoint has been up again for
/// `worker.auto_rollback_up_seconds`, the pool turns the tier back on.
///
/// The pool only undoes its own switch: `cervella:auto_switch` records each tier it turned
/// off, and an operator's write of that tier's switch (`LiveConfigStore.set`, `reset`)
/// deletes the record, so a tier an operator turned off (before or after) stays off. Both
/// switches are Lua scripts that check the record and the switch in the same step.
///
/// One worker per pool runs the passes (a lease, like the reaper's); the times a tier was
/// first seen down or up live in Redis, so a new lease holder goes on counting.
public struct TierGuard: Sendable {
    public enum Action: Equatable, Sendable {
        case disabled(Tier, reason: String)
        case enabled(Tier)
    }

    let connection: RedisConnection
    let keys: KeySpace
    let downSeconds: Double
    let upSeconds: Double
    let logger: Logger

    public init(connection: RedisConnection, keys: KeySpace, settings: CervellaSettings, logger: Logger) {
        self.connection = connection
        self.keys = keys
        self.downSeconds = settings.worker.autoRollbackDownSeconds
        self.upSeconds = settings.worker.autoRollbackUpSeconds
        self.logger = logger
    }

    /// Every worker runs this loop; the lease holder of the moment runs the passes. Each
    /// worker also exports `cervella_tier_auto_disabled` from the record.
    public func run(interval: Duration, owner: String, flags: @escaping @Sendable () -> LiveFlags) async {
        guard downSeconds > 0 else { return }
        await repeatEvery(interval) {
            do {
                let milliseconds = max(500, interval.wholeMilliseconds * 2)
                let held = try await connection.evaluate(
                    Self.lease, keys: [RedisArgument(keys.tierGuardLease)], arguments: [RedisArgument(owner), RedisArgument(milliseconds)])
                if held.integer == 1 { _ = try await pass(flags: flags()) }
                let record = try await connection.send("HGETALL", RedisArgument(keys.autoSwitch)).hashFields
                for tier in Tier.allCases where tier.isSmall {
                    Gauge(label: "cervella_tier_auto_disabled", dimensions: [("tier", "\(tier)")]).record(record["tier\(tier)"] == nil ? 0 : 1)
                }
            } catch {
                logger.warning("tier guard pass failed; will retry", metadata: ["cervella.error": "\(error)"])
            }
        }
    }

    /// One look at the health of tiers 1 and 2; switches what has been down or up long enough.
    @discardableResult
    public func pass(flags: LiveFlags, now: Date = Date()) async throws -> [Action] {
        let replies = try await connection.pipeline([
            RedisCommand("HGETALL", RedisArgument(keys.health)), RedisCommand("HGETALL", RedisArgument(keys.autoSwitch)),
        ])
        var report = StatsReport(hourly: [], today: "")
        report.addHealth(replies[0], now: now)
        let record = replies[1].hashFields
        let stamp = now.timeIntervalSince1970
        var actions: [Action] = []
        for tier in Tier.allCases where tier.isSmall {
            let name = "tier\(tier)"
            let states = report.probedHealth[tier] ?? []
            // No fresh view (no worker serves the tier, or none probed it lately): no decision.
            guard !states.isEmpty else { continue }
            let down = states.allSatisfy { $0 == "down" }
            // A time that is not a past one (a hand-edited hash) starts the clock again, so that
            // nothing out of range reaches the arithmetic and Int conversions below.
            let since = record["\(name)_\(down ? "down" : "up")_since"].flatMap(Double.init).flatMap {
                $0.isFinite && $0 <= stamp && $0 > 0 ? $0 : nil
            }
            if since == nil {
                // First pass in this state: start its clock, stop the other one (one round trip).
                _ = try await connection.pipeline([
                    RedisCommand(
                        "HSET", RedisArgument(keys.autoSwitch), RedisArgument("\(name)_\(down ? "down" : "up")_since"), RedisArgument(String(stamp))),
                    RedisCommand("HDEL", RedisArgument(keys.autoSwitch), RedisArgument("\(name)_\(down ? "up" : "down")_since")),
                ])
            }
            let lasted = stamp - (since ?? stamp)
            if down, lasted >= downSeconds, flags.isEnabled(tier), record[name] == nil {
                let reason = "every \(name) endpoint down for \(Int(lasted)) s"
                let detail = "{\"reason\":\"\(reason)\",\"at\":\(stamp)}"
                let switched = try await connection.evaluate(
                    Self.disable, keys: [RedisArgument(keys.config), RedisArgument(keys.autoSwitch)],
                    arguments: [RedisArgument("\(name)_enabled"), RedisArgument(name), RedisArgument(detail), RedisArgument(String(stamp))])
                if switched.integer == 1 {
                    actions.append(.disabled(tier, reason: reason))
                    logger.critical(
                        "AUTOMATIC ROLLBACK: tier turned off, its jobs go to Claude",
                        metadata: ["cervella.tier": "\(tier)", "cervella.reason": "\(reason)"])
                    Counter(label: "cervella_tier_auto_switches_total", dimensions: [("tier", "\(tier)"), ("action", "disabled")]).increment()
                }
            } else if !down, lasted >= upSeconds, record[name] != nil {
                let switched = try await connection.evaluate(
                    Self.enable, keys: [RedisArgument(keys.config), RedisArgument(keys.autoSwitch)],
                    arguments: [RedisArgument("\(name)_enabled"), RedisArgument(name), RedisArgument(String(stamp))])
                if switched.integer == 1 {
                    actions.append(.enabled(tier))
                    logger.notice(
                        "tier turned back on after an automatic rollback: an endpoint is up again",
                        metadata: ["cervella.tier": "\(tier)", "cervella.up_seconds": "\(Int(lasted))"])
                    Counter(label: "cervella_tier_auto_switches_total", dimensions: [("tier", "\(tier)"), ("action", "enabled")]).increment()
                }
            }
        }
        return actions
    }

    /// KEYS: lease. ARGV: owner, milliseconds. Takes a free lease or extends one's own, in one
    /// round trip; 1 when `owner` holds it.
    static let lease = RedisScript(
        """
        local holder = redis.call('GET', KEYS[1])
        if holder == false then
          redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
          return 1
        end
        if holder == ARGV[1] then
          redis.call('PEXPIRE', KEYS[1], ARGV[2])
          return 1
        end
        return 0
        """)

    /// KEYS: config, auto_switch. ARGV: switch field, tier name, record JSON, time. Turns the
    /// tier off unless it is off already or the pool switched it before; keeps the switch's
    /// previous value (absent: the file's setting) to put back.
    static let disable = RedisScript(
        """
        local previous = redis.call('HGET', KEYS[1], ARGV[1])
        if previous == 'false' or redis.call('HEXISTS', KEYS[2], ARGV[2]) == 1 then return 0 end
        redis.call('HSET', KEYS[1], ARGV[1], 'false', 'updated_at', ARGV[4], 'updated_by', 'auto')
        redis.call('HSET', KEYS[2], ARGV[2], ARGV[3], ARGV[2] .. '_previous', previous or '')
        redis.call('PUBLISH', KEYS[1], ARGV[1] .. '=false')
        return 1
        """)

    /// KEYS: config, auto_switch. ARGV: switch field, tier name, time. Puts the switch back
    /// only while the pool's record stands (an operator's write deletes it).
    static let enable = RedisScript(
        """
        if redis.call('HEXISTS', KEYS[2], ARGV[2]) == 0 then return 0 end
        local previous = redis.call('HGET', KEYS[2], ARGV[2] .. '_previous')
        redis.call('HDEL', KEYS[2], ARGV[2], ARGV[2] .. '_previous')
        if redis.call('HGET', KEYS[1], ARGV[1]) ~= 'false' then return 0 end
        if previous and previous ~= '' then
          redis.call('HSET', KEYS[1], ARGV[1], previous, 'updated_at', ARGV[3], 'updated_by', 'auto')
        else
          redis.call('HDEL', KEYS[1], ARGV[1])
          redis.call('HSET', KEYS[1], 'updated_at', ARGV[3], 'updated_by', 'auto')
        end
        redis.call('PUBLISH', KEYS[1], ARGV[1] .. '=restored')
        return 1
        """)
}
