import Foundation

/// One HTTP request, as a plain value that can cross tasks and threads.
///
/// Headers are an ordered list of pairs rather than a dictionary because HTTP allows a
/// name to repeat and because order is sometimes significant to servers.
public struct HTTPRequest: Sendable, Equatable {
    /// The request method, e.g. "GET" or "POST"; sent exactly as given.
    public var method: String
    /// An absolute `http://` or `https://` URL; other schemes are rejected.
    public var url: String
    /// Request headers, sent in order. libcurl adds Host, Content-Length and, for requests
    /// with a body and no Content-Type, `application/x-www-form-urlencoded`; set
    /// Content-Type explicitly for JSON.
    public var headers: [HTTPHeader]
    /// The request body; `nil` sends none.
    public var body: Data?
    /// The limit for the whole exchange, from queueing for a connection to the last byte
    /// of the response. Values below one millisecond are rounded up to one millisecond,
    /// because libcurl reads zero as "no timeout".
    public var timeout: Duration

    public init(
        method: String = "GET",
        url: String,
        headers: [HTTPHeader] = [],
        body: Data? = nil,
        timeout: Duration = .seconds(30)
    ) {
        self.method = method
        self.url = url
        self.headers = headers
        self.body = body
        self.timeout = timeout
    }
}

extension HTTPRequest {
    /// The host part of the URL, for error messages and logs.
    ///
    /// Only the host is ever reported: the path and query of provider URLs can carry
    /// API keys (some APIs take `?key=`).
    var hostForMessages: String {
        if let host = URLComponents(string: url)?.host, !host.isEmpty {
            return host
        }
        return "<unparsable URL>"
    }

    /// Rejects requests that libcurl would send in a damaged form.
    ///
    /// libcurl copies header lines verbatim, so a CR or LF inside a name or value would
    /// split the line and let one header smuggle another (header injection). A method
    /// with spaces would corrupt the request line in the same way.
    func validate() throws(HTTPClientError) {
        let host = hostForMessages
        guard !method.isEmpty, method.utf8.allSatisfy(Self.isTokenByte) else {
            throw .invalidRequest("HTTP method \"\(method)\" for host \(host) is not a valid token")
        }
        for header in headers {
            guard !header.name.isEmpty, header.name.utf8.allSatisfy(Self.isTokenByte) else {
                throw .invalidRequest(
                    "header name \"\(header.name)\" for host \(host) is empty or contains characters not allowed in a header name"
                )
            }
            guard !header.value.utf8.contains(where: { $0 == 0x0D || $0 == 0x0A || $0 == 0 }) else {
                // The value is not quoted: it may be a secret.
                throw .invalidRequest(
                    "value of header \"\(header.name)\" for host \(host) contains CR, LF or NUL"
                )
            }
        }
    }

    /// Whether `byte` may appear in an HTTP token (RFC 9110 section 5.6.2).
    private static func isTokenByte(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
            UInt8(ascii: "0")...UInt8(ascii: "9"):
            return true
        default:
            return "!#$%&'*+-.^_`|~".utf8.contains(byte)
        }
    }
}

extension Duration {
    /// This duration in whole milliseconds for libcurl, at least 1 (0 means "forever" to
    /// libcurl) and rounded up so that a sub-millisecond timeout still applies.
    var curlMilliseconds: Int {
        let (seconds, attoseconds) = components
        guard seconds >= 0, attoseconds >= 0 else { return 1 }
        let attosecondsPerMillisecond: Int64 = 1_000_000_000_000_000
        let (milliseconds, overflow) = seconds.multipliedReportingOverflow(by: 1000)
        guard !overflow, milliseconds < Int64(Int32.max) else { return Int(Int32.max) }
        let fraction = (attoseconds + attosecondsPerMillisecond - 1) / attosecondsPerMillisecond
        return max(1, Int(milliseconds + fraction))
    }
}
