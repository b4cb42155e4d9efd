/// An error from the Redis client: a stable code to switch on and a message that says what failed.
public struct RedisError: Error, Sendable, Equatable, CustomStringConvertible {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        let name: String
        /// Could not open a connection (refused, unreachable, DNS, connect timeout).
        public static let connectionFailed = Code(name: "connection_failed")
        /// The connection dropped or timed out while a command was in flight; it may or may not have run.
        public static let connectionLost = Code(name: "connection_lost")
        /// Authentication or database selection was refused.
        public static let authenticationFailed = Code(name: "authentication_failed")
        /// The server answered a command with an error reply.
        public static let serverError = Code(name: "server_error")
        /// A MULTI/EXEC block was aborted (EXECABORT) or a queued command failed.
        public static let transactionFailed = Code(name: "transaction_failed")
        /// The connection URL could not be understood.
        public static let invalidURL = Code(name: "invalid_url")
        /// A command the client refuses to send (one without a name: Redis would never answer it).
        public static let invalidCommand = Code(name: "invalid_command")
        /// The client was shut down.
        public static let shutdown = Code(name: "shutdown")
        public var description: String { name }
    }

    public var code: Code
    public var message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { "redis \(code): \(message)" }
}
