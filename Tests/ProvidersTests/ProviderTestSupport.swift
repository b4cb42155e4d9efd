import CervellaTestSupport
import CurlHTTP
import Foundation
import JobProtocol
import ProviderSimulator
import Providers
import Settings
import Synchronization

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Settings and requests shared by the provider tests.
enum Fixture {
    /// A tier of `kind` pointed at `endpoints`: tier 1 for OpenAI, tier 3 for Anthropic.
    static func settings(_ kind: TierSettings.ProviderKind, endpoints: [String], apiKey: String? = "test-key", model: String? = nil) -> TierSettings {
        var settings = TierSettings.defaults(tier: kind == .openai ? .tier1 : .claude)
        settings.endpoints = endpoints
        settings.apiKey = apiKey
        if let model { settings.model = model }
        return settings
    }

    /// One user message (optionally preceded by system messages), with a timeout short
    /// enough that a stuck test fails fast.
    static func request(_ text: String, system: [String] = [], wantLogprobs: Bool = false, maxTokens: Int = 512, timeout: Duration = .seconds(5))
        -> ProviderRequest
    {
        let messages = system.map { ChatMessage(role: "system", content: $0) } + [ChatMessage(role: "user", content: text)]
        return ProviderRequest(messages: messages, maxTokens: maxTokens, wantLogprobs: wantLogprobs, timeout: timeout)
    }

    /// The error `complete` threw, or nil when it answered.
    static func failure(_ provider: some ChatProvider, _ request: ProviderRequest) async -> ProviderError? {
        do {
            _ = try await provider.complete(request)
            return nil
        } catch {
            return error
        }
    }

    /// The simulator counts one token per whitespace-separated word of its answer.
    static func wordCount(_ text: String) -> Int {
        text.split(whereSeparator: \.isWhitespace).count
    }

    /// The simulator's prompt estimate: one token per four characters (not bytes).
    static func simulatorPromptTokens(_ texts: [String]) -> Int {
        (texts.joined().count + 3) / 4
    }
}

/// Runs `body` with `count` fresh simulators and one HTTP client, then stops them all,
/// whether `body` returned or threw.
func withSimulators(
    _ configurations: [SimulatorConfiguration] = [SimulatorConfiguration(port: 0)],
    _ body: ([RunningSimulator], HTTPClient) async throws -> Void
) async throws {
    let http = try HTTPClient()
    var simulators: [RunningSimulator] = []
    func stopAll() async {
        http.shutdown()
        for simulator in simulators { await simulator.stop() }
    }
    do {
        for configuration in configurations {
            simulators.append(try await RunningSimulator.start(configuration: configuration))
        }
        try await body(simulators, http)
    } catch {
        await stopAll()
        throw error
    }
    await stopAll()
}

/// Runs `body` with one fresh simulator and one HTTP client.
func withSimulator(_ body: (RunningSimulator, HTTPClient) async throws -> Void) async throws {
    try await withSimulators { simulators, http in try await body(simulators[0], http) }
}

/// A loopback port on which nothing listens: bound by the kernel, then released.
///
/// Another process could take the port in between, but only within the microseconds
/// before the test connects; a fixed "unused" port would be far more fragile.
func closedPort() throws -> Int {
    let socket = try LoopbackSocket.make()
    defer { close(socket.descriptor) }
    return socket.port
}

/// A listening IPv4 socket on 127.0.0.1 and the port the kernel gave it.
struct LoopbackSocket {
    let descriptor: Int32
    let port: Int

    static func make() throws -> LoopbackSocket {
        #if canImport(Glibc)
            let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        #else
            let descriptor = socket(AF_INET, SOCK_STREAM, 0)
        #endif
        guard descriptor >= 0 else { throw TestSetupError("socket() failed: errno \(errno)") }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(0).bigEndian
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0, listen(descriptor, 16) == 0 else {
            close(descriptor)
            throw TestSetupError("bind/listen on 127.0.0.1 failed: errno \(errno)")
        }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(descriptor, $0, &length) }
        }
        return LoopbackSocket(descriptor: descriptor, port: Int(UInt16(bigEndian: address.sin_port)))
    }
}

/// A minimal HTTP/1.1 server that records every request it receives and answers each
/// with the same canned response.
///
/// The provider simulator validates Anthropic's headers but never reads OpenAI's
/// `authorization` header and does not echo request bodies, so the exact bytes a provider
/// sends (bearer key, `system` field, `logprobs` flag) are checked here instead. The
/// requests still travel over a real socket through `CurlHTTP.HTTPClient`; only the
/// answer is fixed. One connection at a time, `Connection: close` on every answer.
final class RecordingServer: Sendable {
    struct Reply: Sendable {
        var status: Int = 200
        var headers: [(name: String, value: String)] = []
        var body: String
    }

    struct Recorded: Sendable {
        /// "POST /v1/chat/completions HTTP/1.1"
        var requestLine: String
        /// Header names lowercased; a repeated name keeps its last value.
        var headers: [String: String]
        var body: Data

        var path: String { requestLine.split(separator: " ").dropFirst().first.map(String.init) ?? "" }

        /// The body as a JSON object.
        func json() throws -> [String: Any] {
            guard let object = try JSONSerialization.jsonObject(with: body) as? [String: Any] else {
                throw TestSetupError("request body is not a JSON object: \(String(decoding: body, as: UTF8.self))")
            }
            return object
        }
    }

    let port: Int
    private let listener: Int32
    private let recorded = Mutex<[Recorded]>([])
    private let finished = DispatchGroup()

    init(reply: Reply) throws {
        let socket = try LoopbackSocket.make()
        self.port = socket.port
        self.listener = socket.descriptor
        finished.enter()
        let thread = Thread {
            self.serve(reply: reply)
            self.finished.leave()
        }
        thread.name = "providers-tests.recording-server"
        thread.start()
    }

    var baseURL: String { "http://127.0.0.1:\(port)" }

    var requests: [Recorded] { recorded.withLock { $0 } }

    /// Stops accepting and waits for the serving thread; call once.
    func stop() {
        // shutdown() wakes a thread blocked in accept() on Linux; close() alone does not.
        _ = shutdown(listener, Int32(SHUT_RDWR))
        finished.wait()
        close(listener)
    }

    private func serve(reply: Reply) {
        while true {
            let connection = accept(listener, nil, nil)
            guard connection >= 0 else {
                if errno == EINTR { continue }
                return
            }
            var timeout = timeval(tv_sec: 5, tv_usec: 0)
            setsockopt(connection, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
            if let request = Self.readRequest(connection) {
                recorded.withLock { $0.append(request) }
                Self.write(reply, to: connection)
            }
            close(connection)
        }
    }

    private static func readRequest(_ connection: Int32) -> Recorded? {
        var buffer = Data()
        var chunk = [UInt8](repeating: 0, count: 16_384)
        let separator = Data("\r\n\r\n".utf8)
        var headerEnd: Range<Data.Index>?
        var expected: Int?
        while true {
            if headerEnd == nil, let found = buffer.range(of: separator) {
                headerEnd = found
                let head = String(decoding: buffer[..<found.lowerBound], as: UTF8.self)
                let length = head.split(separator: "\r\n").dropFirst().first { $0.lowercased().hasPrefix("content-length:") }
                expected = length.flatMap { Int($0.split(separator: ":", maxSplits: 1)[1].trimmingCharacters(in: .whitespaces)) } ?? 0
            }
            if let headerEnd, let expected, buffer.count - headerEnd.upperBound >= expected { break }
            let count = recv(connection, &chunk, chunk.count, 0)
            guard count > 0 else { return nil }
            buffer.append(contentsOf: chunk[0..<count])
        }
        guard let headerEnd, let expected else { return nil }
        let lines = String(decoding: buffer[..<headerEnd.lowerBound], as: UTF8.self).components(separatedBy: "\r\n")
        var headers: [String: String] = [:]
        for line in lines.dropFirst() {
            guard let colon = line.firstIndex(of: ":") else { continue }
            headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        }
        let body = buffer[headerEnd.upperBound..<(headerEnd.upperBound + expected)]
        return Recorded(requestLine: lines.first ?? "", headers: headers, body: Data(body))
    }

    private static func write(_ reply: Reply, to connection: Int32) {
        let body = Data(reply.body.utf8)
        var head = "HTTP/1.1 \(reply.status) Canned\r\ncontent-type: application/json\r\ncontent-length: \(body.count)\r\nconnection: close\r\n"
        for header in reply.headers { head += "\(header.name): \(header.value)\r\n" }
        let bytes = Data((head + "\r\n").utf8) + body
        bytes.withUnsafeBytes { raw in
            var offset = 0
            while offset < raw.count {
                let sent = send(connection, raw.baseAddress! + offset, raw.count - offset, Int32(MSG_NOSIGNAL))
                guard sent > 0 else { return }
                offset += sent
            }
        }
    }
}

/// Canned bodies in the two wire formats, for the recording server.
enum CannedReply {
    static let chatCompletion = """
        {"id":"chatcmpl-1","object":"chat.completion","created":1767225600,"model":"qwen3-4b",\
        "choices":[{"index":0,"message":{"role":"assistant","content":"Canned answer.","reasoning_content":null,"tool_calls":[]},\
        "logprobs":null,"finish_reason":"stop","stop_reason":null}],\
        "usage":{"prompt_tokens":7,"total_tokens":9,"completion_tokens":2}}
        """

    static let message = """
        {"id":"msg_01","type":"message","role":"assistant","model":"claude-sonnet-4-5",\
        "content":[{"type":"text","text":"Canned answer."}],"stop_reason":"end_turn","stop_sequence":null,\
        "usage":{"input_tokens":7,"output_tokens":2}}
        """
}
