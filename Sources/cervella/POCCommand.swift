import ArgumentParser
import CurlHTTP
import Foundation
import POC
import Settings

struct POCCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "poc",
        abstract: "The report's POC (5.2, 9.3): each task on the small model and on Claude, judged 1-5, with the GO/STOP verdict.",
        discussion: """
            Calls tier 1 and tier 3 of the settings directly (no Redis, no cache, no queue, no
            confidence gate). Claude judges every answer with the built-in judge prompt
            (docs/ROUTING.md, "POC"), or --judge-prompt FILE; --scores FILE takes a person's
            scores instead. Writes poc-report.json, poc-report.md and outcomes.jsonl into --out.
            Exit status: 0 GO, 3 STOP, 1 when the run could not be made.
            """
    )

    @OptionGroup var options: SettingsOptions

    @Option(help: "The task file (JSON). Default: examples/poc/tasks.json, the shipped set, when run from the repository.")
    var tasks: String?

    @Option(help: "A judge prompt file replacing the built-in one (keep its first line for the simulator to act as judge).")
    var judgePrompt: String?

    @Option(help: "A person's scores instead of the judge: JSON {\"task-id\": 4, ...} (docs/ROUTING.md, \"POC\").")
    var scores: String?

    @Option(help: "The directory the reports and outcomes.jsonl are written to.")
    var out = "poc-report"

    @Option(help: "Tasks in flight at once (1-32). Latencies are measured under this load; 1 calls one at a time, as the report's script does.")
    var concurrency = 4

    static let shippedTasks = "examples/poc/tasks.json"

    func validate() throws {
        guard POCRunner.concurrencyRange.contains(concurrency) else { throw ValidationError("--concurrency must be 1 to 32") }
        if judgePrompt != nil, scores != nil {
            throw ValidationError("--judge-prompt and --scores exclude each other: a person's scores need no judge")
        }
    }

    func run() async throws {
        JSONLogHandler.bootstrap(level: options.logLevel == "info" ? "warning" : options.logLevel)
        let settings = try options.loadSettings()
        guard let path = tasks ?? (FileManager.default.fileExists(atPath: Self.shippedTasks) ? Self.shippedTasks : nil) else {
            throw CommandFailure("no task file: pass --tasks FILE (the shipped set is \(Self.shippedTasks) in the repository)")
        }
        let claude = settings.tier(.tier3)
        if claude.kind == .anthropic, claude.apiKey == nil {
            throw CommandFailure(
                "Claude (tier 3) has no API key: set \(claude.apiKeyEnv) (or tier3.api_key_file); it answers every task beside the small model"
            )
        }
        let judge: POCRunner.Judge
        let taskList: [POCTask]
        do {
            taskList = try POCTaskFile.load(path: path)
            if let scores {
                judge = .human(try HumanScores.load(path: scores, tasks: taskList))
            } else if let judgePrompt {
                judge = .model(prompt: try POCJudgePrompt.load(path: judgePrompt))
            } else {
                judge = .model(prompt: POCJudgePrompt.text)
            }
            try POCOutput.prepare(out)
        } catch {
            throw CommandFailure("\(error)")
        }

        let http = try HTTPClient(configuration: .init(maxConnectionsPerHost: 64, maxTotalConnections: 128))
        defer { http.shutdown() }
        let runner = POCRunner(settings: settings, http: http, judge: judge, concurrency: concurrency)
        let simple = taskList.filter { $0.category == .simple }.count
        FileHandle.standardError.write(
            Data(
                ("poc: \(taskList.count) tasks (\(simple) simple, \(taskList.count - simple) medium) on \(runner.smallSettings.model) "
                    + "and \(claude.model), judged by \(runner.judgeName), \(runner.concurrency) at a time\n").utf8))
        let started = Date().timeIntervalSince1970
        let results = await runner.run(taskList) { progress in
            FileHandle.standardError.write(Data((Self.progressLine(progress) + "\n").utf8))
        }
        let report = POCReport(
            results: results, tasksFile: path, judge: runner.judgeName, smallModel: runner.smallSettings.model, claudeModel: claude.model,
            startedAt: started, finishedAt: Date().timeIntervalSince1970, concurrency: runner.concurrency)
        let written: [String]
        do { written = try POCOutput.write(report, to: out) } catch { throw CommandFailure("\(error)") }
        print(report.text(), terminator: "")
        print("wrote \(written.joined(separator: ", "))")
        if !report.summary.verdict.isGo { throw ExitCode(3) }
    }

    /// "task 3/18 formatta-lista: small 123 ms score 5, Claude 240 ms score 5": ids and figures
    /// only, never a prompt or an answer.
    static func progressLine(_ progress: POCRunner.Progress) -> String {
        func side(_ answer: POCAnswer) -> String {
            guard answer.text != nil else { return "failed" }
            let score = answer.judgement?.score.map { "score \($0)" } ?? (answer.judgement?.error != nil ? "not judged" : "unscored")
            return "\(answer.latencyMs) ms \(score)"
        }
        let result = progress.result
        return "task \(progress.done)/\(progress.total) \(result.task.id): small \(side(result.small)), Claude \(side(result.claude))"
    }
}
