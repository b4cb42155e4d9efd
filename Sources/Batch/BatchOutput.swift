import Foundation
import Synchronization

/// The output JSONL: the ids it already holds (a run that was interrupted), and appends.
///
/// Each line is written with one `write(2)` and flushed to disk, so a crash loses at most the
/// line being written; a last line without its newline (cut by a crash) is dropped on open, and
/// its item runs again.
public final class BatchOutput: Sendable {
    public let path: String
    /// Ids with a line in the file when it was opened.
    public let done: Set<String>
    /// Lines that could not be read when the file was opened (kept, and reported).
    public let unreadable: Int
    private let handle: Mutex<FileHandle>

    public init(path: String) throws(BatchInputError) {
        self.path = path
        let manager = FileManager.default
        var done: Set<String> = []
        var unreadable = 0
        if let data = manager.contents(atPath: path), !data.isEmpty {
            var complete = data
            if data.last != UInt8(ascii: "\n") {
                // A line cut by a crash: drop it, so its item runs again.
                let end = data.lastIndex(of: UInt8(ascii: "\n")).map { $0 + 1 } ?? data.startIndex
                complete = data[data.startIndex..<end]
                guard let truncating = FileHandle(forWritingAtPath: path) else { throw BatchInputError("cannot write \(path)") }
                do {
                    try truncating.truncate(atOffset: UInt64(complete.count))
                    try truncating.close()
                } catch {
                    throw BatchInputError("cannot repair the cut last line of \(path): \(error)")
                }
            }
            for line in complete.split(separator: UInt8(ascii: "\n")) where !line.isEmpty {
                if let object = try? JSONSerialization.jsonObject(with: Data(line)) as? [String: Any], let id = object["id"] as? String {
                    done.insert(id)
                } else {
                    unreadable += 1
                }
            }
        } else if !manager.fileExists(atPath: path) {
            guard manager.createFile(atPath: path, contents: nil) else {
                throw BatchInputError("cannot create \(path); does its folder exist?")
            }
        }
        guard let handle = FileHandle(forWritingAtPath: path) else { throw BatchInputError("cannot write \(path)") }
        do { try handle.seekToEnd() } catch { throw BatchInputError("cannot write \(path): \(error)") }
        self.done = done
        self.unreadable = unreadable
        self.handle = Mutex(handle)
    }

    func append(_ line: BatchLine) throws {
        var data = try line.json()
        data.append(UInt8(ascii: "\n"))
        try handle.withLock { handle in
            try handle.write(contentsOf: data)
            try handle.synchronize()
        }
    }

    public func close() {
        handle.withLock { try? $0.close() }
    }
}
