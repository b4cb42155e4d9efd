/// One function call an assistant asked for, in OpenAI's shape:
/// `{"id":"call_…","type":"function","function":{"name":"…","arguments":"<JSON text>"}}`.
///
/// On an assistant message of a job (the calls an agent's earlier step made) and in a result
/// (the calls the model asks for now). `arguments` stays the text the model wrote: a small
/// model may write JSON that does not parse, and the pool must see that rather than a repair.
public struct ToolCall: Sendable, Equatable, Hashable {
    public var id: String
    /// `function`, the only type OpenAI and Anthropic define for tool calls.
    public var type: String
    public var name: String
    public var arguments: String

    public init(id: String, type: String = "function", name: String, arguments: String) {
        self.id = id
        self.type = type
        self.name = name
        self.arguments = arguments
    }
}

extension ToolCall {
    /// An id for a call that came without one: `call_`, then 24 random hex digits (as OpenAI's
    /// look), then the call's index, so that calls in one answer never share an id.
    public static func newID(index: Int) -> String {
        var digits = ""
        for _ in 0..<3 { digits += String(UInt32.random(in: 0...UInt32.max), radix: 16).leftPadded(to: 8) }
        return "call_\(digits)\(index)"
    }
}

extension String {
    fileprivate func leftPadded(to width: Int) -> String {
        count >= width ? self : String(repeating: "0", count: width - count) + self
    }
}

extension ToolCall: Codable {
    enum CodingKeys: String, CodingKey { case id, type, function }
    struct Function: Codable {
        var name: String
        var arguments: String
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        id = try c.decode(String.self, forKey: .id)
        type = try c.decodeIfPresent(String.self, forKey: .type) ?? "function"
        let function = try c.decode(Function.self, forKey: .function)
        name = function.name
        arguments = function.arguments
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(id, forKey: .id)
        try c.encode(type, forKey: .type)
        try c.encode(Function(name: name, arguments: arguments), forKey: .function)
    }
}

extension ToolCall {
    /// The call in a parsed JSON value as the contracts write it; nil for anything else
    /// (the fast readers then leave the whole document to JSONDecoder).
    init?(fields value: JSONValue) {
        guard case .object(let fields) = value, case .string(let id)? = fields["id"],
            case .object(let function)? = fields["function"], case .string(let name)? = function["name"],
            case .string(let arguments)? = function["arguments"]
        else { return nil }
        var type = "function"
        switch fields["type"] {
        case nil, .null?: break
        case .string(let given)?: type = given
        default: return nil
        }
        self.init(id: id, type: type, name: name, arguments: arguments)
    }
}

extension JSONFields {
    /// A `tool_calls` field for the fast readers: `.some(nil)` when absent or null, nil when
    /// it, or any call in it, is not as the contracts write it.
    func toolCalls(_ key: String) -> [ToolCall]?? {
        guard let list = array(key) else { return nil }
        guard let list else { return .some(nil) }
        var calls: [ToolCall] = []
        for element in list {
            guard let call = ToolCall(fields: element) else { return nil }
            calls.append(call)
        }
        return .some(calls)
    }
}

extension JSONWriter {
    /// `{"id":…,"type":…,"function":{"name":…,"arguments":…}}`.
    public mutating func toolCall(_ call: ToolCall) {
        object { w in
            w.key("id"); w.string(call.id)
            w.key("type"); w.string(call.type)
            w.key("function")
            w.object { w in
                w.key("name"); w.string(call.name)
                w.key("arguments"); w.string(call.arguments)
            }
        }
    }
}
