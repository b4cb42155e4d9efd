extension CervellaSettings {
    /// Claude's Message Batches for bulk fallbacks (`[message_batches]`, docs/ROUTING.md,
    /// "Message Batches"): a job in the `fallback_bulk` lane whose deadline is further away
    /// than `horizonSeconds` is answered through a batch, at half Claude's price, instead of
    /// by a Messages call of its own.
    public struct MessageBatches: Sendable, Equatable {
        /// Off by default: a batch answers within 24 hours (most within one), so turning it on
        /// trades bulk fallbacks' latency for their cost, and it needs batch access on the
        /// Claude account.
        public var enabled = false
        /// A `fallback_bulk` job whose deadline is more than this many seconds away (or that
        /// has none) waits for a batch.
        public var horizonSeconds = 3_600.0
        /// Entries per batch (the API takes at most 100,000).
        public var maxBatchSize = 10_000
        /// How long the oldest waiting job waits for others before its batch is sent; a batch
        /// of `maxBatchSize` goes at once.
        public var collectSeconds = 60.0
        /// How often an open batch is retrieved to see whether it ended.
        public var pollIntervalSeconds = 30.0
        /// A job still in a batch this close to its deadline is taken out and answered by a
        /// Messages call of its own.
        public var rescueSeconds = 600.0

        public init() {}
    }

    mutating func applyMessageBatches(_ reader: TOMLReader) throws(SettingsError) {
        guard let table = try reader.table("message_batches") else { return }
        try table.allowOnly([
            "enabled", "horizon_seconds", "max_batch_size", "collect_seconds", "poll_interval_seconds", "rescue_seconds",
        ])
        try table.read("enabled", into: &messageBatches.enabled)
        try table.read("horizon_seconds", into: &messageBatches.horizonSeconds)
        try table.read("max_batch_size", into: &messageBatches.maxBatchSize)
        try table.read("collect_seconds", into: &messageBatches.collectSeconds)
        try table.read("poll_interval_seconds", into: &messageBatches.pollIntervalSeconds)
        try table.read("rescue_seconds", into: &messageBatches.rescueSeconds)
    }

    func validateMessageBatches() throws(SettingsError) {
        let batches = messageBatches
        guard (1...100_000).contains(batches.maxBatchSize) else {
            throw SettingsError(key: "message_batches.max_batch_size", "must be 1 to 100000 (the Message Batches API's limit)")
        }
        guard batches.collectSeconds.isFinite, (0...86_400).contains(batches.collectSeconds) else {
            throw SettingsError(key: "message_batches.collect_seconds", "must be 0 to 86400 seconds")
        }
        guard batches.pollIntervalSeconds.isFinite, (0.1...3_600).contains(batches.pollIntervalSeconds) else {
            throw SettingsError(key: "message_batches.poll_interval_seconds", "must be 0.1 to 3600 seconds")
        }
        guard batches.rescueSeconds.isFinite, (1...86_400).contains(batches.rescueSeconds) else {
            throw SettingsError(key: "message_batches.rescue_seconds", "must be 1 to 86400 seconds")
        }
        guard batches.horizonSeconds.isFinite, (1...31_536_000).contains(batches.horizonSeconds) else {
            throw SettingsError(key: "message_batches.horizon_seconds", "must be 1 to 31536000 seconds (a year)")
        }
        guard batches.horizonSeconds > batches.rescueSeconds + batches.collectSeconds else {
            throw SettingsError(
                key: "message_batches.horizon_seconds",
                "must exceed rescue_seconds + collect_seconds (\(batches.rescueSeconds + batches.collectSeconds)): a job batched any sooner would be taken out of its batch before it was sent"
            )
        }
        guard !batches.enabled || tier(.claude).kind == .anthropic else {
            throw SettingsError(key: "message_batches.enabled", "needs tier3.kind = \"anthropic\": Message Batches are Anthropic's API")
        }
    }
}
