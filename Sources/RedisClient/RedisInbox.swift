import Glibc
import Synchronization

/// The hand-over point between a connection's callers and its loop thread.
///
/// Callers queue requests here under a mutex; the loop takes them in one batch per turn.
/// The inbox also knows what the loop is doing, which decides who writes a request:
///
/// - **busy** (the loop is running a batch, or waiting for the reply to a caller's write):
///   the request is queued, and the loop takes it when that is done, with nothing to wake;
/// - **idle** (the loop is parked in `poll` on the live socket, nothing queued): the caller
///   writes the request to the socket itself, non-blocking and under the mutex, so the only
///   wake-up the round trip costs is the reply's arrival, which wakes the loop anyway. The
///   inbox is busy again from then on: later callers queue, and the loop sends them as one
///   pipeline once that reply is in, as it would have without the direct write;
/// - **disconnected** (parked with no connection): the request is queued and the loop is
///   woken through a pipe, to reconnect.
///
/// A write the socket does not take whole (its buffer full, or an error) is left to the
/// loop, which is woken to finish it. The hiredis context itself is never touched outside
/// the loop thread: callers only write bytes to its socket, and only while the loop is
/// parked and cannot use or free it.
final class RedisInbox: Sendable {
    /// One `pipeline` call: its commands already encoded, and the caller to resume.
    struct Request: Sendable {
        var payload: [UInt8]
        var commandCount: Int
        /// Bytes of `payload` a caller has written to the socket itself.
        var sent = 0
        var continuation: CheckedContinuation<[RedisValue], any Error>
    }

    /// What the loop is doing, as far as a caller is concerned (see the type's summary).
    enum Mode {
        case busy
        case idle(socket: Int32)
        case disconnected
    }

    struct State {
        var mode = Mode.busy
        /// Requests not yet written, in arrival order.
        var pending: [Request] = []
        /// The request a caller wrote while the loop was parked; its reply comes first.
        var written: Request?
        /// When `written` went out: its reply is due within the read timeout.
        var writtenAt: ContinuousClock.Instant?
        var closed = false
    }

    /// What the loop takes in one turn.
    struct Turn {
        var written: Request?
        var pending: [Request]
        var closed: Bool
    }

    private let state = Mutex(State())
    /// Read and write ends of the wake-up pipe (-1 when the process is out of descriptors;
    /// the loop then polls every millisecond instead of sleeping until woken).
    let wakeReader: Int32
    private let wakeWriter: Int32

    init() {
        var ends: [Int32] = [-1, -1]
        if pipe(&ends) == 0 {
            for end in ends {
                _ = fcntl(end, F_SETFL, fcntl(end, F_GETFL) | O_NONBLOCK)
                _ = fcntl(end, F_SETFD, FD_CLOEXEC)
            }
        } else {
            ends = [-1, -1]
        }
        wakeReader = ends[0]
        wakeWriter = ends[1]
    }

    deinit {
        if wakeReader >= 0 { _ = Glibc.close(wakeReader) }
        if wakeWriter >= 0 { _ = Glibc.close(wakeWriter) }
    }

    /// Hands a request to the connection; false once the inbox is closed.
    ///
    /// A write made here is counted in `traffic` (its commands, one round trip).
    func submit(_ request: Request, traffic: RedisTraffic) -> Bool {
        let (accepted, wake) = state.withLock { state -> (Bool, Bool) in
            guard !state.closed else { return (false, false) }
            switch state.mode {
            case .busy:
                state.pending.append(request)
                return (true, false)
            case .disconnected:
                state.pending.append(request)
                state.mode = .busy  // one wake-up is enough
                return (true, true)
            case .idle(let socket):
                var request = request
                let sent = request.payload.withUnsafeBytes { bytes in
                    Glibc.send(socket, bytes.baseAddress, bytes.count, Int32(MSG_DONTWAIT) | Int32(MSG_NOSIGNAL))
                }
                request.sent = max(0, sent)
                state.written = request
                state.writtenAt = .now
                state.mode = .busy
                traffic.record(commands: request.commandCount)
                // Written whole, the reply wakes the loop. Otherwise (the socket's buffer is
                // full, or the write failed) the loop is woken to write the rest, or to read
                // the error, before anything else.
                return (true, request.sent < request.payload.count)
            }
        }
        if wake { self.wake() }
        return accepted
    }

    /// Refuses further requests and wakes the loop, which finishes what is queued and exits.
    ///
    /// A busy loop needs no wake-up: it looks at the inbox again before it parks (or, having
    /// a caller's reply to wait for, when that reply arrives or times out).
    func close() {
        let wasParked = state.withLock { state -> Bool in
            state.closed = true
            if case .busy = state.mode { return false }
            return true
        }
        if wasParked { wake() }
    }

    // MARK: - Used by the loop thread only

    /// Takes everything queued and marks the loop busy, so callers queue instead of writing.
    func take() -> Turn {
        state.withLock { state in
            state.mode = .busy
            let turn = Turn(written: state.written, pending: state.pending, closed: state.closed)
            state.written = nil
            state.writtenAt = nil
            state.pending.removeAll()
            return turn
        }
    }

    /// Marks the loop parked, unless work arrived since `take`: then returns false and the
    /// loop takes it at once. `socket` is the live connection's (callers may write to it),
    /// or nil when there is none.
    func park(socket: Int32?) -> Bool {
        state.withLock { state in
            guard state.pending.isEmpty, state.written == nil, !state.closed else { return false }
            state.mode = socket.map { .idle(socket: $0) } ?? .disconnected
            return true
        }
    }

    /// When the request a caller wrote went out, if its reply is awaited.
    var writtenAt: ContinuousClock.Instant? {
        state.withLock { $0.writtenAt }
    }

    /// Empties the wake-up pipe after `poll` reported it readable.
    func drainWakeUps() {
        guard wakeReader >= 0 else { return }
        var buffer = (UInt64(0), UInt64(0))
        while withUnsafeMutableBytes(of: &buffer, { Glibc.read(wakeReader, $0.baseAddress, $0.count) }) > 0 {}
    }

    func wake() {
        guard wakeWriter >= 0 else { return }
        var byte: UInt8 = 1
        // A full pipe already holds a wake-up; nothing is lost when this write fails.
        _ = Glibc.write(wakeWriter, &byte, 1)
    }
}
