import Foundation

/// Reads JSON from bytes without JSONDecoder, for the hot contracts' fast readers.
///
/// `JSONValue.parse` is a plain recursive-descent parser; `Job(json:)` (in `Job+JSON.swift`)
/// and `JobResult(json:)` (in `JobResult+JSON.swift`) map its tree onto the types with the same
/// defaults as their `Codable` conformances beside them. They answer nil for anything unusual
/// (bad syntax, a wrong type, a number written oddly), and the caller then uses `JSONDecoder`,
/// which stays the reference for what is accepted and for the error messages. Tests require
/// both paths to agree.
extension JSONValue {
    /// - Parameter skipping: object keys whose values are checked for balance but not built
    ///   (a provider's per-token `bytes` and `top_logprobs`, which nobody reads).
    public static func parse(_ bytes: [UInt8], skipping: Set<String> = []) -> JSONValue? {
        bytes.withUnsafeBufferPointer { buffer in
            var parser = Parser(bytes: buffer, skipping: skipping)
            guard let value = parser.value(depth: 0) else { return nil }
            parser.skipSpace()
            return parser.index == buffer.count ? value : nil
        }
    }

    /// The string values of `wanted` keys of a top-level object, read without parsing the
    /// rest: other values are stepped over without recursion, so a payload nested a hundred
    /// thousand levels deep, or cut off after its first fields, still gives up its `id`.
    ///
    /// Each wanted key maps to its occurrences in order (nil for a value that is not a string).
    /// Reading stops at the first syntax error; what was read before it is kept.
    public static func topLevelStrings(_ bytes: [UInt8], wanted: Set<String>) -> [String: [String?]] {
        bytes.withUnsafeBufferPointer { buffer in
            var parser = Parser(bytes: buffer, skipping: [])
            var found: [String: [String?]] = [:]
            parser.skipSpace()
            guard parser.index < buffer.count, buffer[parser.index] == UInt8(ascii: "{") else { return found }
            parser.index += 1
            while true {
                parser.skipSpace()
                guard parser.index < buffer.count, buffer[parser.index] == UInt8(ascii: "\""), let key = parser.string() else { return found }
                parser.skipSpace()
                guard parser.index < buffer.count, buffer[parser.index] == UInt8(ascii: ":") else { return found }
                parser.index += 1
                parser.skipSpace()
                if wanted.contains(key) {
                    if parser.index < buffer.count, buffer[parser.index] == UInt8(ascii: "\"") {
                        guard let value = parser.string() else { return found }
                        found[key, default: []].append(value)
                    } else {
                        found[key, default: []].append(nil)
                        guard parser.skipValue() else { return found }
                    }
                } else {
                    guard parser.skipValue() else { return found }
                }
                parser.skipSpace()
                guard parser.index < buffer.count, buffer[parser.index] == UInt8(ascii: ",") else { return found }
                parser.index += 1
            }
        }
    }

    /// Where `bytes` hold a number too large for a double (`1e999`), which JSON decoders
    /// refuse as a whole ("not valid JSON"): its field path (`params.temperature`) and literal.
    public static func outOfRangeNumber(_ bytes: [UInt8]) -> (path: String, literal: String)? {
        bytes.withUnsafeBufferPointer { buffer in
            var parser = Parser(bytes: buffer, skipping: [])
            parser.path = []
            _ = parser.value(depth: 0)
            return parser.outOfRange
        }
    }

    private struct Parser {
        let bytes: UnsafeBufferPointer<UInt8>
        let skipping: Set<String>
        var index = 0
        /// Followed only when diagnosing (`outOfRangeNumber`), so the hot path pays nothing.
        var path: [String]?
        var outOfRange: (path: String, literal: String)?

        init(bytes: UnsafeBufferPointer<UInt8>, skipping: Set<String>) {
            self.bytes = bytes
            self.skipping = skipping
        }

        /// Steps over one value without building it: strings with their escapes, nested
        /// brackets counted; nil when the value is cut off or unbalanced.
        mutating func skipValue() -> Bool {
            skipSpace()
            var depth = 0
            repeat {
                guard index < bytes.count else { return false }
                switch bytes[index] {
                case UInt8(ascii: "\""):
                    index += 1
                    while index < bytes.count, bytes[index] != UInt8(ascii: "\"") {
                        index += bytes[index] == UInt8(ascii: "\\") ? 2 : 1
                    }
                    guard index < bytes.count else { return false }
                    index += 1
                case UInt8(ascii: "{"), UInt8(ascii: "["):
                    depth += 1
                    index += 1
                case UInt8(ascii: "}"), UInt8(ascii: "]"):
                    guard depth > 0 else { return false }
                    depth -= 1
                    index += 1
                case UInt8(ascii: ","), UInt8(ascii: ":"), 0x20, 0x0A, 0x0D, 0x09:
                    guard depth > 0 else { return true }
                    index += 1
                default:
                    index += 1
                }
            } while depth > 0
            return true
        }

        mutating func skipSpace() {
            while index < bytes.count, [0x20, 0x0A, 0x0D, 0x09].contains(bytes[index]) { index += 1 }
        }

        mutating func value(depth: Int) -> JSONValue? {
            guard depth < 64 else { return nil }
            skipSpace()
            guard index < bytes.count else { return nil }
            switch bytes[index] {
            case UInt8(ascii: "{"): return object(depth: depth)
            case UInt8(ascii: "["): return array(depth: depth)
            case UInt8(ascii: "\""): return string().map(JSONValue.string)
            case UInt8(ascii: "t"): return literal("true", .bool(true))
            case UInt8(ascii: "f"): return literal("false", .bool(false))
            case UInt8(ascii: "n"): return literal("null", .null)
            default: return number()
            }
        }

        mutating func literal(_ word: StaticString, _ value: JSONValue) -> JSONValue? {
            let count = word.utf8CodeUnitCount
            guard index + count <= bytes.count else { return nil }
            for offset in 0..<count where bytes[index + offset] != word.utf8Start[offset] { return nil }
            index += count
            return value
        }

        mutating func object(depth: Int) -> JSONValue? {
            index += 1
            var fields: [String: JSONValue] = [:]
            skipSpace()
            if index < bytes.count, bytes[index] == UInt8(ascii: "}") {
                index += 1
                return .object(fields)
            }
            while true {
                skipSpace()
                guard index < bytes.count, bytes[index] == UInt8(ascii: "\""), let key = string() else { return nil }
                skipSpace()
                guard index < bytes.count, bytes[index] == UInt8(ascii: ":") else { return nil }
                index += 1
                if !skipping.isEmpty, skipping.contains(key) {
                    guard skipValue() else { return nil }
                    skipSpace()
                    guard index < bytes.count else { return nil }
                    if bytes[index] == UInt8(ascii: ",") { index += 1; continue }
                    guard bytes[index] == UInt8(ascii: "}") else { return nil }
                    index += 1
                    return .object(fields)
                }
                path?.append(key)
                guard let field = value(depth: depth + 1) else { return nil }
                path?.removeLast()
                // A repeated key is ambiguous; let the reference decoder decide.
                guard fields.updateValue(field, forKey: key) == nil else { return nil }
                skipSpace()
                guard index < bytes.count else { return nil }
                if bytes[index] == UInt8(ascii: ",") { index += 1; continue }
                guard bytes[index] == UInt8(ascii: "}") else { return nil }
                index += 1
                return .object(fields)
            }
        }

        mutating func array(depth: Int) -> JSONValue? {
            index += 1
            var elements: [JSONValue] = []
            skipSpace()
            if index < bytes.count, bytes[index] == UInt8(ascii: "]") {
                index += 1
                return .array(elements)
            }
            while true {
                path?.append("[\(elements.count)]")
                guard let element = value(depth: depth + 1) else { return nil }
                path?.removeLast()
                elements.append(element)
                skipSpace()
                guard index < bytes.count else { return nil }
                if bytes[index] == UInt8(ascii: ",") { index += 1; continue }
                guard bytes[index] == UInt8(ascii: "]") else { return nil }
                index += 1
                return .array(elements)
            }
        }

        /// A string at `index` (its opening quote); nil on a bad escape or invalid UTF-8.
        mutating func string() -> String? {
            index += 1
            let start = index
            // The common case: no escapes, so the bytes are the string.
            while index < bytes.count {
                let byte = bytes[index]
                if byte == UInt8(ascii: "\"") {
                    let text = String(validating: UnsafeBufferPointer(rebasing: bytes[start..<index]), as: UTF8.self)
                    index += 1
                    return text
                }
                if byte == UInt8(ascii: "\\") { break }
                if byte < 0x20 { return nil }
                index += 1
            }
            var scalars: [UInt8] = Array(bytes[start..<index])
            while index < bytes.count {
                let byte = bytes[index]
                if byte == UInt8(ascii: "\"") {
                    index += 1
                    return String(validating: scalars, as: UTF8.self)
                }
                if byte < 0x20 { return nil }
                guard byte == UInt8(ascii: "\\") else {
                    scalars.append(byte)
                    index += 1
                    continue
                }
                guard index + 1 < bytes.count else { return nil }
                let escape = bytes[index + 1]
                index += 2
                switch escape {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): scalars.append(escape)
                case UInt8(ascii: "b"): scalars.append(0x08)
                case UInt8(ascii: "f"): scalars.append(0x0C)
                case UInt8(ascii: "n"): scalars.append(0x0A)
                case UInt8(ascii: "r"): scalars.append(0x0D)
                case UInt8(ascii: "t"): scalars.append(0x09)
                case UInt8(ascii: "u"):
                    guard var code = hex4() else { return nil }
                    if (0xD800..<0xDC00).contains(code) {
                        // A high surrogate must be followed by an escaped low one.
                        guard index + 1 < bytes.count, bytes[index] == UInt8(ascii: "\\"), bytes[index + 1] == UInt8(ascii: "u") else { return nil }
                        index += 2
                        guard let low = hex4(), (0xDC00..<0xE000).contains(low) else { return nil }
                        code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)
                    }
                    guard let scalar = Unicode.Scalar(code) else { return nil }
                    scalars.append(contentsOf: Array(String(Character(scalar)).utf8))
                default:
                    return nil
                }
            }
            return nil
        }

        mutating func hex4() -> UInt32? {
            guard index + 4 <= bytes.count else { return nil }
            var code: UInt32 = 0
            for _ in 0..<4 {
                let byte = bytes[index]
                let digit: UInt32
                switch byte {
                case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = UInt32(byte - UInt8(ascii: "0"))
                case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = UInt32(byte - UInt8(ascii: "a") + 10)
                case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = UInt32(byte - UInt8(ascii: "A") + 10)
                default: return nil
                }
                code = code << 4 | digit
                index += 1
            }
            return code
        }

        /// JSON's number grammar, strictly: `-? (0 | [1-9][0-9]*) (.[0-9]+)? ([eE][+-]?[0-9]+)?`.
        /// Integers (no fraction, no exponent, within Int64) stay exact; the rest are doubles.
        mutating func number() -> JSONValue? {
            let start = index
            func digits() -> Int {
                let from = index
                while index < bytes.count, bytes[index] >= UInt8(ascii: "0"), bytes[index] <= UInt8(ascii: "9") { index += 1 }
                return index - from
            }
            if index < bytes.count, bytes[index] == UInt8(ascii: "-") { index += 1 }
            let integerStart = index
            let integerDigits = digits()
            guard integerDigits > 0, bytes[integerStart] != UInt8(ascii: "0") || integerDigits == 1 else { return nil }
            var isInteger = true
            if index < bytes.count, bytes[index] == UInt8(ascii: ".") {
                index += 1
                guard digits() > 0 else { return nil }
                isInteger = false
            }
            if index < bytes.count, bytes[index] == UInt8(ascii: "e") || bytes[index] == UInt8(ascii: "E") {
                index += 1
                if index < bytes.count, bytes[index] == UInt8(ascii: "+") || bytes[index] == UInt8(ascii: "-") { index += 1 }
                guard digits() > 0 else { return nil }
                isInteger = false
            }
            let text = String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<index]), as: UTF8.self)
            if isInteger, let integer = Int64(text) { return .integer(integer) }
            guard let double = Double(text), double.isFinite else {
                if let path { outOfRange = (path.joined(separator: ".").replacingOccurrences(of: ".[", with: "["), text) }
                return nil
            }
            return .number(double)
        }
    }
}

/// Typed reads from a parsed object, for the contracts' fast readers (`Job+JSON.swift`,
/// `JobResult+JSON.swift`); nil when a present field has the wrong type.
struct JSONFields {
    let fields: [String: JSONValue]

    init?(_ value: JSONValue?) {
        guard case .object(let fields)? = value else { return nil }
        self.fields = fields
    }

    /// `.some(nil)` for a missing or null field, nil for a wrong type.
    func string(_ key: String) -> String?? {
        switch fields[key] {
        case nil, .null?: return .some(nil)
        case .string(let text)?: return .some(text)
        default: return nil
        }
    }

    func int(_ key: String) -> Int?? {
        switch fields[key] {
        case nil, .null?: return .some(nil)
        case .integer(let number)?: return Int(exactly: number).map { .some($0) } ?? nil
        default: return nil
        }
    }

    func double(_ key: String) -> Double?? {
        switch fields[key] {
        case nil, .null?: return .some(nil)
        case .integer(let number)?: return .some(Double(number))
        case .number(let number)?: return .some(number)
        default: return nil
        }
    }

    func bool(_ key: String) -> Bool?? {
        switch fields[key] {
        case nil, .null?: return .some(nil)
        case .bool(let flag)?: return .some(flag)
        default: return nil
        }
    }

    func object(_ key: String) -> JSONFields?? {
        switch fields[key] {
        case nil, .null?: return .some(nil)
        case .object?: return JSONFields(fields[key]).map { .some($0) } ?? nil
        default: return nil
        }
    }

    func array(_ key: String) -> [JSONValue]?? {
        switch fields[key] {
        case nil, .null?: return .some(nil)
        case .array(let elements)?: return .some(elements)
        default: return nil
        }
    }
}
