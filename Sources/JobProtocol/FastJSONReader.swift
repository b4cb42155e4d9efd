import Foundation

/// Reads the hot contracts (jobs, results) from bytes without JSONDecoder.
///
/// `JSONValue.parse` is a plain recursive-descent parser; `Job(json:)` and `JobResult(json:)`
/// map its tree onto the types with the same defaults as their `Codable` conformances. They
/// answer nil for anything unusual (bad syntax, a wrong type, a number written oddly), and the
/// caller then uses `JSONDecoder`, which stays the reference for what is accepted and for the
/// error messages. Tests require both paths to agree.
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

/// Typed reads from a parsed object; nil when a present field has the wrong type.
private struct Fields {
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

    func object(_ key: String) -> Fields?? {
        switch fields[key] {
        case nil, .null?: return .some(nil)
        case .object?: return Fields(fields[key]).map { .some($0) } ?? nil
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

extension Job {
    /// The job in `bytes` when it is plainly well-formed; nil means "ask JSONDecoder".
    public init?(json bytes: [UInt8]) {
        guard let root = Fields(JSONValue.parse(bytes)) else { return nil }
        guard let v = root.int("v"), let v, let id = root.string("id"), let id,
              let replyTo = root.string("reply_to"), let createdAt = root.double("created_at"),
              let deadlineAt = root.double("deadline_at"), let attempt = root.int("attempt"),
              let messageList = root.array("messages"), let messageList,
              let paramsFields = root.object("params"), let tierHint = root.string("tier_hint"),
              let forceModel = root.string("force_model"), let enableFallback = root.bool("enable_fallback"),
              let cache = root.bool("cache"), let routeFields = root.object("route"),
              let originFields = root.object("fallback_from"), let recoveryList = root.array("recoveries"),
              let cacheChecked = root.bool("cache_checked")
        else { return nil }
        var messages: [ChatMessage] = []
        for element in messageList {
            guard let message = Fields(element), let role = message.string("role"), let role else { return nil }
            switch message.fields["content"] {
            case .string(let text)?: messages.append(ChatMessage(role: role, content: text))
            case .array(let parts)? where !parts.contains(where: Self.hasWholeDouble):
                messages.append(ChatMessage(role: role, content: .parts(parts)))
            default: return nil
            }
        }
        var params = GenerationParameters()
        if let paramsFields {
            guard let maxTokens = paramsFields.int("max_tokens"), let temperature = paramsFields.double("temperature"),
                  let topP = paramsFields.double("top_p"), let stopList = paramsFields.array("stop"),
                  let format = paramsFields.string("expected_format") else { return nil }
            var stop: [String]?
            if let stopList {
                stop = []
                for element in stopList {
                    guard case .string(let text) = element else { return nil }
                    stop?.append(text)
                }
            }
            params = GenerationParameters(maxTokens: maxTokens, temperature: temperature, topP: topP, stop: stop, expectedFormat: format)
        }
        var route: Route?
        if let routeFields {
            guard let tier = routeFields.int("tier"), let tier, let model = routeFields.string("model"), let model,
                  let reason = routeFields.string("reason"), let reason else { return nil }
            route = Route(tier: tier, model: model, reason: reason)
        }
        var origin: FallbackOrigin?
        if let originFields {
            guard let tier = originFields.int("tier"), let tier, let model = originFields.string("model"), let model,
                  let reason = originFields.string("reason"), let reason, let confidence = originFields.double("confidence"),
                  let latency = originFields.int("latency_ms"), let cost = originFields.double("cost_usd") else { return nil }
            origin = FallbackOrigin(tier: tier, model: model, reason: reason, confidence: confidence, latencyMs: latency, costUSD: cost)
        }
        var metadata: [String: JSONValue] = [:]
        switch root.fields["metadata"] {
        case nil, .null?: break
        case .object(let fields)?:
            // JSONValue's Codable form reads 1.0 as an integer; leave such numbers to it.
            guard !fields.values.contains(where: Self.hasWholeDouble) else { return nil }
            metadata = fields
        default: return nil
        }
        var recoveries: [Recovery] = []
        for element in recoveryList ?? [] {
            guard let recovery = Fields(element), let worker = recovery.string("worker"), let worker,
                  let at = recovery.double("at"), let at, let queue = recovery.string("queue"), let queue else { return nil }
            recoveries.append(Recovery(worker: worker, at: at, queue: queue))
        }
        guard let createdAt = createdAt else { return nil } // the reference decoder supplies "now"
        self.init(
            id: id, replyTo: replyTo ?? "", createdAt: createdAt, deadlineAt: deadlineAt, attempt: attempt ?? 0,
            messages: messages, params: params, tierHint: tierHint ?? "auto", forceModel: forceModel,
            enableFallback: enableFallback ?? true, cache: cache ?? true, route: route, fallbackFrom: origin,
            metadata: metadata, recoveries: recoveries, cacheChecked: cacheChecked ?? false
        )
        self.v = v
    }

    private static func hasWholeDouble(_ value: JSONValue) -> Bool {
        switch value {
        case .number(let number): return number.rounded() == number
        case .array(let elements): return elements.contains(where: hasWholeDouble)
        case .object(let fields): return fields.values.contains(where: hasWholeDouble)
        default: return false
        }
    }
}

extension JobResult {
    /// The id of a result as `jsonBytes()` writes it (`{"v":1,"id":"…"`), without decoding the
    /// rest; nil for any other layout or an id with escapes.
    public static func peekID(_ bytes: [UInt8]) -> String? {
        let head = Array(#"{"v":1,"id":""#.utf8)
        guard bytes.count > head.count, bytes.starts(with: head) else { return nil }
        guard let end = bytes[head.count...].firstIndex(where: { $0 == UInt8(ascii: "\"") || $0 == UInt8(ascii: "\\") }),
              bytes[end] == UInt8(ascii: "\"") else { return nil }
        return String(validating: bytes[head.count..<end], as: UTF8.self)
    }

    /// Reads a result: the fast reader when it can, JSONDecoder (and its errors) otherwise.
    public static func decode(_ bytes: [UInt8]) throws -> JobResult {
        if let result = JobResult(json: bytes) { return result }
        return try JSONDecoder().decode(JobResult.self, from: Data(bytes))
    }

    /// The result in `bytes` when it is plainly well-formed; nil means "ask JSONDecoder".
    public init?(json bytes: [UInt8]) {
        guard let root = Fields(JSONValue.parse(bytes)),
              let v = root.int("v"), let v, let id = root.string("id"), let id, let ok = root.bool("ok"), let ok,
              let response = root.string("response"), let metadataFields = root.object("metadata"), let errorFields = root.object("error")
        else { return nil }
        var metadata: ResultMetadata?
        if let m = metadataFields {
            guard let modelUsed = m.string("model_used"), let modelUsed, let tier = m.int("tier"), let tier,
                  let latencyMs = m.int("latency_ms"), let latencyMs, let queueMs = m.int("queue_ms"), let queueMs,
                  let confidence = m.double("confidence"), let costUSD = m.double("cost_usd"), let costUSD,
                  let tokensInput = m.int("tokens_input"), let tokensInput, let tokensOutput = m.int("tokens_output"), let tokensOutput,
                  let fallback = m.bool("fallback"), let fallback, let fallbackReason = m.string("fallback_reason"),
                  let originalModel = m.string("original_model"), let originalConfidence = m.double("original_confidence"),
                  let decision = m.string("tier_decision_reason"), let decision, let cacheHit = m.bool("cache_hit"), let cacheHit,
                  let worker = m.string("worker"), let worker, let timestamp = m.string("timestamp"), let timestamp,
                  let reasoningChars = m.int("reasoning_chars"), let suppressed = m.string("fallback_suppressed")
            else { return nil }
            metadata = ResultMetadata(
                modelUsed: modelUsed, tier: tier, latencyMs: latencyMs, queueMs: queueMs, confidence: confidence, costUSD: costUSD,
                tokensInput: tokensInput, tokensOutput: tokensOutput, fallback: fallback, fallbackReason: fallbackReason,
                originalModel: originalModel, originalConfidence: originalConfidence, tierDecisionReason: decision,
                cacheHit: cacheHit, worker: worker, timestamp: timestamp, reasoningChars: reasoningChars, fallbackSuppressed: suppressed
            )
        }
        var error: ResultError?
        if let e = errorFields {
            guard let code = e.string("code"), let code, let message = e.string("message"), let message else { return nil }
            error = ResultError(code: code, message: message)
        }
        self.init(v: v, id: id, ok: ok, response: response, metadata: metadata, error: error)
    }
}
