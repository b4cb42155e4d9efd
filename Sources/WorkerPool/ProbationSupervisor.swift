import ControlPlane
import Foundation
import JobProtocol
import RedisClient
import Spawn

/// Runs a worker's probation processes: starts them while the quarantine holds jobs (up to
/// `worker.probation_processes`), and when one dies, retires the job it held, which it was
/// running alone, as poison. The worker itself never runs a quarantined job.
struct ProbationSupervisor: Sendable {
    let writer: CommitWriter
    let launcher: ProbationLauncher
    var keys: KeySpace { writer.keys }

    private struct Child {
        var id: String
        var process: SpawnedProcess
    }

    func run(interval: Duration) async {
        var children: [Child] = []
        var sequence = 0
        await repeatEvery(interval) {
            children = await reap(children)
            do {
                let waiting = try await writer.connection.send("LLEN", RedisArgument(keys.queue(.quarantine))).integer ?? 0
                if waiting > children.count, children.count < writer.settings.worker.probationProcesses, !writer.isStopping() {
                    sequence += 1
                    let id = "\(writer.owner)/probation-\(sequence)"
                    children.append(Child(id: id, process: try launcher.start(id)))
                    writer.logger.notice(
                        "started a probation process for quarantined jobs",
                        metadata: [
                            "cervella.probation": "\(id)", "cervella.quarantined": "\(waiting)",
                        ])
                }
            } catch {
                writer.logger.warning("cannot check or serve the quarantine; will retry", metadata: ["cervella.error": "\(error)"])
            }
        }
        await stop(children)
    }

    /// Handles every child that has exited; returns the ones still running.
    private func reap(_ children: [Child]) async -> [Child] {
        var running: [Child] = []
        for child in children {
            guard let status = child.process.terminationStatus else {
                running.append(child)
                continue
            }
            await settle(child, status: status, killedByUs: false)
        }
        return running
    }

    /// A child that exited cleanly left nothing behind. One that died left at most the one
    /// job it was running: that job is the cause, so it is retired, not run again.
    private func settle(_ child: Child, status: Int32, killedByUs: Bool) async {
        let list = keys.processing(.quarantine, worker: child.id)
        let reaper = Reaper(writer: writer)
        for attempt in 1...5 {
            do {
                let held = try await writer.connection.send("LRANGE", RedisArgument(list), 0, -1).array?.compactMap(\.bytes) ?? []
                for payload in held {
                    if status == 0 || killedByUs {
                        try await reaper.moveBack(payload, from: list, to: .quarantine, updated: payload)
                    } else {
                        let how = status > 128 ? "was killed by signal \(status - 128)" : "exited with status \(status)"
                        try await reaper.retire(
                            payload, from: list, queue: .quarantine, owner: child.id,
                            reason: "poison job: the probation process running it alone \(how); not retried again")
                    }
                }
                _ = try await writer.connection.pipeline([
                    RedisCommand("SREM", RedisArgument(keys.processingLists), RedisArgument(list)),
                    RedisCommand("DEL", RedisArgument(keys.worker(child.id))),
                ])
                if status != 0 {
                    writer.logger.warning(
                        "a probation process died",
                        metadata: [
                            "cervella.probation": "\(child.id)", "cervella.status": "\(status)",
                            "cervella.jobs_retired": "\(killedByUs ? 0 : held.count)",
                        ])
                }
                return
            } catch {
                // Redis is away: the reaper finds the list once the child's heartbeat expires.
                if attempt == 5 {
                    writer.logger.error("cannot settle a probation process's jobs; the reaper will", metadata: ["cervella.error": "\(error)"])
                }
                try? await Task.sleep(for: .milliseconds(200 * attempt))
            }
        }
    }

    /// Shutdown: each child drains like any worker (its job goes back to the quarantine).
    private func stop(_ children: [Child]) async {
        for child in children { child.process.terminate() }
        let patience = writer.settings.worker.drainTimeoutSeconds + 5
        for child in children {
            var killed = false
            if await !child.process.waitForExit(seconds: patience) {
                child.process.signal(SIGKILL)
                await child.process.waitForExit()
                killed = true
            }
            await settle(child, status: child.process.terminationStatus ?? 0, killedByUs: killed)
        }
    }
}
