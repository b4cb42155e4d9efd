import Hummingbird
import Logging
import Metrics
import NIOCore
import NIOHTTPTypes
import Synchronization

/// The gateway's open connections, shared by the handlers of every connection.
final class ConnectionCounter: Sendable {
    let limit: Int
    private let open = Atomic<Int>(0)

    init(limit: Int) { self.limit = limit }

    var current: Int { open.load(ordering: .relaxed) }

    /// Takes a slot; false when all `limit` are taken.
    func acquire() -> Bool {
        var seen = open.load(ordering: .relaxed)
        while seen < limit {
            let (exchanged, original) = open.compareExchange(expected: seen, desired: seen + 1, ordering: .acquiringAndReleasing)
            if exchanged { return true }
            seen = original
        }
        return false
    }

    func release() { open.subtract(1, ordering: .relaxed) }
}

/// Caps the gateway's open connections (`gateway.max_connections`).
///
/// Hummingbird's `MaximumAvailableConnections` stops accepting past its limit, which leaves
/// new clients, the load balancer's health checks included, hanging in the kernel's backlog
/// behind an attacker's idle connections. This handler accepts, and a connection past the cap
/// gets an immediate 503 with Retry-After and is closed: the client knows at once, and the
/// slots free themselves as the read timeouts close the slow clients.
final class ConnectionLimitHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundOut = HTTPResponsePart

    private enum State { case new, counted, refused }

    private let counter: ConnectionCounter
    private let logger: Logger
    private var state = State.new

    init(counter: ConnectionCounter, logger: Logger) {
        self.counter = counter
        self.logger = logger
    }

    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { admit(context) }
    }

    func channelActive(context: ChannelHandlerContext) {
        admit(context)
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        if state == .counted { counter.release() }
        state = .refused
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        // A refused connection's request never reaches the router.
        guard state == .counted else { return }
        context.fireChannelRead(data)
    }

    private func admit(_ context: ChannelHandlerContext) {
        guard state == .new else { return }
        if counter.acquire() {
            state = .counted
            return
        }
        state = .refused
        // Counted, and logged at debug only: under a flood a line per connection would be the attack.
        Counter(label: "cervella_http_connections_refused_total").increment()
        logger.debug(
            "connection refused: the gateway holds its maximum of open connections", metadata: ["cervella.max_connections": "\(counter.limit)"])
        // Not from inside channelActive: closing there would send channelInactive down the
        // pipeline before channelActive reached NIOAsyncChannel's handler, which traps.
        context.eventLoop.assumeIsolated().execute { [self] in
            guard context.channel.isActive else { return }
            ConnectionRefusal.respond(
                context, status: .serviceUnavailable, code: "too_many_connections",
                message: "the gateway holds its maximum of \(counter.limit) open connections; retry shortly",
                headers: [GatewayResponse.retryAfter: "1"], wrap: wrapOutboundOut
            )
        }
    }
}
