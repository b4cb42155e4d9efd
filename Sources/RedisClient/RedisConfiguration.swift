import Foundation

/// Where and how to reach Redis.
///
/// Parsed from `redis://[user:password@]host:port/db`, or from
/// `redis-sentinel://[user:password@]sentinel1:port,sentinel2:port,…/db#master-name` for a
/// primary found through Redis Sentinel (docs/RELIABILITY.md, "Redis high availability").
/// The read timeout must be longer than any blocking pop the caller issues, or a healthy idle
/// BLMOVE would look like a dead server.
public struct RedisConfiguration: Sendable, Equatable {
    /// A `host:port` pair.
    public struct Address: Sendable, Equatable, CustomStringConvertible {
        public var host: String
        public var port: Int
        public init(host: String, port: Int) {
            self.host = host
            self.port = port
        }
        public var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }
    }

    /// The server, or with `sentinels` the primary last found through them.
    public var host: String
    public var port: Int
    /// Sentinels to ask for the primary of `masterName`, in order; empty for one fixed server.
    /// Every new connection asks them, and keeps the connection only when the server it
    /// reaches says it is the primary (`ROLE`).
    public var sentinels: [Address] = []
    public var masterName: String?
    /// The Sentinels' own password (`requirepass` in sentinel.conf), when they have one.
    public var sentinelPassword: String?
    /// How many replicas must hold a write that the caller asked to be replicated
    /// (`RedisConnection.replicated`) before it counts as done: Redis' `WAIT`. 0 (the default
    /// for one server) skips the wait; a Sentinel URL defaults to 1, so that a job the
    /// pool acknowledged survives the loss of the primary.
    public var replicaAcks = 0
    /// The longest `WAIT` for those replicas; past it the write stands on the primary alone.
    public var replicaAckTimeout: Duration = .milliseconds(100)
    public var username: String?
    public var password: String?
    public var database: Int
    public var connectTimeout: Duration
    public var readTimeout: Duration
    /// First wait before reconnecting after a dropped connection; doubles up to `maxReconnectDelay`.
    public var reconnectDelay: Duration
    public var maxReconnectDelay: Duration

    public init(
        host: String = "127.0.0.1", port: Int = 6379, username: String? = nil, password: String? = nil,
        database: Int = 0, connectTimeout: Duration = .seconds(2), readTimeout: Duration = .seconds(10),
        reconnectDelay: Duration = .milliseconds(50), maxReconnectDelay: Duration = .seconds(2)
    ) {
        self.host = host
        self.port = port
        self.username = username
        self.password = password
        self.database = database
        self.connectTimeout = connectTimeout
        self.readTimeout = readTimeout
        self.reconnectDelay = reconnectDelay
        self.maxReconnectDelay = maxReconnectDelay
    }

    /// Parses `redis://[[user]:password@]host[:port][/db][?options]` or
    /// `redis-sentinel://[[user]:password@]host[:port][,host[:port]…][/db][?options]#master`.
    /// Options: `replica_acks` (0–16), `replica_ack_timeout_ms` (1–60000) and, for Sentinel,
    /// `sentinel_password`; any other is refused by name.
    public init(url: String) throws(RedisError) {
        self.init()
        if url.hasPrefix("redis-sentinel://") {
            try parseSentinelURL(url)
            return
        }
        guard let components = URLComponents(string: url), components.scheme == "redis" else {
            if url.hasPrefix("rediss://") {
                throw RedisError(
                    .invalidURL, "rediss:// (TLS) is not supported by this build's hiredis 0.14; use a TLS tunnel such as stunnel and a redis:// URL")
            }
            throw RedisError(.invalidURL, "'\(Self.redacted(url))' is not a redis:// URL; expected redis://[user:password@]host:port/db")
        }
        if let host = components.host, !host.isEmpty { self.host = host }
        if let port = components.port {
            guard (1...65535).contains(port) else { throw RedisError(.invalidURL, "port \(port) is out of range") }
            self.port = port
        }
        if let user = components.user, !user.isEmpty { username = user.removingPercentEncoding ?? user }
        if let password = components.password { self.password = password.removingPercentEncoding ?? password }
        // redis://:password@host means "password only" (the default user).
        if username != nil && password == nil { password = username; username = nil }
        let path = components.path.trimmingCharacters(in: CharacterSet(charactersIn: "/"))
        if !path.isEmpty {
            guard let db = Int(path), db >= 0 else {
                throw RedisError(.invalidURL, "database '\(path)' in the Redis URL is not a non-negative number")
            }
            database = db
        }
        try applyOptions(components.queryItems ?? [], sentinel: false)
    }

    /// The `redis-sentinel://` form: a list of Sentinels (default port 26379) instead of one
    /// host, and the master's name as the fragment.
    private mutating func parseSentinelURL(_ url: String) throws(RedisError) {
        var rest = Substring(url.dropFirst("redis-sentinel://".count))
        guard let hash = rest.lastIndex(of: "#"), let master = String(rest[rest.index(after: hash)...]).removingPercentEncoding,
            !master.isEmpty
        else {
            throw RedisError(
                .invalidURL, "'\(Self.redacted(url))' names no master; expected redis-sentinel://[password@]host:26379,host:26379/db#master-name")
        }
        masterName = master
        rest = rest[..<hash]
        var query: [URLQueryItem] = []
        if let mark = rest.firstIndex(of: "?") {
            query = URLComponents(string: "x:?" + rest[rest.index(after: mark)...])?.queryItems ?? []
            rest = rest[..<mark]
        }
        if let at = rest.lastIndex(of: "@") {
            let credentials = rest[..<at]
            rest = rest[rest.index(after: at)...]
            let parts = credentials.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false)
            let user = parts[0].removingPercentEncoding ?? String(parts[0])
            if parts.count == 2 {
                if !user.isEmpty { username = user }
                password = parts[1].removingPercentEncoding ?? String(parts[1])
            } else if !user.isEmpty {
                password = user  // redis-sentinel://password@… means "password only".
            }
        }
        if let slash = rest.firstIndex(of: "/") {
            let path = rest[rest.index(after: slash)...].trimmingCharacters(in: CharacterSet(charactersIn: "/"))
            if !path.isEmpty {
                guard let db = Int(path), db >= 0 else {
                    throw RedisError(.invalidURL, "database '\(path)' in the Redis URL is not a non-negative number")
                }
                database = db
            }
            rest = rest[..<slash]
        }
        sentinels = try rest.split(separator: ",", omittingEmptySubsequences: false).map { entry throws(RedisError) in
            try Self.address(String(entry), defaultPort: 26379)
        }
        host = sentinels[0].host
        port = sentinels[0].port
        replicaAcks = 1
        try applyOptions(query, sentinel: true)
    }

    /// `host`, `host:port`, `[v6]` or `[v6]:port`.
    static func address(_ text: String, defaultPort: Int) throws(RedisError) -> Address {
        var host = Substring(text), port = defaultPort
        if host.hasPrefix("["), let close = host.firstIndex(of: "]") {
            let after = host[host.index(after: close)...]
            if after.hasPrefix(":") {
                guard let number = Int(after.dropFirst()) else { throw badAddress(text) }; port = number
            } else if !after.isEmpty {
                throw badAddress(text)
            }
            host = host[host.index(after: host.startIndex)..<close]
        } else if let colon = host.lastIndex(of: ":") {
            guard let number = Int(host[host.index(after: colon)...]) else { throw badAddress(text) }
            port = number
            host = host[..<colon]
        }
        guard !host.isEmpty, (1...65535).contains(port) else { throw badAddress(text) }
        return Address(host: String(host), port: port)
    }

    private static func badAddress(_ text: String) -> RedisError {
        RedisError(.invalidURL, "'\(text)' is not a Sentinel address; expected host:port with a port from 1 to 65535")
    }

    private mutating func applyOptions(_ items: [URLQueryItem], sentinel: Bool) throws(RedisError) {
        for item in items {
            let value = item.value ?? ""
            switch item.name {
            case "replica_acks":
                guard let number = Int(value), (0...16).contains(number) else {
                    throw RedisError(.invalidURL, "replica_acks must be a whole number from 0 to 16, got '\(value)'")
                }
                replicaAcks = number
            case "replica_ack_timeout_ms":
                guard let number = Int(value), (1...60000).contains(number) else {
                    throw RedisError(.invalidURL, "replica_ack_timeout_ms must be a whole number from 1 to 60000, got '\(value)'")
                }
                replicaAckTimeout = .milliseconds(number)
            case "sentinel_password" where sentinel:
                sentinelPassword = value
            default:
                throw RedisError(
                    .invalidURL,
                    "unknown option '\(item.name)' in the Redis URL; known: replica_acks, replica_ack_timeout_ms\(sentinel ? ", sentinel_password" : "")"
                )
            }
        }
    }

    /// The URL with the password masked, for logs and error messages.
    public var redactedDescription: String {
        let credentials = password == nil ? "" : "\(username ?? ""):***@"
        if let masterName, !sentinels.isEmpty {
            return "redis-sentinel://\(credentials)\(sentinels.map(\.description).joined(separator: ","))/\(database)#\(masterName)"
        }
        return "redis://\(credentials)\(host):\(port)/\(database)"
    }

    /// The URL without its credentials: the user and password, and the query (which may hold
    /// `sentinel_password`).
    static func redacted(_ url: String) -> String {
        let bare = url.firstIndex(of: "?").map { String(url[..<$0]) + "?…" } ?? url
        guard let at = bare.lastIndex(of: "@"), let scheme = bare.range(of: "://") else { return bare }
        return String(bare[..<scheme.upperBound]) + "***" + String(bare[at...])
    }
}
