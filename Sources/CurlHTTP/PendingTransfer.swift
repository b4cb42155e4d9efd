import Synchronization

/// One `execute` call's side of a transfer: the request and the continuation to resume.
///
/// Three parties race to finish a request: the loop thread (completion or shutdown), the
/// task's cancellation handler, and `execute` itself (which may find the task cancelled
/// before it had installed its continuation). This small state machine makes sure the
/// continuation is resumed exactly once, whoever gets there first. Cancellation resumes
/// the caller immediately; the loop removes the transfer from libcurl afterwards.
final class PendingTransfer: Sendable {
    typealias Continuation = CheckedContinuation<Result<HTTPResponse, HTTPClientError>, Never>

    private enum State {
        /// `execute` has not installed its continuation yet.
        case created
        /// Submitted or running; the continuation awaits the result.
        case waiting(Continuation)
        /// The task was cancelled; the caller has been (or will be) told.
        case cancelled
        /// The result was delivered.
        case finished
    }

    let request: HTTPRequest
    /// The URL's host, computed once, for error messages.
    let host: String
    /// Where a 2xx body goes as it arrives, for a streamed request; nil collects it.
    let bodyStream: BodyStream?
    private let state = Mutex(State.created)

    init(request: HTTPRequest, bodyStream: BodyStream? = nil) {
        self.request = request
        self.host = request.hostForMessages
        self.bodyStream = bodyStream
    }

    /// Stores the continuation; returns false when the task was cancelled first, in which
    /// case the caller resumes the continuation itself and must not submit the transfer.
    func install(_ continuation: Continuation) -> Bool {
        state.withLock { state in
            guard case .created = state else { return false }
            state = .waiting(continuation)
            return true
        }
    }

    /// Marks the transfer cancelled and fails the caller with `.cancelled` at once.
    ///
    /// Returns true when the transfer may already be in libcurl, so the loop must be asked
    /// to remove it.
    func cancel() -> Bool {
        let continuation: Continuation? = state.withLock { state in
            switch state {
            case .created:
                state = .cancelled
                return nil
            case .waiting(let continuation):
                state = .cancelled
                return continuation
            case .cancelled, .finished:
                return nil
            }
        }
        bodyStream?.finish()
        guard let continuation else { return false }
        continuation.resume(returning: .failure(.cancelled(host: host)))
        return true
    }

    /// Whether the task was cancelled; the loop then skips or drops the transfer.
    var isCancelled: Bool {
        state.withLock { state in
            if case .cancelled = state { return true }
            return false
        }
    }

    /// Delivers the outcome; ignored if the caller was already resumed (cancellation).
    func finish(_ result: Result<HTTPResponse, HTTPClientError>) {
        let continuation: Continuation? = state.withLock { state in
            guard case .waiting(let continuation) = state else { return nil }
            state = .finished
            return continuation
        }
        bodyStream?.finish()
        continuation?.resume(returning: result)
    }
}
