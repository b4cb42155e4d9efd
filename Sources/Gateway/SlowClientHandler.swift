import Hummingbird
import Logging
import Metrics
import NIOCore
import NIOHTTPTypes

/// Closes connections whose clients send too slowly: the header and body read timeouts.
///
/// Hummingbird's `idleTimeout` restarts on every request part, so a client that drips one body
/// byte every few seconds, or one that holds a connection open before any request, is never
/// closed by it. This handler (one per connection, after HTTP decoding) keeps one deadline at
/// a time instead:
/// - from the moment the connection opens, or its last response ends, until a complete
///   request head has arrived: `header_read_timeout_seconds` (a partial head produces no
///   request part, so dripping header lines does not restart it); on expiry the connection is
///   closed silently, as it may be an idle keep-alive connection whose client would otherwise
///   read a stray response;
/// - from a request's head to the end of its body: `body_read_timeout_seconds`, in total;
///   on expiry the client gets 408 (unless its response has started) and the connection closes.
/// While the gateway works on a request (the body is in, the response is not out) no deadline
/// runs: a synchronous chat request may legitimately wait a minute for its answer.
final class SlowClientHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    private enum Deadline { case header, body }

    private let headerTimeout: TimeAmount
    private let bodyTimeout: TimeAmount
    private let logger: Logger
    private var timer: Scheduled<Void>?
    private var started = false
    /// Requests whose head was read and whose response has not ended (pipelining allows several).
    private var inFlight = 0
    private var readingBody = false
    private var responseStarted = false
    /// Responses completed on this connection: 0 means a client that never got a request in.
    private var served = 0

    init(headerTimeout: TimeAmount, bodyTimeout: TimeAmount, logger: Logger) {
        self.headerTimeout = headerTimeout
        self.bodyTimeout = bodyTimeout
        self.logger = logger
    }

    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { start(context) }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        cancelTimer()
    }

    func channelActive(context: ChannelHandlerContext) {
        start(context)
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        cancelTimer()
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head:
            inFlight += 1
            readingBody = true
            responseStarted = false
            schedule(.body, context)
        case .body:
            break
        case .end:
            readingBody = false
            cancelTimer()
            // The response may already be out (a 413 sent before the whole body arrived).
            if inFlight == 0 { schedule(.header, context) }
        }
        context.fireChannelRead(data)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        switch unwrapOutboundIn(data) {
        case .head:
            responseStarted = true
        case .body:
            break
        case .end:
            inFlight = max(0, inFlight - 1)
            served += 1
            if inFlight == 0 && !readingBody { schedule(.header, context) }
        }
        context.write(data, promise: promise)
    }

    private func start(_ context: ChannelHandlerContext) {
        guard !started else { return }
        started = true
        schedule(.header, context)
    }

    private func schedule(_ deadline: Deadline, _ context: ChannelHandlerContext) {
        cancelTimer()
        let delay = deadline == .header ? headerTimeout : bodyTimeout
        timer = context.eventLoop.assumeIsolated().scheduleTask(in: delay) { [self] in
            self.timer = nil
            self.expired(deadline, context)
        }
    }

    private func cancelTimer() {
        timer?.cancel()
        timer = nil
    }

    private func expired(_ deadline: Deadline, _ context: ChannelHandlerContext) {
        guard context.channel.isActive else { return }
        if served == 0 || deadline == .body {
            Counter(label: "cervella_http_slow_clients_closed_total", dimensions: [("deadline", deadline == .header ? "header" : "body")]).increment()
        }
        switch deadline {
        case .header:
            logger.debug(
                served == 0 ? "closing a connection that sent no complete request head in time" : "closing an idle keep-alive connection",
                metadata: ["cervella.timeout_seconds": "\(seconds(headerTimeout))", "cervella.responses": "\(served)"]
            )
            context.close(promise: nil)
        case .body:
            logger.debug(
                "closing a connection whose request body did not arrive in time", metadata: ["cervella.timeout_seconds": "\(seconds(bodyTimeout))"])
            if responseStarted {
                context.close(promise: nil)
                return
            }
            let message = "the request body did not arrive within \(seconds(bodyTimeout)) s; send the whole body at once, promptly"
            ConnectionRefusal.respond(context, status: .requestTimeout, code: "request_timeout", message: message, wrap: wrapOutboundOut)
        }
    }

    private func seconds(_ amount: TimeAmount) -> String {
        let value = Double(amount.nanoseconds) / 1e9
        return value == value.rounded() ? String(Int64(value)) : String(value)
    }
}
