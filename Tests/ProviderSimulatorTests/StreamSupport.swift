import Foundation
import Hummingbird
import HummingbirdTesting

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// One server-sent event of a streamed answer, as a client's parser sees it.
struct SSEEvent {
    /// The `event:` name; nil for vLLM's unnamed events.
    var name: String?
    /// The `data:` text.
    var data: String

    /// The data as a JSON object; nil for `[DONE]`.
    var json: [String: Any]? {
        (try? JSONSerialization.jsonObject(with: Data(data.utf8))) as? [String: Any]
    }
}

/// Helpers for the streaming tests: requesting a stream, splitting it into events and
/// reading vLLM's chunks.
extension Sim {
    /// The events of a stream body (frames end with a blank line).
    static func events(_ text: String) -> [SSEEvent] {
        text.components(separatedBy: "\n\n").filter { !$0.isEmpty }.map { frame in
            var event = SSEEvent(name: nil, data: "")
            for line in frame.split(separator: "\n") {
                if line.hasPrefix("event: ") {
                    event.name = String(line.dropFirst("event: ".count))
                } else if line.hasPrefix("data: ") {
                    event.data = String(line.dropFirst("data: ".count))
                }
            }
            return event
        }
    }

    /// POSTs a streamed chat completion for `prompt`.
    static func chatStream(_ client: any TestClientProtocol, _ prompt: String, extra: [String: Any] = [:]) async throws -> TestResponse {
        try await chat(client, chatBody(prompt, extra: extra.merging(["stream": true]) { _, new in new }))
    }

    /// POSTs a streamed Messages request for `prompt`.
    static func messagesStream(_ client: any TestClientProtocol, _ prompt: String, extra: [String: Any] = [:]) async throws -> TestResponse {
        try await messages(client, messagesBody(prompt, extra: extra.merging(["stream": true]) { _, new in new }))
    }

    /// The JSON chunks of a vLLM stream: every `data:` line but `[DONE]` and error lines.
    static func chunks(_ events: [SSEEvent]) -> [[String: Any]] {
        events.compactMap(\.json).filter { $0["error"] == nil }
    }

    /// `choices[0]` of a chunk.
    static func streamChoice(_ chunk: [String: Any]) -> [String: Any]? {
        (chunk["choices"] as? [[String: Any]])?.first
    }

    /// `choices[0].delta` of a chunk.
    static func delta(_ chunk: [String: Any]) -> [String: Any]? {
        streamChoice(chunk)?["delta"] as? [String: Any]
    }

    /// The content pieces of a vLLM stream, in order.
    static func contentPieces(_ events: [SSEEvent]) -> [String] {
        chunks(events).dropFirst().compactMap { delta($0)?["content"] as? String }.filter { !$0.isEmpty }
    }

    /// The `text` or `partial_json` pieces of an Anthropic stream, in order.
    static func anthropicPieces(_ events: [SSEEvent]) -> [String] {
        events.filter { $0.name == "content_block_delta" }.compactMap { event in
            let delta = event.json?["delta"] as? [String: Any]
            return (delta?["text"] ?? delta?["partial_json"]) as? String
        }
    }

    /// JSON text with sorted keys, for comparing parsed values that are not `Equatable`.
    static func canonical(_ value: Any) throws -> String {
        String(decoding: try JSONSerialization.data(withJSONObject: value, options: [.sortedKeys]), as: UTF8.self)
    }

    /// Polls `condition` every 20 ms until it holds or `timeout` passes; returns its last value.
    static func eventually(within timeout: Duration = .seconds(10), _ condition: () -> Bool) async throws -> Bool {
        let clock = ContinuousClock()
        let deadline = clock.now + timeout
        while clock.now < deadline {
            if condition() { return true }
            try await Task.sleep(for: .milliseconds(20))
        }
        return condition()
    }
}

/// A bare HTTP/1.1 client on a plain socket, for the one thing the other test clients
/// cannot do: hang up in the middle of a streamed response.
///
/// The socket calls block, so they run on a thread of their own, never on the cooperative
/// pool that the simulator under test needs (two cores on CI).
enum RawHTTPClient {
    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    /// POSTs `body` to `path` on 127.0.0.1:`port`, reads until the response contains
    /// `marker`, then closes the socket and returns what was read.
    static func postAndHangUp(port: Int, path: String, headers: [String: String], body: Data, after marker: String) async throws -> String {
        try await withCheckedThrowingContinuation { continuation in
            let thread = Thread {
                continuation.resume(with: Result { try exchange(port: port, path: path, headers: headers, body: body, marker: marker) })
            }
            thread.start()
        }
    }

    private static func exchange(port: Int, path: String, headers: [String: String], body: Data, marker: String) throws -> String {
        #if canImport(Glibc)
            let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        #else
            let descriptor = socket(AF_INET, SOCK_STREAM, 0)
        #endif
        guard descriptor >= 0 else { throw Failure(description: "socket() failed, errno \(errno)") }
        defer { close(descriptor) }
        // A stuck read fails the test after 10 s instead of hanging it.
        var timeout = timeval(tv_sec: 10, tv_usec: 0)
        setsockopt(descriptor, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr = in_addr(s_addr: inet_addr("127.0.0.1"))
        let connected = withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else { throw Failure(description: "connect() to port \(port) failed, errno \(errno)") }

        var head = "POST \(path) HTTP/1.1\r\nHost: 127.0.0.1:\(port)\r\nContent-Length: \(body.count)\r\n"
        for (name, value) in headers { head += "\(name): \(value)\r\n" }
        let request = Array((head + "\r\n").utf8) + Array(body)
        var sent = 0
        while sent < request.count {
            let count = request[sent...].withUnsafeBytes { send(descriptor, $0.baseAddress, $0.count, 0) }
            guard count > 0 else { throw Failure(description: "send() failed, errno \(errno)") }
            sent += count
        }

        var received: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while !String(decoding: received, as: UTF8.self).contains(marker) {
            let count = recv(descriptor, &buffer, buffer.count, 0)
            guard count > 0 else {
                throw Failure(description: "the response ended before \(marker) (recv \(count), errno \(errno))")
            }
            received += buffer[0..<count]
        }
        return String(decoding: received, as: UTF8.self)
    }
}
