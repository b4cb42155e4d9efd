/// Any JSON a request holds where the simulator needs to look inside (tool schemas, tool
/// choices, response formats), read with Codable.
indirect enum RequestJSON: Decodable, Sendable, Equatable {
    case null, bool(Bool), number(Double), string(String), array([RequestJSON]), object([String: RequestJSON])

    init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() {
            self = .null
        } else if let flag = try? container.decode(Bool.self) {
            self = .bool(flag)
        } else if let number = try? container.decode(Double.self) {
            self = .number(number)
        } else if let text = try? container.decode(String.self) {
            self = .string(text)
        } else if let elements = try? container.decode([RequestJSON].self) {
            self = .array(elements)
        } else {
            self = .object(try container.decode([String: RequestJSON].self))
        }
    }

    subscript(key: String) -> RequestJSON? {
        guard case .object(let fields) = self else { return nil }
        return fields[key]
    }

    var string: String? {
        guard case .string(let text) = self else { return nil }
        return text
    }

    /// The value in the simulator's output form (object keys sorted, for stable bodies).
    var output: JSONValue {
        switch self {
        case .null: return .null
        case .bool(let flag): return .bool(flag)
        case .number(let number): return number.rounded() == number && abs(number) < 1e15 ? .int(Int(number)) : .double(number)
        case .string(let text): return .string(text)
        case .array(let elements): return .array(elements.map(\.output))
        case .object(let fields): return .object(fields.sorted { $0.key < $1.key }.map { ($0.key, $0.value.output) })
        }
    }
}

/// A tool a request offers, in either wire format: its name and its arguments' JSON Schema.
struct SimTool: Sendable, Equatable {
    var name: String
    var schema: RequestJSON?
}

/// What the request lets the model do with its tools, in either wire format.
enum SimToolChoice: Sendable, Equatable {
    case auto, none, required
    case named(String)

    /// OpenAI's `"auto"` / `"none"` / `"required"` / `{"type":"function","function":{"name":…}}`,
    /// or Anthropic's `{"type":"auto"|"any"|"none"|"tool","name":…}`.
    init(_ value: RequestJSON?) {
        switch value {
        case .string("none")?: self = .none
        case .string("required")?: self = .required
        case .object?:
            if let name = value?["function"]?["name"]?.string ?? (value?["type"]?.string == "tool" ? value?["name"]?.string : nil) {
                self = .named(name)
            } else if value?["type"]?.string == "any" {
                self = .required
            } else if value?["type"]?.string == "none" {
                self = .none
            } else {
                self = .auto
            }
        default: self = .auto
        }
    }
}

/// How the simulated model answers a request that offers tools: it calls the first tool (or
/// the one `tool_choice` names) with arguments made from the tool's schema, until the
/// conversation ends with a tool result, which it answers with text, so that an agent loop
/// ends. `#sim notool` answers text instead, `#sim badtool` writes arguments that are not
/// JSON, `#sim wrongargs` leaves out the schema's required fields.
enum SimTools {
    struct Call: Sendable, Equatable {
        var name: String
        /// The arguments as an object (Anthropic's `input`) and as text (OpenAI's `arguments`).
        var input: JSONValue
        var arguments: String
    }

    static func call(tools: [SimTool], choice: SimToolChoice, lastIsToolResult: Bool, directives: SimDirectives) -> Call? {
        guard !tools.isEmpty, choice != .none, !directives.noTool else { return nil }
        if lastIsToolResult && choice == .auto { return nil }
        let tool: SimTool
        if case .named(let name) = choice {
            guard let named = tools.first(where: { $0.name == name }) else { return nil }
            tool = named
        } else {
            tool = tools[0]
        }
        let input = arguments(for: tool.schema, leaveOutRequired: directives.wrongArgs)
        var text = input.serialized()
        if directives.badTool { text = String(text.dropLast()) + ", \"unterminated" }
        return Call(name: tool.name, input: input, arguments: text)
    }

    /// A value that satisfies `schema` (its `enum`'s first value, or one of its `type`), with
    /// every declared property; `leaveOutRequired` drops the required ones from the top object.
    static func arguments(for schema: RequestJSON?, leaveOutRequired: Bool = false) -> JSONValue {
        value(for: schema ?? .object(["type": .string("object")]), depth: 0, leaveOutRequired: leaveOutRequired)
    }

    private static func value(for schema: RequestJSON, depth: Int, leaveOutRequired: Bool) -> JSONValue {
        if case .array(let options)? = schema["enum"], let first = options.first { return first.output }
        if let constant = schema["const"] { return constant.output }
        guard depth < 8 else { return .null }
        var type = schema["type"]?.string
        if case .array(let types)? = schema["type"] { type = types.compactMap(\.string).first { $0 != "null" } }
        if type == nil, schema["properties"] != nil { type = "object" }
        switch type {
        case "string"?: return .string("example")
        case "integer"?: return .int(max(1, minimum(schema) ?? 1))
        case "number"?: return .double(Double(max(1, minimum(schema) ?? 1)) + 0.5)
        case "boolean"?: return .bool(true)
        case "null"?: return .null
        case "array"?: return .array([value(for: schema["items"] ?? .object([:]), depth: depth + 1, leaveOutRequired: false)])
        case "object"?:
            var required: Set<String> = []
            if case .array(let names)? = schema["required"] { required = Set(names.compactMap(\.string)) }
            guard case .object(let properties)? = schema["properties"] else { return .object([]) }
            return .object(
                properties.sorted { $0.key < $1.key }
                    .filter { !(leaveOutRequired && required.contains($0.key)) }
                    .map { ($0.key, value(for: $0.value, depth: depth + 1, leaveOutRequired: false)) })
        default: return .string("example")
        }
    }

    private static func minimum(_ schema: RequestJSON) -> Int? {
        guard case .number(let number)? = schema["minimum"], number.isFinite, abs(number) < 1e9 else { return nil }
        return Int(number.rounded(.up))
    }

    /// The answer to a request whose `response_format` asks for JSON: an object made from the
    /// schema (`{"answer": …}` for `json_object`), or prose under `#sim badjson`.
    static func jsonAnswer(format: RequestJSON?, prose: String, directives: SimDirectives) -> String? {
        switch format?["type"]?.string {
        case "json_object"?:
            return directives.badJSON ? prose : JSONValue.object([("answer", .string(prose))]).serialized()
        case "json_schema"?:
            return directives.badJSON ? prose : arguments(for: format?["json_schema"]?["schema"]).serialized()
        default:
            return nil
        }
    }
}
