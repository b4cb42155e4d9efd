/// One reply from Redis, decoded from hiredis' reply tree into Swift values.
///
/// Bulk strings stay bytes so that binary payloads survive; `string` decodes UTF-8 on demand.
public enum RedisValue: Sendable, Equatable {
    case null
    case bulk([UInt8])
    case status(String)
    case integer(Int)
    case array([RedisValue])
    case error(String)

    /// The value as text: bulk strings decoded as UTF-8, status lines as they are.
    public var string: String? {
        switch self {
        case .bulk(let bytes): return String(decoding: bytes, as: UTF8.self)
        case .status(let text): return text
        case .integer(let value): return String(value)
        default: return nil
        }
    }

    /// The raw bytes of a bulk string.
    public var bytes: [UInt8]? {
        if case .bulk(let bytes) = self { return bytes }
        if case .status(let text) = self { return Array(text.utf8) }
        return nil
    }

    public var integer: Int? {
        switch self {
        case .integer(let value): return value
        case .bulk, .status: return string.flatMap { Int($0) }
        default: return nil
        }
    }

    public var array: [RedisValue]? {
        if case .array(let values) = self { return values }
        return nil
    }

    public var isNull: Bool { self == .null }
}

/// A command as its argument vector. Every argument is sent length-prefixed, so any bytes are safe.
public struct RedisCommand: Sendable, Equatable, CustomStringConvertible {
    public var arguments: [[UInt8]]

    public init(_ arguments: [[UInt8]]) { self.arguments = arguments }

    public init(_ name: String, _ arguments: RedisArgument...) {
        self.arguments = [Array(name.utf8)] + arguments.map(\.bytes)
    }

    public init(_ name: String, arguments: [RedisArgument]) {
        self.arguments = [Array(name.utf8)] + arguments.map(\.bytes)
    }

    /// The command name only: arguments can hold prompts or secrets and never reach logs.
    public var description: String {
        arguments.first.map { String(decoding: $0, as: UTF8.self).uppercased() } ?? "<empty>"
    }
}

/// Something that can be one argument of a command.
public struct RedisArgument: Sendable, Equatable, ExpressibleByStringLiteral, ExpressibleByIntegerLiteral {
    public var bytes: [UInt8]

    public init(bytes: [UInt8]) { self.bytes = bytes }
    public init(_ string: String) { self.bytes = Array(string.utf8) }
    public init(_ value: Int) { self.bytes = Array(String(value).utf8) }
    public init(_ value: Double) { self.bytes = Array(String(value).utf8) }
    public init(stringLiteral value: String) { self.init(value) }
    public init(integerLiteral value: Int) { self.init(value) }
}

extension RedisValue {
    /// An `HGETALL` reply as a dictionary of its text fields (fields or values that are not
    /// text are left out); empty for anything else.
    public var hashFields: [String: String] {
        guard let list = array else { return [:] }
        var fields: [String: String] = [:]
        for index in stride(from: 0, to: list.count - 1, by: 2) {
            if let key = list[index].string, let value = list[index + 1].string { fields[key] = value }
        }
        return fields
    }
}
