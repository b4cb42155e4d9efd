import CSpawn
import Foundation
import Synchronization

/// A child process started with posix_spawn (see `cervella_spawn`), for the bench and the
/// tests: Foundation's `Process.run` can crash the parent on Linux.
public final class SpawnedProcess: Sendable {
    public let processIdentifier: Int32
    /// The file that receives the child's output, when one was given.
    public let outputPath: String?
    private let status = Mutex<Int32?>(nil)

    /// - Parameters:
    ///   - output: file that receives stdout and stderr (appended); nil discards them; "-"
    ///     keeps the parent's.
    ///   - directory: the child's working directory; nil keeps the parent's.
    public init(executable: String, arguments: [String], environment: [String: String], directory: String? = nil, output: String? = nil) throws {
        let argv: [UnsafeMutablePointer<CChar>?] = ([executable] + arguments).map { strdup($0) } + [nil]
        let envp: [UnsafeMutablePointer<CChar>?] = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer {
            for pointer in argv { free(pointer) }
            for pointer in envp { free(pointer) }
        }
        var pid: pid_t = 0
        let result = cervella_spawn(executable, argv, envp, directory, output, &pid)
        guard result == 0 else {
            throw SpawnError("cannot start \(executable): \(String(cString: strerror(result)))")
        }
        processIdentifier = pid
        outputPath = output
    }

    /// Reaps the child if it exited; true while it runs.
    public var isRunning: Bool {
        status.withLock { status in
            guard status == nil else { return false }
            var raw: Int32 = 0
            if waitpid(processIdentifier, &raw, WNOHANG) == processIdentifier {
                status = raw
                return false
            }
            return true
        }
    }

    /// The exit code, or 128 + the signal that ended it; nil while it runs.
    public var terminationStatus: Int32? {
        guard !isRunning, let raw = status.withLock({ $0 }) else { return nil }
        let signal = raw & 0x7F
        return signal == 0 ? (raw >> 8) & 0xFF : 128 + signal
    }

    public func terminate() { signal(SIGTERM) }

    public func signal(_ number: Int32) {
        if isRunning { kill(processIdentifier, number) }
    }

    /// Polls until the child exits (never blocks a thread of Swift's cooperative pool).
    public func waitForExit(pollInterval: Duration = .milliseconds(20)) async {
        while isRunning { try? await Task.sleep(for: pollInterval) }
    }

    /// Polls for up to `seconds`; true when the child exited by then.
    public func waitForExit(seconds: Double) async -> Bool {
        let deadline = ContinuousClock.now + .milliseconds(Int(seconds * 1000))
        while isRunning, ContinuousClock.now < deadline { try? await Task.sleep(for: .milliseconds(50)) }
        return !isRunning
    }
}

public struct SpawnError: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}
