import Foundation
import Spawn

/// How a worker starts a probation process: a process of its own that takes quarantined
/// jobs one at a time and exits when the quarantine is empty.
///
/// A job that crashes the process running it (a trap, a segfault) would crash every worker the
/// reaper handed it to next. So a job recovered from a dead worker is never handed to a worker
/// again: it waits in the quarantine until a probation process runs it alone. If that process
/// dies, the job it held is the cause, and it is retired at once (see `ProbationSupervisor`).
public struct ProbationLauncher: Sendable {
    let start: @Sendable (_ workerID: String) throws -> SpawnedProcess

    /// - Parameter start: starts a probation process whose worker id is the argument.
    public init(start: @escaping @Sendable (_ workerID: String) throws -> SpawnedProcess) {
        self.start = start
    }

    /// The running executable again (`/proc/self/exe`), with `arguments` followed by
    /// `--probation --worker-id <id>`, the same environment, and the same output.
    public static func currentExecutable(arguments: [String]) -> ProbationLauncher {
        let executable = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        return ProbationLauncher { id in
            try SpawnedProcess(
                executable: executable, arguments: arguments + ["--probation", "--worker-id", id],
                environment: ProcessInfo.processInfo.environment, output: "-"
            )
        }
    }
}
