import JobProtocol

/// Checks a JSON value against a JSON Schema, the subset tool definitions and structured
/// outputs use (OpenAI's strict mode, Pydantic and zod exports): `type` (one or a list),
/// `enum`, `const`, `properties`, `required`, `additionalProperties`, `items`, `prefixItems`,
/// `minItems`/`maxItems`, `minLength`/`maxLength`, `minimum`/`maximum` and their exclusive
/// forms, `multipleOf`, `allOf`/`anyOf`/`oneOf`/`not`, and `$ref` into the schema's own
/// `$defs` or `definitions`. Annotations (`description`, `title`, `format`, `default`) and
/// `pattern` are not checked: a regular expression engine for one keyword is not worth its
/// weight here, and OpenAI's strict mode treats `format` as a hint too.
///
/// No package on this machine's mirror validates JSON Schema, so this is small and local; its
/// tests take their cases from JSON-Schema-Test-Suite (draft 2020-12).
public struct JSONSchemaValidator: Sendable {
    public let schema: JSONValue

    public init(schema: JSONValue) {
        self.schema = schema
    }

    /// Where and why `value` does not match (`$.days: expected integer, got string`), or nil.
    ///
    /// The schema comes from the job, so it is hostile too: `anyOf` inside `anyOf` doubles the
    /// work at each level, and a schema may refer to itself. Past `maxDepth` levels or
    /// `maxSteps` schema checks the value is refused rather than the worker kept busy.
    public func problem(with value: JSONValue) -> String? {
        let run = Run(schema: schema)
        let problem = run.check(value, against: schema, at: "$", depth: 0)
        // Inside anyOf or not, a spent budget reads as a branch that failed; say what happened.
        return run.steps > Self.maxSteps ? "$: the schema takes more than \(Self.maxSteps) checks" : problem
    }

    /// Nesting of schemas (and `$ref` hops) past which a value is refused.
    static let maxDepth = 64
    /// Schema checks one validation may make (a schema and a value of a few hundred nodes
    /// need a few hundred).
    static let maxSteps = 20_000

    /// One validation: the root schema (for `$ref`) and the checks made so far.
    private final class Run {
        let root: JSONValue
        var steps = 0

        init(schema: JSONValue) {
            root = schema
        }

        func check(_ value: JSONValue, against schema: JSONValue, at path: String, depth: Int) -> String? {
            steps += 1
            guard steps <= JSONSchemaValidator.maxSteps else { return "\(path): the schema takes more than \(JSONSchemaValidator.maxSteps) checks" }
            guard depth < JSONSchemaValidator.maxDepth else { return "\(path): the schema nests deeper than \(JSONSchemaValidator.maxDepth) levels" }
            switch schema {
            case .bool(true): return nil
            case .bool(false): return "\(path): no value is allowed here"
            case .object: break
            default: return nil  // not a schema: nothing to check
            }
            if let reference = schema["$ref"]?.stringValue {
                guard let target = resolve(reference) else { return "\(path): the schema's $ref '\(reference)' points nowhere" }
                if let problem = check(value, against: target, at: path, depth: depth + 1) { return problem }
            }
            if let types = typeNames(schema["type"]), !types.contains(where: { JSONSchemaValidator.matches(value, type: $0) }) {
                return "\(path): expected \(types.joined(separator: " or ")), got \(JSONSchemaValidator.typeName(value))"
            }
            if case .array(let options)? = schema["enum"], !options.contains(where: { JSONSchemaValidator.equal($0, value) }) {
                return "\(path): not one of the enum's \(options.count) values"
            }
            if let constant = schema["const"], !JSONSchemaValidator.equal(constant, value) { return "\(path): not the schema's const value" }
            if let problem = checkNumber(value, schema, at: path) ?? checkString(value, schema, at: path) { return problem }
            if let problem = checkArray(value, schema, at: path, depth: depth) ?? checkObject(value, schema, at: path, depth: depth) {
                return problem
            }
            return checkCombinators(value, schema, at: path, depth: depth)
        }

        private func checkNumber(_ value: JSONValue, _ schema: JSONValue, at path: String) -> String? {
            guard let number = JSONSchemaValidator.number(value) else { return nil }
            if let minimum = schema["minimum"]?.doubleValue, number < minimum { return "\(path): less than the minimum \(minimum)" }
            if let maximum = schema["maximum"]?.doubleValue, number > maximum { return "\(path): more than the maximum \(maximum)" }
            if let bound = schema["exclusiveMinimum"]?.doubleValue, number <= bound { return "\(path): not more than \(bound)" }
            if let bound = schema["exclusiveMaximum"]?.doubleValue, number >= bound { return "\(path): not less than \(bound)" }
            if let step = schema["multipleOf"]?.doubleValue, step > 0 {
                let quotient = number / step
                if quotient.isFinite, abs(quotient - quotient.rounded()) > 1e-9 { return "\(path): not a multiple of \(step)" }
            }
            return nil
        }

        private func checkString(_ value: JSONValue, _ schema: JSONValue, at path: String) -> String? {
            guard case .string(let text) = value else { return nil }
            let length = text.unicodeScalars.count
            if let minimum = schema["minLength"]?.intValue, length < minimum { return "\(path): shorter than \(minimum) characters" }
            if let maximum = schema["maxLength"]?.intValue, length > maximum { return "\(path): longer than \(maximum) characters" }
            return nil
        }

        private func checkArray(_ value: JSONValue, _ schema: JSONValue, at path: String, depth: Int) -> String? {
            guard case .array(let elements) = value else { return nil }
            if let minimum = schema["minItems"]?.intValue, elements.count < minimum { return "\(path): fewer than \(minimum) items" }
            if let maximum = schema["maxItems"]?.intValue, elements.count > maximum { return "\(path): more than \(maximum) items" }
            var prefix = 0
            if case .array(let schemas)? = schema["prefixItems"] {
                prefix = schemas.count
                for (index, (element, itemSchema)) in zip(elements, schemas).enumerated() {
                    if let problem = check(element, against: itemSchema, at: "\(path)[\(index)]", depth: depth + 1) { return problem }
                }
            }
            if let items = schema["items"] {
                // draft 4–7 wrote a tuple as an array of schemas under `items`.
                if case .array(let schemas) = items {
                    for (index, (element, itemSchema)) in zip(elements, schemas).enumerated() {
                        if let problem = check(element, against: itemSchema, at: "\(path)[\(index)]", depth: depth + 1) { return problem }
                    }
                } else {
                    for (index, element) in elements.enumerated().dropFirst(prefix) {
                        if let problem = check(element, against: items, at: "\(path)[\(index)]", depth: depth + 1) { return problem }
                    }
                }
            }
            return nil
        }

        private func checkObject(_ value: JSONValue, _ schema: JSONValue, at path: String, depth: Int) -> String? {
            guard case .object(let fields) = value else { return nil }
            if case .array(let required)? = schema["required"] {
                for case .string(let name) in required where fields[name] == nil { return "\(path): missing required field '\(name)'" }
            }
            var properties: [String: JSONValue] = [:]
            if case .object(let declared)? = schema["properties"] { properties = declared }
            for name in fields.keys.sorted() {
                let field = fields[name]!
                let fieldPath = "\(path).\(name)"
                if let propertySchema = properties[name] {
                    if let problem = check(field, against: propertySchema, at: fieldPath, depth: depth + 1) { return problem }
                } else if let additional = schema["additionalProperties"] {
                    if additional == .bool(false) { return "\(path): field '\(name)' is not allowed" }
                    if let problem = check(field, against: additional, at: fieldPath, depth: depth + 1) { return problem }
                }
            }
            return nil
        }

        private func checkCombinators(_ value: JSONValue, _ schema: JSONValue, at path: String, depth: Int) -> String? {
            if case .array(let all)? = schema["allOf"] {
                for sub in all {
                    if let problem = check(value, against: sub, at: path, depth: depth + 1) { return problem }
                }
            }
            if case .array(let any)? = schema["anyOf"], !any.contains(where: { check(value, against: $0, at: path, depth: depth + 1) == nil }) {
                return "\(path): matches none of anyOf's \(any.count) schemas"
            }
            if case .array(let one)? = schema["oneOf"] {
                let matching = one.filter { check(value, against: $0, at: path, depth: depth + 1) == nil }.count
                if matching != 1 { return "\(path): matches \(matching) of oneOf's \(one.count) schemas, not exactly one" }
            }
            if let not = schema["not"], check(value, against: not, at: path, depth: depth + 1) == nil {
                return "\(path): matches the schema under 'not'"
            }
            return nil
        }

        /// `#`, `#/$defs/name`, `#/definitions/name` (any JSON pointer into this schema).
        private func resolve(_ reference: String) -> JSONValue? {
            guard reference.hasPrefix("#") else { return nil }
            var node = root
            for token in reference.dropFirst().split(separator: "/") {
                let key = String(token).replacing("~1", with: "/").replacing("~0", with: "~")
                switch node {
                case .object(let fields): guard let next = fields[key] else { return nil }; node = next
                case .array(let elements): guard let index = Int(key), elements.indices.contains(index) else { return nil }; node = elements[index]
                default: return nil
                }
            }
            return node
        }

        private func typeNames(_ type: JSONValue?) -> [String]? {
            switch type {
            case .string(let name)?: return [name]
            case .array(let names)?: return names.compactMap(\.stringValue)
            default: return nil
            }
        }

    }

    static func matches(_ value: JSONValue, type: String) -> Bool {
        switch (type, value) {
        case ("null", .null), ("boolean", .bool), ("string", .string), ("array", .array), ("object", .object): return true
        case ("number", .integer), ("number", .number), ("integer", .integer): return true
        case ("integer", .number(let number)): return number.rounded() == number && number.isFinite
        default: return false
        }
    }

    static func typeName(_ value: JSONValue) -> String {
        switch value {
        case .null: return "null"
        case .bool: return "boolean"
        case .integer: return "integer"
        case .number: return "number"
        case .string: return "string"
        case .array: return "array"
        case .object: return "object"
        }
    }

    static func number(_ value: JSONValue) -> Double? {
        switch value {
        case .integer(let number): return Double(number)
        case .number(let number): return number
        default: return nil
        }
    }

    /// JSON equality: 1 and 1.0 are the same number; objects compare by their fields.
    static func equal(_ a: JSONValue, _ b: JSONValue) -> Bool {
        if let x = number(a), let y = number(b) { return x == y }
        switch (a, b) {
        case (.array(let xs), .array(let ys)): return xs.count == ys.count && zip(xs, ys).allSatisfy { equal($0, $1) }
        case (.object(let xs), .object(let ys)): return xs.count == ys.count && xs.allSatisfy { key, x in ys[key].map { equal(x, $0) } ?? false }
        default: return a == b
        }
    }
}
