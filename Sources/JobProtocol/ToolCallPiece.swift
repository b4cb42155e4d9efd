/// A piece of one tool call as it streams, in OpenAI's streaming shape: the first piece of a
/// call carries its id and name, later ones more of its arguments' text. What a provider's
/// stream yields, and what a job's Redis stream carries (docs/PROTOCOL.md, "Streaming").
public struct ToolCallPiece: Sendable, Equatable {
    public var index: Int
    public var id: String?
    public var name: String?
    public var arguments: String

    public init(index: Int, id: String? = nil, name: String? = nil, arguments: String = "") {
        self.index = index
        self.id = id
        self.name = name
        self.arguments = arguments
    }

    /// Calls in one answer; a piece with a higher index is not a call anyone made.
    public static let indices: ClosedRange<Int> = 0...1023

    /// `[{"index":0,"id":…,"name":…,"arguments":…}]`, as a stream entry's `tool_calls` field.
    public static func json(_ pieces: [ToolCallPiece]) -> [UInt8] {
        var w = JSONWriter()
        w.array(pieces) { w, piece in
            w.object { w in
                w.key("index"); w.int(piece.index)
                if let id = piece.id { w.key("id"); w.string(id) }
                if let name = piece.name { w.key("name"); w.string(name) }
                w.key("arguments"); w.string(piece.arguments)
            }
        }
        return w.bytes
    }

    /// The pieces in a stream entry's `tool_calls` field; elements that are not pieces are skipped.
    public static func list(json bytes: [UInt8]) -> [ToolCallPiece] {
        guard let list = JSONValue.read(bytes)?.arrayValue else { return [] }
        return list.compactMap { element in
            guard let index = element["index"]?.intValue, indices.contains(index) else { return nil }
            return ToolCallPiece(
                index: index, id: element["id"]?.stringValue, name: element["name"]?.stringValue, arguments: element["arguments"]?.stringValue ?? "")
        }
    }
}
