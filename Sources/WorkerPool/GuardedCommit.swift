import Foundation
import JobProtocol
import Producer
import RedisClient

/// Writes a job's reply at most once, however many workers finish the same job.
///
/// A job reclaimed from a worker that only looked dead (a long GC pause, a network
/// partition) can be finished twice. The reply commands run only when `SET done:<id> NX`
/// succeeds, in one Lua script, so the second finisher writes nothing visible; it only counts
/// the duplicate provider call (in its statistics). Commands that must always run (taking the
/// job off the processing list) run in both cases.
enum GuardedCommit {
    /// KEYS[1] the done key. ARGV: ttl, owner, then two blocks (first, always),
    /// each a command count followed by, per command, its argument count and arguments, then
    /// `0`, or `1` and a group child's record (group key, child id, outcome, result JSON),
    /// which the first finisher adds to its group (`GroupScripts`), then `0`, or `1` and a
    /// budget settlement (prefix, job id, µ$, hour, day), which every finisher runs, then `0`,
    /// or `1` and a flight release (`FlightRelease`, the replies channel, the reply TTL, the
    /// reply and queue key prefixes), which the first finisher runs. Returns {1, followers
    /// answered} for the first finisher, {0, 0} for a later one.
    static let script = RedisScript(
        GroupScripts.library + budgetLibrary + flightLibrary + """
            local first = redis.call('SET', KEYS[1], ARGV[2], 'NX', 'EX', ARGV[1])
            local i = 3
            local function block(run)
              local count = tonumber(ARGV[i]); i = i + 1
              for _ = 1, count do
                local argc = tonumber(ARGV[i]); i = i + 1
                if run then redis.call(unpack(ARGV, i, i + argc - 1)) end
                i = i + argc
              end
            end
            block(first ~= false)
            block(true)
            if ARGV[i] == '1' then
              if first then group_record(ARGV[i + 1], ARGV[i + 2], ARGV[i + 3], ARGV[i + 4]) end
              i = i + 5
            else
              i = i + 1
            end
            if ARGV[i] == '1' then
              budget_settle(ARGV[i + 1], ARGV[i + 2], tonumber(ARGV[i + 3]), ARGV[i + 4], ARGV[i + 5])
              i = i + 6
            else
              i = i + 1
            end
            local delivered = 0
            if first and ARGV[i] == '1' then
              delivered = flight_release(ARGV[i + 1], ARGV[i + 2], ARGV[i + 3], ARGV[i + 4], ARGV[i + 5], ARGV[i + 6], ARGV[i + 7], ARGV[i + 8], ARGV[i + 9])
            end
            if first then return {1, delivered} else return {0, 0} end
            """)

    /// The escalation budget's settlement (`EscalationBudget`), run by every finisher of a
    /// fallback hop: the job's reservation released once, the call's cost (micro-dollars) added
    /// to now's hour and day, whoever answered (a duplicate call was paid for too).
    static let budgetLibrary = """
        local function budget_settle(prefix, job, micros, hour, day)
          local held = prefix .. ':budget:reservations'
          local entry = redis.call('HGET', held, job)
          if entry then
            local amount, h, d = string.match(entry, '^(%d+) (%d+) (%d+)$')
            if amount then
              redis.call('DECRBY', prefix .. ':budget:reserved:' .. h, amount)
              redis.call('DECRBY', prefix .. ':budget:reserved:' .. d, amount)
            end
            redis.call('HDEL', held, job)
          end
          if micros and micros > 0 then
            redis.call('INCRBY', prefix .. ':budget:spent:' .. hour, micros)
            redis.call('EXPIRE', prefix .. ':budget:spent:' .. hour, 7200)
            redis.call('INCRBY', prefix .. ':budget:spent:' .. day, micros)
            redis.call('EXPIRE', prefix .. ':budget:spent:' .. day, 172800)
          end
        end

        """

    /// Single-flight's release (`SingleFlight`), run by the first finisher of a job that may
    /// lead: when the flight key still names this job, every follower gets the result (the
    /// template with its own id) on its reply key and the replies channel; a leader that was
    /// cancelled or missed its deadline (`promote`) queues its first follower as the new leader
    /// instead. Returns the followers answered. Follower entries are checked: a reply key and a
    /// queue key of this deployment, else skipped.
    static let flightLibrary = """
        local function flight_release(key, job, promote, head, tail, channel, ttl, replyPrefix, queuePrefix)
          if redis.call('GET', key) ~= job then return 0 end
          local followers = key .. ':followers'
          local function entry_of(raw)
            local ok, f = pcall(cjson.decode, raw)
            if not ok or type(f) ~= 'table' or type(f.id) ~= 'string' or type(f.reply) ~= 'string' then return nil end
            if string.sub(f.reply, 1, #replyPrefix) ~= replyPrefix then return nil end
            return f
          end
          if promote == '1' then
            while true do
              local raw = redis.call('LPOP', followers)
              if not raw then break end
              local f = entry_of(raw)
              if f and type(f.queue) == 'string' and type(f.job) == 'string' and string.sub(f.queue, 1, #queuePrefix) == queuePrefix then
                local now = tonumber(redis.call('TIME')[1])
                local left = math.floor((tonumber(f.deadline) or now) - now) + 5
                redis.call('SET', key, f.id, 'EX', math.max(1, math.min(90000, left)))
                redis.call('LPUSH', f.queue, f.job)
                return 0
              end
            end
            redis.call('DEL', key)
            return 0
          end
          local delivered = 0
          for _, raw in ipairs(redis.call('LRANGE', followers, 0, -1)) do
            local f = entry_of(raw)
            if f then
              local result = head .. cjson.encode(f.id) .. tail
              redis.call('LPUSH', f.reply, result)
              redis.call('EXPIRE', f.reply, ttl)
              redis.call('PUBLISH', channel, result)
              delivered = delivered + 1
            end
          end
          redis.call('DEL', followers, key)
          return delivered
        end

        """

    /// A leader's release of its flight (`SingleFlight`), for `flight_release`.
    struct FlightRelease: Equatable {
        /// `KeySpace.flight(digest)`.
        var key: String
        var jobID: String
        /// Hand the flight to the first follower rather than answer the followers.
        var promote: Bool
        /// The follower result around the follower's id (`SingleFlight.followerTemplate`).
        var head: [UInt8]
        var tail: [UInt8]
        /// What the leader's call cost: each follower saved as much.
        var savedUSD: Double
    }

    /// A group child's result, for its group's count (`JobCommit.Plan.group`).
    struct GroupRecord: Equatable {
        /// `KeySpace.group(groupID)`.
        var key: String
        var child: String
        /// `succeeded`, `failed` or `cancelled`: the set the child is counted in.
        var outcome: String
        var result: [UInt8]
    }

    /// Flattens the blocks (and the group record, and the budget settlement) into the script's
    /// arguments.
    static func arguments(
        ttlSeconds: Int, owner: String, first: [RedisCommand], always: [RedisCommand], group: GroupRecord? = nil,
        budget: (prefix: String, settlement: BudgetSettlement)? = nil, flight: FlightRelease? = nil, keys: KeySpace = KeySpace(),
        replyTTLSeconds: Int = 300, now: Date = Date()
    ) -> [RedisArgument] {
        var arguments: [RedisArgument] = [RedisArgument(max(1, ttlSeconds)), RedisArgument(owner)]
        for block in [first, always] {
            arguments.append(RedisArgument(block.count))
            for command in block {
                arguments.append(RedisArgument(command.arguments.count))
                arguments += command.arguments.map { RedisArgument(bytes: $0) }
            }
        }
        if let group {
            arguments += [
                "1", RedisArgument(group.key), RedisArgument(group.child), RedisArgument(group.outcome), RedisArgument(bytes: group.result),
            ]
        } else {
            arguments.append("0")
        }
        if let budget {
            let time = UTCTime(now)
            arguments += [
                "1", RedisArgument(budget.prefix), RedisArgument(budget.settlement.jobID),
                RedisArgument(EscalationBudget.micros(budget.settlement.costUSD)), RedisArgument(time.hourStamp), RedisArgument(time.dayStamp),
            ]
        } else {
            arguments.append("0")
        }
        if let flight {
            arguments += [
                "1", RedisArgument(flight.key), RedisArgument(flight.jobID), flight.promote ? "1" : "0", RedisArgument(bytes: flight.head),
                RedisArgument(bytes: flight.tail), RedisArgument(keys.replyEvents), RedisArgument(max(1, replyTTLSeconds)),
                RedisArgument(keys.reply("")), RedisArgument("\(keys.prefix):queue:"),
            ]
        } else {
            arguments.append("0")
        }
        return arguments
    }
}
