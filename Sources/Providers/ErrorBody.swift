import Foundation

/// What a provider's error body says, read from any of the shapes servers send.
///
/// - OpenAI, Ollama, newer vLLM: `{"error":{"message","type","param","code":"context_length_exceeded"}}`
/// - llama.cpp's server: `{"error":{"code":400,"message","type":"exceed_context_size_error","n_ctx":4096}}`
/// - older vLLM: `{"object":"error","message","type":"BadRequestError","code":400}`
/// - Anthropic: `{"type":"error","error":{"type":"invalid_request_error","message"}}`
/// - Ollama's native errors `{"error":"…"}`, FastAPI's `{"detail":"…"}`
/// - plain text or an HTML page from a proxy (its `<title>`)
///
/// The message is for logs and error results, so it is made safe for them: one line, at
/// most 200 characters, and any quoted span that comes from the prompt (engines quote the
/// offending input in some parse and template errors) replaced by `…`.
struct ErrorBody {
    static let messageLimit = 200

    /// The server's message, cleaned; nil when the body has none.
    var message: String?
    var type: String?
    var code: String?

    init(_ body: Data, request: Data? = nil) {
        let prompts = request.map(Self.promptTexts) ?? []
        if let object = try? JSONSerialization.jsonObject(with: body) as? [String: Any] {
            let error = object["error"] as? [String: Any]
            let raw =
                (error?["message"] as? String) ?? (object["error"] as? String) ?? (object["message"] as? String)
                ?? (object["detail"] as? String)
            type = (error?["type"] as? String) ?? (object["type"] as? String).flatMap { $0 == "error" ? nil : $0 }
            code = Self.text(error?["code"] ?? object["code"])
            message = raw.flatMap { Self.clean($0, prompts: prompts) }
        } else if !body.isEmpty {
            let text = String(decoding: body.prefix(16_384), as: UTF8.self)
            message = Self.clean(Self.htmlTitle(text) ?? text, prompts: prompts)
        }
    }

    /// The request did not fit the model's context window. llama.cpp and OpenAI say so by
    /// type or code; vLLM and Anthropic only in the message.
    var isContextLengthExceeded: Bool {
        if type == "exceed_context_size_error" || code == "context_length_exceeded" { return true }
        let lower = message?.lowercased() ?? ""
        return ["maximum context length", "exceeds the available context size", "context length exceeded", "prompt is too long"]
            .contains { lower.contains($0) }
    }

    private static func text(_ value: Any?) -> String? {
        switch value {
        case let string as String: return string
        case let number as NSNumber: return number.stringValue
        default: return nil
        }
    }

    private static func htmlTitle(_ text: String) -> String? {
        guard let open = text.range(of: "<title>", options: .caseInsensitive),
            let close = text.range(of: "</title>", options: .caseInsensitive, range: open.upperBound..<text.endIndex)
        else { return nil }
        return String(text[open.upperBound..<close.lowerBound])
    }

    /// One line, prompt quotes redacted, at most `messageLimit` characters; nil when empty.
    static func clean(_ raw: String, prompts: [String]) -> String? {
        let line = raw.unicodeScalars.map { CharacterSet.controlCharacters.contains($0) || CharacterSet.newlines.contains($0) ? " " : String($0) }
            .joined()
            .split(separator: " ", omittingEmptySubsequences: true)
            .joined(separator: " ")
        let redacted = redactQuotes(in: line, prompts: prompts)
        guard !redacted.isEmpty else { return nil }
        return redacted.count > messageLimit ? String(redacted.prefix(messageLimit - 1)) + "…" : redacted
    }

    /// Replaces the content of each quoted span (4 characters or more) that occurs in a prompt.
    static func redactQuotes(in text: String, prompts: [String]) -> String {
        guard !prompts.isEmpty else { return text }
        let pairs: [Character: Character] = ["'": "'", "\"": "\"", "`": "`", "\u{201C}": "\u{201D}", "\u{2018}": "\u{2019}"]
        var result = ""
        var index = text.startIndex
        while index < text.endIndex {
            let character = text[index]
            guard let closing = pairs[character],
                let end = text[text.index(after: index)...].firstIndex(of: closing)
            else {
                result.append(character)
                index = text.index(after: index)
                continue
            }
            let content = String(text[text.index(after: index)..<end])
            let fromPrompt = content.count >= 4 && prompts.contains { $0.contains(content) }
            result += String(character) + (fromPrompt ? "…" : content) + String(closing)
            index = text.index(after: end)
        }
        return result
    }

    /// The prompt texts of a chat request (OpenAI's `messages`, Anthropic's `system` too), as
    /// sent and JSON-escaped (a parse error quotes the raw bytes).
    static func promptTexts(_ request: Data) -> [String] {
        guard let object = try? JSONSerialization.jsonObject(with: request) as? [String: Any] else {
            return [String(decoding: request, as: UTF8.self)]
        }
        var texts: [String] = []
        func collect(_ value: Any?) {
            switch value {
            case let string as String: texts.append(string)
            case let array as [Any]: array.forEach(collect)
            case let dictionary as [String: Any]: dictionary.values.forEach(collect)
            default: break
            }
        }
        collect((object["messages"] as? [Any])?.map { ($0 as? [String: Any])?["content"] as Any })
        collect(object["system"])
        collect(object["prompt"])
        let escaped = texts.compactMap { text in
            (try? JSONEncoder().encode(text)).map { String(decoding: $0.dropFirst().dropLast(), as: UTF8.self) }
        }
        return texts + escaped.filter { !texts.contains($0) }
    }
}
