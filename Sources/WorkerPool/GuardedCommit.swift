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
    /// each a command count followed by, per command, its argument count and arguments.
    static let script = RedisScript(
        """
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
        if first then return 1 else return 0 end
        """)

    /// Flattens the blocks into the script's arguments.
    static func arguments(ttlSeconds: Int, owner: String, first: [RedisCommand], always: [RedisCommand]) -> [RedisArgument] {
        var arguments: [RedisArgument] = [RedisArgument(max(1, ttlSeconds)), RedisArgument(owner)]
        for block in [first, always] {
            arguments.append(RedisArgument(block.count))
            for command in block {
                arguments.append(RedisArgument(command.arguments.count))
                arguments += command.arguments.map { RedisArgument(bytes: $0) }
            }
        }
        return arguments
    }
}
