import Foundation

/// Writes a run's three files into one directory: `poc-report.json`, `poc-report.md` and
/// `outcomes.jsonl`. Each replaces the previous run's file whole (written aside, then renamed),
/// so a reader never sees half a report; keep earlier runs with a `--out` per run.
public enum POCOutput {
    public static let jsonName = "poc-report.json"
    public static let markdownName = "poc-report.md"
    public static let outcomesName = "outcomes.jsonl"

    /// Creates `directory` and checks that it can be written, before a run spends anything.
    public static func prepare(_ directory: String) throws(POCError) {
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        } catch {
            throw POCError(.output, "cannot create the output directory \(directory): \(error.localizedDescription)")
        }
        guard FileManager.default.isWritableFile(atPath: directory) else {
            throw POCError(.output, "the output directory \(directory) is not writable: choose another with --out")
        }
    }

    /// The paths written.
    @discardableResult
    public static func write(_ report: POCReport, to directory: String) throws(POCError) -> [String] {
        try prepare(directory)
        var written: [String] = []
        for (name, text) in [(jsonName, report.json()), (markdownName, report.markdown()), (outcomesName, report.outcomesJSONL())] {
            let path = URL(fileURLWithPath: directory).appendingPathComponent(name).path
            do {
                try Data(text.utf8).write(to: URL(fileURLWithPath: path), options: .atomic)
            } catch {
                throw POCError(.output, "cannot write \(path): \(error.localizedDescription)")
            }
            written.append(path)
        }
        return written
    }
}
