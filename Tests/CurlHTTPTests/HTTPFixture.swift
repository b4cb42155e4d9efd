import Foundation

/// A Python standard-library HTTP server (Fixtures/http_fixture.py) for one test.
///
/// Each test starts its own server on a free loopback port, so tests can run in parallel
/// and never see each other's connections. Call `stop()` (or drop the fixture) at the end
/// of the test; the process is killed either way.
final class HTTPFixture {
    /// The port the server listens on.
    let port: Int
    /// A port bound by the fixture but not listening: connecting to it is refused.
    let closedPort: Int
    private let process: Process

    private init(process: Process, port: Int, closedPort: Int) {
        self.process = process
        self.port = port
        self.closedPort = closedPort
    }

    /// Starts the server and waits until it listens.
    ///
    /// The blocking pipe read runs on a thread of its own: tests run in parallel on
    /// Swift's cooperative pool (two threads here), and blocking it would stall every
    /// other test and distort their timing assertions.
    static func start() async throws -> HTTPFixture {
        try await withCheckedThrowingContinuation { continuation in
            let thread = Thread {
                continuation.resume(with: Result { try startBlocking() })
            }
            thread.start()
        }
    }

    private static func startBlocking() throws -> HTTPFixture {
        let script = URL(fileURLWithPath: #filePath)
            .deletingLastPathComponent()
            .appendingPathComponent("Fixtures/http_fixture.py")
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", script.path]
        let output = Pipe()
        process.standardOutput = output
        try process.run()

        // The fixture prints "<port> <closed-port>\n" once it is listening.
        var line = Data()
        while !line.contains(UInt8(ascii: "\n")) {
            let chunk = output.fileHandleForReading.availableData
            if chunk.isEmpty {
                process.waitUntilExit()
                throw FixtureError(message: "http_fixture.py exited before printing its port")
            }
            line.append(chunk)
        }
        let fields = String(decoding: line, as: UTF8.self)
            .split(whereSeparator: \.isWhitespace)
            .compactMap { Int($0) }
        guard fields.count == 2 else {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
            throw FixtureError(message: "unexpected fixture output: \(String(decoding: line, as: UTF8.self))")
        }
        return HTTPFixture(process: process, port: fields[0], closedPort: fields[1])
    }

    /// An absolute URL on this server.
    func url(_ path: String) -> String {
        "http://127.0.0.1:\(port)\(path)"
    }

    /// Kills the server and waits for it, so no process outlives its test.
    ///
    /// SIGKILL rather than `terminate()` (SIGTERM): Foundation spawns the child from a
    /// libdispatch thread, which blocks most signals, and the child inherits that mask, so
    /// SIGTERM would stay pending forever. The fixture has nothing to clean up.
    ///
    /// No `waitUntilExit()`: it runs a run loop on the calling thread, and this is called on
    /// Swift's cooperative pool (two threads here), where two such waits at once once stalled
    /// the whole suite. A SIGKILLed child is gone within milliseconds; a bounded poll suffices.
    func stop() {
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
        }
        for _ in 0..<100 where process.isRunning { usleep(10_000) }
    }

    deinit {
        stop()
    }
}

struct FixtureError: Error, CustomStringConvertible {
    var message: String
    var description: String { message }
}

/// The JSON the fixture's /echo route answers with.
struct EchoReply: Decodable {
    var method: String
    var path: String
    var clientPort: Int
    var body: String
    var headers: [String: String]

    enum CodingKeys: String, CodingKey {
        case method, path, body, headers
        case clientPort = "client_port"
    }
}
