import JobProtocol

/// Checks what a client asks for before anything is enqueued, so that a request the providers
/// would refuse costs neither a tier-1 call nor a paid Claude call before its 502.
///
/// Every failure says which field is wrong and what is allowed (`messages[1].content[0]: …`,
/// `max_tokens must be between 1 and 32768, got 0`); the gateway answers it with 400
/// `invalid_request`.
struct RequestValidator {
    struct Failure: Error, Equatable {
        var message: String
    }

    /// `gateway.max_tokens_limit`.
    let maxTokensLimit: Int

    static let roles: Set<String> = ["system", "user", "assistant"]
    static let partTypes = ["text", "image_url"]

    /// Roles, content parts, at least one user message.
    func check(messages: [ChatMessage], field: String = "messages") throws(Failure) {
        guard !messages.isEmpty else { throw Failure(message: "\(field) is empty; send at least one user message") }
        for (index, message) in messages.enumerated() {
            let at = "\(field)[\(index)]"
            if message.role == "tool" {
                throw Failure(
                    message:
                        "\(at): role 'tool' is not supported yet: a tool message must follow an assistant message with tool_calls, and Cervella does not forward tool calls"
                )
            }
            guard Self.roles.contains(message.role) else {
                throw Failure(message: "\(at).role must be system, user or assistant, got '\(Self.excerpt(message.role))'")
            }
            if case .parts(let parts) = message.content {
                try check(parts: parts, at: "\(at).content")
            }
        }
        guard messages.contains(where: { $0.role == "user" }) else {
            throw Failure(message: "\(field) has no user message; send at least one message with role 'user'")
        }
    }

    /// Each part an object with a string `type`: `text` with a string `text`, `image_url` with
    /// `image_url.url` a string.
    func check(parts: [JSONValue], at field: String) throws(Failure) {
        guard !parts.isEmpty else { throw Failure(message: "\(field) is an empty list; send a string or at least one part") }
        for (index, part) in parts.enumerated() {
            let at = "\(field)[\(index)]"
            guard case .object(let fields) = part, let type = fields["type"]?.stringValue else {
                throw Failure(message: "\(at): each content part must be an object with a string 'type' (text or image_url)")
            }
            switch type {
            case "text":
                guard fields["text"]?.stringValue != nil else { throw Failure(message: "\(at): a text part needs a string 'text'") }
            case "image_url":
                guard fields["image_url"]?["url"]?.stringValue != nil else {
                    throw Failure(message: "\(at): an image_url part needs 'image_url': {'url': '<https or data URL>'}")
                }
            default:
                throw Failure(message: "\(at): part type '\(Self.excerpt(type))' is not supported; use \(Self.partTypes.joined(separator: " or "))")
            }
        }
    }

    /// max_tokens in 1…limit, temperature in [0, 2], top_p in (0, 1], each when given.
    func check(params: GenerationParameters, maxTokensField: String = "max_tokens") throws(Failure) {
        if let maxTokens = params.maxTokens, !(1...maxTokensLimit).contains(maxTokens) {
            throw Failure(message: "\(maxTokensField) must be between 1 and \(maxTokensLimit), got \(maxTokens)")
        }
        if let temperature = params.temperature, !(temperature.isFinite && (0...2).contains(temperature)) {
            throw Failure(message: "temperature must be between 0 and 2, got \(temperature)")
        }
        if let topP = params.topP, !(topP.isFinite && topP > 0 && topP <= 1) {
            throw Failure(message: "top_p must be more than 0 and at most 1, got \(topP)")
        }
        if let stop = params.stop {
            guard stop.count <= 16, stop.allSatisfy({ !$0.isEmpty }) else {
                throw Failure(message: "stop must be at most 16 non-empty strings")
            }
        }
    }

    /// A job's own timeout: finite, more than 0, at most a day.
    func check(timeoutSeconds: Double, field: String = "timeout_seconds") throws(Failure) {
        guard timeoutSeconds.isFinite, timeoutSeconds > 0, timeoutSeconds <= 86_400 else {
            throw Failure(message: "\(field) must be more than 0 and at most 86400, got \(timeoutSeconds)")
        }
    }

    /// Free-form JSON (`context`, `metadata`): every number finite, so that no infinity or NaN
    /// reaches a job's JSON.
    func check(free value: JSONValue, at field: String) throws(Failure) {
        switch value {
        case .number(let number) where !number.isFinite:
            throw Failure(message: "\(field) holds a number that is not finite")
        case .array(let elements):
            for (index, element) in elements.enumerated() { try check(free: element, at: "\(field)[\(index)]") }
        case .object(let fields):
            for (key, element) in fields { try check(free: element, at: "\(field).\(Self.excerpt(key))") }
        default:
            break
        }
    }

    /// A client's string quoted in a message, cut short.
    static func excerpt(_ text: String) -> String {
        text.count <= 40 ? text : String(text.prefix(40)) + "…"
    }
}
