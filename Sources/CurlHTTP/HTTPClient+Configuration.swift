extension HTTPClient {
    /// Connection limits and timeouts shared by every request of one client.
    public struct Configuration: Sendable {
        /// Connections open at once to one host (HTTP/1.1 carries one request each; HTTP/2
        /// multiplexes). Further requests wait inside libcurl for a free connection.
        /// Default 64.
        public var maxConnectionsPerHost: Int
        /// Connections open at once across all hosts; also the size of the idle
        /// connection cache. Default 512.
        public var maxTotalConnections: Int
        /// Time allowed for DNS, TCP and TLS set-up of a new connection, within the
        /// request's own timeout. Default 5 seconds.
        public var connectTimeout: Duration

        public init(
            maxConnectionsPerHost: Int = 64,
            maxTotalConnections: Int = 512,
            connectTimeout: Duration = .seconds(5)
        ) {
            self.maxConnectionsPerHost = maxConnectionsPerHost
            self.maxTotalConnections = maxTotalConnections
            self.connectTimeout = connectTimeout
        }

        /// Rejects limits that would make libcurl queue requests forever (0 means
        /// "unlimited" to libcurl, which is never what a caller writing 0 meant).
        func validate() throws(HTTPClientError) {
            guard maxConnectionsPerHost >= 1 else {
                throw invalid("maxConnectionsPerHost must be at least 1, got \(maxConnectionsPerHost)")
            }
            guard maxTotalConnections >= maxConnectionsPerHost else {
                throw invalid(
                    "maxTotalConnections (\(maxTotalConnections)) must be at least maxConnectionsPerHost (\(maxConnectionsPerHost))"
                )
            }
            guard connectTimeout > .zero else {
                throw invalid("connectTimeout must be positive, got \(connectTimeout)")
            }
        }

        private func invalid(_ reason: String) -> HTTPClientError {
            HTTPClientError(code: .other, message: "invalid HTTPClient.Configuration: \(reason)")
        }
    }
}
