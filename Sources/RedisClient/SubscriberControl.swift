import Glibc
import Synchronization

/// What a subscriber's owner and its thread share: the closed flag and the live socket.
///
/// `close()` shuts the socket down under the same lock the thread takes to forget it before
/// freeing its context, so a close never reaches a descriptor number the process has since
/// reused for something else.
final class SubscriberControl: Sendable {
    private struct State {
        var closed = false
        var socket: Int32 = -1
    }

    private let state = Mutex(State())

    var isClosed: Bool { state.withLock { $0.closed } }

    func close() {
        state.withLock { state in
            state.closed = true
            if state.socket >= 0 { _ = shutdown(state.socket, Int32(SHUT_RDWR)) }
        }
    }

    /// Breaks the subscription without closing the subscriber, which subscribes again (to the
    /// new primary after a failover: `SentinelWatch`).
    func kick() {
        state.withLock { state in
            if state.socket >= 0 { _ = shutdown(state.socket, Int32(SHUT_RDWR)) }
        }
    }

    /// Publishes the subscribed socket; false when the subscriber was closed meanwhile.
    func attach(socket: Int32) -> Bool {
        state.withLock { state in
            guard !state.closed else { return false }
            state.socket = socket
            return true
        }
    }

    /// Forgets the socket; called before its context is freed.
    func detach() {
        state.withLock { $0.socket = -1 }
    }
}
