import Foundation
import JobProtocol
import RedisClient
import Scoring

/// The labelled-outcomes stream in Redis (`cervella:outcomes`): user feedback and shadow labels
/// append to it, `cervella calibrate --from-redis` reads it.
public enum OutcomeStream {
    /// The command that appends one outcome, the stream capped near `maxLength` entries.
    public static func append(_ outcome: LabelledOutcome, keys: KeySpace, maxLength: Int) -> RedisCommand {
        RedisCommand(
            "XADD", RedisArgument(keys.outcomes), "MAXLEN", "~", RedisArgument(maxLength), "*", "o", RedisArgument(outcome.jsonLine()))
    }

    /// The stream, oldest first, a page at a time, at most `limit` outcomes. An entry that does
    /// not parse is skipped and counted: one bad entry must not stop a calibration.
    public static func read(connection: RedisConnection, keys: KeySpace, limit: Int) async throws -> (outcomes: [LabelledOutcome], skipped: Int) {
        var outcomes: [LabelledOutcome] = []
        var start = "-"
        var skipped = 0
        while outcomes.count < limit {
            let page = try await connection.send("XRANGE", RedisArgument(keys.outcomes), RedisArgument(start), "+", "COUNT", "1000")
            let entries = page.array ?? []
            guard !entries.isEmpty else { break }
            for entry in entries {
                guard let parts = entry.array, parts.count == 2, let id = parts[0].string else { continue }
                start = "(" + id
                let fields = parts[1].array ?? []
                var index = 0
                while index + 1 < fields.count {
                    if fields[index].string == "o", let line = fields[index + 1].string {
                        if let outcome = try? LabelledOutcome.parse(line: line), outcomes.count < limit {
                            outcomes.append(outcome)
                        } else {
                            skipped += 1
                        }
                    }
                    index += 2
                }
            }
            if entries.count < 1000 { break }
        }
        return (outcomes, skipped)
    }
}
