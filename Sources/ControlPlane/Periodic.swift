/// Runs `body` every `interval` until the task is cancelled: the shape of every background
/// loop of a worker (heartbeat, statistics, health probes, reaper, probation, live config).
///
/// The interval is the pause between the end of one run and the start of the next, so a slow
/// run never piles up runs behind it. With `.afterFirstInterval` the first run waits one
/// interval (a flush of what was counted meanwhile); by default it runs at once.
public func repeatEvery(_ interval: Duration, starting: PeriodicStart = .immediately, _ body: () async -> Void) async {
    if starting == .afterFirstInterval { try? await Task.sleep(for: interval) }
    while !Task.isCancelled {
        await body()
        if Task.isCancelled { return }
        try? await Task.sleep(for: interval)
    }
}

public enum PeriodicStart: Sendable {
    case immediately
    case afterFirstInterval
}
