/// Writes JSON straight to bytes, for the hot contracts (`Job+JSON.swift`,
/// `JobResult+JSON.swift`) and the cache key.
///
/// Foundation's JSONEncoder builds a tree of boxed values through the generic `Encoder`
/// protocol; at thousands of jobs a second that was a fifth of a worker's CPU. The types'
/// `Codable` conformances stay the reference: tests decode this writer's output with
/// `JSONDecoder` and require the same values back.
public struct JSONWriter {
    public private(set) var bytes: [UInt8] = []
    private var needsComma = false
    /// Writes as JSONEncoder does, for digests that must stay what they were: whole doubles
    /// without `.0`, and `\b`, `\f` escapes.
    let encoderCompatible: Bool

    public init(capacity: Int = 512, encoderCompatible: Bool = false) {
        self.encoderCompatible = encoderCompatible
        bytes.reserveCapacity(capacity)
    }

    public mutating func object(_ body: (inout JSONWriter) -> Void) {
        separate()
        bytes.append(UInt8(ascii: "{"))
        needsComma = false
        body(&self)
        bytes.append(UInt8(ascii: "}"))
        needsComma = true
    }

    public mutating func array<S: Sequence>(_ elements: S, _ write: (inout JSONWriter, S.Element) -> Void) {
        separate()
        bytes.append(UInt8(ascii: "["))
        needsComma = false
        for element in elements { write(&self, element) }
        bytes.append(UInt8(ascii: "]"))
        needsComma = true
    }

    /// Writes `"name":`; the value written next belongs to it.
    public mutating func key(_ name: StaticString) {
        separate()
        bytes.append(UInt8(ascii: "\""))
        name.withUTF8Buffer { bytes.append(contentsOf: $0) }
        bytes.append(contentsOf: [UInt8(ascii: "\""), UInt8(ascii: ":")])
        needsComma = false
    }

    public mutating func key(_ name: String) {
        string(name)
        bytes.append(UInt8(ascii: ":"))
        needsComma = false
    }

    public mutating func string(_ value: String) {
        separate()
        bytes.append(UInt8(ascii: "\""))
        var value = value
        value.withUTF8 { utf8 in
            var start = 0
            for index in 0..<utf8.count {
                let byte = utf8[index]
                guard byte < 0x20 || byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") else { continue }
                bytes.append(contentsOf: UnsafeBufferPointer(rebasing: utf8[start..<index]))
                switch byte {
                case UInt8(ascii: "\""): bytes.append(contentsOf: [0x5C, 0x22])
                case UInt8(ascii: "\\"): bytes.append(contentsOf: [0x5C, 0x5C])
                case 0x0A: bytes.append(contentsOf: [0x5C, UInt8(ascii: "n")])
                case 0x0D: bytes.append(contentsOf: [0x5C, UInt8(ascii: "r")])
                case 0x09: bytes.append(contentsOf: [0x5C, UInt8(ascii: "t")])
                case 0x08 where encoderCompatible: bytes.append(contentsOf: [0x5C, UInt8(ascii: "b")])
                case 0x0C where encoderCompatible: bytes.append(contentsOf: [0x5C, UInt8(ascii: "f")])
                default:
                    let hex = Array("0123456789abcdef".utf8)
                    bytes.append(contentsOf: [
                        0x5C, UInt8(ascii: "u"), UInt8(ascii: "0"), UInt8(ascii: "0"), hex[Int(byte >> 4)], hex[Int(byte & 0xF)],
                    ])
                }
                start = index + 1
            }
            bytes.append(contentsOf: UnsafeBufferPointer(rebasing: utf8[start..<utf8.count]))
        }
        bytes.append(UInt8(ascii: "\""))
        needsComma = true
    }

    public mutating func int<T: BinaryInteger>(_ value: T) {
        separate()
        bytes.append(contentsOf: String(value).utf8)
        needsComma = true
    }

    /// The shortest text that reads back as the same double; non-finite values become null
    /// (JSON has no NaN or infinity).
    public mutating func double(_ value: Double) {
        guard value.isFinite else { return null() }
        separate()
        let text = value.description
        if encoderCompatible, text.hasSuffix(".0") {
            bytes.append(contentsOf: text.utf8.dropLast(2))
        } else {
            bytes.append(contentsOf: text.utf8)
        }
        needsComma = true
    }

    public mutating func bool(_ value: Bool) {
        separate()
        bytes.append(contentsOf: (value ? "true" : "false").utf8)
        needsComma = true
    }

    public mutating func null() {
        separate()
        bytes.append(contentsOf: "null".utf8)
        needsComma = true
    }

    public mutating func string(_ value: String?) { if let value { string(value) } else { null() } }
    public mutating func double(_ value: Double?) { if let value { double(value) } else { null() } }
    public mutating func int(_ value: Int?) { if let value { int(value) } else { null() } }

    public mutating func value(_ value: JSONValue) {
        switch value {
        case .null: null()
        case .bool(let flag): bool(flag)
        case .integer(let number): int(number)
        case .number(let number):
            // As JSONValue's Codable form: whole numbers without a fraction.
            if number.rounded() == number, abs(number) < 1e15 { int(Int64(number)) } else { double(number) }
        case .string(let text): string(text)
        case .array(let elements): array(elements) { $0.value($1) }
        case .object(let fields):
            object { writer in
                for (name, field) in fields.sorted(by: { $0.key < $1.key }) {
                    writer.key(name)
                    writer.value(field)
                }
            }
        }
    }

    /// `{"role":…,"content":…}`, content as a string, a list of parts or null, then `name`,
    /// `tool_calls` and `tool_call_id` when the message has them.
    public mutating func message(_ message: ChatMessage) {
        object { w in
            w.key("role"); w.string(message.role)
            w.key("content")
            switch message.content {
            case .text(let text)?: w.string(text)
            case .parts(let parts)?: w.array(parts) { $0.value($1) }
            case nil: w.null()
            }
            if let name = message.name { w.key("name"); w.string(name) }
            if let calls = message.toolCalls { w.key("tool_calls"); w.array(calls) { $0.toolCall($1) } }
            if let id = message.toolCallID { w.key("tool_call_id"); w.string(id) }
        }
    }

    private mutating func separate() {
        if needsComma { bytes.append(UInt8(ascii: ",")) }
    }
}
