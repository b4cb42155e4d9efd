import CervellaTestSupport
import Foundation
import Scoring
import Settings
import Spawn
import Testing

/// `cervella calibrate` as a user runs it: a JSONL file in, the report out, the table written
/// into worker.toml; a bad line stops it naming the line.
@Suite(.timeLimit(.minutes(2))) struct CalibrateCommandTests {
    struct Run {
        var status: Int32?
        var output: String
    }

    func calibrate(_ arguments: [String], files: [String: String]) async throws -> (Run, URL) {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("cervella-calibrate-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        for (name, text) in files { try text.write(to: directory.appendingPathComponent(name), atomically: true, encoding: .utf8) }
        let log = directory.appendingPathComponent("output.log").path
        let process = try SpawnedProcess(
            executable: try TestEnvironment.cervellaBinary(), arguments: ["calibrate"] + arguments + ["--log-level", "warning"],
            environment: ProcessInfo.processInfo.environment, directory: directory.path, output: log)
        if await !process.waitForExit(seconds: 60) {
            process.signal(SIGKILL)
            await process.waitForExit()
        }
        return (Run(status: process.terminationStatus, output: (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""), directory)
    }

    /// 3,000 outcomes whose chance of being good is the square of their `tail` signal.
    static func outcomes() -> String {
        var state: UInt64 = 42
        func next() -> Double {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return Double(state >> 11) / Double(1 << 53)
        }
        return (0..<3000).map { index in
            let q = next()
            let good = next() < q * q
            // The mean reads q through noise; the tail reads it exactly.
            let mean = 0.6 + 0.2 * q + 0.2 * next()
            return #"{"id":"o-\#(index)","task_type":"summary","features":{"mean":\#(mean),"tail":\#(q),"heuristic":1},"good":\#(good)}"#
        }.joined(separator: "\n") + "\n"
    }

    @Test func aFileIsCalibratedReportedAndWrittenIntoWorkerToml() async throws {
        let (run, directory) = try await calibrate(
            ["--outcomes", "outcomes.jsonl", "--target-fallback-rate", "0.25", "--write", "--config", "worker.toml", "--json"],
            files: ["outcomes.jsonl": Self.outcomes(), "worker.toml": "[routing]\ntier1_percentage = 100.0\n"])
        #expect(run.status == 0, "\(run.output)")
        let report = try #require(JSONSerialization.jsonObject(with: Data(run.output.utf8)) as? [String: Any])
        let groups = try #require(report["groups"] as? [[String: Any]])
        let summary = try #require(groups.first { $0["key"] as? String == "1/summary" })
        #expect(abs((summary["held_out_fallback_rate"] as? Double ?? -1) - 0.25) <= 0.05)
        #expect((summary["ece_after"] as? Double ?? 1) <= 0.05 && summary["signal"] as? String == "tail")
        let settings = try CervellaSettings.load(path: directory.appendingPathComponent("worker.toml").path, environment: [:])
        #expect(settings.routing.calibration.entry(tier: 1, taskType: "summary")?.signal == .tail)
        #expect(settings.routing.tier1Percentage == 100)
    }

    @Test func aBadLineStopsItNamingTheLine() async throws {
        let lines = #"{"good":true,"features":{"mean":0.5}}"# + "\n\n" + #"{"good":true,"features":{"mean":1.5}}"# + "\n"
        let (run, _) = try await calibrate(["--outcomes", "bad.jsonl", "--target-fallback-rate", "0.2"], files: ["bad.jsonl": lines])
        #expect(run.status == 1)
        #expect(run.output.contains("bad.jsonl, line 3: features.mean must be a number in 0.0...1.0"), "\(run.output)")
    }
}
