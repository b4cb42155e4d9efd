import Foundation

/// `host:pid`, the name a worker's heartbeat and processing lists carry.
public enum WorkerIdentity {
    public static func current() -> String { forProcess(getpid()) }

    /// The id of a worker process on this host, for a parent that started it.
    public static func forProcess(_ pid: Int32) -> String {
        let host = ProcessInfo.processInfo.hostName.split(separator: ".").first.map(String.init) ?? "host"
        return "\(host):\(pid)"
    }
}
