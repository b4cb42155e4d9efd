import Foundation

/// Reads the files `cervella poc` is given, never more than a bound: a wrong path (a disk
/// image, /dev/zero) must be refused, not read into memory.
enum BoundedFile {
    static func read(_ path: String, limit: Int, code: POCError.Code, what: String) throws(POCError) -> [UInt8] {
        guard let handle = FileHandle(forReadingAtPath: path) else {
            throw POCError(code, "cannot open the \(what) \(path): check the path and its permissions")
        }
        defer { try? handle.close() }
        let data: Data
        do {
            data = try handle.read(upToCount: limit + 1) ?? Data()
        } catch {
            throw POCError(code, "cannot read the \(what) \(path): \(error.localizedDescription)")
        }
        guard data.count <= limit else {
            throw POCError(code, "the \(what) \(path) is over \(limit) bytes: is it the right file?")
        }
        return [UInt8](data)
    }

    /// A name or value from a file, for an error message: quoted, at most 40 characters.
    static func quoted(_ text: some StringProtocol) -> String {
        let cut = text.count > 40 ? String(text.prefix(40)) + "…" : String(text)
        return "\"" + cut.replacingOccurrences(of: "\n", with: "\\n") + "\""
    }
}
