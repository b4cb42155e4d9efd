import Foundation
import Spawn

/// A `cervella` subcommand started by the bench, with its output in a log file.
final class ChildProcess: Sendable {
    let name: String
    let process: SpawnedProcess
    let logPath: String

    init(binary: String, name: String, arguments: [String], environment: [String: String], logDirectory: String, workingDirectory: String) throws {
        self.name = name
        self.logPath = "\(logDirectory)/\(name).log"
        process = try SpawnedProcess(
            executable: binary, arguments: arguments,
            environment: ProcessInfo.processInfo.environment.merging(environment) { $1 },
            directory: workingDirectory, output: logPath
        )
    }

    var pid: Int32 { process.processIdentifier }
    var isRunning: Bool { process.isRunning }

    /// Resident memory now and at its peak (VmRSS, VmHWM), in megabytes (2^20 bytes).
    func memory() -> (rss: Double, peak: Double)? {
        guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8) else { return nil }
        func field(_ name: String) -> Double? {
            guard let line = status.split(separator: "\n").first(where: { $0.hasPrefix(name + ":") }) else { return nil }
            let kilobytes = line.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first.flatMap { Double($0) }
            return kilobytes.map { $0 / 1024 }
        }
        guard let rss = field("VmRSS"), let peak = field("VmHWM") else { return nil }
        return (rss, peak)
    }

    /// Resident memory per mapped file (anonymous mappings under "[anonymous]"), largest
    /// first, in megabytes: where an RSS figure comes from.
    func residentByMapping() -> [(name: String, megabytes: Double)] {
        // Read to the end: /proc files report no size, and a sized read stops at the first page.
        guard let file = FileHandle(forReadingAtPath: "/proc/\(pid)/smaps"), let data = try? file.readToEnd() else { return [] }
        try? file.close()
        let smaps = String(decoding: data, as: UTF8.self)
        var resident: [String: Double] = [:]
        var current = "[anonymous]"
        for line in smaps.split(separator: "\n") {
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            guard let first = fields.first else { continue }
            if first.contains("-"), first.allSatisfy({ $0.isHexDigit || $0 == "-" }) {
                // A mapping's header: address range, permissions, offset, device, inode, path.
                current = fields.count >= 6 ? fields[5...].joined(separator: " ") : "[anonymous]"
            } else if first == "Rss:", fields.count >= 2, let kilobytes = Double(fields[1]) {
                resident[current, default: 0] += kilobytes / 1024
            }
        }
        return resident.map { (name: $0.key, megabytes: $0.value) }.sorted { $0.megabytes > $1.megabytes }
    }

    /// From /proc/<pid>/smaps_rollup, in megabytes: the proportional share of every page
    /// (shared code split between the processes that map it) and the process's own
    /// anonymous memory (heap, stacks).
    func sharing() -> (pss: Double, anonymous: Double)? {
        guard let rollup = try? String(contentsOfFile: "/proc/\(pid)/smaps_rollup", encoding: .utf8) else { return nil }
        func field(_ name: String) -> Double? {
            guard let line = rollup.split(separator: "\n").first(where: { $0.hasPrefix(name + ":") }) else { return nil }
            return line.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first.flatMap { Double($0) }.map { $0 / 1024 }
        }
        guard let pss = field("Pss"), let anonymous = field("Anonymous") else { return nil }
        return (pss, anonymous)
    }

    /// CPU seconds used so far (user + system).
    func cpuSeconds() -> Double? { processCPUSeconds(pid) }

    /// SIGTERM, then SIGKILL after `grace`; polls instead of blocking a thread on the child.
    func stop(grace: Duration = .seconds(10)) async {
        guard process.isRunning else { return }
        process.terminate()
        let deadline = ContinuousClock.now + grace
        while process.isRunning, ContinuousClock.now < deadline { try? await Task.sleep(for: .milliseconds(20)) }
        process.signal(SIGKILL)
        await process.waitForExit(pollInterval: .milliseconds(10))
    }

    /// The last lines of its log, for an error message.
    func tail(_ lines: Int = 15) -> String {
        let text = (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? ""
        return text.split(separator: "\n").suffix(lines).joined(separator: "\n")
    }
}

public struct BenchError: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// CPU seconds (user + system) a process on this machine has used, from /proc/<pid>/stat.
func processCPUSeconds(_ pid: Int32) -> Double? {
    guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
        let close = stat.lastIndex(of: ")")
    else { return nil }
    // After "pid (comm) ": state is field 3, utime field 14, stime field 15.
    let fields = stat[stat.index(after: close)...].split(separator: " ")
    guard fields.count > 13, let user = Double(fields[11]), let system = Double(fields[12]) else { return nil }
    return (user + system) / Double(sysconf(Int32(_SC_CLK_TCK)))
}
