import Foundation
import JobProtocol
import Producer
import Synchronization

/// What a load run saw: how long it took, each request's latency, and what failed.
struct LoadOutcome: Sendable {
    var elapsed: Duration
    var samples: Samples
    var failures: Int
    var firstFailure: String?

    var perSecond: Double { Double(samples.count + failures) / max(elapsed.seconds, 1e-9) }
}

/// Collects one latency per request from many tasks.
final class Collector: Sendable {
    private struct State {
        var samples = Samples()
        var failures = 0
        var firstFailure: String?
    }
    private let state = Mutex(State())
    private let issued = Atomic<Int>(0)

    /// The next operation's index, for closed-loop runs.
    func take() -> Int { issued.add(1, ordering: .relaxed).oldValue }

    func record(_ milliseconds: Double) { state.withLock { $0.samples.append(milliseconds) } }

    func fail(_ reason: String) {
        state.withLock { state in
            state.failures += 1
            if state.firstFailure == nil { state.firstFailure = reason }
        }
    }

    var done: Int { state.withLock { $0.samples.count + $0.failures } }

    func outcome(elapsed: Duration) -> LoadOutcome {
        state.withLock { LoadOutcome(elapsed: elapsed, samples: $0.samples, failures: $0.failures, firstFailure: $0.firstFailure) }
    }
}

enum Load {
    /// Runs `total` operations with at most `window` in flight (closed loop), printing progress.
    static func closed(label: String, total: Int, window: Int, _ operation: @escaping @Sendable (Int, Collector) async -> Void) async -> LoadOutcome {
        let collector = Collector()
        let started = ContinuousClock.now
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await progress(label: label, total: total, collector: collector) }
            await withTaskGroup(of: Void.self) { workers in
                for _ in 0..<min(window, total) {
                    workers.addTask {
                        while true {
                            let index = collector.take()
                            guard index < total else { return }
                            await operation(index, collector)
                        }
                    }
                }
            }
            group.cancelAll()
        }
        return collector.outcome(elapsed: started.duration(to: .now))
    }

    /// Starts one operation every 1/rate seconds for `total` operations (open loop: a slow
    /// answer does not delay the next request), and waits for them all.
    static func open(label: String, total: Int, ratePerSecond: Double, _ operation: @escaping @Sendable (Int, Collector) async -> Void) async
        -> LoadOutcome
    {
        let collector = Collector()
        let started = ContinuousClock.now
        let interval = 1.0 / ratePerSecond
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await progress(label: label, total: total, collector: collector) }
            await withDiscardingTaskGroup { requests in
                for index in 0..<total {
                    let due = started + .nanoseconds(Int64(Double(index) * interval * 1e9))
                    if due > .now { try? await Task.sleep(until: due, clock: .continuous) }
                    requests.addTask { await operation(index, collector) }
                }
            }
            group.cancelAll()
        }
        return collector.outcome(elapsed: started.duration(to: .now))
    }

    /// One line on standard error per second while a long run goes on.
    private static func progress(label: String, total: Int, collector: Collector) async {
        await progress(label: label, total: total) { collector.done }
    }

    /// One line on standard error per second until cancelled: `done()` of `total`.
    static func progress(label: String, total: Int, done count: @Sendable () -> Int) async {
        var last = 0
        while !Task.isCancelled {
            try? await Task.sleep(for: .seconds(1))
            guard !Task.isCancelled else { return }
            let done = count()
            FileHandle.standardError.write(Data("  \(label): \(done)/\(total) (\(done - last)/s)\n".utf8))
            last = done
        }
    }
}

extension Producer {
    /// One job through the pool, timed from before its enqueue to its result in hand.
    func timedRoundTrip(_ job: Job, dispatcher: ReplyDispatcher, collector: Collector) async {
        let started = ContinuousClock.now
        dispatcher.register(job, timeout: .seconds(60))
        do {
            switch try await enqueue(job) {
            case .queued:
                guard let result = await dispatcher.wait(job.id) else { return collector.fail("no result within 60 s") }
                guard result.ok else { return collector.fail(result.error.map { "\($0.code): \($0.message)" } ?? "error result") }
            case .cached:
                dispatcher.cancel(job.id)
            case .full:
                dispatcher.cancel(job.id)
                return collector.fail("queue full")
            }
            collector.record(started.duration(to: .now).milliseconds)
        } catch {
            dispatcher.cancel(job.id)
            collector.fail("\(error)")
        }
    }
}
