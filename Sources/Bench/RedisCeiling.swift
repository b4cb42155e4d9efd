import Foundation
import RedisClient
import Spawn

/// Redis's own speed on this machine, from `redis-benchmark`: the ceiling for any queue on it.
struct RedisCeiling {
    var unpipelined: Double?
    var pipelined: Double?

    /// Runs LPUSH unpipelined and with 32 commands per round trip; nil without redis-benchmark.
    static func measure(url: String, key: String) async -> RedisCeiling? {
        guard let configuration = try? RedisConfiguration(url: url),
            let tool = ["/usr/bin/redis-benchmark", "/usr/local/bin/redis-benchmark"].first(where: {
                FileManager.default.isExecutableFile(atPath: $0)
            })
        else { return nil }
        var base = ["-h", configuration.host, "-p", String(configuration.port), "-n", "100000", "-c", "50", "--csv"]
        if let password = configuration.password { base += ["-a", password] }
        if let username = configuration.username { base += ["--user", username] }
        base += ["--dbnum", String(configuration.database)]
        FileHandle.standardError.write(Data("  redis-benchmark: LPUSH, unpipelined and -P 32\n".utf8))
        // A key under the run's prefix (deleted afterwards), not redis-benchmark's own `mylist`.
        let command = ["LPUSH", key, "x"]
        return RedisCeiling(unpipelined: await run(tool, base + command), pipelined: await run(tool, base + ["-P", "32"] + command))
    }

    private static func run(_ tool: String, _ arguments: [String]) async -> Double? {
        let output = NSTemporaryDirectory() + "cervella-ceiling-\(UUID().uuidString).csv"
        defer { try? FileManager.default.removeItem(atPath: output) }
        guard
            let process = try? SpawnedProcess(
                executable: tool, arguments: arguments, environment: ProcessInfo.processInfo.environment, output: output)
        else {
            return nil
        }
        await process.waitForExit()
        let data = (try? Data(contentsOf: URL(fileURLWithPath: output))) ?? Data()
        // CSV: a header line ("test","rps",...), then one line per test: "LPUSH ...","81234.57",...
        for line in String(decoding: data, as: UTF8.self).split(whereSeparator: \.isNewline) where !line.hasPrefix("\"test") {
            let fields = line.split(separator: ",").map { $0.trimmingCharacters(in: CharacterSet(charactersIn: "\"")) }
            if fields.count > 1, let rps = Double(fields[1]) { return rps }
        }
        return nil
    }
}
