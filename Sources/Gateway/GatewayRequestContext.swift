import Hummingbird
import NIOCore

/// Hummingbird's basic request context plus the client's address and, once
/// `AuthenticationMiddleware` has run, the caller.
///
/// The failed-authentication budget is counted per address, so the gateway needs the TCP peer
/// of each request; `BasicRequestContext` does not keep the channel.
struct GatewayRequestContext: RequestContext, RemoteAddressRequestContext {
    var coreContext: CoreRequestContextStorage
    let remoteAddress: SocketAddress?
    /// Who called: set by `AuthenticationMiddleware`; `.anonymous` on routes without it.
    var caller: Caller

    init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        remoteAddress = source.channel.remoteAddress
        caller = .anonymous
    }

    /// The peer's IP address as text (`"unknown"` for a Unix socket or a closed channel).
    var clientAddress: String {
        remoteAddress?.ipAddress ?? "unknown"
    }
}
