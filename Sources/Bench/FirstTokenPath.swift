import Foundation
import RedisClient

/// Where a pooled stream's first token spent its time, read from the job's stream entries.
///
/// A stream entry's id starts with the Redis server's clock, in milliseconds, when the entry
/// was written, and Redis runs on this machine: beside the load generator's wall-clock times
/// the ids split the time to first token in three. Ids have millisecond resolution, so one
/// stream's parts are ±1 ms; the medians over many streams are what to read.
struct FirstTokenPath {
    /// Request sent → the worker's `start` entry: the gateway's enqueue, the worker's fetch,
    /// the `start` entry's write.
    var toStart = Samples()
    /// `start` entry → first `delta` entry: the worker's provider call up to its first token
    /// (which includes the provider's own time to first token, the direct series' TTFT) and
    /// that delta's write.
    var startToDelta = Samples()
    /// First `delta` entry → the client has the token: the gateway's read of the stream, its
    /// write, the client's read.
    var deltaToClient = Samples()

    /// The parts of `traces` (streams through the gateway) from their jobs' streams.
    static func measure(_ traces: [StreamTrace], rig: BenchRig) async throws -> FirstTokenPath {
        var path = FirstTokenPath()
        for trace in traces {
            guard let id = trace.jobID, let firstTokenAt = trace.firstTokenAt else { continue }
            let reply = try await rig.redis.send("XRANGE", RedisArgument(rig.keys.stream(id)), "-", "+", "COUNT", 8)
            var start: Double?
            var delta: Double?
            for entry in reply.array ?? [] {
                guard let parts = entry.array, parts.count == 2, let entryID = parts[0].string, let fields = parts[1].array,
                    let milliseconds = entryID.split(separator: "-").first.flatMap({ Double($0) })
                else { continue }
                let kind = stride(from: 0, to: fields.count - 1, by: 2).first { fields[$0].string == "kind" }.flatMap { fields[$0 + 1].string }
                if kind == "start" && start == nil { start = milliseconds }
                if kind == "delta" && delta == nil { delta = milliseconds }
            }
            guard let start, let delta else { continue }
            path.toStart.append(start - trace.sentAt * 1000)
            path.startToDelta.append(delta - start)
            path.deltaToClient.append(firstTokenAt * 1000 - delta)
        }
        return path
    }

    /// "request → start entry 1.2 ms, start → first delta 22.0 ms, first delta → client 3.1 ms
    /// (medians of 50 streams)".
    var summary: String {
        String(
            format: "request → worker's start entry %.1f ms, start → first delta entry %.1f ms, first delta entry → client %.1f ms",
            toStart.p50, startToDelta.p50, deltaToClient.p50) + " (medians of \(toStart.count) streams, Redis entry-id clock)"
    }
}
