extension CervellaSettings {
    /// The HTTP gateway (`cervella gateway`): `[gateway]` in worker.toml.
    ///
    /// The limits below are what stands between the open Internet and the Claude budget, so
    /// each has a safe default; worker.toml explains how each was chosen.
    public struct Gateway: Sendable, Equatable {
        public var host = "127.0.0.1"
        public var port = 8080
        /// Bearer keys for the API, in addition to CERVELLA_API_KEYS (comma-separated).
        public var apiKeysFile: String?
        public var apiKeys: [String] = []
        /// CERVELLA_ADMIN_KEY: required for /api/admin/*.
        public var adminKey: String?
        public var requestBodyLimitBytes = 1_048_576
        /// Requests per API key per minute, across every gateway instance (0: no limit).
        public var rateLimitPerMinute = 600
        /// A queue longer than this answers 503 with Retry-After instead of growing.
        public var maxQueueLength = 100_000
        /// How long a synchronous request waits for its result.
        public var requestTimeoutSeconds = 60.0
        /// Log prompt and answer text in the request log (debugging only).
        public var logContent = false

        /// A connection must deliver a complete request head within this many seconds of
        /// opening (or of its previous response): slow-header (slowloris) clients are closed.
        public var headerReadTimeoutSeconds = 10.0
        /// A request body must arrive completely within this many seconds of its head.
        public var bodyReadTimeoutSeconds = 30.0
        /// Open connections at once; past it new connections get 503 and are closed.
        public var maxConnections = 4096
        /// Largest `max_tokens` a request may ask for; larger values are refused with 400.
        public var maxTokensLimit = 32_768
        /// Failed authentications per client address per minute, across every gateway
        /// instance; past it the address is refused (429) until the minute ends (0: no limit).
        public var authFailuresPerMinute = 30
        /// A Redis command that has not answered within this many milliseconds fails the
        /// request with 503 `redis_unavailable` instead of waiting for the client's read timeout.
        public var redisTimeoutMs = 2000
        /// Whether /metrics and /readyz need an API key (or the admin key); nil: only when the
        /// gateway listens beyond loopback. /healthz always stays open as the liveness probe.
        public var protectProbes: Bool?
        /// OpenAI's Batch API: the largest file `POST /v1/files` takes (bytes), and how long
        /// files and batches are kept (seconds).
        public var filesMaxBytes = 16 << 20
        public var filesTTLSeconds = 7 * 86_400
        public init() {}

        /// Whether the probes need a key when the gateway listens on `host`.
        public func probesNeedKey(listeningOn host: String) -> Bool {
            protectProbes ?? !Self.isLoopback(host)
        }

        public static func isLoopback(_ host: String) -> Bool {
            host == "127.0.0.1" || host == "localhost" || host == "::1" || host.hasPrefix("127.")
        }
    }
}
