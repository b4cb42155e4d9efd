import RedisClient

/// The Lua scripts that move a bulk fallback through a Message Batch. Each is one atomic step,
/// so a worker killed between two of them leaves every job in exactly one place: its
/// processing list, the pending list, a batch's entries, or a queue (docs/RELIABILITY.md,
/// "Message Batches").
enum MessageBatchScripts {
    /// Parks a fetched job: off the processing list (KEYS[1]) onto the pending list (KEYS[2]),
    /// noting when the pending list started to fill (KEYS[3]). ARGV: payload, now. 0 when the
    /// job was no longer in the processing list (nothing moved).
    static let park = RedisScript(
        """
        if redis.call('LREM', KEYS[1], -1, ARGV[1]) == 0 then return 0 end
        redis.call('LPUSH', KEYS[2], ARGV[1])
        redis.call('SET', KEYS[3], ARGV[2], 'NX')
        return 1
        """)

    /// Stages the oldest pending jobs as one batch's entries before its create call, so that a
    /// worker killed during the call loses none: KEYS[1] pending, KEYS[2] pending-since,
    /// KEYS[3] the open hash, KEYS[4] the staged entries hash. ARGV: most entries, most payload
    /// bytes, handle, record JSON, now. Returns the entries as custom id, payload pairs.
    static let stage = RedisScript(
        """
        local out = {}
        local bytes = 0
        local n = 0
        while n < tonumber(ARGV[1]) do
          local job = redis.call('RPOP', KEYS[1])
          if not job then break end
          if n > 0 and bytes + #job > tonumber(ARGV[2]) then
            redis.call('RPUSH', KEYS[1], job)
            break
          end
          n = n + 1
          bytes = bytes + #job
          local id = 'e' .. n
          redis.call('HSET', KEYS[4], id, job)
          out[#out + 1] = id
          out[#out + 1] = job
        end
        if n > 0 then redis.call('HSET', KEYS[3], ARGV[3], ARGV[4]) end
        if redis.call('LLEN', KEYS[1]) == 0 then redis.call('DEL', KEYS[2]) else redis.call('SET', KEYS[2], ARGV[5]) end
        return out
        """)

    /// Records the batch id of a staged batch once its create call returned: KEYS[1] the open
    /// hash, KEYS[2] the staged entries, KEYS[3] the batch's entries. ARGV: the staged handle,
    /// the batch id, the batch's record. 0 when the staged batch was given up meanwhile (its
    /// jobs went back to pending): the new batch is then an orphan to cancel.
    static let opened = RedisScript(
        """
        if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 0 then return 0 end
        if redis.call('EXISTS', KEYS[2]) == 1 then redis.call('RENAME', KEYS[2], KEYS[3]) end
        redis.call('HDEL', KEYS[1], ARGV[1])
        redis.call('HSET', KEYS[1], ARGV[2], ARGV[3])
        return 1
        """)

    /// Gives up a staged batch (its create call failed, or its worker died during it): its
    /// entries go back to the tail of the pending list, the end batches are taken from.
    /// KEYS[1] the open hash, KEYS[2] the staged entries, KEYS[3] pending, KEYS[4]
    /// pending-since. ARGV: the handle, now. Returns the jobs moved.
    static let unstage = RedisScript(
        """
        if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 0 then return 0 end
        local entries = redis.call('HVALS', KEYS[2])
        for _, job in ipairs(entries) do redis.call('RPUSH', KEYS[3], job) end
        if #entries > 0 then redis.call('SET', KEYS[4], ARGV[2], 'NX') end
        redis.call('DEL', KEYS[2])
        redis.call('HDEL', KEYS[1], ARGV[1])
        return #entries
        """)

    /// Takes one entry out of its batch and queues it for a Messages call of its own (an
    /// `errored`, `expired` or `canceled` result, a deadline too close, no result at all):
    /// KEYS[1] the batch's entries, KEYS[2] the queue. ARGV: custom id. 0 when the entry was
    /// already answered or taken out.
    static let rescue = RedisScript(
        """
        local job = redis.call('HGET', KEYS[1], ARGV[1])
        if not job then return 0 end
        redis.call('HDEL', KEYS[1], ARGV[1])
        redis.call('LPUSH', KEYS[2], job)
        return 1
        """)

    /// Takes (or renews) the batcher's lease: KEYS[1] the lease, ARGV owner, milliseconds.
    static let lease = RedisScript(
        """
        local holder = redis.call('GET', KEYS[1])
        if holder == ARGV[1] then redis.call('PEXPIRE', KEYS[1], ARGV[2]) return 1 end
        if holder then return 0 end
        redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
        return 1
        """)

    /// Forgets a batch whose entries are all answered or rescued: KEYS[1] the open hash,
    /// KEYS[2] its entries. ARGV: the batch id. 0 while entries are left.
    static let close = RedisScript(
        """
        if redis.call('HLEN', KEYS[2]) > 0 then return 0 end
        redis.call('HDEL', KEYS[1], ARGV[1])
        return 1
        """)
}
