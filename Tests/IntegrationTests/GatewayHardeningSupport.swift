import CervellaTestSupport
import CurlHTTP
import Foundation
import Settings
import Testing

/// Shared pieces of the GatewayHardening* suites (issue 11): keys, a client that can send any
/// header, and raw sockets for the slow-client tests.
enum Hardening {
    static let userKey = "hardening-user-key"
    static let otherKey = "hardening-other-key"
    static let adminKey = "hardening-admin-key"

    /// A gateway with two API keys and the admin key; `configure` runs after those are set.
    static func start(_ pool: TestPool, configure: (inout CervellaSettings) -> Void = { _ in }) async throws -> (RunningGateway, Client) {
        let gateway = try await pool.startGateway { settings in
            settings.gateway.apiKeys = [userKey, otherKey]
            settings.gateway.adminKey = adminKey
            settings.gateway.rateLimitPerMinute = 0
            configure(&settings)
        }
        return (gateway, Client(http: try HTTPClient(), base: gateway.baseURL))
    }

    struct Client {
        let http: HTTPClient
        let base: String

        func send(
            _ method: String, _ path: String, json: String? = nil, key: String? = Hardening.userKey,
            contentType: String? = "application/json", timeout: Duration = .seconds(30)
        ) async throws -> HTTPResponse {
            var headers: [HTTPHeader] = []
            if let contentType { headers.append(HTTPHeader(name: "content-type", value: contentType)) }
            if let key { headers.append(HTTPHeader(name: "authorization", value: "Bearer \(key)")) }
            return try await http.execute(
                HTTPRequest(method: method, url: base + path, headers: headers, body: json.map { Data($0.utf8) }, timeout: timeout))
        }

        func object(_ response: HTTPResponse) -> [String: Any] {
            (try? JSONSerialization.jsonObject(with: response.body) as? [String: Any]) ?? [:]
        }

        func errorCode(_ response: HTTPResponse) -> String? {
            (object(response)["error"] as? [String: Any])?["code"] as? String
        }

        func errorMessage(_ response: HTTPResponse) -> String {
            (object(response)["error"] as? [String: Any])?["message"] as? String ?? ""
        }

        func text(_ response: HTTPResponse) -> String {
            String(decoding: response.body, as: UTF8.self)
        }
    }

    /// The port of an `http://127.0.0.1:PORT` base URL.
    static func port(of baseURL: String) -> UInt16 {
        UInt16(baseURL.split(separator: ":").last.flatMap { Int($0) } ?? 0)
    }

    /// Seconds since `start`, for the (generous) timing bounds.
    static func seconds(since start: ContinuousClock.Instant) -> Double {
        let (whole, fraction) = start.duration(to: .now).components
        return Double(whole) + Double(fraction) / 1e18
    }
}

/// A raw TCP connection to the gateway, for what an HTTP client will not do: send half a
/// request head, or a body slower than its Content-Length promises.
///
/// Non-blocking: reads poll with `Task.sleep`, so a test never blocks a thread of the
/// cooperative pool (two of them on this machine) that the in-process gateway needs.
final class RawConnection {
    private var fd: Int32

    init(port: UInt16) throws {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw TestSetupError("socket() failed: errno \(errno)") }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = port.bigEndian
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else {
            let code = errno
            Glibc.close(fd)
            throw TestSetupError("connect() to 127.0.0.1:\(port) failed: errno \(code)")
        }
        _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
    }

    deinit { close() }

    func close() {
        if fd >= 0 { Glibc.close(fd) }
        fd = -1
    }

    /// Sends `text`; false when the peer has closed the connection.
    @discardableResult
    func send(_ text: String) -> Bool {
        let bytes = Array(text.utf8)
        return bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) } == bytes.count
    }

    /// Reads until the peer closes the connection or `seconds` pass; whether it closed, and
    /// what it sent.
    func readUntilClosed(seconds: Double) async -> (closed: Bool, received: String) {
        var received: [UInt8] = []
        let deadline = ContinuousClock.now + .milliseconds(Int(seconds * 1000))
        var buffer = [UInt8](repeating: 0, count: 4096)
        while ContinuousClock.now < deadline {
            let count = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, Int32(MSG_DONTWAIT)) }
            if count > 0 {
                received += buffer[0..<count]
                continue
            }
            if count == 0 || (errno != EAGAIN && errno != EWOULDBLOCK) {
                return (true, String(decoding: received, as: UTF8.self))
            }
            try? await Task.sleep(for: .milliseconds(20))
        }
        return (false, String(decoding: received, as: UTF8.self))
    }
}
