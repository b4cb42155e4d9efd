import Batch
import CervellaTestSupport
import Foundation
import JobProtocol
import ProviderSimulator
import RedisClient
import Testing

/// `cervella batch`: inputs, map-reduce, the output, resuming, and the command itself.
@Suite(.timeLimit(.minutes(5))) struct BatchTests {
    /// A folder of `count` Markdown files, of which `long` are long, and one that is not text.
    static func folder(count: Int, long: Int = 0) throws -> URL {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("cervella-batch-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: root.appendingPathComponent("notes"), withIntermediateDirectories: true)
        for index in 0..<count {
            let folder = index % 3 == 0 ? root.appendingPathComponent("notes") : root
            var text = "# Report \(index)\n\nThe queue grew by \(index) jobs this week; the team added a worker.\n"
            if index < long {
                text += (0..<60).map { "## Section \($0)\n\nParagraph \($0) of report \(index): the workers kept up, and the backlog fell." }.joined(
                    separator: "\n\n")
            }
            try text.write(to: folder.appendingPathComponent(String(format: "report-%03d.md", index)), atomically: true, encoding: .utf8)
        }
        try Data([0xFF, 0xFE, 0x00]).write(to: root.appendingPathComponent("broken.md"))
        try "not taken".write(to: root.appendingPathComponent("image.png"), atomically: true, encoding: .utf8)
        return root
    }

    static func lines(_ path: String) throws -> [[String: Any]] {
        let data = try Data(contentsOf: URL(fileURLWithPath: path))
        return data.split(separator: UInt8(ascii: "\n")).compactMap { try? JSONSerialization.jsonObject(with: Data($0)) as? [String: Any] }
    }

    @Test func theChunkerCutsOnParagraphsWithinTheLimitAndOverlaps() {
        let text = (0..<40).map { "## Part \($0)\n\nWords of paragraph \($0), enough of them to count for something here." }.joined(separator: "\n\n")
        let parts = Chunker.chunks(text, maxTokens: 120, overlapTokens: 30)
        #expect(parts.count > 3)
        #expect(parts.allSatisfy { TokenEstimator.estimate($0) <= 120 })
        #expect(parts.allSatisfy { $0.hasPrefix("## Part") }, "parts start at a heading")
        // Consecutive parts share a paragraph.
        let first = parts[0].components(separatedBy: "\n\n"), second = parts[1].components(separatedBy: "\n\n")
        #expect(second.first.map { first.contains($0) } == true)
        #expect(Chunker.chunks("short", maxTokens: 120, overlapTokens: 30) == ["short"])
        // One enormous word-free run is still cut.
        #expect(
            Chunker.chunks(String(repeating: "word ", count: 5_000), maxTokens: 200, overlapTokens: 0).allSatisfy {
                TokenEstimator.estimate($0) <= 200
            })
    }

    @Test func badJSONLLinesAreReportedWithTheirLineAndSkipped() throws {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("cervella-\(UUID().uuidString).jsonl")
        try """
        {"id":"a","message":"Summarise: one."}
        {"id":"b","message":"Summarise: two.","session":"x"}
        not json

        {"id":"a","message":"again"}
        {"message":"no id","tier_hint":"simple","context":{"system":"Be brief."}}
        {"id":"c","message":""}
        """.write(to: file, atomically: true, encoding: .utf8)
        let read = try BatchInput.read(path: file.path, globs: [])
        #expect(read.items.map(\.id) == ["a", "line-6"])
        #expect(read.problems.map(\.source) == ["\(file.path):2", "\(file.path):3", "\(file.path):5", "\(file.path):7"])
        #expect(read.problems[0].message.contains("unsupported field 'session'"))
        #expect(read.problems[2].message.contains("id 'a' was used on an earlier line"))
        if case .request(let request) = read.items[1].content {
            #expect(request.messages.first?.role == "system" && request.tierHint == "simple")
        } else {
            Issue.record("line 6 is a request")
        }
    }

    @Test func aFolderIsSummarisedLongFilesByMapReduceAndAnInterruptedRunResumes() async throws {
        try await withTestPool(configure: { $0.worker.concurrency = 8 }) { pool in
            let root = try Self.folder(count: 12, long: 2)
            let read = try BatchInput.read(path: root.path, globs: ["*.md"])
            #expect(read.items.count == 12)
            #expect(read.problems.count == 1 && read.problems[0].source.hasSuffix("broken.md"))
            #expect(read.items.map(\.id).contains("notes/report-000.md"))
            let output = root.appendingPathComponent("out.jsonl").path
            var options = BatchOptions()
            options.concurrency = 4
            options.mapReduce = true
            options.chunkTokens = 400
            options.timeoutSeconds = 120

            let first = BatchRunner(producer: pool.producer, settings: pool.settings, options: options)
            let out = try BatchOutput(path: output)
            try await first.run(read.items, output: out)
            out.close()
            let written = try Self.lines(output)
            #expect(written.count == 12)
            #expect(written.allSatisfy { $0["ok"] as? Bool == true && !(($0["response"] as? String) ?? "").isEmpty })
            let long = written.filter { $0["parts"] != nil }
            #expect(long.count == 2, "the two long files went through map-reduce")
            for line in long {
                let parts = try #require(line["parts"] as? [[String: Any]])
                #expect(parts.filter { $0["step"] as? String == "map" }.count >= 2)
                #expect(parts.last?["step"] as? String == "reduce")
                let sum = parts.compactMap { $0["cost_usd"] as? Double }.reduce(0, +)
                #expect(abs((line["cost_usd"] as? Double ?? -1) - sum) < 1e-9, "the line's cost is its parts' sum")
            }
            let table = BatchSummary.table(first.jobs)
            #expect(table.contains("the same tokens on Claude"))

            // An interrupted run: five lines made it, and a sixth was cut by the crash.
            let kept =
                try String(contentsOfFile: output, encoding: .utf8).split(separator: "\n").prefix(5).joined(separator: "\n") + "\n{\"id\":\"cut"
            try kept.write(toFile: output, atomically: true, encoding: .utf8)
            let resumedOutput = try BatchOutput(path: output)
            #expect(resumedOutput.done.count == 5)
            let second = BatchRunner(producer: pool.producer, settings: pool.settings, options: options)
            try await second.run(read.items, output: resumedOutput)
            resumedOutput.close()
            #expect(second.progress.skipped == 5 && second.progress.done == 7)
            let resumed = try Self.lines(output)
            #expect(resumed.count == 12)
            #expect(Set(resumed.compactMap { $0["id"] as? String }) == Set(read.items.map(\.id)), "every file once")
            // Only the seven missing items' jobs were sent (answered from the cache this time).
            let jobsPerItem = Dictionary(
                uniqueKeysWithValues: written.map { ($0["id"] as? String ?? "", ($0["parts"] as? [Any])?.count ?? 1) })
            let missing = Set(read.items.map(\.id)).subtracting(resumedOutput.done)
            #expect(second.jobs.count == missing.reduce(0) { $0 + (jobsPerItem[$1] ?? 0) })
        }
    }

    @Test func requestsAreWrittenInInputOrderWhenAsked() async throws {
        try await withTestPool(configure: { $0.worker.concurrency = 8 }) { pool in
            let file = FileManager.default.temporaryDirectory.appendingPathComponent("cervella-\(UUID().uuidString).jsonl")
            // Later lines answer sooner: in input order, the output still follows the input.
            let body = (0..<8).map {
                #"{"id":"r\#($0)","message":"Summarise: item \#($0).\n#sim latency_ms=\#((8 - $0) * 60)","tier_hint":"simple"}"#
            }
            try body.joined(separator: "\n").write(to: file, atomically: true, encoding: .utf8)
            let read = try BatchInput.read(path: file.path, globs: [])
            var options = BatchOptions()
            options.concurrency = 8
            options.inputOrder = true
            let output = file.path + ".out"
            let out = try BatchOutput(path: output)
            try await BatchRunner(producer: pool.producer, settings: pool.settings, options: options).run(read.items, output: out)
            out.close()
            #expect(try Self.lines(output).compactMap { $0["id"] as? String } == (0..<8).map { "r\($0)" })
        }
    }

    @Test func theCommandIsInterruptedAndResumesWithoutRedoingFinishedFiles() async throws {
        // Slow answers, so that Ctrl-C comes with most files still to do.
        let simulator = try await RunningSimulator.start(configuration: .init(port: 0, defaultLatencyMs: 100))
        try await withTestPool(configure: { $0.worker.concurrency = 4 }, simulator: simulator) { pool in
            let root = try Self.folder(count: 200, long: 3)
            let output = root.appendingPathComponent("summaries.jsonl").path
            let arguments = [
                "batch", "--input", root.path, "--output", output, "--concurrency", "4", "--map-reduce", "--chunk-tokens", "400", "--glob", "*.md",
            ]
            let first = try pool.launch(arguments)
            let some = await eventually(timeout: .seconds(60)) { ((try? Self.lines(output))?.count ?? 0) >= 20 }
            #expect(some)
            first.signal(SIGINT)
            #expect(await first.waitForExit(seconds: 30))
            #expect(first.terminationStatus == 130)
            let before = try Self.lines(output).compactMap { $0["id"] as? String }
            #expect(before.count >= 20 && before.count < 200)

            let second = try pool.launch(arguments)
            #expect(await second.waitForExit(seconds: 240))
            // broken.md is reported and skipped: the exit status says an input was skipped.
            #expect(second.terminationStatus == 1)
            let after = try Self.lines(output).compactMap { $0["id"] as? String }
            #expect(after.count == 200, "every file once")
            #expect(Set(after).count == 200)
            #expect(Array(after.prefix(before.count)) == before, "nothing finished was redone or lost")
            let log = try String(contentsOfFile: try #require(second.outputPath), encoding: .utf8)
            #expect(log.contains("skipped \(root.path)/broken.md: is not UTF-8 text"), "\(log.suffix(2_000))")
            #expect(log.contains("\(before.count) already in"), "\(log.suffix(2_000))")
            #expect(log.contains("the same tokens on Claude"), "\(log.suffix(2_000))")
        }
    }
}
