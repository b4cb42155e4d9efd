import Foundation
import Spawn

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
    private let process: SpawnedProcess

    private init(process: SpawnedProcess, port: Int, closedPort: Int) {
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
        let output = FileManager.default.temporaryDirectory.appendingPathComponent("cervella-fixture-\(UUID().uuidString).out").path
        defer { try? FileManager.default.removeItem(atPath: output) }
        // posix_spawn, not Foundation's Process (which can crash the test process on Linux).
        let process = try SpawnedProcess(
            executable: "/usr/bin/env", arguments: ["python3", script.path],
            environment: ProcessInfo.processInfo.environment, output: output
        )

        // The fixture prints "<port> <closed-port>\n" once it is listening.
        var line = ""
        let deadline = Date().addingTimeInterval(30)
        while !line.contains("\n") {
            guard process.isRunning else { throw FixtureError(message: "http_fixture.py exited before printing its port") }
            guard Date() < deadline else {
                process.signal(SIGKILL)
                throw FixtureError(message: "http_fixture.py printed no port within 30 s")
            }
            usleep(5_000)
            line = (try? String(contentsOfFile: output, encoding: .utf8)) ?? ""
        }
        let fields = line.split(whereSeparator: \.isWhitespace).compactMap { Int($0) }
        guard fields.count == 2 else {
            process.signal(SIGKILL)
            throw FixtureError(message: "unexpected fixture output: \(line)")
        }
        return HTTPFixture(process: process, port: fields[0], closedPort: fields[1])
    }

    /// An absolute URL on this server.
    func url(_ path: String) -> String {
        "http://127.0.0.1:\(port)\(path)"
    }

    /// Kills the server and waits for it, so no process outlives its test.
    ///
    /// SIGKILL: the fixture has nothing to clean up. No blocking wait: this is called on
    /// Swift's cooperative pool (two threads here); a SIGKILLed child is gone within
    /// milliseconds, so a bounded poll suffices.
    func stop() {
        process.signal(SIGKILL)
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
