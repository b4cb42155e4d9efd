import Hummingbird
import NIOCore
import NIOHTTPTypes

/// A JSON error written straight onto a connection, which is then closed: how the channel
/// handlers (connection cap, read timeouts) refuse a client before or outside Hummingbird's
/// request handling. Same body shape as every other gateway error.
enum ConnectionRefusal {
    static func respond(
        _ context: ChannelHandlerContext, status: HTTPResponse.Status, code: String, message: String,
        headers extra: HTTPFields = [:], wrap: (HTTPResponsePart) -> NIOAny
    ) {
        let body = GatewayResponse.errorBody(status, code: code, message: message)
        var head = HTTPResponse(status: status)
        head.headerFields = extra
        head.headerFields[.contentType] = "application/json"
        head.headerFields[.contentLength] = String(body.count)
        head.headerFields[.connection] = "close"
        context.write(wrap(.head(head)), promise: nil)
        context.write(wrap(.body(context.channel.allocator.buffer(bytes: body))), promise: nil)
        context.writeAndFlush(wrap(.end(nil))).assumeIsolated().whenComplete { _ in context.close(promise: nil) }
    }
}
