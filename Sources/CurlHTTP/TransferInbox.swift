import Synchronization

/// The hand-over point between callers of `execute` and the loop thread.
///
/// Callers append work under a mutex and then wake the loop with `curl_multi_wakeup`; the
/// loop takes everything in one batch per iteration. libcurl handles are never touched
/// outside the loop thread, so this queue is the only shared mutable state.
final class TransferInbox: Sendable {
    /// Work the loop takes in one go.
    struct Batch {
        var submissions: [PendingTransfer] = []
        var cancellations: [PendingTransfer] = []
        var isShutdown = false
    }

    private let state = Mutex(Batch())

    /// Queues a new transfer; returns false once shutdown has begun, so no request can slip
    /// in after the loop has failed the last batch.
    func submit(_ transfer: PendingTransfer) -> Bool {
        state.withLock { state in
            guard !state.isShutdown else { return false }
            state.submissions.append(transfer)
            return true
        }
    }

    /// Asks the loop to remove a cancelled transfer from libcurl.
    func cancel(_ transfer: PendingTransfer) {
        state.withLock { state in
            guard !state.isShutdown else { return }
            state.cancellations.append(transfer)
        }
    }

    /// Marks the inbox closed; returns true for the first caller only.
    func shutdown() -> Bool {
        state.withLock { state in
            guard !state.isShutdown else { return false }
            state.isShutdown = true
            return true
        }
    }

    /// Takes all queued work, leaving the inbox empty (but still shut down if it was).
    func takeBatch() -> Batch {
        state.withLock { state in
            let batch = state
            state.submissions.removeAll()
            state.cancellations.removeAll()
            return batch
        }
    }
}
