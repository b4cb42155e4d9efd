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
    /// which the first finisher adds to its group (`GroupScripts`).
    static let script = RedisScript(
        GroupScripts.library + """
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
            if first and ARGV[i] == '1' then group_record(ARGV[i + 1], ARGV[i + 2], ARGV[i + 3], ARGV[i + 4]) end
            if first then return 1 else return 0 end
            """)

    /// A group child's result, for its group's count (`JobCommit.Plan.group`).
    struct GroupRecord: Equatable {
        /// `KeySpace.group(groupID)`.
        var key: String
        var child: String
        /// `succeeded`, `failed` or `cancelled`: the set the child is counted in.
        var outcome: String
        var result: [UInt8]
    }

    /// Flattens the blocks (and the group record) into the script's arguments.
    static func arguments(
        ttlSeconds: Int, owner: String, first: [RedisCommand], always: [RedisCommand], group: GroupRecord? = nil
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
        return arguments
    }
}
