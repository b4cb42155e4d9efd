import CervellaTestSupport
import Foundation
import JobProtocol
import RedisClient
import Spawn
import Testing

/// Tests that drive the real `cervella` executable and the Python example, as users do.
@Suite(.timeLimit(.minutes(2))) struct ProcessTests {
    /// Starts `cervella worker` with the pool's settings given through the environment.
    func startWorker(_ pool: TestPool, extraConfig: String = "") throws -> SpawnedProcess {
        try pool.launch(["worker"], config: "[worker]\nblock_timeout_seconds = 0.5\n\(extraConfig)\n")
    }

    func processingCount(_ pool: TestPool) async throws -> Int {
        let lists = try await pool.redis.send("KEYS", RedisArgument(pool.keys.prefix + ":processing:*")).array ?? []
        var total = 0
        for list in lists { total += try await pool.redis.send("LLEN", RedisArgument(bytes: list.bytes ?? [])).integer ?? 0 }
        return total
    }

    @Test func sigtermDrainsInFlightJobsAndExitsCleanly() async throws {
        try await withTestPool(workers: 0) { pool in
            let worker = try startWorker(pool)
            let jobs = try (0..<6).map { try pool.job("Summarize report \($0).\n#sim latency_ms=3000", cache: false) }
            for job in jobs { _ = try await pool.producer.enqueue(job) }
            // Wait until the worker holds all six (a process start can take seconds on a loaded
            // machine), then ask it to stop.
            let deadline = Date().addingTimeInterval(40)
            while try await processingCount(pool) < 6, Date() < deadline { try await Task.sleep(for: .milliseconds(20)) }
            #expect(try await processingCount(pool) == 6)
            kill(worker.processIdentifier, SIGTERM)
            #expect(await worker.waitForExit(seconds: 15))
            #expect(worker.terminationStatus == 0)
            for job in jobs {
                let result = try await pool.producer.waitForResult(job)
                #expect(result.ok, "job \(job.id): \(String(describing: result.error))")
            }
            #expect(try await processingCount(pool) == 0)
        }
    }

    @Test func sigtermPastTheDrainTimeoutHandsJobsBackAndAnotherWorkerFinishesThem() async throws {
        try await withTestPool(workers: 0) { pool in
            let worker = try startWorker(pool, extraConfig: "drain_timeout_seconds = 0.3")
            let jobs = try (0..<4).map { try pool.job("Translate document \($0).\n#sim latency_ms=4000", cache: false, timeout: 60) }
            for job in jobs { _ = try await pool.producer.enqueue(job) }
            let deadline = Date().addingTimeInterval(10)
            while try await processingCount(pool) < 4, Date() < deadline { try await Task.sleep(for: .milliseconds(20)) }
            kill(worker.processIdentifier, SIGTERM)
            #expect(await worker.waitForExit(seconds: 10))
            #expect(worker.terminationStatus == 0)
            // Nothing lost: every job is back in its queue, none stuck in a processing list.
            #expect(try await pool.redis.send("LLEN", RedisArgument(pool.keys.queue(.tier1))).integer == 4)
            #expect(try await processingCount(pool) == 0)

            let second = try startWorker(pool)
            for job in jobs {
                let result = try await pool.producer.waitForResult(job)
                #expect(result.ok, "job \(job.id): \(String(describing: result.error))")
            }
            kill(second.processIdentifier, SIGTERM)
            #expect(await second.waitForExit(seconds: 15))
        }
    }

    /// The ```` ```python ```` blocks of docs/PROTOCOL.md, in order.
    static func pythonBlocks() throws -> [String] {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let document = try String(contentsOf: root.appendingPathComponent("docs/PROTOCOL.md"), encoding: .utf8)
        var blocks: [String] = []
        var from = document.startIndex
        while let start = document.range(of: "```python\n", range: from..<document.endIndex),
            let end = document.range(of: "\n```", range: start.upperBound..<document.endIndex)
        {
            blocks.append(String(document[start.upperBound..<end.lowerBound]))
            from = end.upperBound
        }
        return blocks
    }

    @Test func pythonToolStepFromTheProtocolDocumentAsksForTheCall() async throws {
        try await withTestPool(workers: 1) { pool in
            let blocks = try Self.pythonBlocks()
            try #require(blocks.count == 4, "docs/PROTOCOL.md should hold four Python examples")
            let (status, text) = try await TestEnvironment.runPython(
                blocks[1], environment: ["REDIS_URL": pool.settings.redis.url, "CERVELLA_KEY_PREFIX": pool.keys.prefix], seconds: 40
            )
            #expect(status == 0, "python said: \(text)")
            #expect(text.contains("call weather {'city': 'example'} finish=tool_calls"), "\(text)")
        }
    }

    @Test func pythonStreamReaderFromTheProtocolDocumentReadsTheWholeAnswer() async throws {
        try await withTestPool(workers: 1) { pool in
            let blocks = try Self.pythonBlocks()
            try #require(blocks.count == 4, "docs/PROTOCOL.md should hold four Python examples")
            let (status, text) = try await TestEnvironment.runPython(
                blocks[2], environment: ["REDIS_URL": pool.settings.redis.url, "CERVELLA_KEY_PREFIX": pool.keys.prefix], seconds: 40
            )
            #expect(status == 0, "python said: \(text)")
            #expect(text.contains("start tier=3 model=claude-sonnet-4-5 mode=live"), "\(text)")
            #expect(text.contains("released at the end=0 chars, whole=True"), "a live stream carries the whole answer: \(text)")
        }
    }

    @Test func pythonExampleFromTheProtocolDocumentIsAnswered() async throws {
        try await withTestPool(workers: 1) { pool in
            let script = try #require(try Self.pythonBlocks().first)

            let (status, text) = try await TestEnvironment.runPython(
                script, environment: ["REDIS_URL": pool.settings.redis.url, "CERVELLA_KEY_PREFIX": pool.keys.prefix], seconds: 40
            )
            #expect(status == 0, "python said: \(text)")
            #expect(text.contains("model=qwen3-4b tier=1"))
            #expect(text.contains("Summary"))
        }
    }
}
