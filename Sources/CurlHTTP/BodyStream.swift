import Synchronization

/// The body of a streamed response (server-sent events), handed from the client's network
/// thread to one reader as it arrives.
///
/// Pass one to `HTTPClient.execute(_:streamingTo:)`: the bytes of a 2xx response come here
/// instead of into `HTTPResponse.body` (a 4xx or 5xx body is still collected whole, so an
/// error can be read as today). `next()` returns everything that arrived since the last
/// call, so a reader that is busy with one batch takes the next chunks in one go rather
/// than one wake-up each. The stream ends (`next()` returns nil) when the transfer ends for
/// any reason; the outcome is what `execute` returns or throws.
///
/// At most `limit` bytes wait unread: a server that sends faster than its reader takes must
/// not fill the worker's memory. Past it the transfer is aborted (`execute` throws).
public final class BodyStream: Sendable {
    private struct State {
        var buffer: [UInt8] = []
        var finished = false
        var received = 0
        var waiter: CheckedContinuation<[UInt8]?, Never>?
    }

    private let state = Mutex(State())
    /// Bytes that may wait for the reader.
    public let limit: Int

    public init(limit: Int = 8 << 20) {
        self.limit = limit
    }

    /// Body bytes received so far, in all.
    public var receivedBytes: Int { state.withLock { $0.received } }

    /// The bytes that arrived since the last call, waiting for some if none did; nil once the
    /// transfer has ended and everything was read. One reader at a time.
    public func next() async -> [UInt8]? {
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<[UInt8]?, Never>) in
                let ready: [UInt8]?? = state.withLock { state in
                    if !state.buffer.isEmpty {
                        defer { state.buffer.removeAll(keepingCapacity: true) }
                        return .some(state.buffer)
                    }
                    if state.finished { return .some(nil) }
                    state.waiter = continuation
                    return nil
                }
                if let ready { continuation.resume(returning: ready) }
            }
        } onCancel: {
            finish()
        }
    }

    /// Called on the network thread with each chunk; false when the unread bytes would pass
    /// `limit` (the transfer is then aborted).
    func append(_ bytes: UnsafeRawBufferPointer) -> Bool {
        enum Step { case buffered, refused, handOver(CheckedContinuation<[UInt8]?, Never>) }
        let step: Step = state.withLock { state in
            guard !state.finished, state.buffer.count + bytes.count <= limit else { return .refused }
            state.received += bytes.count
            if let waiter = state.waiter {
                // The buffer is empty whenever a reader waits.
                state.waiter = nil
                return .handOver(waiter)
            }
            state.buffer.append(contentsOf: bytes)
            return .buffered
        }
        switch step {
        case .buffered: return true
        case .refused: return false
        case .handOver(let waiter):
            waiter.resume(returning: Array(bytes))
            return true
        }
    }

    /// Ends the stream: the reader gets what is buffered, then nil. Safe to call more than once.
    func finish() {
        let waiter: CheckedContinuation<[UInt8]?, Never>? = state.withLock { state in
            state.finished = true
            defer { state.waiter = nil }
            return state.waiter
        }
        waiter?.resume(returning: nil)
    }
}
