import Foundation

/// The JSON examples of `docs/PROTOCOL.md`, read from the repository so that the document and
/// the code cannot drift apart unnoticed.
enum ProtocolDocument {
    static let url = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent()  // JobProtocolTests
        .deletingLastPathComponent()  // Tests
        .deletingLastPathComponent()  // repository root
        .appendingPathComponent("docs/PROTOCOL.md")

    /// The body of each fenced block whose opening line is exactly ```` ```json ````, in order.
    static func jsonBlocks() throws -> [String] {
        let text = try String(contentsOf: url, encoding: .utf8)
        var blocks: [String] = []
        var current: [Substring]?
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            if current == nil, line == "```json" {
                current = []
            } else if current != nil, line == "```" {
                blocks.append(current!.joined(separator: "\n"))
                current = nil
            } else {
                current?.append(line)
            }
        }
        return blocks
    }
}
