import CervellaTestSupport
import Foundation
import POC
import Scoring
import Spawn
import Testing

/// `cervella poc` as users run it: the executable against an in-process simulator that
/// answers as both models and as the judge. No Redis: the POC calls the providers directly.
@Suite(.timeLimit(.minutes(3))) struct POCCommandTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let shippedTasks = root.appendingPathComponent("examples/poc/tasks.json").path

    /// A run's directory (its working directory, with `out/` for the reports), exit status and output.
    struct Run {
        var directory: URL
        var status: Int32?
        var output: String
        var out: URL { directory.appendingPathComponent("out") }

        func file(_ name: String) throws -> String { try String(contentsOf: out.appendingPathComponent(name), encoding: .utf8) }
    }

    /// Runs `cervella poc` in a fresh directory (no worker.toml: defaults plus the environment,
    /// which points both tiers at `simulator`), writing its reports to `out/` there.
    func poc(_ arguments: [String], simulator: RunningSimulator, files: [String: String] = [:]) async throws -> Run {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("cervella-poc-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        for (name, text) in files { try text.write(to: directory.appendingPathComponent(name), atomically: true, encoding: .utf8) }
        var environment = ProcessInfo.processInfo.environment
        environment["QWEN3_ENDPOINT"] = simulator.baseURL
        environment["CLAUDE_ENDPOINT"] = simulator.baseURL + "/v1"
        environment["CLAUDE_API_KEY"] = "sk-ant-test"
        let log = directory.appendingPathComponent("output.log").path
        let process = try SpawnedProcess(
            executable: try TestEnvironment.cervellaBinary(), arguments: ["poc", "--out", "out"] + arguments + ["--log-level", "warning"],
            environment: environment, directory: directory.path, output: log)
        if await !process.waitForExit(seconds: 120) {
            process.signal(SIGKILL)
            await process.waitForExit()
        }
        return Run(directory: directory, status: process.terminationStatus, output: (try? String(contentsOfFile: log, encoding: .utf8)) ?? "")
    }

    /// The shipped task set with `#sim` lines added to the prompts of the given tasks.
    static func shippedTasks(adding line: String, to ids: Set<String>) throws -> String {
        var document = try #require(JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: shippedTasks))) as? [String: Any])
        let tasks = try #require(document["tasks"] as? [[String: Any]])
        document["tasks"] = tasks.map { task in
            var task = task
            if let id = task["id"] as? String, ids.contains(id), let prompt = task["prompt"] as? String { task["prompt"] = prompt + "\n" + line }
            return task
        }
        return String(decoding: try JSONSerialization.data(withJSONObject: document), as: UTF8.self)
    }

    static func simpleIDs() throws -> [String] {
        try POCTaskFile.load(path: shippedTasks).filter { $0.category == .simple }.map(\.id)
    }

    /// Runs `body` with a fresh simulator (its counters are the test's own), stopped afterwards.
    func withSimulator(_ body: (RunningSimulator) async throws -> Void) async throws {
        let simulator = try await RunningSimulator.start()
        do {
            try await body(simulator)
        } catch {
            await simulator.stop()
            throw error
        }
        await simulator.stop()
    }

    @Test func theShippedTaskSetAgainstTheSimulatorIsGoAndWritesItsThreeFiles() async throws {
        try await withSimulator { simulator in
            let run = try await poc(["--tasks", Self.shippedTasks], simulator: simulator)
            #expect(run.status == 0, "\(run.output)")
            #expect(run.output.contains("task 18/18 "))
            #expect(run.output.contains("simple tasks            10/10 scored >= 4"))
            #expect(run.output.contains("verdict: GO: every must-have of report 9.3 is met"))
            // Each task once on each model, and each answer judged once: no cache, queue or retry between.
            #expect(simulator.stats.count("/v1/chat/completions") == 18)
            #expect(simulator.stats.count("/v1/messages") == 18 + 36)

            let report = try #require(JSONSerialization.jsonObject(with: Data(try run.file(POCOutput.jsonName).utf8)) as? [String: Any])
            #expect(report["verdict"] as? String == "GO")
            #expect((report["tasks"] as? [Any])?.count == 18)
            #expect(try run.file(POCOutput.markdownName).hasPrefix("# POC report: GO\n"))
            let lines = try run.file(POCOutput.outcomesName).split(separator: "\n")
            #expect(lines.count == 18)
            let outcomes = try lines.map { try LabelledOutcome.parse(line: $0) }
            #expect(outcomes.allSatisfy { $0.source == .poc && $0.tier == 1 && $0.model == "qwen3-4b" && $0.score != nil && $0.claudeScore != nil })
            #expect(
                outcomes.allSatisfy { $0.features.probabilities != nil && $0.confidence != nil && $0.smallCostUSD != nil && $0.claudeCostUSD != nil })
            #expect(Set(outcomes.map(\.taskType)) == ["simple", "medium"])
            // The simulated judge holds the JSON task to its format: Claude's prose is not JSON either.
            let json = try #require(outcomes.first { $0.id == "casi-test-json" })
            #expect(json.score == 3 && !json.good && json.claudeScore == 3)
        }
    }

    @Test func threeSimpleTasksScoredLowGiveStopAtSevenOfTen() async throws {
        try await withSimulator { simulator in
            let low = Set(try Self.simpleIDs().prefix(3))
            let run = try await poc(
                ["--tasks", "tasks.json"], simulator: simulator, files: ["tasks.json": try Self.shippedTasks(adding: "#sim judge_score=2", to: low)])
            #expect(run.status == 3, "\(run.output)")
            #expect(run.output.contains("simple tasks            7/10 scored >= 4"))
            #expect(run.output.contains("FAIL  must-have"))
            #expect(run.output.contains("verdict: STOP: must-have not met: simple tasks"))
            let outcomes = try run.file(POCOutput.outcomesName).split(separator: "\n").map { try LabelledOutcome.parse(line: $0) }
            #expect(outcomes.count == 18)
            #expect(Set(outcomes.filter { $0.score == 2 }.map(\.id)) == low)
            #expect(outcomes.filter { low.contains($0.id) }.allSatisfy { !$0.good })
            #expect(try run.file(POCOutput.markdownName).hasPrefix("# POC report: STOP\n"))
        }
    }

    @Test func aSlowSmallModelFailsTheLatencyMustHave() async throws {
        try await withSimulator { simulator in
            let slow = try #require(try Self.simpleIDs().last)
            let run = try await poc(
                ["--tasks", "tasks.json", "--concurrency", "8"], simulator: simulator,
                files: ["tasks.json": try Self.shippedTasks(adding: "#sim openai latency_ms=2100", to: [slow])])
            #expect(run.status == 3, "\(run.output)")
            #expect(run.output.contains("simple tasks            10/10 scored >= 4"))
            #expect(run.output.contains("verdict: STOP: must-have not met: small-model p95 latency"))
        }
    }

    @Test func aHumanJudgesScoresReplaceTheJudge() async throws {
        try await withSimulator { simulator in
            let tasks = try POCTaskFile.load(path: Self.shippedTasks)
            let low = Set(try Self.simpleIDs().suffix(3))
            var scores: [String: Any] = [:]
            for task in tasks { scores[task.id] = low.contains(task.id) ? ["score": 3, "claude_score": 5, "reason": "incomplete"] : 5 }
            let run = try await poc(
                ["--tasks", Self.shippedTasks, "--scores", "scores.json"], simulator: simulator,
                files: ["scores.json": String(decoding: try JSONSerialization.data(withJSONObject: scores), as: UTF8.self)])
            #expect(run.status == 3, "\(run.output)")
            #expect(run.output.contains("judged by human (scores.json)"))
            #expect(run.output.contains("simple tasks            7/10 scored >= 4"))
            // Claude answered the tasks and judged nothing.
            #expect(simulator.stats.count("/v1/messages") == 18)
            let report = try #require(JSONSerialization.jsonObject(with: Data(try run.file(POCOutput.jsonName).utf8)) as? [String: Any])
            #expect((report["run"] as? [String: Any])?["judge"] as? String == "human (scores.json)")
            let first = try #require((report["tasks"] as? [[String: Any]])?.first { low.contains($0["id"] as? String ?? "") })
            #expect((first["small"] as? [String: Any])?["reason"] as? String == "incomplete")
            #expect((first["claude"] as? [String: Any])?["score"] as? Int == 5)
        }
    }

    @Test func aMalformedTaskFileStopsBeforeAnyCallAndNamesTheTaskAndField() async throws {
        try await withSimulator { simulator in
            let tasks =
                #"{"tasks": [{"id": "ok", "category": "simple", "prompt": "Formatta: a, b"}, {"id": "bad", "category": "easy", "prompt": "x"}]}"#
            let run = try await poc(["--tasks", "tasks.json"], simulator: simulator, files: ["tasks.json": tasks])
            #expect(run.status == 1)
            #expect(run.output.contains(#"tasks.json: task 2 ("bad"): "category" must be "simple" or "medium", not "easy""#), "\(run.output)")
            #expect(simulator.stats.count("/v1/chat/completions") == 0 && simulator.stats.count("/v1/messages") == 0)
            #expect(!FileManager.default.fileExists(atPath: run.out.path))

            let scores = try await poc(
                ["--tasks", Self.shippedTasks, "--scores", "scores.json"], simulator: simulator,
                files: ["scores.json": #"{"leggi-prompt-ripres": 4}"#])
            #expect(scores.status == 1)
            #expect(scores.output.contains(#"scores.json: "leggi-prompt-ripres" is not the id of a task in this run"#))
        }
    }
}
