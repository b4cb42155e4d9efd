import Foundation

/// `host:pid`, the name a worker's heartbeat and processing lists carry.
public enum WorkerIdentity {
    public static func current() -> String {
        let host = ProcessInfo.processInfo.hostName.split(separator: ".").first.map(String.init) ?? "host"
        return "\(host):\(getpid())"
    }
}
