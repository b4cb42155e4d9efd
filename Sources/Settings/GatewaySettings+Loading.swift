import TOMLKit

extension CervellaSettings.Gateway {
    static let tomlKeys: Set<String> = [
        "host", "port", "api_keys_file", "request_body_limit_bytes", "rate_limit_per_minute", "max_queue_length",
        "request_timeout_seconds", "log_content", "header_read_timeout_seconds", "body_read_timeout_seconds",
        "max_connections", "max_tokens_limit", "auth_failures_per_minute", "redis_timeout_ms", "protect_probes",
        "files_max_bytes", "files_ttl_seconds",
    ]

    /// Applies the `[gateway]` table.
    mutating func apply(_ table: TOMLReader) throws(SettingsError) {
        if table.has("api_keys") || table.has("admin_key") {
            throw SettingsError(
                key: "gateway.api_keys",
                "keys never go in the configuration file; use CERVELLA_API_KEYS / CERVELLA_ADMIN_KEY or gateway.api_keys_file")
        }
        try table.allowOnly(Self.tomlKeys)
        try table.read("host", into: &host)
        try table.read("port", into: &port)
        var file = apiKeysFile ?? ""
        try table.read("api_keys_file", into: &file)
        apiKeysFile = file.isEmpty ? nil : file
        try table.read("request_body_limit_bytes", into: &requestBodyLimitBytes)
        try table.read("rate_limit_per_minute", into: &rateLimitPerMinute)
        try table.read("max_queue_length", into: &maxQueueLength)
        try table.read("request_timeout_seconds", into: &requestTimeoutSeconds)
        try table.read("log_content", into: &logContent)
        try table.read("header_read_timeout_seconds", into: &headerReadTimeoutSeconds)
        try table.read("body_read_timeout_seconds", into: &bodyReadTimeoutSeconds)
        try table.read("max_connections", into: &maxConnections)
        try table.read("max_tokens_limit", into: &maxTokensLimit)
        try table.read("auth_failures_per_minute", into: &authFailuresPerMinute)
        try table.read("redis_timeout_ms", into: &redisTimeoutMs)
        try table.readAutoOrBool("protect_probes", into: &protectProbes)
        try table.read("files_max_bytes", into: &filesMaxBytes)
        try table.read("files_ttl_seconds", into: &filesTTLSeconds)
    }

    /// Checks the gateway's values; the error names the key and the range.
    func validate() throws(SettingsError) {
        guard (0...65535).contains(port) else { throw SettingsError(key: "gateway.port", "must be 0–65535") }
        guard requestBodyLimitBytes > 0 else {
            throw SettingsError(key: "gateway.request_body_limit_bytes", "must be a positive number, got \(requestBodyLimitBytes)")
        }
        guard (1...(256 << 20)).contains(filesMaxBytes) else {
            throw SettingsError(key: "gateway.files_max_bytes", "must be 1 byte to 256 MiB (files live in Redis), got \(filesMaxBytes)")
        }
        guard (60...(30 * 86_400)).contains(filesTTLSeconds) else {
            throw SettingsError(key: "gateway.files_ttl_seconds", "must be 60 s to 30 days, got \(filesTTLSeconds)")
        }
        guard maxQueueLength > 0 else { throw SettingsError(key: "gateway.max_queue_length", "must be a positive number, got \(maxQueueLength)") }
        guard rateLimitPerMinute >= 0 else { throw SettingsError(key: "gateway.rate_limit_per_minute", "must not be negative (0 disables it)") }
        // Bounded above because it becomes a millisecond count and a Redis TTL.
        try seconds(requestTimeoutSeconds, in: 86_400, "gateway.request_timeout_seconds")
        try seconds(headerReadTimeoutSeconds, in: 3_600, "gateway.header_read_timeout_seconds")
        try seconds(bodyReadTimeoutSeconds, in: 3_600, "gateway.body_read_timeout_seconds")
        guard (1...1_000_000).contains(maxConnections) else {
            throw SettingsError(
                key: "gateway.max_connections", "must be between 1 and 1000000, got \(maxConnections); each connection holds a file descriptor")
        }
        guard (1...10_000_000).contains(maxTokensLimit) else {
            throw SettingsError(key: "gateway.max_tokens_limit", "must be between 1 and 10000000, got \(maxTokensLimit)")
        }
        guard authFailuresPerMinute >= 0 else {
            throw SettingsError(key: "gateway.auth_failures_per_minute", "must not be negative (0 disables it)")
        }
        guard (10...60_000).contains(redisTimeoutMs) else {
            throw SettingsError(key: "gateway.redis_timeout_ms", "must be between 10 and 60000 milliseconds, got \(redisTimeoutMs)")
        }
    }

    private func seconds(_ value: Double, in maximum: Double, _ key: String) throws(SettingsError) {
        guard value.isFinite, value > 0, value <= maximum else {
            throw SettingsError(key: key, "must be more than 0 and at most \(Int(maximum)) seconds, got \(value)")
        }
    }
}

extension TOMLReader {
    /// `"auto"` (nil), `true` or `false`.
    func readAutoOrBool(_ key: String, into target: inout Bool?) throws(SettingsError) {
        guard let value = root[key] else { return }
        if let bool = value.bool {
            target = bool
        } else if value.string == "auto" {
            target = nil
        } else {
            throw SettingsError(key: path.isEmpty ? key : "\(path).\(key)", "must be \"auto\", true or false")
        }
    }
}
