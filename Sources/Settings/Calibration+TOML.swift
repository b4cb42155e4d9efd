import Foundation

extension CalibrationTable {
    static let blockBegin = "# BEGIN cervella calibrate"
    static let blockEnd = "# END cervella calibrate"

    /// The `[calibration]` table as `cervella calibrate --write` puts it in `worker.toml`: one
    /// inline table per key, between two marker lines that the next run replaces.
    public func tomlBlock(note: String) -> String {
        var lines = ["\(Self.blockBegin): \(note). The next `cervella calibrate --write` replaces this block.", "[calibration]"]
        for key in entries.keys.sorted() {
            let entry = entries[key]!
            var fields = ["signal = \"\(entry.signal.rawValue)\"", "threshold = \(Self.number(entry.threshold))"]
            fields.append("map = [" + entry.map.map { "[\(Self.number($0.raw)), \(Self.number($0.calibrated))]" }.joined(separator: ", ") + "]")
            if let target = entry.targetFallbackRate { fields.append("target_fallback_rate = \(Self.number(target))") }
            lines.append("\"\(key)\" = { \(fields.joined(separator: ", ")) }")
        }
        lines.append(Self.blockEnd)
        return lines.joined(separator: "\n") + "\n"
    }

    /// `text` (a `worker.toml`) with its calibrate block replaced by `block`, or the block
    /// appended; refused when a `[calibration]` table stands outside the block, which the file
    /// would then define twice.
    public static func replacingBlock(in text: String, with block: String) throws(SettingsError) -> String {
        var lines = text.components(separatedBy: "\n")
        if let begin = lines.firstIndex(where: { $0.hasPrefix(blockBegin) }) {
            guard let end = lines[begin...].firstIndex(where: { $0.hasPrefix(blockEnd) }) else {
                throw SettingsError(key: "calibration", "the file has '\(blockBegin)' without '\(blockEnd)'; fix or remove the block by hand")
            }
            lines.removeSubrange(begin...end)
        }
        let outside = lines.contains { line in
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            return trimmed.hasPrefix("[calibration]") || trimmed.hasPrefix("[calibration.")
        }
        guard !outside else {
            throw SettingsError(
                key: "calibration", "the file defines [calibration] outside calibrate's block; remove it, or apply the table live with --apply")
        }
        var kept = lines.joined(separator: "\n")
        while kept.hasSuffix("\n\n") { kept.removeLast() }
        if !kept.isEmpty && !kept.hasSuffix("\n") { kept += "\n" }
        return kept + (kept.isEmpty ? "" : "\n") + block
    }

    /// A number TOML reads back as a float.
    static func number(_ value: Double) -> String {
        let rounded = (value * 1e9).rounded() / 1e9
        let text = String(rounded)
        return text.contains(".") || text.contains("e") ? text : text + ".0"
    }
}
