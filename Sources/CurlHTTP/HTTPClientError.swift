/// A failed HTTP exchange: no response was received, or the request never left.
///
/// A response with a 4xx or 5xx status is *not* an error; callers read
/// `HTTPResponse.status`. The error is a struct with an extensible `Code` rather than an
/// enum, so new codes can be added without breaking callers that `switch` over them
/// (the pattern of valkey-swift's `ValkeyClientError`).
///
/// `message` names what failed and the host that was contacted. It never contains the
/// full URL, headers or body, because those can carry API keys and end up in logs.
public struct HTTPClientError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The kind of failure, stable enough to drive retry and fallback decisions.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Kind: String, Hashable, Sendable {
            case timeout, connection, tls, invalidRequest, cancelled, shutdown, other
        }

        private let kind: Kind

        private init(_ kind: Kind) {
            self.kind = kind
        }

        /// The per-request timeout (or the connect timeout) elapsed.
        public static let timeout = Code(.timeout)
        /// The host could not be resolved or reached, or the connection broke mid-exchange.
        public static let connection = Code(.connection)
        /// The TLS handshake failed or the server's certificate was not trusted.
        public static let tls = Code(.tls)
        /// The request itself is unusable (malformed URL, unsupported scheme, bad header);
        /// retrying it cannot help.
        public static let invalidRequest = Code(.invalidRequest)
        /// The calling task was cancelled; the transfer was abandoned.
        public static let cancelled = Code(.cancelled)
        /// The client was shut down before the request completed.
        public static let shutdown = Code(.shutdown)
        /// Anything else libcurl reported.
        public static let other = Code(.other)

        public var description: String {
            kind.rawValue
        }
    }

    /// The kind of failure.
    public var code: Code
    /// What failed, with the host involved; safe to log.
    public var message: String

    public init(code: Code, message: String) {
        self.code = code
        self.message = message
    }

    public var description: String {
        "HTTPClientError(\(code)): \(message)"
    }
}

extension HTTPClientError {
    /// The task that awaited the request was cancelled.
    static func cancelled(host: String) -> HTTPClientError {
        HTTPClientError(code: .cancelled, message: "request to \(host) was cancelled")
    }

    /// The client stopped before the request finished.
    static func shutdown(host: String) -> HTTPClientError {
        HTTPClientError(
            code: .shutdown,
            message: "HTTP client was shut down before the request to \(host) completed; "
                + "create a new client to send more requests"
        )
    }

    /// The request was rejected before it reached libcurl.
    static func invalidRequest(_ reason: String) -> HTTPClientError {
        HTTPClientError(code: .invalidRequest, message: reason)
    }
}
