import Foundation

/// Where and how to reach Redis.
///
/// Parsed from `redis://[user:password@]host:port/db`. The read timeout must be longer than
/// any blocking pop the caller issues, or a healthy idle BLMOVE would look like a dead server.
public struct RedisConfiguration: Sendable, Equatable {
    public var host: String
    public var port: Int
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

    /// Parses `redis://[[user]:password@]host[:port][/db]`.
    public init(url: String) throws(RedisError) {
        self.init()
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
    }

    /// The URL with the password masked, for logs and error messages.
    public var redactedDescription: String {
        let credentials = password == nil ? "" : "\(username ?? ""):***@"
        return "redis://\(credentials)\(host):\(port)/\(database)"
    }

    static func redacted(_ url: String) -> String {
        guard let at = url.lastIndex(of: "@"), let scheme = url.range(of: "://") else { return url }
        return String(url[..<scheme.upperBound]) + "***" + String(url[at...])
    }
}
