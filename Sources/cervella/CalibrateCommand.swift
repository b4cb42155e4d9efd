import ArgumentParser
import ControlPlane
import Foundation
import JobProtocol
import RedisClient
import Scoring
import Settings

/// `cervella calibrate`: fits the confidence gate to labelled outcomes (docs/ROUTING.md,
/// "Calibration"), reports how well it separates and how calibrated it is, and applies the
/// table live or writes it to worker.toml.
struct CalibrateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "calibrate",
        abstract: "Fit per task type confidence maps and thresholds from labelled outcomes; apply them live or write them to worker.toml."
    )

    @OptionGroup var options: SettingsOptions

    @Option(name: .long, help: "A labelled-outcomes JSONL file (repeatable): cervella poc's outcomes.jsonl, or a user's own evaluation.")
    var outcomes: [String] = []

    @Flag(name: .long, help: "Also read the outcomes stream in Redis (shadow labels and user feedback).")
    var fromRedis = false

    @Option(name: .long, help: "Send this share (0–1) of each task type's requests to Claude.")
    var targetFallbackRate: Double?

    @Option(name: .long, help: "Keep at least this share (0–1) of always-Claude's good answers, as cheaply as possible.")
    var targetQuality: Double?

    @Option(name: .long, help: "Share (0–0.9) of outcomes held out of fitting to measure the table on.")
    var holdout = 0.3

    @Option(name: .long, help: "Outcomes a task type needs for an entry of its own (10–1000000); fewer use the tier's * entry.")
    var minSamples = 50

    @Flag(name: .long, help: "Apply the table live: the calibration field of cervella:config, obeyed by every worker within a second.")
    var apply = false

    @Flag(name: .long, help: "Write the table into the configuration file (--config, else ./worker.toml) as a [calibration] block.")
    var write = false

    @Flag(name: .long, help: "Print the report as JSON.")
    var json = false

    /// At most this many outcomes are read, from files and Redis together.
    static let maxOutcomes = 5_000_000

    func validate() throws {
        guard (targetFallbackRate == nil) != (targetQuality == nil) else {
            throw ValidationError("give one target: --target-fallback-rate R or --target-quality Q")
        }
        if let rate = targetFallbackRate, !(rate.isFinite && (0...1).contains(rate)) {
            throw ValidationError("--target-fallback-rate must be 0 to 1 (0.2 sends 20% of requests to Claude)")
        }
        if let quality = targetQuality, !(quality.isFinite && quality > 0 && quality <= 1) {
            throw ValidationError("--target-quality must be more than 0 and at most 1 (0.95 keeps 95% of always-Claude's good answers)")
        }
        guard holdout.isFinite, (0...0.9).contains(holdout) else { throw ValidationError("--holdout must be 0 to 0.9") }
        guard (10...1_000_000).contains(minSamples) else { throw ValidationError("--min-samples must be 10 to 1000000") }
        guard !outcomes.isEmpty || fromRedis else { throw ValidationError("give --outcomes FILE.jsonl (repeatable) or --from-redis") }
    }

    func run() async throws {
        JSONLogHandler.bootstrap(level: options.logLevel == "info" ? "warning" : options.logLevel)
        let settings = try options.loadSettings()
        var loaded: [LabelledOutcome] = []
        for path in outcomes {
            loaded += try Self.read(file: path, limit: Self.maxOutcomes - loaded.count)
        }
        if fromRedis {
            let context = try AdminCommand.Context(options)
            let limit = Self.maxOutcomes - loaded.count
            let (outcomes, skipped) = try await context.run {
                try await OutcomeStream.read(connection: context.connection, keys: KeySpace(prefix: settings.redis.keyPrefix), limit: limit)
            }
            if skipped > 0 { FileHandle.standardError.write(Data("calibrate: skipped \(skipped) unreadable entries of the outcomes stream\n".utf8)) }
            loaded += outcomes
        }
        guard !loaded.isEmpty else { throw CommandFailure("no labelled outcomes to fit: the files and the stream are empty") }

        var calibrator = Calibrator(target: targetFallbackRate.map { .fallbackRate($0) } ?? .quality(targetQuality ?? 1))
        calibrator.holdoutShare = holdout
        calibrator.minSamples = minSamples
        for tier in [Tier.tier1, .tier2] {
            calibrator.allowedSignals[tier.number] = Calibrator.signals(for: settings.tier(tier).confidenceMethod)
        }
        calibrator.defaultSmallCostUSD = settings.tier(.tier1).costUSD(inputTokens: 500, outputTokens: 300)
        calibrator.defaultClaudeCostUSD = settings.tier(.claude).costUSD(inputTokens: 500, outputTokens: 300)
        let report = calibrator.fit(loaded)

        var applied: [String] = []
        if !report.table.isEmpty {
            if apply {
                let context = try AdminCommand.Context(options)
                try await context.run {
                    try await context.store.set(["calibration": report.table.json()], by: "calibrate:\(AdminCommand.Context.actor)")
                }
                applied.append("applied live: cervella:config calibration (\(report.table.entries.count) entries)")
            }
            if write {
                let path = options.configPath() ?? "worker.toml"
                try Self.write(report.table, to: path, note: "\(loaded.count) outcomes, \(targetDescription), \(UTCTime(Date()).iso8601)")
                applied.append("written to \(path) ([calibration] block)")
            }
        }
        if json {
            printJSON(Self.json(report, target: targetDescription, applied: applied))
        } else {
            print(Self.text(report, target: targetDescription, holdout: holdout, applied: applied, wanted: apply || write))
        }
        if report.table.isEmpty { throw CommandFailure("nothing could be fitted: see the skipped groups above") }
    }

    var targetDescription: String {
        if let rate = targetFallbackRate { return "target fallback rate \(Self.percent(rate))" }
        return "target quality \(Self.percent(targetQuality ?? 1)) of always-Claude"
    }

    // MARK: - Reading

    /// Reads a file a megabyte at a time, so its size is bounded by the outcomes it holds, not
    /// read whole: a line over `LabelledOutcome.maxLineBytes` stops the read, naming it.
    static func read(file path: String, limit: Int) throws -> [LabelledOutcome] {
        guard let handle = FileHandle(forReadingAtPath: path) else { throw CommandFailure("cannot read \(path)") }
        defer { try? handle.close() }
        var outcomes: [LabelledOutcome] = []
        var number = 0
        var pending: [UInt8] = []
        func take(_ line: ArraySlice<UInt8>) throws {
            number += 1
            guard line.count <= LabelledOutcome.maxLineBytes else {
                throw CommandFailure("\(path), line \(number): over \(LabelledOutcome.maxLineBytes) bytes")
            }
            let text = String(decoding: line, as: UTF8.self)
            if text.allSatisfy(\.isWhitespace) { return }
            guard outcomes.count < limit else { throw CommandFailure("\(path): more than \(maxOutcomes) outcomes; split the file") }
            do {
                outcomes.append(try LabelledOutcome.parse(line: text))
            } catch {
                throw CommandFailure("\(path), line \(number): \(error)")
            }
        }
        while let chunk = try handle.read(upToCount: 1 << 20), !chunk.isEmpty {
            pending += chunk
            var start = pending.startIndex
            while let newline = pending[start...].firstIndex(of: UInt8(ascii: "\n")) {
                try take(pending[start..<newline])
                start = newline + 1
            }
            pending.removeSubrange(..<start)
            if pending.count > LabelledOutcome.maxLineBytes { try take(pending[...]) }
        }
        if !pending.isEmpty { try take(pending[...]) }
        return outcomes
    }

    static func write(_ table: CalibrationTable, to path: String, note: String) throws {
        let existing = FileManager.default.fileExists(atPath: path) ? try String(contentsOfFile: path, encoding: .utf8) : ""
        let text: String
        do {
            text = try CalibrationTable.replacingBlock(in: existing, with: table.tomlBlock(note: note))
            // The file must still load, with this table, before it replaces the old one.
            var check = CervellaSettings()
            try check.apply(toml: text, source: path)
            guard check.routing.calibration == table else { throw SettingsError(key: "calibration", "the written table does not read back the same") }
        } catch let error as SettingsError {
            throw CommandFailure("not writing \(path): \(error)")
        }
        let temporary = path + ".calibrate.tmp"
        try text.write(toFile: temporary, atomically: false, encoding: .utf8)
        guard rename(temporary, path) == 0 else { throw CommandFailure("cannot replace \(path): \(String(cString: strerror(errno)))") }
    }

    // MARK: - Output

    static func percent(_ value: Double) -> String { String(format: "%.1f%%", value * 100) }

    /// A raw threshold: three decimals, more when it sits within 0.001 of 1 (saturated token
    /// probabilities are told apart in the fifth or sixth decimal).
    static func figure(_ value: Double) -> String {
        value > 0.999 && value < 1 ? String(format: "%.6f", value) : String(format: "%.3f", value)
    }

    static func text(_ report: Calibrator.Report, target: String, holdout: Double, applied: [String], wanted: Bool) -> String {
        var lines = ["calibrate: \(report.outcomes) outcomes, \(target), \(percent(holdout)) held out", ""]
        let signals = ConfidenceSignal.allCases
        lines.append(
            "group".padding(toLength: 34, withPad: " ", startingAt: 0)
                + "    n  good  signal     threshold        ECE before→after  fallback fit/held-out  quality/Claude  saving")
        for group in report.groups {
            let threshold = Self.figure(group.entry.threshold) + "→" + String(format: "%.2f", group.entry.calibrated(group.entry.threshold))
            let fallback = percent(group.expectedFallbackRate) + " / " + (group.heldOutFallbackRate.map(percent) ?? "—")
            lines.append(
                group.key.padding(toLength: 34, withPad: " ", startingAt: 0) + String(format: "%5d", group.samples) + "  "
                    + String(format: "%3.0f%%", group.goodRate * 100) + "  "
                    + group.entry.signal.rawValue.padding(toLength: 9, withPad: " ", startingAt: 0)
                    + "  " + threshold.padding(toLength: 17, withPad: " ", startingAt: 0)
                    + String(format: "%.3f→%.3f", group.eceBefore, group.eceAfter)
                    + "       " + fallback.padding(toLength: 21, withPad: " ", startingAt: 0) + "  "
                    + (percent(group.quality) + "/" + percent(group.claudeQuality)).padding(toLength: 14, withPad: " ", startingAt: 0) + "  "
                    + percent(group.saving))
            let aurocs = signals.compactMap { signal in group.auroc[signal].map { "\(signal.rawValue) \(String(format: "%.3f", $0))" } }
            lines.append("    AUROC: " + (aurocs.isEmpty ? "— (one class only)" : aurocs.joined(separator: ", ")))
        }
        if !report.skipped.isEmpty {
            lines.append("")
            for key in report.skipped.keys.sorted() { lines.append("skipped \(key): \(report.skipped[key]!)") }
        }
        lines.append("")
        if applied.isEmpty {
            lines.append(
                wanted
                    ? "nothing applied: no group was fitted" : "not applied: --apply sets it live (cervella:config), --write puts it in worker.toml")
        } else {
            lines += applied
        }
        return lines.joined(separator: "\n")
    }

    static func json(_ report: Calibrator.Report, target: String, applied: [String]) -> [String: Any] {
        let groups: [[String: Any]] = report.groups.map { group in
            var fields: [String: Any] = [
                "key": group.key, "samples": group.samples, "fitted": group.fitted, "held_out": group.heldOut, "good_rate": group.goodRate,
                "signal": group.entry.signal.rawValue, "threshold": group.entry.threshold,
                "calibrated_threshold": group.entry.calibrated(group.entry.threshold), "ece_before": group.eceBefore, "ece_after": group.eceAfter,
                "expected_fallback_rate": group.expectedFallbackRate, "quality": group.quality, "claude_quality": group.claudeQuality,
                "saving": group.saving,
                "auroc": Dictionary(uniqueKeysWithValues: group.auroc.map { ($0.key.rawValue, $0.value) }),
            ]
            if let rate = group.heldOutFallbackRate { fields["held_out_fallback_rate"] = rate }
            return fields
        }
        return [
            "outcomes": report.outcomes, "target": target, "groups": groups, "skipped": report.skipped, "applied": applied,
            "table": (try? JSONSerialization.jsonObject(with: Data(report.table.json().utf8))) ?? [:],
        ]
    }
}
