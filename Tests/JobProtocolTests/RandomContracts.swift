import JobProtocol

/// Random jobs and results for the agreement tests: every optional field present or absent,
/// strings that need escapes or are not ASCII, numbers at the edges of what JSON carries.
///
/// Values are canonical, the form a round trip gives back: free-form JSON (`metadata`, message
/// parts) holds no whole doubles (JSONValue reads `2.0` back as the integer 2), a success has a
/// response and no error, a failure neither a response nor metadata.
struct RandomContracts {
    var random: JobDecodingFuzzTests.Generator

    static let texts = [
        "", "a", "qwen3-4b", "Hi \"there\"\n\tback\\slash", "\u{0}\u{1}\u{8}\u{c}\u{1f}\u{7f}", "é 日本 😀 e\u{301}",
        "a/b</script>", "\u{2028}\u{2029}\u{FEFF}", String(repeating: "x", count: 300),
    ]
    static let doubles: [Double] = [
        0, -0.0, 2, 0.1, 0.7, 1e-7, 0.1 + 0.2, -2.5e-7, 123_456.5, 1_767_225_600.123, 1e15, 1e16, 1.5e300, -1.7976931348623157e308,
    ]
    /// Not whole, so that a free-form number reads back as the same case.
    static let fractions: [Double] = [0.1, 0.7, 1e-7, 0.1 + 0.2, -2.5e-7, 123_456.5, 1_767_225_600.123]
    static let integers: [Int] = [0, 1, -1, 1000, Int(Int32.max) + 1, Int.max, Int.min]

    mutating func bool() -> Bool { Bool.random(using: &random) }
    mutating func text() -> String { Self.texts.randomElement(using: &random)! }
    mutating func double() -> Double { Self.doubles.randomElement(using: &random)! }
    mutating func int() -> Int { Self.integers.randomElement(using: &random)! }
    mutating func maybe<T>(_ make: (inout Self) -> T) -> T? { bool() ? make(&self) : nil }
    mutating func list<T>(_ range: ClosedRange<Int>, _ make: (inout Self) -> T) -> [T] {
        (0..<Int.random(in: range, using: &random)).map { _ in make(&self) }
    }

    mutating func json(depth: Int = 0) -> JSONValue {
        switch Int.random(in: 0..<(depth < 3 ? 8 : 6), using: &random) {
        case 0: return .null
        case 1: return .bool(bool())
        case 2: return .integer(Int64(int()))
        case 3: return .number(Self.fractions.randomElement(using: &random)!)
        case 4, 5: return .string(text())
        case 6: return .array(list(0...3) { $0.json(depth: depth + 1) })
        default: return .object(object(depth: depth + 1))
        }
    }

    /// A free-form value that is there: JSON null reads back as "absent".
    mutating func nonNullJSON() -> JSONValue {
        let value = json(depth: 1)
        return value == .null ? .string(text()) : value
    }

    mutating func toolCall() -> ToolCall {
        ToolCall(id: text(), type: bool() ? "function" : text(), name: text(), arguments: bool() ? #"{"city":"Paris","days":3}"# : text())
    }

    mutating func object(depth: Int = 0) -> [String: JSONValue] {
        var fields: [String: JSONValue] = [:]
        for _ in 0..<Int.random(in: 0...3, using: &random) { fields[text()] = json(depth: depth) }
        return fields
    }

    mutating func job() -> Job {
        let messages = list(0...3) { r in
            let content: ChatMessage.Content? =
                switch Int.random(in: 0..<3, using: &r.random) {
                case 0: .text(r.text())
                case 1: .parts(r.list(0...2) { $0.json(depth: 1) })
                default: nil
                }
            return ChatMessage(
                role: r.text(), content: content, name: r.maybe { $0.text() }, toolCalls: r.maybe { $0.list(0...2) { $0.toolCall() } },
                toolCallID: r.maybe { $0.text() })
        }
        let params = GenerationParameters(
            maxTokens: maybe { $0.int() }, temperature: maybe { $0.double() }, topP: maybe { $0.double() },
            stop: maybe { $0.list(0...2) { $0.text() } }, expectedFormat: maybe { $0.text() },
            tools: maybe { $0.list(0...2) { $0.json(depth: 1) } }, toolChoice: maybe { $0.nonNullJSON() },
            responseFormat: maybe { $0.nonNullJSON() }, parallelToolCalls: maybe { $0.bool() }, seed: maybe { $0.int() }
        )
        let origin = maybe { r in
            FallbackOrigin(
                tier: r.int(), model: r.text(), reason: r.text(), confidence: r.maybe { $0.double() },
                latencyMs: r.maybe { $0.int() }, costUSD: r.maybe { $0.double() }
            )
        }
        var job = Job(
            id: text(), replyTo: text(), createdAt: double(), deadlineAt: maybe { $0.double() }, attempt: int(), messages: messages,
            params: params, tierHint: text(), forceModel: maybe { $0.text() }, enableFallback: bool(), cache: bool(),
            route: maybe { Route(tier: $0.int(), model: $0.text(), reason: $0.text()) }, fallbackFrom: origin,
            metadata: object(), recoveries: list(0...2) { Recovery(worker: $0.text(), at: $0.double(), queue: $0.text()) },
            cacheChecked: bool(), stream: bool(), group: maybe { $0.text() },
            priority: bool() ? .bulk : .interactive
        )
        job.owner = maybe { $0.text() }
        job.v = int()
        return job
    }

    mutating func result() -> JobResult {
        guard bool() else {
            var failure = JobResult.failure(id: text(), code: text(), message: text())
            if bool() { failure.error = nil }
            failure.v = int()
            return failure
        }
        let metadata = ResultMetadata(
            modelUsed: text(), tier: int(), latencyMs: int(), queueMs: int(), confidence: maybe { $0.double() }, costUSD: double(),
            tokensInput: int(), tokensOutput: int(), fallback: bool(), fallbackReason: maybe { $0.text() },
            originalModel: maybe { $0.text() }, originalConfidence: maybe { $0.double() }, tierDecisionReason: text(),
            cacheHit: bool(), worker: text(), timestamp: text(), reasoningChars: maybe { $0.int() }, fallbackSuppressed: maybe { $0.text() },
            structureProblem: maybe { $0.text() }, confidenceGate: maybe { $0.text() }
        )
        var success = JobResult.success(
            id: text(), response: text(), metadata: metadata, toolCalls: maybe { $0.list(0...2) { $0.toolCall() } },
            finishReason: maybe { $0.text() })
        if bool() { success.metadata = nil }
        return success
    }
}
