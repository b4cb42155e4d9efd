import RedisClient
import Synchronization

/// Runs a Redis round trip with a deadline, for the request path.
///
/// A frozen Redis (SIGSTOP, a stalled disk, a partition that drops packets) answers nothing,
/// and the shared command connection waits for its read timeout, then reconnects into the
/// same silence: measured, a request took 19 s to fail. The command itself cannot be
/// cancelled once written (it may still run), so the caller stops waiting instead: the
/// operation goes on in its own task and the caller gets `RedisError(.connectionLost)` at
/// the deadline, which the gateway answers 503 `redis_unavailable`. Like any lost connection,
/// that means the command may or may not have run.
enum RedisDeadline {
    static func run<T: Sendable>(_ limit: Duration, _ operation: @escaping @Sendable () async throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, any Error>) in
            let once = Once(continuation)
            let timer = Task {
                try await Task.sleep(for: limit)
                once.resume(with: .failure(RedisError(.connectionLost, "Redis did not answer within \(limit.milliseconds) ms")))
            }
            Task {
                let result: Result<T, any Error>
                do { result = .success(try await operation()) } catch { result = .failure(error) }
                timer.cancel()
                once.resume(with: result)
            }
        }
    }

    /// The continuation, resumed by whichever of the operation and the timer ends first.
    private final class Once<T: Sendable>: Sendable {
        private let continuation: Mutex<CheckedContinuation<T, any Error>?>

        init(_ continuation: CheckedContinuation<T, any Error>) {
            self.continuation = Mutex(continuation)
        }

        func resume(with result: Result<T, any Error>) {
            continuation.withLock { $0.take() }?.resume(with: result)
        }
    }
}

extension Duration {
    /// Whole milliseconds, for messages.
    var milliseconds: Int64 {
        let (seconds, attoseconds) = components
        return seconds &* 1000 &+ attoseconds / 1_000_000_000_000_000
    }
}
