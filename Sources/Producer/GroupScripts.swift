import RedisClient

/// The Lua that keeps a job group (docs/PROTOCOL.md, "Job groups"): its submission, the
/// recording of each child's result, and its completion, which runs exactly once.
///
/// A group's hash (`KeySpace.group`) holds everything the scripts need besides its own keys
/// (`id`, `total`, `wait`, `n`, `on_failure`, `reply_to`, `reply_ttl`, `cancel_key`,
/// `cancels`, `replies`, `state`), so a worker's commit and a coordinator's cancel pass only
/// the group's key. A child's result is counted by its id: `HSETNX` on the results hash lets
/// the first one in, so a child finished twice (reclaimed by the reaper, retried) counts once.
public enum GroupScripts {
    /// `group_finish(base, reason, ok, code, message)` and `group_record(base, child, outcome,
    /// result)`, shared by the worker's guarded commit and the cancel script.
    ///
    /// `group_finish` marks the group done, cancels the children that have not ended (one flag
    /// and one announcement for the whole group), and writes the group's result to its reply
    /// list and the replies channel, like a job's. It runs only while the group is open.
    public static let library = """
        local function group_ids(list)
          if #list == 0 then return '[]' end
          return cjson.encode(list)
        end
        local function group_finish(base, reason, ok, code, message)
          local m = redis.call('HMGET', base, 'id', 'total', 'wait', 'n', 'on_failure', 'reply_to', 'reply_ttl',
            'cancel_key', 'cancels', 'replies')
          redis.call('HSET', base, 'state', 'done', 'reason', reason, 'ok', ok and '1' or '0')
          local children = redis.call('LRANGE', base .. ':children', 0, -1)
          local results, open = {}, {}
          for _, child in ipairs(children) do
            local result = redis.call('HGET', base .. ':results', child)
            if result then results[#results + 1] = result else open[#open + 1] = child end
          end
          local ttl = redis.call('TTL', base)
          if ttl < 1 then ttl = tonumber(m[7]) end
          if #open > 0 then
            redis.call('SET', m[8], '1', 'EX', ttl)
            redis.call('PUBLISH', m[9], m[1])
          end
          local json = '{"v":1,"id":' .. cjson.encode(m[1]) .. ',"ok":' .. (ok and 'true' or 'false')
          if not ok then
            json = json .. ',"error":{"code":' .. cjson.encode(code) .. ',"message":' .. cjson.encode(message) .. '}'
          end
          json = json .. ',"group":{"state":"done","reason":' .. cjson.encode(reason)
            .. ',"total":' .. m[2]
            .. ',"succeeded":' .. redis.call('SCARD', base .. ':succeeded')
            .. ',"failed":' .. redis.call('SCARD', base .. ':failed')
            .. ',"cancelled":' .. redis.call('SCARD', base .. ':cancelled')
            .. ',"pending":' .. #open
            .. ',"wait":' .. cjson.encode(m[3]) .. ',"n":' .. m[4] .. ',"on_failure":' .. cjson.encode(m[5]) .. '}'
            .. ',"results":[' .. table.concat(results, ',') .. '],"cancelled_children":' .. group_ids(open) .. '}'
          redis.call('LPUSH', m[6], json)
          redis.call('EXPIRE', m[6], ttl)
          redis.call('PUBLISH', m[10], json)
          return json
        end
        local function group_record(base, child, outcome, result)
          if redis.call('EXISTS', base) == 0 then return end
          if redis.call('HSETNX', base .. ':results', child, result) == 0 then return end
          redis.call('SADD', base .. ':' .. outcome, child)
          local ttl = redis.call('TTL', base)
          if ttl > 0 then
            redis.call('EXPIRE', base .. ':results', ttl)
            redis.call('EXPIRE', base .. ':' .. outcome, ttl)
          end
          local m = redis.call('HMGET', base, 'state', 'total', 'wait', 'n', 'on_failure')
          if m[1] ~= 'open' then return end
          local total, n = tonumber(m[2]), tonumber(m[4])
          local succeeded = redis.call('SCARD', base .. ':succeeded')
          local ended = succeeded + redis.call('SCARD', base .. ':failed') + redis.call('SCARD', base .. ':cancelled')
          if m[3] == 'first_n' and succeeded >= n then
            group_finish(base, 'first_n_reached', true)
          elseif m[5] == 'fail_fast' and outcome == 'failed' then
            local code = 'error'
            local decoded, value = pcall(cjson.decode, result)
            if decoded and type(value) == 'table' and type(value.error) == 'table' and type(value.error.code) == 'string' then
              code = value.error.code
            end
            group_finish(base, 'child_failed', false, 'group_failed', 'child ' .. child .. ' failed (' .. code .. '); the group fails fast')
          elseif m[3] == 'first_n' and succeeded + (total - ended) < n then
            group_finish(base, 'first_n_unreachable', false, 'group_failed',
              'only ' .. succeeded .. ' children can still succeed, and the group waits for ' .. n)
          elseif ended >= total then
            group_finish(base, 'all_ended', true)
          end
        end

        """

    /// Creates a group and enqueues every child, or nothing.
    ///
    /// ARGV: the group's key, its TTL in seconds, the number of hash fields, the fields and
    /// values, the number of children, then per child its queue key, id and job JSON.
    /// Returns the number of children, or an error reply when the group exists.
    public static let submit = RedisScript(
        """
        local base, ttl = ARGV[1], ARGV[2]
        if redis.call('EXISTS', base) == 1 then return redis.error_reply('ERR group exists') end
        local i = 3
        local count = tonumber(ARGV[i]); i = i + 1
        for _ = 1, count do
          redis.call('HSET', base, ARGV[i], ARGV[i + 1]); i = i + 2
        end
        redis.call('HSET', base, 'state', 'open')
        local children = tonumber(ARGV[i]); i = i + 1
        for _ = 1, children do
          redis.call('RPUSH', base .. ':children', ARGV[i + 1])
          redis.call('LPUSH', ARGV[i], ARGV[i + 2])
          i = i + 3
        end
        redis.call('EXPIRE', base, ttl)
        redis.call('EXPIRE', base .. ':children', ttl)
        return children
        """)

    /// Cancels a group: ARGV[1] its key. Returns 0 for an unknown (or expired) group, 1 for
    /// one that had ended already, 2 when this call ended it.
    public static let cancel = RedisScript(
        library + """
            local base = ARGV[1]
            if redis.call('EXISTS', base) == 0 then return 0 end
            if redis.call('HGET', base, 'state') ~= 'open' then return 1 end
            group_finish(base, 'cancelled', false, 'cancelled', 'the group was cancelled by its coordinator')
            return 2
            """)
}
