import Foundation
import JobProtocol
import Settings

/// Single-flight (docs/PROTOCOL.md, "Single-flight"): identical requests in flight at the same
/// time make one provider call.
///
/// The enqueue script (`Producer.enqueueScript`) looks the cache up, then the job's flight key,
/// `<prefix>:flight:<cache digest>`, which holds the id of the identical job already queued or
/// running, the leader. When there is one, the new job is not queued: it is appended to the
/// leader's followers (`…:followers`, its reply key, id, queue and JSON) and waits on its own reply
/// key as usual. Otherwise it is queued and becomes the leader. Across producers and workers the
/// key is the one lock.
///
/// The leader's reply commit (`GuardedCommit`, `flight_release`) writes its result to every
/// follower's reply key, with the follower's id, `cache_hit: true` and `coalesced: true`, in the
/// same script as its own reply. A leader that was cancelled, or missed its deadline, hands the
/// flight on instead: its first follower is queued as the new leader. A leader whose worker dies
/// is recovered by the reaper like any job, and its commit still answers the followers.
public enum SingleFlight {
    /// Followers one leader takes; more identical requests are queued as usual.
    public static let maxFollowers = 10_000

    /// The id the follower template holds in place of each follower's own (JSON-escaped by the
    /// script, `cjson.encode`).
    static let placeholder = "\u{1}cervella-follower-id\u{1}"

    /// True for a job that may lead or follow: it may use the cache, and its answer is delivered
    /// only through its reply key (not streamed, not a group's child). A leader stays one on
    /// its fallback hop: Claude's answer is the one its followers get.
    public static func isEligible(_ job: Job, settings: CervellaSettings) -> Bool {
        settings.cache.enabled && settings.cache.singleFlight && job.cache && !job.stream && job.group == nil
    }

    /// How long a flight (and its followers list) may live: until the job's deadline, and a little.
    static func ttlSeconds(_ job: Job, now: Double) -> Int {
        let remaining = (job.deadlineAt ?? now + 60) - now
        return max(1, min(90_000, Int(saturating: remaining) + 5))
    }

    /// A follower as the leader's commit reads it.
    static func followerEntry(_ job: Job, queueKey: String, jobJSON: [UInt8]) -> [UInt8] {
        var w = JSONWriter()
        w.object { w in
            w.key("id"); w.string(job.id)
            w.key("reply"); w.string(job.replyTo)
            w.key("queue"); w.string(queueKey)
            w.key("deadline"); w.double(job.deadlineAt ?? (job.createdAt + 60))
            w.key("job"); w.string(String(decoding: jobJSON, as: UTF8.self))
        }
        return w.bytes
    }

    /// The leader's result as its followers get it, split around the follower's id: what comes
    /// before the id's JSON string and what comes after.
    public static func followerTemplate(_ result: JobResult) -> (head: [UInt8], tail: [UInt8])? {
        var follower = result
        follower.id = placeholder
        if var metadata = follower.metadata {
            metadata.cacheHit = true
            metadata.coalesced = true
            metadata.costUSD = 0
            metadata.queueMs = 0
            follower.metadata = metadata
        }
        let bytes = follower.jsonBytes()
        var w = JSONWriter()
        w.string(placeholder)
        let needle = w.bytes
        guard let start = firstIndex(of: needle, in: bytes) else { return nil }
        return (Array(bytes[..<start]), Array(bytes[(start + needle.count)...]))
    }

    private static func firstIndex(of needle: [UInt8], in bytes: [UInt8]) -> Int? {
        guard !needle.isEmpty, bytes.count >= needle.count else { return nil }
        for start in 0...(bytes.count - needle.count) where bytes[start] == needle[0] {
            if bytes[start..<(start + needle.count)].elementsEqual(needle) { return start }
        }
        return nil
    }
}
