import JobProtocol
import Scoring
import Testing

/// Cases from JSON-Schema-Test-Suite (draft 2020-12: type, enum, const, required, properties,
/// additionalProperties, items, prefixItems, minimum, maximum, exclusive bounds, multipleOf,
/// lengths, allOf, anyOf, oneOf, not, $ref, $defs), one schema and its valid and invalid data
/// per row, written as JSON.
@Suite struct JSONSchemaValidatorTests {
    static func json(_ text: String) -> JSONValue { JSONValue.read(Array(text.utf8))! }

    static let cases: [(schema: String, valid: [String], invalid: [String])] = [
        (#"{"type":"integer"}"#, ["1", "1.0", "-7"], ["1.1", #""1""#, "null", "true", "[]", "{}"]),
        (#"{"type":"number"}"#, ["1", "1.5", "-1e3"], [#""1""#, "null", "[]"]),
        (#"{"type":"string"}"#, [#""""#, #""foo""#], ["1", "null", "[]"]),
        (#"{"type":"boolean"}"#, ["true", "false"], ["0", #""true""#, "null"]),
        (#"{"type":"null"}"#, ["null"], ["0", "false", #""""#]),
        (#"{"type":["integer","string"]}"#, ["1", #""a""#], ["1.5", "null", "{}"]),
        (#"{"enum":[1,"two",{"three":3},null]}"#, ["1", "1.0", #""two""#, #"{"three":3}"#, "null"], ["2", #""one""#, #"{"three":4}"#, "false"]),
        (#"{"const":{"a":[1,2]}}"#, [#"{"a":[1,2]}"#, #"{"a":[1.0,2]}"#], [#"{"a":[2,1]}"#, #"{"a":[1,2],"b":1}"#]),
        (
            #"{"properties":{"foo":{},"bar":{}},"required":["foo"]}"#, [#"{"foo":1,"bar":2}"#, #"{"foo":null}"#, "[]", #""x""#],
            [#"{"bar":1}"#, "{}"]
        ),
        (
            #"{"properties":{"foo":{"type":"integer"},"bar":{"type":"string"}}}"#, [#"{"foo":1,"bar":"baz"}"#, "{}", #"{"quux":[]}"#],
            [#"{"foo":1,"bar":{}}"#, #"{"foo":[],"bar":"baz"}"#]
        ),
        (
            #"{"properties":{"foo":{}},"additionalProperties":false}"#, [#"{"foo":1}"#, "{}"],
            [#"{"foo":1,"bar":2}"#]
        ),
        (
            #"{"properties":{"foo":{}},"additionalProperties":{"type":"boolean"}}"#, [#"{"foo":1,"bar":true}"#],
            [#"{"foo":1,"bar":2}"#]
        ),
        (#"{"items":{"type":"integer"}}"#, ["[1,2,3]", "[]", #"{"not":"array"}"#], [#"[1,"x"]"#]),
        (#"{"prefixItems":[{"type":"integer"},{"type":"string"}]}"#, [#"[1,"a"]"#, "[1]", #"[1,"a",null]"#], [#"["a",1]"#]),
        (#"{"minimum":1.1,"maximum":3}"#, ["1.1", "2", "3", #""x""#], ["0.6", "3.5"]),
        (#"{"exclusiveMinimum":1.1,"exclusiveMaximum":3.0}"#, ["1.2", "2.9"], ["1.1", "3.0"]),
        (#"{"multipleOf":0.0001}"#, ["0.0075", "12"], ["0.00751"]),
        (#"{"minLength":2,"maxLength":3}"#, [#""fo""#, #""foo""#, #""ßü""#, "1"], [#""f""#, #""fooo""#]),
        (#"{"minItems":1,"maxItems":2}"#, ["[1]", "[1,2]"], ["[]", "[1,2,3]"]),
        (
            #"{"allOf":[{"properties":{"bar":{"type":"integer"}},"required":["bar"]},{"required":["foo"]}]}"#, [#"{"foo":"x","bar":2}"#],
            [#"{"foo":"x"}"#, #"{"bar":2}"#]
        ),
        (#"{"anyOf":[{"type":"integer"},{"minimum":2}]}"#, ["1", "2.5", "3"], ["1.5"]),
        (#"{"oneOf":[{"type":"integer"},{"minimum":2}]}"#, ["1", "2.5"], ["3", "1.5"]),
        (#"{"not":{"type":"integer"}}"#, [#""foo""#, "true"], ["1"]),
        (
            ##"{"$defs":{"city":{"type":"object","properties":{"name":{"type":"string"}},"required":["name"]}},"type":"array","items":{"$ref":"#/$defs/city"}}"##,
            [#"[{"name":"Paris"}]"#, "[]"], [#"[{"name":1}]"#, "[{}]"]
        ),
        (
            ##"{"definitions":{"node":{"type":"object","properties":{"next":{"anyOf":[{"$ref":"#/definitions/node"},{"type":"null"}]}}}},"$ref":"#/definitions/node"}"##,
            [#"{"next":{"next":null}}"#], [#"{"next":{"next":5}}"#]
        ),
        ("true", ["1", "null", "{}"], []),
        ("false", [], ["1", "null", "{}"]),
    ]

    @Test(arguments: cases.indices)
    func suiteCase(index: Int) {
        let (schema, valid, invalid) = Self.cases[index]
        let validator = JSONSchemaValidator(schema: Self.json(schema))
        for data in valid { #expect(validator.problem(with: Self.json(data)) == nil, "\(schema) should accept \(data)") }
        for data in invalid { #expect(validator.problem(with: Self.json(data)) != nil, "\(schema) should refuse \(data)") }
    }

    @Test func problemsNameTheFieldAndWhy() {
        let schema = Self.json(
            #"{"type":"object","properties":{"trip":{"type":"object","properties":{"days":{"type":"integer"}},"required":["city"]}}}"#)
        let validator = JSONSchemaValidator(schema: schema)
        #expect(validator.problem(with: Self.json(#"{"trip":{"city":"x","days":"two"}}"#)) == "$.trip.days: expected integer, got string")
        #expect(validator.problem(with: Self.json(#"{"trip":{}}"#)) == "$.trip: missing required field 'city'")
    }

    /// A schema that refers to itself is refused at a depth, not followed forever.
    @Test func aSelfReferenceEnds() {
        let validator = JSONSchemaValidator(schema: Self.json(##"{"$ref":"#"}"##))
        #expect(validator.problem(with: Self.json("1"))?.contains("deeper than") == true)
        #expect(JSONSchemaValidator(schema: Self.json(##"{"$ref":"#/$defs/missing"}"##)).problem(with: .null)?.contains("points nowhere") == true)
    }

    /// `anyOf` inside `anyOf`, 40 levels: 2^40 checks without a budget. Refused instead, at once.
    @Test func anExponentialSchemaIsRefusedNotFollowed() {
        var schema: JSONValue = .object(["type": .string("string")])
        for _ in 0..<40 { schema = .object(["anyOf": .array([schema, schema])]) }
        let problem = JSONSchemaValidator(schema: schema).problem(with: .integer(1))
        #expect(problem?.contains("more than 20000 checks") == true || problem?.contains("deeper than") == true, "\(problem ?? "nil")")
    }
}
