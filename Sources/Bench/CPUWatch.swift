import Foundation

/// The CPU time the bench's processes use over one series, per second of wall time.
///
/// Redis, the simulator, the worker, the gateway and the load generator share the machine's
/// cores, so a latency figure is only explained beside what each process was doing; this is
/// the quick per-process look (/proc/<pid>/stat, user + system) that says whether a series
/// ran out of CPU.
struct CPUWatch {
    private let processes: [(name: String, pid: Int32)]
    private let before: [Double?]
    private let started: ContinuousClock.Instant

    /// Starts counting for `processes` (a name and a pid on this machine each).
    init(_ processes: [(name: String, pid: Int32)]) {
        self.processes = processes
        before = processes.map { processCPUSeconds($0.pid) }
        started = .now
    }

    /// CPU milliseconds per second of wall time since `init`, by process, and all of them
    /// together: "gateway 452 ms/s, worker 418 ms/s, …, all 1.61 cores".
    func summary() -> String {
        let seconds = max(started.duration(to: .now).seconds, 1e-9)
        var total = 0.0
        var parts: [String] = []
        for (process, start) in zip(processes, before) {
            guard let start, let end = processCPUSeconds(process.pid) else { continue }
            let used = end - start
            total += used
            parts.append("\(process.name) \(Int((used / seconds * 1000).rounded())) ms/s")
        }
        parts.append(String(format: "all %.2f cores", total / seconds))
        return parts.joined(separator: ", ")
    }
}
